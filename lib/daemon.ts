/**
 * The daemon, as a composition root: it builds the stages along the data flow (config -> watch ->
 * measure -> evaluate -> enforce -> report), hands each the settings it uses (again on SIGHUP),
 * runs the phases of a sweep in order, and stops them all. The stages, each owning its state and
 * timers: lib/watch/connections.ts (watched databases), lib/watch/realtime.ts (notifications and
 * the hot set), lib/watch/watchers.ts, lib/watch/sweep.ts, lib/measure/limited_roles.ts,
 * lib/evaluate/roles.ts, lib/enforce/actions.ts, lib/enforce/reconcile.ts, lib/report/status.ts
 * and lib/report/alerts/pump.ts.
 *
 * @module
 */
import { type Config, loadConfig, parseListenAddress } from "./config/mod.ts";
import { RESTART_KEYS } from "./config/settings.ts";
import { Coalesced } from "./coalesce.ts";
import { connect, type ConnectionTarget, type Sql, targetFromConfig } from "./db/connect.ts";
import { Enforcer } from "./enforce/enforcer.ts";
import { Actions } from "./enforce/actions.ts";
import { Roles } from "./evaluate/roles.ts";
import { LimitedRoles } from "./measure/limited_roles.ts";
import { reconcileLocks } from "./enforce/reconcile.ts";
import type { RoleState } from "./evaluate/evaluator.ts";
import { requireTrustedControl } from "./measure/schema_trust.ts";
import type { Database } from "./watch/database.ts";
import { Watchers } from "./watch/watchers.ts";
import { RealTime } from "./watch/realtime.ts";
import { Sweep, type SweepSettings } from "./watch/sweep.ts";
import { WatchedDatabases, type WatchedDatabasesSettings } from "./watch/connections.ts";
import { UsageCache } from "./measure/usage_cache.ts";
import { BusyRelations } from "./measure/busy_relations.ts";
import { errorMessage, type Logger } from "./report/log.ts";
import { StatusReport } from "./report/status.ts";
import { AlertPump } from "./report/alerts/pump.ts";
import { type Health, type MetricsServer, serveMetrics } from "./report/http.ts";
import { Syslog } from "./report/syslog.ts";
import { VERSION } from "./version.ts";
import { parsePayload } from "./watch/payload.ts";
import { NotifyQueueWatch } from "./watch/notify_queue.ts";

type Timer = ReturnType<typeof setTimeout>;

/** Least time between two sweeps caused by "lock changed" notifications. */
const CONTROL_SWEEP_MS = 1000;

/** Options for {@linkcode Daemon}. */
export interface DaemonOptions {
  /** Force dry run whatever the configuration says. @default {false} */
  dryRun?: boolean;
  /** Log sink. */
  log: Logger;
  /** Receives a one-line state ("waiting for PostgreSQL: …", "enforcing …"), e.g. for systemd. */
  onStatus?: (status: string) => void;
  /** Who this daemon is, recorded with the shared alert cursor. */
  leaderName?: string;
}

