/**
 * postgres_realtime_monitor_daemon: per-role storage limits for PostgreSQL.
 *
 * This file only parses arguments and wires modules together; see lib/ for the work.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Config, ConfigError, loadConfig } from "./lib/config/mod.ts";
import { install, uninstall } from "./lib/commands/admin.ts";
import {
  formatNotifyQueue,
  formatStatusTable,
  status,
  unlock,
  UnlockRefusedError,
} from "./lib/commands/inspect.ts";
import { Daemon } from "./lib/daemon.ts";
import { acquirePidFile, PidFileLockedError } from "./lib/pidfile.ts";
import {
  missingPermissions,
  permissionFlags,
  type PermissionOptions,
  requiredPermissions,
  SYSTEMD_PATHS,
} from "./lib/permissions.ts";
import { SdNotify } from "./lib/systemd.ts";
import { LEADER_CHECK_MS, leaderName, Leadership } from "./lib/leader.ts";
import { targetFromConfig } from "./lib/db/connect.ts";
import { renderStandbyMetrics, writeTextfile } from "./lib/report/metrics.ts";
import { errorMessage, Logger } from "./lib/report/log.ts";
import { VERSION } from "./lib/version.ts";

/** Exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

const DEFAULT_CONFIG_DIR = "/etc/postgres_monitor";

const USAGE = `postgres_realtime_monitor_daemon ${VERSION}: per-role storage limits for PostgreSQL

Usage: postgres_realtime_monitor_daemon [COMMAND] [OPTIONS]

Commands:
  run                 Run the daemon (default)
  install             Create the monitoring role and install sql/ in every monitored database
                      (as a superuser: --admin-user NAME [default postgres] or --admin-url URL;
                      --no-template1 to leave template1 alone)
  uninstall           Remove everything install created (--drop-role also drops the role if
                      install created it)
  status [--json]     Usage, limits and state of every limited role
  unlock ROLE         End the daemon's lock on ROLE (for manual_unlock roles)
  check-config        Validate the configuration files, and that this process has the
                      permissions they need; exit 0 (valid) or 2 (invalid)
  permissions         Print the Deno permission flags this configuration needs (--systemd:
                      for the unit in systemd/, with its credentials, notify socket and pid file)
  version             Print the version

Options:
  --config-dir DIR    Configuration directory (default ${DEFAULT_CONFIG_DIR})
  --dry-run           Decide and report, change nothing (run)
  --pid-file PATH     Use PATH instead of the config's pid_file (run; the systemd unit sets it)
  -h, --help          This help
`;

function print(text: string) {
  console.log(text);
}

function fail(message: string, code: number = EXIT.failure): number {
  console.error(message);
  return code;
}

/** The permissions this process needs at run time: the environment says where systemd put things. */
function runtimeOptions(pidFile: string | undefined): PermissionOptions {
  // Without env permission the variable counts as unset: the check then names that flag.
  const env = (variable: string) =>
    Deno.permissions.querySync({ name: "env", variable }).state === "granted"
      ? Deno.env.get(variable) || undefined
      : undefined;
  const notifySocket = env("NOTIFY_SOCKET");
  return {
    pidFile,
    credentialsDir: env("CREDENTIALS_DIRECTORY"),
    notifySocket: notifySocket?.startsWith("/") ? notifySocket : undefined,
  };
}

/**
 * An error message naming the permissions this process lacks for `config` (an executable
 * compiled for another configuration), or undefined when it has them all.
 */
function permissionProblem(config: Config, pidFile: string | undefined): string | undefined {
  const missing = missingPermissions(
    requiredPermissions(config.monitor, config.dir, runtimeOptions(pidFile)),
  );
  if (missing.length === 0) return undefined;
  return [
    `This executable lacks permissions that the configuration in '${config.dir}' needs:`,
    ...missing.map((flag) => `  ${flag}`),
    `Rebuild it for this configuration: deno task compile --config-dir ${config.dir}`,
  ].join("\n");
}

