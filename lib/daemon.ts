/**
 * The daemon: wires config -> watch (listen, hot set, sweep) -> measure -> evaluate -> enforce ->
 * report. Each stage lives in its own module; this file owns the timers, the connections and the
 * per-role state between evaluations.
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
import { LimitedRoles } from "./evaluate/limited_roles.ts";
import { reconcileLocks } from "./enforce/reconcile.ts";
import type { RoleState } from "./evaluate/evaluator.ts";
import {
  type BusyRelation,
  measureOwners,
  type Placement,
  relationMoves,
  syncTriggers,
  tableCounters,
  tupleCounters,
} from "./measure/catalog.ts";
import { requireTrustedControl, schemaTrust } from "./measure/schema_trust.ts";
import { measureSweepOnly } from "./measure/sweep_only.ts";
import { measureCatalogText } from "./measure/catalog_text.ts";
import { SpacedRuns } from "./watch/spaced.ts";
import { type Database, HOT_WINDOW_MS } from "./watch/database.ts";
import { Watchers } from "./watch/watchers.ts";
import { RealTime } from "./watch/realtime.ts";
import { UsageCache } from "./measure/usage_cache.ts";
import { LargeObjectTracker } from "./measure/large_objects.ts";
import { busyReason, BusyRelations } from "./measure/busy_relations.ts";
import { errorMessage, type Logger } from "./report/log.ts";
import { StatusReport } from "./report/status.ts";
import { AlertPump } from "./report/alerts/pump.ts";
import { type Health, type MetricsServer, serveMetrics } from "./report/http.ts";
import { Syslog } from "./report/syslog.ts";
import { VERSION } from "./version.ts";
import { applyPlan, DatabaseScope, planMetrics, type PlanOptions } from "./watch/databases.ts";
import { Listener } from "./watch/listener.ts";
import { PendingRelations } from "./watch/pending.ts";
import { parsePayload } from "./watch/payload.ts";
import { NotifyQueueWatch } from "./watch/notify_queue.ts";
import { NotifyVerifier } from "./watch/verify.ts";
import { onlyOwners, readTempFiles } from "./measure/temp_files.ts";
import { TempFileLimits } from "./enforce/temp_file_limit.ts";

type Timer = ReturnType<typeof setTimeout>;

/** Between sweeps, how often one catalog query checks which databases need connections. */
const DATABASE_CHECK_MS = 2000;

/**
 * Notified oids not known as a limited role's relation that may wait to be measured, per
 * database (lib/watch/realtime.ts bounds how many one measurement takes). Anyone may NOTIFY: a
 * flood of made-up oids costs at most this much memory.
 */
const MAX_UNKNOWN_PENDING = 10_000;

/** Least time between two sweeps caused by "lock changed" notifications. */
const CONTROL_SWEEP_MS = 1000;

/**
 * Least time between two catalog-text measurements of one database caused by `c:text` hints (and
 * at least ten times the last one's duration: hints cost at most a tenth of a server CPU).
 */
