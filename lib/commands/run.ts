/**
 * `run`: the daemon's process. Loads the configuration, takes the pid file, answers systemd and
 * signals, and runs the leader election: while this process leads, a {@linkcode Daemon} enforces;
 * when it loses the lead, that Daemon stops and the process stands by (saying so in its status
 * and metrics textfile) until it leads again.
 *
 * @module
 */
import { type Config, ConfigError, loadConfig } from "../config/mod.ts";
import { Daemon } from "../daemon.ts";
import { acquirePidFile, PidFileLockedError } from "../pidfile.ts";
import { SdNotify } from "../systemd.ts";
import { LEADER_CHECK_MS, leaderName, Leadership } from "../leader.ts";
import { type ConnectionTarget, targetFromConfig } from "../db/connect.ts";
import { renderStandbyMetrics, writeTextfile } from "../report/metrics.ts";
import { errorMessage, Logger } from "../report/log.ts";
import { VERSION } from "../version.ts";
import { EXIT, fail } from "./exit.ts";
import { permissionProblem } from "./check_config.ts";

/** The `run` command: runs until SIGTERM or SIGINT; returns the exit code. */
export async function runDaemon(
  configDir: string,
  dryRun: boolean,
  pidFile: string | undefined,
): Promise<number> {
  let config;
  try {
    config = await loadConfig(configDir);
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, EXIT.usage);
    throw err;
  }
  const problem = permissionProblem(config, pidFile);
  if (problem !== undefined) return fail(problem, EXIT.usage);
  const log = new Logger(config.monitor.log_level);
  let pid;
  try {
    pid = await acquirePidFile(pidFile ?? config.monitor.pid_file);
  } catch (err) {
    log.error("cannot start", {
      error: errorMessage(err),
      hint: err instanceof PidFileLockedError ? undefined : "check pid_file and its directory",
    });
    return EXIT.failure;
  }
  // Type=notify: READY=1 as soon as the daemon is up and connecting, so that a PostgreSQL that is
  // down at boot neither blocks boot nor makes systemd restart the daemon in a loop; STATUS=
  // says whether it is waiting or enforcing.
  const notify = SdNotify.fromEnv(
    config.monitor.state_dir,
    (message) => log.warn("systemd notification", { error: message }),
  );
  const target = await targetFromConfig(config.monitor);
  const loop = new LeaderLoop({ configDir, dryRun, config, log, notify }, target);
  const code = await loop.run();
  notify?.close();
  pid.release();
  return code;
}

/** What {@linkcode LeaderLoop} runs with. */
interface LeaderLoopOptions {
  /** Where the configuration is (each new Daemon reads it again, but the first). */
  configDir: string;
  /** Decide and report, change nothing. */
  dryRun: boolean;
  /** The configuration loaded at start, handed to the first Daemon. */
  config: Config;
  /** The process's logger. */
  log: Logger;
  /** systemd's notification socket, when systemd started the process. */
  notify: SdNotify | undefined;
}

/**
 * Leader election: exactly one daemon per cluster enforces; others stand by (lib/leader.ts).
 * While this process leads, one {@linkcode Daemon} runs; it is stopped when the lead is lost and
 * a new one started when it comes back. Owns the signal handlers while it runs.
 */
class LeaderLoop {
  #o: LeaderLoopOptions;
  #name: string;
  #leadership: Leadership;
  #daemon?: Daemon;
  #stopping?: Promise<void>;
  #stopped = Promise.withResolvers<void>();
  #elected = Promise.withResolvers<void>();
  #lost = Promise.withResolvers<string>();
  /** The election's last error, "" once it answers again. */
  #electionError = "";
  #lastStatus = "starting";

