/**
 * The watched databases: which ones get connections (lib/watch/databases.ts plans it), each one's
 * pools and LISTEN connection, the sweep-only remainder, the control database's own LISTEN when
 * it is not watched, and the check between sweeps that asks for a sweep when the plan changes.
 *
 * @module
 */
import type { MonitorConfig } from "../config/monitor.ts";
import { connect, type ConnectionTarget, type Sql } from "../db/connect.ts";
import type { Enforcer } from "../enforce/enforcer.ts";
import type { LimitedRoles } from "../measure/limited_roles.ts";
import type { Roles } from "../evaluate/roles.ts";
import type { BusyRelations } from "../measure/busy_relations.ts";
import type { UsageCache } from "../measure/usage_cache.ts";
import { errorMessage, type Logger } from "../report/log.ts";
import type { Database } from "./database.ts";
import { applyPlan, DatabaseScope, planMetrics, type PlanOptions } from "./databases.ts";
import { HotSet } from "./hot_set.ts";
import { Listener } from "./listener.ts";
import { PendingRelations } from "./pending.ts";
import { NotifyVerifier } from "./verify.ts";

/** Between sweeps, how often one catalog query checks which databases need connections. */
const DATABASE_CHECK_MS = 2000;

/**
 * Notified oids not known as a limited role's relation that may wait to be measured, per
 * database (lib/watch/realtime.ts bounds how many one measurement takes). Anyone may NOTIFY:
 * a flood of made-up oids costs at most this much memory.
 */
const MAX_UNKNOWN_PENDING = 10_000;

/** What the watched databases read and call. */
export interface WatchedDatabasesContext {
  /** Log sink. */
  log: Logger;
  /** How to connect. */
  target: ConnectionTarget;
  /** The control database (the database plan). */
  control: Sql;
  /** Records tamper events found while planning. */
  enforcer: Enforcer;
  /** The watched databases by name: filled here, read by every stage. */
  dbs: Map<string, Database>;
  /** Usage per owner and source. */
  cache: UsageCache;
  /** Relations whose measurement waits behind a lock. */
  busy: BusyRelations;
  /** Limits, charges and ownership. */
  limited: LimitedRoles;
  /** Marks roles dirty. */
  roles: Roles;
  /** A notification in a watched database. */
  onNotify: (db: Database, payload: string) => void;
  /** A notification on the control database's own LISTEN. */
  onControlNotify: (payload: string) => void;
  /** Measures a whole database, then evaluates (after a LISTEN reconnect). */
  remeasureDatabase: (db: Database) => Promise<unknown>;
  /** A database is no longer watched: the other stages forget it. */
  forgetDatabase: (name: string) => void;
  /** The set of databases that need connections changed: sweep. */
  onChange: () => Promise<void>;
  /** Runs a task nobody awaits, logging what it throws. */
  detach: (task: string, promise: Promise<unknown>) => void;
  /** True once the daemon stops. */
  stopped: () => boolean;
}

/** The settings the watched databases use (a reload may change them). */
export type WatchedDatabasesSettings = Pick<
  MonitorConfig,
  | "control_database"
  | "listen_channel"
  | "measure_lock_timeout_ms"
  | "databases"
  | "max_watched_databases"
>;

/** Connections to the watched databases, and the plan that decides them. */
export class WatchedDatabases {
  #ctx: WatchedDatabasesContext;
  #log: Logger;
  #settings!: WatchedDatabasesSettings;
  #dbs: Map<string, Database>;
  /** Which databases get connections (lib/watch/databases.ts). */
  #scope: DatabaseScope;
  /** Past max_watched_databases: measured by sweeps through a short-lived connection. */
  #sweepOnly: string[] = [];
  #dbCheckTimer?: ReturnType<typeof setInterval>;
  #checkingDbs = false;
  #controlListener?: Listener;