const CATALOG_TEXT_SPACING_MS = 1000;

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
  /** Which databases get connections (lib/watch/databases.ts). */
  #scope!: DatabaseScope;
  /** Past max_watched_databases: measured by sweeps through a short-lived connection. */
  #sweepOnly: string[] = [];
  #dbCheckTimer?: Timer;
  #checkingDbs = false;
  #controlListener?: Listener;
  #cache = new UsageCache();
  #busy = new BusyRelations();
  /** Limits, charges and ownership of the limited roles (lib/evaluate/limited_roles.ts). */
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
  /** Catalog text on `c:text` hints: at most one measurement per second per database. */
  #textRuns = new SpacedRuns(CATALOG_TEXT_SPACING_MS, (name) => this.#measureTextHinted(name));
  /** Catalog-text measurements started, and per database the latest one applied (none older). */
  #textSeq = 0;
  #textApplied = new Map<string, number>();
  /** Counters, metrics, health and status (lib/report/status.ts). */
  #status: StatusReport;
  #metricsTick?: Timer;
  /** The periodic watchers between sweeps (lib/watch/watchers.ts). */
  #watchers?: Watchers;
  #http?: MetricsServer;
  #alerts?: AlertPump;
  #notifyQueue: NotifyQueueWatch;
  #tempLimits?: TempFileLimits;
  /** Large objects: per watched database, and per sweep-only database. */
  #largeObjects = new LargeObjectTracker();
  #sweepOnlyLargeObjects = new LargeObjectTracker();

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
        controlListenerUp: () => this.#controlListener?.connected,
        databaseStates: () => this.#scope?.last && planMetrics(this.#scope.last),
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
      onTextHint: (name) => this.#textRuns.request(name),
      remeasureDatabase: (db) =>
        this.#measureDatabase(db, this.#limited.owners()).then(() => this.#runEvaluations()),
      detach: (task, promise) => this.#detach(task, promise),
    });
  }

  #configureStatus() {
    const m = this.#config.monitor;
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

  get #dryRun(): boolean {
    return this.#forceDryRun || this.#config.monitor.dry_run;
  }

  /** Loads the configuration (throws ConfigError), connects, measures everything once. */
  async start(config?: Config): Promise<void> {
    this.#config = config ?? await loadConfig(this.#configDir);
    const m = this.#config.monitor;
    this.#log.setLevel(m.log_level);
    this.#configureStatus();
    this.#target = await targetFromConfig(m);
    if (m.syslog_enabled) {
      this.#syslog = new Syslog({
        socket: m.syslog_socket ?? undefined,
        onError: (msg) => this.#log.warn("syslog unavailable", { error: msg }),
      });
    }
    this.#control = connect(this.#target, m.control_database, { max: 2 });
    this.#enforcer = new Enforcer(this.#control, { dryRun: this.#dryRun });
    this.#tempLimits = new TempFileLimits(this.#control, this.#log);
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
    this.#scope = new DatabaseScope({
      control: this.#control,
      log: this.#log,
      onTamper: (t) => this.#enforcer.logEvent({ kind: "tamper", ...t }),
    });
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
    this.#dbCheckTimer = setInterval(
      () => this.#detach("check databases", this.#checkDatabases()),
      DATABASE_CHECK_MS,
    );
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
    const warned = await this.#enforcer.loadSoftWarnings();
    for (const [oid, w] of warned) {
      if (w.event !== "soft_exceeded") continue;
      const s = this.#state(oid);
      s.overSoft = true;
      s.lastSoftWarningAt = w.at.getTime();
    }
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
    this.#configureStatus();
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
      measureTempFiles: () => this.#measureTempFiles(),
      measureLargeObjects: (db, sql, owners, force, since) =>
        this.#measureLargeObjects(db, sql, owners, force, since),
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
    await phase("databases", () => this.#refreshDatabases());
    await phase("owned", () => this.#limited.refreshOwned(this.#control));
    const owners = this.#limited.owners();
    await phase(
      "measure",
      () =>
        Promise.all([
          ...[...this.#dbs.values()].map((db) => this.#measureDatabase(db, owners)),
          this.#measureSweepOnly(owners),
          this.#measureTempFiles(),
          this.#measureSharedText(owners),
        ]),
    );
    await phase("temp_file_limit", () => this.#applyTempFileLimits());
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

  async #refreshDatabases() {
    const m = this.#config.monitor;
    const plan = await this.#scope.refresh(this.#limited.owners(), this.#planOptions());
    const wanted = plan.watched;
    this.#sweepOnly = plan.sweepOnly;
    for (const name of wanted) {
      if (!this.#dbs.has(name)) this.#addDatabase(name);
    }
    for (const [name, db] of this.#dbs) {
      if (wanted.includes(name)) continue;
      this.#dbs.delete(name);
      this.#busy.dropDatabase(name);
      this.#largeObjects.forget(name);
      this.#textRuns.forget(name);
      await db.listener.stop();
      await db.sql.end({ timeout: 2 }).catch(() => {});
      await db.sweepSql.end({ timeout: 2 }).catch(() => {});
      this.#log.info("database no longer watched", { database: name });
    }
    for (const oid of applyPlan(this.#cache, plan)) this.#roles.touch(oid);
    // Manual unlocks are announced on the control database ("c:locks"). When it is monitored, its
    // listener hears them; otherwise a listener of its own does (one, not two: every listener
    // costs each notifying commit a signal).
    const needControl = !this.#dbs.has(m.control_database);
    if (needControl && !this.#controlListener) {
      this.#controlListener = new Listener(this.#target, m.control_database, m.listen_channel, {
        onNotify: (p) => this.#onControlNotify(p),
        onConnect: () => this.#log.debug("control listener connected"),
        onDisconnect: (reason, retry) =>
          this.#log.warn("control listener disconnected", { reason, retry_ms: retry }),
      });
      this.#controlListener.start();
    } else if (!needControl && this.#controlListener) {
      await this.#controlListener.stop(1);
      this.#controlListener = undefined;
    }
  }

  #planOptions(): PlanOptions {
    const m = this.#config.monitor;
    return {
      listed: m.databases,
      cap: m.max_watched_databases,
      current: new Set(this.#dbs.keys()),
    };
  }

  /** Between sweeps: a sweep as soon as the set of databases that need connections changes. */
  async #checkDatabases() {
    if (this.#checkingDbs || this.#stopped) return;
    this.#checkingDbs = true;
    try {
      if (await this.#scope.changed(this.#limited.owners(), this.#planOptions())) {
        await this.sweep("databases changed");
      }
    } catch (err) {
      this.#log.debug("cannot check databases", { error: errorMessage(err) });
    } finally {
      this.#checkingDbs = false;
    }
  }

  /** Databases past max_watched_databases, one short-lived connection at a time. */
  async #measureSweepOnly(owners: number[]) {
    const settings = {
      lock_timeout: `${this.#config.monitor.measure_lock_timeout_ms}ms`,
      statement_timeout: "300s",
    };
    const opts = {
      owners,
      settings,
      cache: this.#cache,
      log: this.#log,
      largeObjects: this.#sweepOnlyLargeObjects,
    };
    for (const oid of await measureSweepOnly(this.#target, this.#sweepOnly, opts)) {
      this.#roles.touch(oid);
    }
  }

  #addDatabase(name: string) {
    const m = this.#config.monitor;
    // Measuring never waits on locks for long: a busy relation is skipped and retried.
    const sql = connect(this.#target, name, {
      max: 2,
      settings: {
        lock_timeout: `${m.measure_lock_timeout_ms}ms`,
        statement_timeout: "60s",
      },
    });
    const sweepSql = connect(this.#target, name, {
      max: 2,
      settings: {
        lock_timeout: `${m.measure_lock_timeout_ms}ms`,
        statement_timeout: "300s",
      },
    });
    const db: Database = {
      name,
      sql,
      sweepSql,
      installed: false,
      measuredAt: 0,
      hot: new Map(),
      pending: new PendingRelations(MAX_UNKNOWN_PENDING),
      overflowMeasuredAt: 0,
      lastFlush: 0,
      flushAt: 0,
      measuredRel: new Map(),
      verify: new NotifyVerifier(),
      listener: new Listener(this.#target, name, m.listen_channel, {
        onNotify: (payload) => this.#realtime.onNotify(db, payload),
        onConnect: () => {
          this.#log.info("listening", { database: name, channel: m.listen_channel });
          db.verify.connected(Date.now());
          // Whatever was written while we were away was not notified: measure it all again.
          if (db.measuredAt > 0 || db.installed) {
            db.measuredAt = 0;
            this.#detach(
              "measure database",
              this.#measureDatabase(db, this.#limited.owners()).then(() => this.#runEvaluations()),
            );
          }
        },
        onDisconnect: (reason, retry) => {
          db.measuredAt = 0;
          db.verify.disconnected();
          this.#log.warn("listener disconnected", { database: name, reason, retry_ms: retry });
        },
      }),
    };
    this.#dbs.set(name, db);
    db.listener.start();
  }

  async #measureDatabase(db: Database, owners: number[]) {
    const force = db.measuredAt === 0;
    try {
      let tsync = performance.now();
      let syncMs = 0;
      let syncChanges = 0;
      // Only a schema install made (owned by superusers) is ever called: see schema_trust.sql.
      const trust = await schemaTrust(db.sql, false);
      const installed = trust.state === "installed";
      db.installed = installed;
      // Said once per change (and at the first look), not at every sweep.
      if (trust.state !== db.trust) {
        db.trust = trust.state;
        if (trust.state === "untrusted") {
          const fields = { database: db.name, owners: trust.owners, detail: trust.detail };
          this.#log.error("untrusted postgres_monitor schema: never called, sweeps only", fields);
          await this.#enforcer.logEvent({
            kind: "tamper",
            oid: null,
            role: trust.owners[0] ?? "(unknown)",
            reason: `untrusted postgres_monitor schema in database ${db.name}: ${trust.detail}`,
          }).catch((err) =>
            this.#log.warn("cannot record tampering", { error: errorMessage(err) })
          );
        } else if (!installed) {
          this.#log.warn(
            "postgres_monitor is not installed in this database: measured by sweeps only",
            { database: db.name, hint: "run 'install' as a superuser", detail: trust.detail },
          );
        }
      }
      // Trigger maintenance and the two halves of the measurement run at once, on the sweep
      // connections (one CPU each on the server), so 100k relations take about half as long.
      const sync = installed && !this.#dryRun
        ? (async () => {
          tsync = performance.now();
          // In "poll" detection no table carries a trigger: syncing to no owners removes them all.
          const changes = await syncTriggers(
            db.sweepSql,
            this.#config.monitor.detection === "poll" ? [] : owners,
          );
          syncChanges = changes.length;
          for (const c of changes) {
            const fields = { database: db.name, table: c.relation, action: c.action };
            if (c.action === "busy" || c.action === "error") {
              this.#log.warn("could not attach notify trigger", { ...fields, error: c.detail });
            } else if (
              c.action === "detached" ||
              (c.action === "attached" && this.#cache.ownerOf(db.name, c.relid) === undefined)
            ) {
              this.#log.debug("notify trigger " + c.action, fields);
            } else {
              // Re-enabled, replaced, or re-attached to a table we already knew: someone removed it.
              this.#log.warn("notify trigger was tampered with and has been restored", {
                ...fields,
                fault: c.detail,
              });
              const owner = this.#cache.ownerOf(db.name, c.relid);
              const role = owner === undefined ? undefined : this.#limited.nameOf(owner);
              await this.#enforcer.logEvent({
                kind: "tamper",
                oid: owner ?? null,
                role: role ?? "(unknown)",
                reason: `notify trigger ${c.action} on ${c.relation} in database ${db.name}` +
                  (c.detail ? ` (${c.detail})` : ""),
              }).catch((err) =>
                this.#log.warn("cannot record tampering", { error: errorMessage(err) })
              );
            }
          }
          syncMs = Math.round(performance.now() - tsync);
        })()
        : Promise.resolve();
      sync.catch(() => {}); // awaited below; no unhandled rejection meanwhile
      // "poll" detection compares counters with the ones read just before this measurement.
      if (this.#config.monitor.detection === "poll") {
        db.counters = await tableCounters(db.sweepSql, owners);
      } else if (this.#config.monitor.verify_interval_ms > 0) {
        db.verify.baseline(await tupleCounters(db.sweepSql, owners), Date.now());
      }
      const tm = performance.now();
      const halves = [owners.filter((_, i) => i % 2 === 0), owners.filter((_, i) => i % 2 === 1)];
      const [, first, second] = await Promise.all([
        sync,
        measureOwners(db.sweepSql, halves[0]!, installed),
        measureOwners(db.sweepSql, halves[1]!, installed),
      ]);
      const sizes = [...first.sizes, ...second.sizes];
      const busy = new Map([...first.busy, ...second.busy]);
      const placed = new Map([...first.placed, ...second.placed]);
      if (db.placed !== undefined && installed) await this.#reportMoves(db, db.placed, placed);
      db.placed = placed;
      this.#log.debug("measured database", {
        database: db.name,
        relations: sizes.length,
        ms: Math.round(performance.now() - tm),
        sync_ms: syncMs,
        sync_changes: syncChanges,
      });
      // Busy relations not charged by their files (no postgres_monitor here) keep their size.
      const keep = new Set([...busy].filter(([, b]) => !b.byFiles).map(([relid]) => relid));
      for (const oid of this.#cache.replaceDatabase(db.name, sizes, keep)) this.#roles.touch(oid);
      await this.#measureLargeObjects(db, db.sweepSql, owners, force, Date.now());
      for (const relid of busy.keys()) db.hot.set(relid, Date.now() + HOT_WINDOW_MS);
      await this.#reportBusy(db, busy);
      await this.#measureText(db, db.sweepSql, owners);
      db.measuredAt = Date.now();
      const stale = performance.now() - 10_000;
      for (const [relid, t] of db.measuredRel) if (t < stale) db.measuredRel.delete(relid);
    } catch (err) {
      db.measuredAt = 0;
      this.#log.error("cannot measure database", { database: db.name, error: errorMessage(err) });
    }
  }

  /**
   * Large objects of `owners` in `db`, measured only if the database's signature moved (or
   * `force`): charged as kind "large_objects", and owners whose total changed are re-evaluated.
   */
  async #measureLargeObjects(
    db: Database,
    sql: Sql,
    owners: number[],
    force: boolean,
    since: number,
  ): Promise<void> {
    const t = performance.now();
    const bytes = await this.#largeObjects.refresh(db.name, sql, owners, db.installed, force);
    if (bytes === undefined || !this.#dbs.has(db.name)) return;
    const changed = this.#cache.setSource("large_objects", bytes, db.name);
    for (const oid of changed) this.#markDirty(oid, since);
    this.#log.debug("measured large objects", {
      database: db.name,
      owners: bytes.size,
      roles_changed: changed.size,
      ms: Math.round(performance.now() - t),
    });
  }

  /**
   * A relation kept busy (an ACCESS EXCLUSIVE lock held or queued on it, its indexes or TOAST)
   * for longer than a sweep interval is reported once per episode: a warning and a "tamper" event.
   */
  async #reportBusy(db: Database, busy: Map<number, BusyRelation>) {
    const minMs = this.#config.monitor.sweep_interval * 1000;
    for (const b of this.#busy.sweep(db.name, busy, Date.now(), minMs)) {
      const role = this.#limited.nameOf(b.owner) ?? String(b.owner);
      const reason = busyReason(b, db.name);
      this.#log.warn("relation cannot be measured: lock held or queued", {
        database: db.name,
        table: b.name,
        role,
        busy_s: Math.round(b.busyMs / 1000),
        by_files: b.byFiles,
      });
      await this.#enforcer.logEvent({ kind: "tamper", oid: b.owner, role, reason })
        .catch((err) => this.#log.warn("cannot record tampering", { error: errorMessage(err) }));
    }
  }

  /**
   * Tampering by moving data: a limited role's relation that changed owner (given to a role it
   * is a member of, perhaps one without a limit) or schema since the previous full sweep. Each is
   * logged and recorded as a "tamper" event (alerted) naming the table, the roles and schemas.
   */
  async #reportMoves(db: Database, before: Map<number, Placement>, now: Map<number, Placement>) {
    const suspects: { relid: number; old_nsp: number }[] = [];
    for (const [relid, was] of before) {
      const is = now.get(relid);
      if (is === undefined || is.owner !== was.owner || is.nsp !== was.nsp) {
        suspects.push({ relid, old_nsp: was.nsp });
      }
    }
    if (suspects.length === 0) return;
    const roleName = (oid: number) => this.#limited.nameOf(oid);
    for (const m of await relationMoves(db.sweepSql, suspects)) {
      if (!m.exists) continue; // dropped
      const was = before.get(m.relid)!;
      const former = roleName(was.owner) ?? String(was.owner);
      const changes: string[] = [];
      if (m.owner !== was.owner) changes.push(`owner changed from ${former} to ${m.ownerName}`);
      if (m.schema !== m.oldSchema) {
        changes.push(`moved from schema ${m.oldSchema} to ${m.schema}`);
      }
      if (changes.length === 0) continue;
      const table = `${m.schema}.${m.name}`;
      const reason = `table ${table} in database ${db.name}: ${changes.join(", ")}`;
      this.#log.warn("limited role's table changed owner or schema", {
        database: db.name,
        table,
        role: former,
        changes,
      });
      await this.#enforcer.logEvent({ kind: "tamper", oid: was.owner, role: former, reason })
        .catch((err) => this.#log.warn("cannot record tampering", { error: errorMessage(err) }));
    }
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

  /**
   * Catalog text of one database (sql/catalog_text.sql) into the cache, kind `catalog_text`.
   * A failure keeps the previous figures (never relax on a partial view); a measurement that
   * started before the one last applied is dropped, so a slow sweep cannot undo a newer hint's.
   */
  async #measureText(db: Database, sql: Sql, owners: number[], since = Date.now()) {
    const seq = ++this.#textSeq;
    try {
      const perOwner = await measureCatalogText(sql, owners);
      if (seq < (this.#textApplied.get(db.name) ?? 0) || this.#dbs.get(db.name) !== db) return;
      this.#textApplied.set(db.name, seq);
      for (const oid of this.#cache.setSource("catalog_text", perOwner, db.name)) {
        this.#markDirty(oid, since);
      }
    } catch (err) {
      this.#log.warn("cannot measure catalog text", {
        database: db.name,
        error: errorMessage(err),
      });
    }
  }

  /** A `c:text` hint (spaced by #textRuns): measure that database's catalog text, evaluate. */
  async #measureTextHinted(name: string) {
    const db = this.#dbs.get(name);
    if (!db || this.#stopped) return;
    this.#count("catalog_text_measurements");
    const t0 = performance.now();
    await this.#measureText(db, db.sql, this.#limited.owners());
    this.#log.debug("catalog text measured on a hint", {
      database: name,
      ms: Math.round(performance.now() - t0),
    });
    await this.#runEvaluations();
  }

  /** Shared catalogs' text (comments on databases and roles, role settings), once per sweep. */
  async #measureSharedText(owners: number[]) {
    try {
      const perOwner = await measureCatalogText(this.#control, owners, true);
      for (const oid of this.#cache.setSource("catalog_text", perOwner)) this.#roles.touch(oid);
    } catch (err) {
      this.#log.warn("cannot measure shared catalog text", { error: errorMessage(err) });
    }
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

  /**
   * Temporary files (lib/measure/temp_files.ts): one cluster-wide query in the control database,
   * charged to each session's login role. Returns the owners whose usage changed.
   */
  async #measureTempFiles(): Promise<Set<number>> {
    let perOwner: Map<number, number>;
    try {
      perOwner = onlyOwners(await readTempFiles(this.#control), this.#limited.limits.keys());
    } catch (err) {
      this.#log.debug("cannot read temporary files", { error: errorMessage(err) });
      return new Set();
    }
    const changed = this.#cache.setSource("temp_files", perOwner);
    for (const oid of changed) this.#roles.touch(oid);
    return changed;
  }

  /** temp_file_limit role settings for the limited roles (lib/enforce/temp_file_limit.ts). */
  async #applyTempFileLimits() {
    await this.#tempLimits?.apply(this.#limited.limits, this.#dryRun);
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
    clearInterval(this.#dbCheckTimer);
    this.#textRuns.stop();
    for (const t of this.#timers) clearTimeout(t);
    for (const wake of this.#wakers) wake();
    const closing = (async () => {
      await this.#sweeps.idle();
      await this.#status.writeMetrics();
      await Promise.all([
        this.#controlListener?.stop(1),
        ...[...this.#dbs.values()].flatMap((db) => [
          db.listener.stop(1),
          db.sql.end({ timeout: 1 }).catch(() => {}),
          db.sweepSql.end({ timeout: 1 }).catch(() => {}),
        ]),
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