async function runDaemon(
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
  let lastStatus = "starting";
  const onStatus = (status: string) => {
    lastStatus = status;
    void notify?.status(status);
  };
  // Leader election: exactly one daemon per cluster enforces; others stand by (lib/leader.ts).
  const m = config.monitor;
  let host = "unknown";
  try {
    host = Deno.hostname();
  } catch {
    // --allow-sys=hostname missing
  }
  const name = leaderName(m.application_name, host, Deno.pid);
  let elected = Promise.withResolvers<void>();
  let lost = Promise.withResolvers<string>();
  let electionError = "";
  const leadership = new Leadership(await targetFromConfig(m), m.control_database, name, {
    onElected: () => elected.resolve(),
    onLost: (reason) => lost.resolve(reason),
    onStandby: () => electionError = "",
    onError: (reason: string, retryMs: number) => {
      log.error("control database unavailable", { error: reason, retry_ms: retryMs });
      if (reason !== electionError) onStatus(`waiting for PostgreSQL: ${reason}`);
      electionError = reason;
    },
  });
  let daemon: Daemon | undefined;
  let stopping: Promise<void> | undefined;
  const { promise: stopped, resolve: onStopped } = Promise.withResolvers<void>();
  const stop = (signal: string) => {
    if (stopping) return;
    log.info("shutting down", { signal });
    void notify?.stopping();
    stopping = Promise.all([daemon?.stop(4), leadership.stop()]).then(() => onStopped());
  };
  const reload = async () => {
    await notify?.reloading();
    await daemon?.reload();
    await notify?.ready(lastStatus);
  };
  const handlers: [Deno.Signal, () => void][] = [
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
  for (const [sig, fn] of handlers) Deno.addSignalListener(sig, fn);
  await notify?.ready("connecting to PostgreSQL");
  leadership.start();
  let first = true;
  while (!stopping) {
    // Standing by: once the election has answered at least twice without electing this daemon,
    // another one leads. Say so once, and keep a textfile that says so.
    let announced = false;
    let answered = 0;
    const standbyTimer = setInterval(() => {
      answered = electionError ? 0 : answered + 1;
      if (announced || answered < 2) return;
      announced = true;
      log.info("standing by: another daemon leads", { name });
      onStatus("standby: another daemon leads");
      if (m.prometheus_enabled) {
        writeTextfile(m.metrics_file, renderStandbyMetrics(VERSION)).catch((err: unknown) =>
          log.warn("cannot write the metrics textfile", { error: errorMessage(err) })
        );
      }
    }, LEADER_CHECK_MS);
    await Promise.race([elected.promise, stopped]);
    clearInterval(standbyTimer);
    if (stopping) break;
    elected = Promise.withResolvers<void>();
    electionError = "";
    log.info("leading: this daemon enforces", { name });
    daemon = new Daemon(configDir, { log, dryRun, onStatus, leaderName: name });
    try {
      await daemon.start(first ? config : undefined);
    } catch (err) {
      if (!stopping) {
        log.error("cannot start", { error: errorMessage(err) });
        await notify?.stopping();
        await Promise.all([daemon.stop(2), leadership.stop()]);
        notify?.close();
        pid.release();
        return EXIT.failure;
      }
    }
    first = false;
    const reason = await Promise.race([lost.promise, stopped.then(() => undefined)]);
    if (reason === undefined || stopping) break;
    lost = Promise.withResolvers<string>();
    log.warn("lost the leader lock: enforcement stopped, standing by", { reason });
    onStatus("standby: lost the leader lock");
    await daemon.stop(2);
    daemon = undefined;
  }
  await stopped;
  for (const [sig, fn] of handlers) Deno.removeSignalListener(sig, fn);
  notify?.close();
  pid.release();
  return EXIT.ok;
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        "config-dir": { type: "string", default: DEFAULT_CONFIG_DIR },
        "dry-run": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        "admin-user": { type: "string" },
        "admin-url": { type: "string" },
        "no-template1": { type: "boolean", default: false },
        "drop-role": { type: "boolean", default: false },
        "pid-file": { type: "string" },
        systemd: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    return fail(`${errorMessage(err)}\n\n${USAGE}`, EXIT.usage);
  }
  const { values, positionals } = parsed;
  const [command = "run", ...rest] = positionals;
  if (values.help || command === "help") {
    print(USAGE);
    return EXIT.ok;
  }
  const configDir = values["config-dir"];
  const needsNoArgs = ["run", "install", "uninstall", "status", "check-config", "permissions"];
  if (needsNoArgs.includes(command) && rest.length > 0) {
    return fail(`Unexpected argument '${rest[0]}' for '${command}'`, EXIT.usage);
  }
  const load = async () => await loadConfig(configDir);

  try {
    switch (command) {
      case "version":
        print(VERSION);
        return EXIT.ok;
      case "run":
        return await runDaemon(configDir, values["dry-run"], values["pid-file"]);
      case "check-config": {
        const config = await load();
        const groups = config.limits.filter((l) => l.member_of !== undefined).length;
        // Valid is not enough: this executable must also be allowed what the config needs.
        const problem = permissionProblem(config, values["pid-file"]);
        if (problem !== undefined) return fail(problem, EXIT.usage);
        print(
          `Configuration in '${config.dir}' is valid: ${
            config.limits.length - groups
          } user limit(s), ${groups} group limit(s)`,
        );
        return EXIT.ok;
      }
      case "permissions": {
        const config = await load();
        const options: PermissionOptions = values.systemd
          ? { ...SYSTEMD_PATHS, pidFile: values["pid-file"] ?? SYSTEMD_PATHS.pidFile }
          : { pidFile: values["pid-file"] };
        print(permissionFlags(config.monitor, config.dir, options).join(" "));
        return EXIT.ok;
      }
      case "install":
      case "uninstall": {
        const config = await load();
        const opts = {
          url: values["admin-url"],
          user: values["admin-user"],
          template1: !values["no-template1"],
          dropRole: values["drop-role"],
          out: print,
        };
        await (command === "install" ? install(config, opts) : uninstall(config, opts));
        return EXIT.ok;
      }
      case "status": {
        const config = await load();
        const result = await status(config);
        if (values.json) {
          print(JSON.stringify(result, null, 2));
        } else {
          print(result.rows.length > 0 ? formatStatusTable(result.rows) : "No limited roles.");
          if (result.missing.length > 0) {
            print(`\nNot found in the cluster: ${result.missing.join(", ")}`);
          }
          for (const f of result.failed) print(`Could not measure ${f}`);
          const l = result.leader;
          print(
            l
              ? `\nLeader: ${l.name} (backend ${l.backend_pid}${
                l.addr ? ` from ${l.addr}` : ""
              }, since ${l.since})`
              : "\nLeader: none: no daemon is enforcing",
          );
          const queue = result.notify_queue && formatNotifyQueue(result.notify_queue);
          if (queue) print(`\n${queue}`);
        }
        return result.failed.length > 0 ? EXIT.failure : EXIT.ok;
      }
      case "unlock": {
        if (rest.length !== 1) return fail("Usage: unlock ROLE", EXIT.usage);
        const config = await load();
        const actor = Deno.env.get("SUDO_USER") ?? Deno.env.get("USER") ?? "unknown";
        const result = await unlock(config, rest[0]!, { actor: `unlock command (${actor})` });
        print(
          result === "unlocked"
            ? `Unlocked '${rest[0]}'`
            : `Released the lock on '${rest[0]}' (LOGIN was not restored: it was off before)`,
        );
        return EXIT.ok;
      }
      default:
        return fail(`Unknown command '${command}'\n\n${USAGE}`, EXIT.usage);
    }
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, EXIT.usage);
    if (err instanceof UnlockRefusedError) return fail(err.message, EXIT.failure);
    return fail(`Error: ${errorMessage(err)}`, EXIT.failure);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