  /** Creates the stage; {@linkcode configure} gives it its settings. */
  constructor(ctx: WatchedDatabasesContext) {
    this.#ctx = ctx;
    this.#log = ctx.log;
    this.#dbs = ctx.dbs;
    this.#scope = new DatabaseScope({
      control: ctx.control,
      log: ctx.log,
      onTamper: (t) => ctx.enforcer.logEvent({ kind: "tamper", ...t }),
    });
  }

  /** Applies the settings (at start and on reload). */
  configure(settings: WatchedDatabasesSettings): void {
    this.#settings = settings;
  }

  /** Databases past max_watched_databases, as of the last plan. */
  get sweepOnly(): string[] {
    return this.#sweepOnly;
  }

  /** The control database's own LISTEN connection: undefined when there is none. */
  controlListenerUp(): boolean | undefined {
    return this.#controlListener?.connected;
  }

  /** How many considered databases are in each state, once planned. */
  planMetrics(): ReturnType<typeof planMetrics> | undefined {
    return this.#scope.last && planMetrics(this.#scope.last);
  }

  /** Starts the check between sweeps, every DATABASE_CHECK_MS. */
  startChecks(): void {
    this.#dbCheckTimer = setInterval(
      () => this.#ctx.detach("check databases", this.check()),
      DATABASE_CHECK_MS,
    );
  }

  /**
   * Plans which databases get connections, opens and closes them, and keeps a LISTEN on the
   * control database when it is not watched itself.
   */
  async refresh(): Promise<void> {
    const m = this.#settings;
    const plan = await this.#scope.refresh(this.#ctx.limited.owners(), this.#planOptions());
    const wanted = plan.watched;
    this.#sweepOnly = plan.sweepOnly;
    for (const name of wanted) {
      if (!this.#dbs.has(name)) this.#add(name);
    }
    for (const [name, db] of this.#dbs) {
      if (wanted.includes(name)) continue;
      this.#dbs.delete(name);
      this.#ctx.busy.dropDatabase(name);
      this.#ctx.forgetDatabase(name);
      await db.listener.stop();
      await db.sql.end({ timeout: 2 }).catch(() => {});
      await db.sweepSql.end({ timeout: 2 }).catch(() => {});
      this.#log.info("database no longer watched", { database: name });
    }
    for (const oid of applyPlan(this.#ctx.cache, plan)) this.#ctx.roles.touch(oid);
    // Manual unlocks are announced on the control database ("c:locks"). When it is monitored, its
    // listener hears them; otherwise a listener of its own does (one, not two: every listener
    // costs each notifying commit a signal).
    const needControl = !this.#dbs.has(m.control_database);
    if (needControl && !this.#controlListener) {
      this.#controlListener = new Listener(this.#ctx.target, m.control_database, m.listen_channel, {
        onNotify: (p) => this.#ctx.onControlNotify(p),
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
    const m = this.#settings;
    return {
      listed: m.databases,
      cap: m.max_watched_databases,
      current: new Set(this.#dbs.keys()),
    };
  }

  /** Between sweeps: a sweep as soon as the set of databases that need connections changes. */
  async check(): Promise<void> {
    if (this.#checkingDbs || this.#ctx.stopped()) return;
    this.#checkingDbs = true;
    try {
      if (await this.#scope.changed(this.#ctx.limited.owners(), this.#planOptions())) {
        await this.#ctx.onChange();
      }
    } catch (err) {
      this.#log.debug("cannot check databases", { error: errorMessage(err) });
    } finally {
      this.#checkingDbs = false;
    }
  }

  #add(name: string) {
    const m = this.#settings;
    // Measuring never waits on locks for long: a busy relation is skipped and retried.
    const sql = connect(this.#ctx.target, name, {
      max: 2,
      settings: {
        lock_timeout: `${m.measure_lock_timeout_ms}ms`,
        statement_timeout: "60s",
      },
    });
    const sweepSql = connect(this.#ctx.target, name, {
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
      hot: new HotSet(),
      pending: new PendingRelations(MAX_UNKNOWN_PENDING),
      overflowMeasuredAt: 0,
      lastFlush: 0,
      flushAt: 0,
      measuredRel: new Map(),
      verify: new NotifyVerifier(),
      listener: new Listener(this.#ctx.target, name, m.listen_channel, {
        onNotify: (payload) => this.#ctx.onNotify(db, payload),
        onConnect: () => {
          this.#log.info("listening", { database: name, channel: m.listen_channel });
          db.verify.connected(Date.now());
          // Whatever was written while we were away was not notified: measure it all again.
          if (db.measuredAt > 0 || db.installed) {
            db.measuredAt = 0;
            this.#ctx.detach(
              "measure database",
              this.#ctx.remeasureDatabase(db),
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

  /** Stops the check between sweeps. */
  stop(): void {
    clearInterval(this.#dbCheckTimer);
  }

  /** Closes every LISTEN connection and pool. */
  async close(): Promise<void> {
    await Promise.all([
      this.#controlListener?.stop(1),
      ...[...this.#dbs.values()].flatMap((db) => [
        db.listener.stop(1),
        db.sql.end({ timeout: 1 }).catch(() => {}),
        db.sweepSql.end({ timeout: 1 }).catch(() => {}),
      ]),
    ]);
  }
}
