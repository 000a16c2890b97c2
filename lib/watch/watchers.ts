/**
 * The periodic watchers between sweeps: the pg_locks watch of tables being written by open
 * transactions, relations being created, the statistics-counter poll ("poll" detection) and the
 * notification cross-check ("trigger" detection). Each round names tables that may have grown;
 * they become hot and are measured, then dirty roles are evaluated.
 *
 * @module
 */
import type { MonitorConfig } from "../config/monitor.ts";
import type { Sql } from "../db/connect.ts";
import type { Enforcer } from "../enforce/enforcer.ts";
import type { EffectiveLimit } from "../evaluate/resolve.ts";
import type { BusyRelations } from "../measure/busy_relations.ts";
import { activeWrites, relationMoves, tableCounters, tupleCounters } from "../measure/catalog.ts";
import type { UsageCache } from "../measure/usage_cache.ts";
import { errorMessage, type Logger } from "../report/log.ts";
import { creatingBytes } from "./creating.ts";
import { BUSY_INTERVAL_MS, type Database } from "./database.ts";
import type { NotifyQueueWatch } from "./notify_queue.ts";
import { TEMP_FILES_POLL_MS, tempPollDelay } from "../measure/temp_files.ts";

/**
 * How often each watched database's large-object signature is read (one cheap catalog query):
 * large-object writes fire no trigger, so this bounds how long one goes unseen.
 */
const LARGE_OBJECT_CHECK_MS = 1000;

/** What the watchers read and call: the shared state and the stages they feed. */
export interface WatchersContext {
  /** Log sink. */
  log: Logger;
  /** The control database (NOTIFY queue reads). */
  control: Sql;
  /** Records tamper events. */
  enforcer: Enforcer;
  /** Usage per owner and source. */
  cache: UsageCache;
  /** Relations whose measurement waits behind a lock. */
  busy: BusyRelations;
  /** The cluster's NOTIFY queue. */
  notifyQueue: NotifyQueueWatch;
  /** Runs a task nobody awaits, logging what it throws. */
  detach: (task: string, promise: Promise<unknown>) => void;
  /** The watched databases. */
  databases: () => Iterable<Database>;
  /** The limited roles. */
  limits: () => ReadonlyMap<number, EffectiveLimit>;
  /** Every owner whose relations are measured (limited roles and those charged to them). */
  owners: () => number[];
  /** A role's name, when known. */
  nameOf: (oid: number) => string | undefined;
  /** Marks the roles charged for `oid` dirty since `since` (ms). */
  markDirty: (oid: number, since: number) => void;
  /** Measures some relations of one database (notification-driven measurement). */
  measureSome: (db: Database, relids: number[], since: number) => Promise<Set<number>>;
  /** Evaluates every dirty role. */
  evaluate: () => Promise<void>;
  /** True once the daemon stops. */
  stopped: () => boolean;
  /** Reads temporary files and charges them; returns the owners whose usage changed. */
  measureTempFiles: () => Promise<Set<number>>;
  /** Refreshes one database's large objects (`force`: even if its signature did not change). */
  measureLargeObjects: (
    db: Database,
    sql: Sql,
    owners: number[],
    force: boolean,
    since: number,
  ) => Promise<unknown>;
}

/** The settings the watchers use (a reload may change them). */
export type WatchersSettings =
  & Pick<
    MonitorConfig,
    "lock_poll_interval_ms" | "detection" | "poll_interval_ms" | "verify_interval_ms"
  >
  & {
    /** A dry run attaches no triggers: no table is reported silenced. */
    dryRun: boolean;
  };

/** The periodic watchers; {@linkcode configure} starts them, {@linkcode stop} ends them. */
export class Watchers {
  #ctx: WatchersContext;
  #log: Logger;
  #settings!: WatchersSettings;
  #lockTimer?: ReturnType<typeof setInterval>;
  #pollTimer?: ReturnType<typeof setInterval>;
  #verifyTimer?: ReturnType<typeof setInterval>;
  /** A round of #watchCreating is running. */
  #creatingWatch = false;
  /** Periodic watchers with a round in progress (see #watchTables). */
  #running = new Set<string>();
  #tempTimer?: ReturnType<typeof setInterval>;
  #tempPolling = false;
  /** No temp file poll before this (performance.now()): see tempPollDelay. */
  #tempPollAt = 0;
  #largeObjectTimer?: ReturnType<typeof setInterval>;
  #checkingLargeObjects = false;

  /** Creates the watchers; nothing runs before {@linkcode configure}. */
  constructor(ctx: WatchersContext) {
    this.#ctx = ctx;
    this.#log = ctx.log;
  }