/** The running daemon. */
export class Daemon {
  #configDir: string;
  #config!: Config;
  #target!: ConnectionTarget;
  #log: Logger;
  #forceDryRun: boolean;
  #onStatus: (status: string) => void;
  #leaderName: string;
  #control!: Sql;
  #enforcer!: Enforcer;
  #syslog?: Syslog;
  #dbs = new Map<string, Database>();
  /** Connections to the watched databases (lib/watch/connections.ts). */
  #watched?: WatchedDatabases;
  #cache = new UsageCache();
  #busy = new BusyRelations();
  /** Limits, charges and ownership of the limited roles (lib/measure/limited_roles.ts). */
  #limited: LimitedRoles;
  /** Role states, the dirty set and evaluation (lib/evaluate/roles.ts). */
  #roles: Roles;
  /** Carries out decisions (lib/enforce/actions.ts). */
  #actions?: Actions;
  #timers = new Set<Timer>();
  #wakers = new Set<() => void>();
  #sweepTimer?: Timer;
  /** Notifications, batched measurement and the hot set (lib/watch/realtime.ts). */
  #realtime: RealTime;
  #sweeps = new Coalesced(
    () =>
      this.#sweepOnce(this.#sweepReason).catch((err) =>
        this.#log.error("sweep failed", { error: errorMessage(err) })
      ),
    () => this.#stopped,
  );
  /** The reason of the latest sweep request, logged by the pass that serves it. */
  #sweepReason = "start";
  #controlSweepTimer?: Timer;
  #controlSweptAt = 0;
  #stopped = false;
  /** start() has finished: until then a SIGHUP is only remembered (see reload). */
  #started = false;
  #reloadWanted = false;
  /** The sweep's measurements (lib/watch/sweep.ts). */
  #sweep?: Sweep;
  /** Counters, metrics, health and status (lib/report/status.ts). */
  #status: StatusReport;
  #metricsTick?: Timer;
  /** The periodic watchers between sweeps (lib/watch/watchers.ts). */
  #watchers?: Watchers;
  #http?: MetricsServer;
  #alerts?: AlertPump;
  #notifyQueue: NotifyQueueWatch;

  /** Creates a daemon for a configuration directory; call {@linkcode start}. */
  constructor(configDir: string, options: DaemonOptions) {
    this.#configDir = configDir;
    this.#log = options.log;
    this.#forceDryRun = options.dryRun ?? false;
    this.#onStatus = options.onStatus ?? (() => {});
    this.#leaderName = options.leaderName ?? "postgres_realtime_monitor";
    this.#notifyQueue = new NotifyQueueWatch(options.log);
    this.#limited = new LimitedRoles(this.#cache, options.log);
    this.#roles = new Roles({
      limits: () => this.#limited.limits,
      charges: () => this.#limited.charges,
      usage: (oid) => this.#limited.usage(oid),
      owned: (oid) => this.#limited.owned?.get(oid),
      databases: () => this.#dbs,
      carryOut: (d, since) => this.#actions!.carryOut(d, since),
      pumpAlerts: () => this.#pumpAlerts(),
      scheduleMetrics: () => this.#status.scheduleMetrics(),
      detach: (task, promise) => this.#detach(task, promise),
      stopped: () => this.#stopped,
    });
    this.#status = new StatusReport({
      log: options.log,
      stopped: () => this.#stopped,
      detach: (task, promise) => this.#detach(task, promise),
      sources: {
        limits: () => this.#limited.limits,
        usage: (oid) => this.#limited.usage(oid),
        kinds: (oid) => this.#limited.kinds(oid),
        state: (oid) => this.#state(oid),
        databases: () =>
          [...this.#dbs.values()].map((db) => ({ name: db.name, up: db.listener.connected })),
        controlListenerUp: () => this.#watched?.controlListenerUp(),
        databaseStates: () => this.#watched?.planMetrics(),
        notifyQueue: () => this.#notifyQueue.last,
        alerts: () =>
          this.#alerts?.stats()?.map((e) => ({
            endpoint: e.endpoint,
            queued: e.queued,
            sent: e.sent,
            retried: e.retried,
            dropped: e.dropped,
            overflowed: e.overflowed,
            circuitOpen: e.circuitOpen,
          })),
      },
    });
    this.#realtime = new RealTime({
      log: options.log,
      cache: this.#cache,
      busy: this.#busy,
      limited: this.#limited,
      roles: this.#roles,
      status: this.#status,
      databases: () => this.#dbs.values(),
      writtenWhileLocked: (db, owners) => this.#actions?.writtenWhileLocked(db, owners),
      onLocksChanged: () => this.#controlSweep(),
      onTextHint: (name) => this.#sweep?.requestText(name),
      remeasureDatabase: (db) =>
        this.#sweep!.measureDatabase(db, this.#limited.owners()).then(() => this.#runEvaluations()),
      detach: (task, promise) => this.#detach(task, promise),
    });
  }

  /** Hands every stage built so far the settings it uses from the running configuration. */
  #configureStages() {
    const m = this.#config.monitor;
    this.#sweep?.configure(this.#sweepSettings());
    this.#watched?.configure(this.#watchedSettings());
    this.#realtime.configure({
      controlDatabase: m.control_database,
      hotIntervalMs: m.hot_interval_ms,
    });
    this.#roles.configure({ softWarningIntervalMs: m.soft_warning_interval * 1000 });
    this.#status.configure({
      prometheusEnabled: m.prometheus_enabled,
      metricsFile: m.metrics_file,
      sweepInterval: m.sweep_interval,
      dryRun: this.#dryRun,
    });
  }

  /** The watched databases' settings from the running configuration. */
  #watchedSettings(): WatchedDatabasesSettings {
    const m = this.#config.monitor;
    return {
      control_database: m.control_database,
      listen_channel: m.listen_channel,
      measure_lock_timeout_ms: m.measure_lock_timeout_ms,
      databases: m.databases,
      max_watched_databases: m.max_watched_databases,
    };
  }

  /** The sweep's settings from the running configuration. */
  #sweepSettings(): SweepSettings {
    const m = this.#config.monitor;
    return {
      detection: m.detection,
      verify_interval_ms: m.verify_interval_ms,
      measure_lock_timeout_ms: m.measure_lock_timeout_ms,
      sweep_interval: m.sweep_interval,
      dryRun: this.#dryRun,
    };
  }

  get #dryRun(): boolean {
    return this.#forceDryRun || this.#config.monitor.dry_run;
  }

  /** Loads the configuration (throws ConfigError), connects, measures everything once. */
  async start(config?: Config): Promise<void> {
    this.#config = config ?? await loadConfig(this.#configDir);
    const m = this.#config.monitor;
    this.#log.setLevel(m.log_level);
    this.#configureStages();
    this.#target = await targetFromConfig(m);
    if (m.syslog_enabled) {
      this.#syslog = new Syslog({
        socket: m.syslog_socket ?? undefined,
        onError: (msg) => this.#log.warn("syslog unavailable", { error: msg }),
      });
    }
    this.#control = connect(this.#target, m.control_database, { max: 2 });
    this.#enforcer = new Enforcer(this.#control, { dryRun: this.#dryRun });
    this.#sweep = new Sweep({
      log: this.#log,
      control: this.#control,
      target: this.#target,
      enforcer: this.#enforcer,
      cache: this.#cache,
      busy: this.#busy,
      limited: this.#limited,
      roles: this.#roles,
      status: this.#status,
      databases: () => this.#dbs,
      stopped: () => this.#stopped,
    });
    this.#sweep.configure(this.#sweepSettings());
    this.#alerts = new AlertPump({
      control: this.#control,
      log: this.#log,
      leaderName: this.#leaderName,
      stopped: () => this.#stopped,
      detach: (task, promise) => this.#detach(task, promise),
    });
    this.#alerts.configure({ dryRun: this.#dryRun });
    this.#actions = new Actions({
      enforcer: this.#enforcer,
      log: this.#log,
      syslog: this.#syslog,
      status: this.#status,
      alerts: this.#alerts,
      pumpAlerts: () => this.#pumpAlerts(),
      limits: () => this.#limited.limits,
      states: this.#roles.states,
      state: (oid) => this.#state(oid),
      owned: (oid) => this.#limited.owned?.get(oid),
      databases: () => this.#dbs,
      detach: (task, promise) => this.#detach(task, promise),
    });
    this.#actions.configure({ dryRun: this.#dryRun });
    this.#watched = new WatchedDatabases({
      log: this.#log,
      target: this.#target,
      control: this.#control,
      enforcer: this.#enforcer,
      dbs: this.#dbs,
      cache: this.#cache,
      busy: this.#busy,
      limited: this.#limited,
      roles: this.#roles,
      onNotify: (db, payload) => this.#realtime.onNotify(db, payload),
      onControlNotify: (payload) => this.#onControlNotify(payload),
      remeasureDatabase: (db) =>
        this.#sweep!.measureDatabase(db, this.#limited.owners()).then(() => this.#runEvaluations()),
      forgetDatabase: (name) => this.#sweep?.forgetDatabase(name),
      onChange: () => this.sweep("databases changed"),
      detach: (task, promise) => this.#detach(task, promise),
      stopped: () => this.#stopped,
    });
    this.#watched.configure(this.#watchedSettings());
    this.#log.info("starting", {
      version: VERSION,
      config_dir: this.#configDir,
      control_database: m.control_database,
      host: m.host,
      port: m.port,
      user: m.user,
      dry_run: this.#dryRun,
      limits: this.#config.limits.length,
    });
    await this.#waitForControl();
    await this.#alerts.open(m);
    await this.#restoreState();
    await this.sweep("start");
    // "running" means real time is on: wait (bounded) for every LISTEN to be active.
    let timer: Timer | undefined;
    await Promise.race([
      Promise.all([...this.#dbs.values()].map((db) => db.listener.ready)),
      new Promise((r) => timer = setTimeout(r, m.connect_timeout * 1000)),
    ]);
    clearTimeout(timer);
    this.#scheduleSweep();
    this.#realtime.start();
    this.#startWatchers();
    this.#watchers!.startPolls();
    this.#watched.startChecks();
    // Alert queues, connections and the NOTIFY queue change between sweeps: keep the textfile at
    // most 10 s old.
    this.#metricsTick = setInterval(() => {
      this.#detach("read NOTIFY queue", this.#notifyQueue.read(this.#control));
      this.#status.scheduleMetrics();
    }, 10_000);
    if (m.metrics_listen) {
      const { hostname, port } = parseListenAddress(m.metrics_listen);
      this.#http = serveMetrics({
        hostname,
        port,
        metrics: () => this.#status.metricsText(),
        health: () => this.health(),
      });
      this.#log.info("serving /metrics and /healthz", { address: m.metrics_listen });
    }
    this.#log.info("running", {
      databases: [...this.#dbs.keys()],
      listening: [...this.#dbs.values()].filter((db) => db.listener.connected).length,
      limited_roles: this.#limited.limits.size,
    });
    this.#onStatus(this.#status.statusLine());
    this.#started = true;
    if (this.#reloadWanted) {
      await this.reload().catch((err) =>
        this.#log.error("reload failed", { error: errorMessage(err) })
      );
    }
  }

  /** Waits (logging, with backoff) until the control database answers and has the schema. */
  async #waitForControl() {
    let delay = 250;
    for (;;) {
      if (this.#stopped) throw new Error("Stopped while waiting for PostgreSQL");
      try {
        await requireTrustedControl(this.#control, this.#config.monitor.control_database);
        return;
      } catch (err) {
        this.#log.error("control database unavailable", {
          error: errorMessage(err),
          retry_ms: delay,
        });
        this.#onStatus(`waiting for PostgreSQL: ${errorMessage(err)}`);
        await this.#sleep(delay);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  /** Waits `ms`, or less if the daemon stops meanwhile. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.#wakers.delete(resolve);
        resolve();
      }, ms);
      this.#timers.add(t);
      this.#wakers.add(resolve);
    });
  }

  /** Hands every new event-log row to the alert queue (lib/report/alerts/pump.ts). */
  #pumpAlerts(): Promise<void> {
    return this.#alerts?.pump() ?? Promise.resolve();
  }

  /** Soft-warning times from the event log, so a restart does not repeat or lose warnings. */
  async #restoreState() {
    if (this.#dryRun) return;
    this.#roles.restoreSoftWarnings(await this.#enforcer.loadSoftWarnings());
  }

  #state(oid: number): RoleState {
    return this.#roles.state(oid);
  }

  /**
   * Reloads both files (SIGHUP). A file that fails validation keeps the running configuration.
   * Before {@linkcode start} has finished (PostgreSQL not reached yet, state not restored), the
   * reload is only remembered and done once start has, and this resolves false at once.
   */
  async reload(): Promise<boolean> {
    if (!this.#started) {
      // Sweeping now would evaluate roles before their state is restored, and arm timers that
      // start arms again.
      this.#reloadWanted = true;
      this.#log.info("reload requested while starting: applied once running");
      return false;
    }
    this.#reloadWanted = false;
    let next: Config;
    try {
      next = await loadConfig(this.#configDir);
    } catch (err) {
      this.#log.error("reload failed, keeping the running configuration", {
        error: errorMessage(err),
      });
      return false;
    }
    const old = this.#config.monitor;
    const needsRestart = RESTART_KEYS.filter((k) =>
      JSON.stringify(old[k]) !== JSON.stringify(next.monitor[k])
    );
    for (const k of needsRestart) {
      // The key only: values such as webhook URLs are credentials.
      this.#log.warn("setting changed: takes effect only after a restart", { key: k });
      (next.monitor as unknown as Record<string, unknown>)[k] = old[k];
    }
    this.#config = next;
    this.#log.setLevel(next.monitor.log_level);
    this.#enforcer.dryRun = this.#dryRun;
    this.#alerts?.configure({ dryRun: this.#dryRun });
    this.#actions?.configure({ dryRun: this.#dryRun });
    this.#configureStages();
    this.#startWatchers();
    this.#log.info("configuration reloaded", {
      limits: next.limits.length,
      dry_run: this.#dryRun,
    });
    await this.sweep("reload");
    this.#scheduleSweep();
    this.#onStatus(this.#status.statusLine());
    return true;
  }

  /** (Re)starts the periodic watchers with the current settings. */
  #startWatchers() {
    const m = this.#config.monitor;
    this.#watchers ??= new Watchers({
      log: this.#log,
      control: this.#control,
      enforcer: this.#enforcer,
      cache: this.#cache,
      busy: this.#busy,
      notifyQueue: this.#notifyQueue,
      detach: (task, promise) => this.#detach(task, promise),
      databases: () => this.#dbs.values(),
      limits: () => this.#limited.limits,
      owners: () => this.#limited.owners(),
      nameOf: (oid) => this.#limited.nameOf(oid),
      markDirty: (oid, since) => this.#markDirty(oid, since),
      measureSome: (db, relids, since) => this.#realtime.measureSome(db, relids, since),
      evaluate: () => this.#runEvaluations(),
      stopped: () => this.#stopped,
      measureTempFiles: () => this.#sweep!.measureTempFiles(),
      measureLargeObjects: (db, sql, owners, force, since) =>
        this.#sweep!.measureLargeObjects(db, sql, owners, force, since),
    });
    this.#watchers.configure({
      lock_poll_interval_ms: m.lock_poll_interval_ms,
      detection: m.detection,
      poll_interval_ms: m.poll_interval_ms,
      verify_interval_ms: m.verify_interval_ms,
      dryRun: this.#dryRun,
    });
  }

  #scheduleSweep() {
    clearTimeout(this.#sweepTimer);
    if (this.#stopped) return;
    this.#sweepTimer = setTimeout(() => {
      this.#detach("sweep", this.sweep("interval").finally(() => this.#scheduleSweep()));
    }, this.#config.monitor.sweep_interval * 1000);
  }

  /**
   * Full pass: roles and limits, databases, triggers, every relation of every limited role, lock
   * reconciliation, evaluation of every role. Concurrent calls coalesce into one more pass.
   */
  async sweep(reason: string): Promise<void> {
    this.#sweepReason = reason;
    await this.#sweeps.run();
  }

  async #sweepOnce(reason: string) {
    const t0 = performance.now();
    const phases: Record<string, number> = {};
    const phase = async (name: string, fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      phases[name] = Math.round(performance.now() - t);
    };
    await phase(
      "roles",
      () =>
        this.#limited.refresh(
          this.#control,
          this.#config.limits,
          this.#config.monitor.exempt_roles,
        ),
    );
    await phase("databases", () => this.#watched!.refresh());
    await phase("owned", () => this.#limited.refreshOwned(this.#control));
    const owners = this.#limited.owners();
    const sweep = this.#sweep!;
    await phase(
      "measure",
      () =>
        Promise.all([
          ...[...this.#dbs.values()].map((db) => sweep.measureDatabase(db, owners)),
          sweep.measureSweepOnly(this.#watched!.sweepOnly, owners),
          sweep.measureTempFiles(),
          sweep.measureSharedText(owners),
        ]),
    );
    await phase("temp_file_limit", () => sweep.applyTempFileLimits());
    await phase("locks", () => this.#reconcileLocks());
    this.#roles.locksLoaded();
    for (const oid of this.#limited.limits.keys()) this.#roles.touch(oid);
    const states = this.#roles.states;
    for (const oid of states.keys()) if (!this.#limited.limits.has(oid)) states.delete(oid);
    await phase("evaluate", () => this.#runEvaluations());
    await phase("alerts", () => this.#pumpAlerts());
    this.#status.sweepDone((performance.now() - t0) / 1000);
    this.#log.debug("sweep done", {
      reason,
      ms: Math.round(performance.now() - t0),
      phases_ms: phases,
      databases: this.#dbs.size,
      roles: this.#limited.limits.size,
    });
    await this.#notifyQueue.read(this.#control);
    await this.#status.writeMetrics();
  }

  #onControlNotify(payload: string) {
    if (parsePayload(payload).kind === "locks") this.#controlSweep();
  }

  /**
   * A lock changed outside the daemon (`unlock`): sweep soon. Anyone may send that notification,
   * so such sweeps are spaced by CONTROL_SWEEP_MS however many arrive.
   */
  #controlSweep() {
    if (this.#controlSweepTimer !== undefined || this.#stopped) return;
    const wait = Math.max(0, this.#controlSweptAt + CONTROL_SWEEP_MS - Date.now());
    this.#controlSweepTimer = setTimeout(() => {
      this.#controlSweepTimer = undefined;
      this.#controlSweptAt = Date.now();
      this.#detach("sweep", this.sweep("control"));
    }, wait);
  }

  #markDirty(oid: number, since: number) {
    this.#roles.markDirty(oid, since);
  }

  /** Evaluates every dirty role (lib/evaluate/roles.ts). */
  #runEvaluations(): Promise<void> {
    return this.#roles.run();
  }

  /**
   * Runs a task nobody awaits (a timer, a notification). Each one handles the failures it
   * expects; anything else is a bug, logged with its stack, not an unhandled rejection that would
   * end the daemon: the next sweep re-measures and re-decides everything anyway.
   */
  #detach(task: string, promise: Promise<unknown>): void {
    promise.catch((err) => {
      this.#log.error("internal error", {
        task,
        error: errorMessage(err),
        stack: err instanceof Error ? err.stack : undefined,
      });
    });
  }

  /** Lock rows vs reality (lib/enforce/reconcile.ts). */
  async #reconcileLocks() {
    if (this.#dryRun) return;
    await reconcileLocks({
      enforcer: this.#enforcer,
      log: this.#log,
      limits: this.#limited.limits,
      states: this.#roles.states,
      state: (oid) => this.#state(oid),
      inflight: this.#roles.inflight,
      lockVersion: this.#actions?.lockVersion ?? new Map(),
      count: (action, n) => this.#count(action, n),
    });
  }

  #count(action: string, n = 1) {
    this.#status.count(action, n);
  }

  /** Healthy when every LISTEN connection is up and the last sweep ended recently. */
  health(): Health {
    return this.#status.health();
  }

  /** Usage and state of every limited role (for logs and tests). */
  snapshot(): { role: string; usage: number; status: string }[] {
    return this.#status.snapshot();
  }

  /** Stops timers, listeners and pools; bounded by `timeoutS` seconds. */
  async stop(timeoutS = 4): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#sweepTimer);
    this.#realtime.stop();
    this.#roles.stop();
    clearTimeout(this.#controlSweepTimer);
    this.#status.stop();
    clearInterval(this.#metricsTick);
    this.#watchers?.stop();
    this.#watched?.stop();
    this.#sweep?.stop();
    for (const t of this.#timers) clearTimeout(t);
    for (const wake of this.#wakers) wake();
    const closing = (async () => {
      await this.#sweeps.idle();
      await this.#status.writeMetrics();
      await Promise.all([
        this.#watched?.close(),
        this.#control?.end({ timeout: 1 }).catch(() => {}),
        this.#http?.shutdown().catch(() => {}),
        this.#alerts?.close(),
        this.#syslog?.close(),
      ]);
    })();
    let timer: Timer | undefined;
    await Promise.race([
      closing,
      new Promise((r) => timer = setTimeout(r, timeoutS * 1000)),
    ]);
    clearTimeout(timer);
    this.#log.info("stopped");
  }
}