  constructor(options: LeaderLoopOptions, target: ConnectionTarget) {
    this.#o = options;
    const m = options.config.monitor;
    let host = "unknown";
    try {
      host = Deno.hostname();
    } catch {
      // --allow-sys=hostname missing
    }
    this.#name = leaderName(m.application_name, host, Deno.pid);
    this.#leadership = new Leadership(target, m.control_database, this.#name, {
      onElected: () => this.#elected.resolve(),
      onLost: (reason) => this.#lost.resolve(reason),
      onStandby: () => this.#electionError = "",
      onError: (reason: string, retryMs: number) => {
        options.log.error("control database unavailable", { error: reason, retry_ms: retryMs });
        if (reason !== this.#electionError) this.#onStatus(`waiting for PostgreSQL: ${reason}`);
        this.#electionError = reason;
      },
    });
  }

  /** Runs until stopped by a signal (EXIT.ok) or until a Daemon fails to start (EXIT.failure). */
  async run(): Promise<number> {
    const handlers = this.#handlers();
    for (const [sig, fn] of handlers) Deno.addSignalListener(sig, fn);
    await this.#o.notify?.ready("connecting to PostgreSQL");
    this.#leadership.start();
    let first = true;
    while (!this.#stopping) {
      const standbyTimer = this.#announceStandby();
      await Promise.race([this.#elected.promise, this.#stopped.promise]);
      clearInterval(standbyTimer);
      if (this.#stopping) break;
      this.#elected = Promise.withResolvers<void>();
      this.#electionError = "";
      if (!await this.#lead(first)) return EXIT.failure;
      first = false;
      if (!await this.#untilLost()) break;
    }
    await this.#stopped.promise;
    for (const [sig, fn] of handlers) Deno.removeSignalListener(sig, fn);
    return EXIT.ok;
  }

  #onStatus = (status: string) => {
    this.#lastStatus = status;
    void this.#o.notify?.status(status);
  };

  #handlers(): [Deno.Signal, () => void][] {
    const { log, notify } = this.#o;
    const stop = (signal: string) => {
      if (this.#stopping) return;
      log.info("shutting down", { signal });
      void notify?.stopping();
      this.#stopping = Promise.all([this.#daemon?.stop(4), this.#leadership.stop()])
        .then(() => this.#stopped.resolve());
    };
    const reload = async () => {
      await notify?.reloading();
      await this.#daemon?.reload();
      await notify?.ready(this.#lastStatus);
    };
    return [
      ["SIGTERM", () => stop("SIGTERM")],
      ["SIGINT", () => stop("SIGINT")],
      // Never an unhandled rejection: that would end the process.
      [
        "SIGHUP",
        () =>
          void reload().catch((err: unknown) =>
            log.error("reload failed", { error: errorMessage(err) })
          ),
      ],
    ];
  }

  /**
   * Standing by: once the election has answered at least twice without electing this daemon,
   * another one leads. Says so once, and keeps a textfile that says so. Returns the timer.
   */
  #announceStandby(): ReturnType<typeof setInterval> {
    const { log, config: { monitor: m } } = this.#o;
    let announced = false;
    let answered = 0;
    return setInterval(() => {
      answered = this.#electionError ? 0 : answered + 1;
      if (announced || answered < 2) return;
      announced = true;
      log.info("standing by: another daemon leads", { name: this.#name });
      this.#onStatus("standby: another daemon leads");
      if (m.prometheus_enabled) {
        writeTextfile(m.metrics_file, renderStandbyMetrics(VERSION)).catch((err: unknown) =>
          log.warn("cannot write the metrics textfile", { error: errorMessage(err) })
        );
      }
    }, LEADER_CHECK_MS);
  }

  /** Elected: starts a Daemon (the first with the configuration loaded at start); false if it failed. */
  async #lead(first: boolean): Promise<boolean> {
    const { log, notify, configDir, dryRun } = this.#o;
    log.info("leading: this daemon enforces", { name: this.#name });
    const daemon = new Daemon(configDir, {
      log,
      dryRun,
      onStatus: this.#onStatus,
      leaderName: this.#name,
    });
    this.#daemon = daemon;
    try {
      await daemon.start(first ? this.#o.config : undefined);
    } catch (err) {
      if (!this.#stopping) {
        log.error("cannot start", { error: errorMessage(err) });
        await notify?.stopping();
        await Promise.all([daemon.stop(2), this.#leadership.stop()]);
        return false;
      }
    }
    return true;
  }

  /** Waits while leading; on a lost lead stops the Daemon and returns true, false when stopping. */
  async #untilLost(): Promise<boolean> {
    const reason = await Promise.race([
      this.#lost.promise,
      this.#stopped.promise.then(() => undefined),
    ]);
    if (reason === undefined || this.#stopping) return false;
    this.#lost = Promise.withResolvers<string>();
    this.#o.log.warn("lost the leader lock: enforcement stopped, standing by", { reason });
    this.#onStatus("standby: lost the leader lock");
    await this.#daemon?.stop(2);
    this.#daemon = undefined;
    return true;
  }
}