  /** Applies the settings and (re)starts the pg_locks watch, the counter poll and the check. */
  configure(settings: WatchersSettings): void {
    this.#settings = settings;
    const m = settings;
    clearInterval(this.#lockTimer);
    clearInterval(this.#pollTimer);
    clearInterval(this.#verifyTimer);
    this.#lockTimer = m.lock_poll_interval_ms > 0
      ? setInterval(() => {
        this.#ctx.detach("watch writes", this.#watchActiveWrites());
        this.#ctx.detach("watch creating", this.#watchCreating());
      }, m.lock_poll_interval_ms)
      : undefined;
    this.#pollTimer = m.detection === "poll"
      ? setInterval(
        () => this.#ctx.detach("poll counters", this.#pollCounters()),
        m.poll_interval_ms,
      )
      : undefined;
    this.#verifyTimer = m.detection === "trigger" && m.verify_interval_ms > 0
      ? setInterval(
        () => this.#ctx.detach("verify notifications", this.#verifyNotifications()),
        m.verify_interval_ms,
      )
      : undefined;
  }

  /**
   * Tables being written by open transactions are re-measured now: their files grow before the
   * commit that NOTIFY waits for, so a runaway INSERT ... SELECT is locked (and its session ended,
   * rolling it back) while it runs.
   */
  #watchActiveWrites() {
    return this.#watchTables(
      "pg_locks",
      (db, owners) => db.installed ? activeWrites(db.sql, owners) : Promise.resolve([]),
    );
  }

  /**
   * Relations being created by open transactions (lib/watch/creating.ts): what their files hold is
   * charged to the login running the transaction as "uncommitted", replaced at every round and
   * cleared once the transaction is gone (after COMMIT the relation is measured as usual). A login
   * past its hard limit is locked, which ends its sessions and rolls the transaction back. Not
   * covered in a database without postgres_monitor (the monitoring role cannot stat files).
   */
  async #watchCreating() {
    if (this.#creatingWatch || this.#ctx.limits().size === 0) return;
    this.#creatingWatch = true;
    try {
      const owners = [...this.#ctx.limits().keys()];
      const since = Date.now();
      let changed = false;
      await Promise.all([...this.#ctx.databases()].map(async (db) => {
        let perLogin = new Map<number, number>();
        if (db.installed) {
          try {
            perLogin = await creatingBytes(db.sql, owners);
          } catch (err) {
            // Keeps what the last round found: the next round (one lock_poll_interval) retries.
            this.#log.debug("cannot read relations being created", {
              database: db.name,
              error: errorMessage(err),
            });
            return;
          }
        }
        for (const oid of this.#ctx.cache.setSource("uncommitted", perLogin, db.name)) {
          this.#ctx.markDirty(oid, since);
          changed = true;
        }
      }));
      if (changed) await this.#ctx.evaluate();
    } finally {
      this.#creatingWatch = false;
    }
  }

  /** "poll" detection: tables whose statistics counters moved are re-measured. */
  #pollCounters() {
    return this.#watchTables("table statistics", async (db, owners) => {
      const now = await tableCounters(db.sql, owners);
      const before = db.counters ?? new Map<number, string>();
      db.counters = now;
      return [...now].filter(([relid, sig]) => before.get(relid) !== sig).map(([relid]) => relid);
    });
  }

  /**
   * "trigger" detection: tables whose tuple counters moved are re-measured (bounding how long
   * silenced writes go unseen, and how long writes go unseen in a database without our triggers);
   * one that grew without a notification where the trigger should have spoken is reported as
   * tampering.
   */
  #verifyNotifications() {
    const before = new Map<string, Map<number, number | undefined>>();
    return this.#watchTables("notification check", async (db, owners) => {
      // A database without our triggers (a tenant's own, made from template0) has no
      // notifications at all: every table whose counters moved is measured, none is "silenced".
      const complete = db.measuredAt > 0; // reset by every LISTEN (re)connect until re-measured
      const relids = db.verify.moved(await tupleCounters(db.sql, owners), Date.now(), complete);
      before.set(db.name, new Map(relids.map((r) => [r, this.#ctx.cache.bytesOf(db.name, r)])));
      return relids;
    }, (db, relids) => {
      if (!db.installed) return;
      const was = before.get(db.name);
      const silenced = db.verify.silenced(relids.map((relid) => ({
        relid,
        before: was?.get(relid),
        after: this.#ctx.cache.bytesOf(db.name, relid),
      })));
      // A dry run attaches no triggers: a table without one is not a tenant's doing. Reported
      // beside, not before, the evaluation that may lock the writer.
      if (silenced.length > 0 && !this.#settings.dryRun) {
        this.#ctx.detach("report silenced tables", this.#reportSilenced(db, silenced));
      }
    });
  }

  /** Logs and records one "tamper" event per table written without notifications. */
  async #reportSilenced(db: Database, relids: number[]) {
    // From half full on the triggers do not notify (sql/install_database.sql): a full NOTIFY
    // queue silences every table, and that is the queue's alert, not each table's tampering.
    const started = Date.now();
    await this.#ctx.notifyQueue.read(this.#ctx.control);
    const window = 3 * this.#settings.verify_interval_ms + 10_000;
    if (this.#ctx.notifyQueue.wasOverSince(started - window)) {
      this.#log.debug("tables written without notifications while the NOTIFY queue was full", {
        database: db.name,
        tables: relids.length,
      });
      return;
    }
    // relation_moves.sql names relations by oid (old_nsp 0: no schema to compare with).
    const named = await relationMoves(db.sql, relids.map((relid) => ({ relid, old_nsp: 0 })))
      .catch((err) => {
        this.#log.warn("cannot name silenced tables", {
          database: db.name,
          error: errorMessage(err),
        });
        return [];
      });
    for (const m of named) {
      if (!m.exists) continue;
      const owner = this.#ctx.cache.ownerOf(db.name, m.relid);
      const role = owner === undefined ? "(unknown)" : this.#ctx.nameOf(owner) ?? String(owner);
      const table = `${m.schema}.${m.name}`;
      this.#log.warn("table written without notifications", { database: db.name, table, role });
      await this.#ctx.enforcer.logEvent({
        kind: "tamper",
        oid: owner ?? null,
        role,
        reason: `writes without notification on table ${table} in database ${db.name}`,
      }).catch((err) => this.#log.warn("cannot record tampering", { error: errorMessage(err) }));
    }
  }

  /**
   * One round of a periodic watcher: in every database, `find` names tables that may have
   * grown; they become hot and are measured (then `after` sees them), then dirty roles are
   * evaluated. A round still running when the next is due is not doubled.
   */
  async #watchTables(
    source: string,
    find: (db: Database, owners: number[]) => Promise<number[]>,
    after?: (db: Database, relids: number[]) => void,
  ) {
    if (this.#running.has(source) || this.#ctx.limits().size === 0) return;
    this.#running.add(source);
    try {
      const owners = this.#ctx.owners();
      await Promise.all([...this.#ctx.databases()].map(async (db) => {
        let relids: number[];
        try {
          relids = await find(db, owners);
        } catch (err) {
          this.#log.debug(`cannot read ${source}`, {
            database: db.name,
            error: errorMessage(err),
          });
          return;
        }
        const t = performance.now();
        relids = relids.filter((r) =>
          !this.#ctx.busy.has(db.name, r) || t - (db.measuredRel.get(r) ?? 0) >= BUSY_INTERVAL_MS
        );
        if (relids.length === 0) return;
        for (const r of relids) db.measuredRel.set(r, t);
        const now = Date.now();
        for (const r of relids) db.hot.touch(r, now);
        // Backing off after failures: the hot set retries them when the pause ends.
        if (db.retryAt !== undefined && performance.now() < db.retryAt) return;
        await this.#ctx.measureSome(db, relids, now);
        after?.(db, relids);
      }));
      await this.#ctx.evaluate();
    } finally {
      this.#running.delete(source);
    }
  }

  /** Starts the temporary-file poll and the large-object check (once, at start). */
  startPolls(): void {
    this.#tempTimer = setInterval(
      () => this.#ctx.detach("poll temp files", this.#pollTempFiles()),
      TEMP_FILES_POLL_MS,
    );
    this.#largeObjectTimer = setInterval(
      () => this.#ctx.detach("check large objects", this.#checkLargeObjects()),
      LARGE_OBJECT_CHECK_MS,
    );
  }

  /** Between sweeps: temporary files come and go with sessions; changed roles are evaluated. */
  async #pollTempFiles() {
    if (this.#tempPolling || this.#ctx.stopped() || this.#ctx.limits().size === 0) return;
    if (performance.now() < this.#tempPollAt) return;
    this.#tempPolling = true;
    try {
      const now = Date.now();
      const t = performance.now();
      const changed = await this.#ctx.measureTempFiles();
      this.#tempPollAt = performance.now() + tempPollDelay(performance.now() - t) -
        TEMP_FILES_POLL_MS;
      if (changed.size === 0) return;
      for (const oid of changed) this.#ctx.markDirty(oid, now);
      await this.#ctx.evaluate();
    } finally {
      this.#tempPolling = false;
    }
  }

  /**
   * Between sweeps, every LARGE_OBJECT_CHECK_MS: large-object writes fire no trigger and send no
   * notification, so each watched database's signature is read and, where it moved, its large
   * objects are measured and their owners evaluated. A round still running is not doubled.
   */
  async #checkLargeObjects() {
    if (this.#checkingLargeObjects || this.#ctx.stopped() || this.#ctx.limits().size === 0) return;
    this.#checkingLargeObjects = true;
    try {
      // The sweep's owners (groups charged to members included): the same list, or the tracker
      // would see the owners change and the groups' objects come and go between sweeps.
      const owners = this.#ctx.owners();
      const since = Date.now();
      await Promise.all([...this.#ctx.databases()].map(async (db) => {
        if (db.measuredAt === 0) return; // (re)connecting: its full measurement does this
        try {
          await this.#ctx.measureLargeObjects(db, db.sql, owners, false, since);
        } catch (err) {
          this.#log.debug("cannot check large objects", {
            database: db.name,
            error: errorMessage(err),
          });
        }
      }));
      await this.#ctx.evaluate();
    } finally {
      this.#checkingLargeObjects = false;
    }
  }

  /** Stops the timers (a round in progress finishes). */
  stop(): void {
    clearInterval(this.#tempTimer);
    clearInterval(this.#largeObjectTimer);
    clearInterval(this.#lockTimer);
    clearInterval(this.#pollTimer);
    clearInterval(this.#verifyTimer);
  }
}
