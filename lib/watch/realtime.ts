/**
 * Real-time measurement between sweeps: a notification names a relation, which joins its
 * database's pending set; pending relations are measured in batches (at most one query per
 * FLUSH_INTERVAL_MS per database, spaced by the owner's headroom), with a backoff after failures;
 * relations seen growing stay hot for HOT_WINDOW_MS and are measured again every hot_interval_ms.
 *
 * @module
 */
import type { BusyRelations } from "../measure/busy_relations.ts";
import { measureRelations } from "../measure/catalog.ts";
import type { UsageCache } from "../measure/usage_cache.ts";
import type { LimitedRoles } from "../measure/limited_roles.ts";
import type { Roles } from "../evaluate/roles.ts";
import { errorMessage, type Logger } from "../report/log.ts";
import type { StatusReport } from "../report/status.ts";
import { BUSY_INTERVAL_MS, type Database } from "./database.ts";
import { parsePayload } from "./payload.ts";

/**
 * Least time between two measurements triggered by notifications in one database: under write
 * load many sessions notify about the same tables; one query per window serves them all.
 */
const FLUSH_INTERVAL_MS = 50;

/** Write rate (bytes/s) assumed when spacing re-measurements by headroom: above this machine's. */
const MAX_WRITE_RATE = 512 * 1024 * 1024;

/**
 * How many notified oids not known as a limited role's relation one measurement takes, per
 * database (MAX_UNKNOWN_PENDING in lib/watch/connections.ts bounds how many may wait). Anyone may NOTIFY: a
 * flood of made-up oids costs at most this many catalog look-ups per flush.
 */
const MAX_UNKNOWN_PER_FLUSH = 500;

/** Least time between two whole-database measurements caused by a notification overflow. */
const OVERFLOW_MEASURE_MS = 5000;

/** Longest pause of a database's notification measurements after failures (doubling from 50 ms). */
const MAX_BACKOFF_MS = 10_000;

/** What real-time measurement reads and calls. */
export interface RealTimeContext {
  /** Log sink. */
  log: Logger;
  /** Usage per owner and source. */
  cache: UsageCache;
  /** Relations whose measurement waits behind a lock. */
  busy: BusyRelations;
  /** Limits, charges and ownership. */
  limited: LimitedRoles;
  /** Marks roles dirty and evaluates them. */
  roles: Roles;
  /** Notification and action counters. */
  status: StatusReport;
  /** The watched databases. */
  databases: () => Iterable<Database>;
  /** Stops writers into locked owners' relations seen written in `db`. */
  writtenWhileLocked: (db: Database, owners: Iterable<number>) => void;
  /** A "lock changed" notification on the control database. */
  onLocksChanged: () => void;
  /** A `c:text` hint: catalog text of this database changed. */
  onTextHint: (database: string) => void;
  /** Measures a whole database, then evaluates (a notification overflow). */
  remeasureDatabase: (db: Database) => Promise<unknown>;
  /** Runs a task nobody awaits, logging what it throws. */
  detach: (task: string, promise: Promise<unknown>) => void;
}

/** The settings real-time measurement uses (a reload may change them). */
export interface RealTimeSettings {
  /** Where "lock changed" notifications count. */
  controlDatabase: string;
  /** How often hot relations are measured again, ms. */
  hotIntervalMs: number;
}

/** Notifications, pending sets, batched measurement and the hot set of every watched database. */
export class RealTime {
  #ctx: RealTimeContext;
  #log: Logger;
  #settings: RealTimeSettings = { controlDatabase: "", hotIntervalMs: 0 };
  #hotTimer?: ReturnType<typeof setInterval>;

  /** Creates the stage; {@linkcode configure} gives it its settings, {@linkcode start} the hot set. */
  constructor(ctx: RealTimeContext) {
    this.#ctx = ctx;
    this.#log = ctx.log;
  }

  /** Applies the settings (at start and on reload); a running hot-set timer is re-armed. */
  configure(settings: RealTimeSettings): void {
    this.#settings = settings;
    if (this.#hotTimer !== undefined) this.start();
  }

  /** Starts measuring hot relations every hot_interval_ms. */
  start(): void {
    clearInterval(this.#hotTimer);
    this.#hotTimer = setInterval(() => this.#remeasureHot(), this.#settings.hotIntervalMs);
  }

  /**
   * A notification in a monitored database. It is a hint: it makes the daemon measure a relation
   * sooner, and the measurement (the catalog) decides what changed, including whether a relation
   * is gone. Only oids of relations the daemon knows as a limited role's become hot.
   */
  onNotify(db: Database, payload: string): void {
    this.#ctx.status.notified();
    const hint = parsePayload(payload);
    if (hint.kind === "locks") {
      if (db.name === this.#settings.controlDatabase) this.#ctx.onLocksChanged();
      return;
    }
    if (hint.kind === "ignored") {
      this.#ctx.status.count("notifications_ignored");
      return;
    }
    if (hint.kind === "catalog_text") {
      this.#ctx.onTextHint(db.name);
      return;
    }
    const now = Date.now();
    db.verify.notified(hint.relid, now);
    const known = this.#ctx.cache.ownerOf(db.name, hint.relid) !== undefined;
    if (!db.pending.add(hint.relid, known)) {
      // More unknown oids than one database can have waiting: someone floods the channel. Drop
      // them and measure the whole database instead (spaced), which finds every real relation.
      this.#ctx.status.count("notifications_dropped");
      if (now - db.overflowMeasuredAt >= OVERFLOW_MEASURE_MS) {
        db.overflowMeasuredAt = now;
        this.#log.warn("too many notifications of unknown relations: measuring the database", {
          database: db.name,
        });
        this.#ctx.detach(
          "measure database",
          this.#ctx.remeasureDatabase(db),
        );
      }
      return;
    }
    db.pendingSince ??= now;
    if (known) db.hot.touch(hint.relid, now);
    // Batch what arrives within a few ms into one query, and at most one query per window.
    this.#scheduleFlush(db, Math.max(performance.now() + 2, db.lastFlush + FLUSH_INTERVAL_MS));
  }

  /** Arms the database's flush timer for `at` (performance.now() time) unless it fires earlier. */
  #scheduleFlush(db: Database, at: number) {
    if (db.flushTimer !== undefined && db.flushAt <= at) return;
    clearTimeout(db.flushTimer);
    db.flushAt = at;
    db.flushTimer = setTimeout(
      () => this.#ctx.detach("flush", this.#flush(db)),
      Math.max(0, at - performance.now()),
    );
  }

  /**
   * How often a table may be re-measured on notifications, from its owner's headroom: never so
   * rarely that a writer at MAX_WRITE_RATE could use more than half the headroom in between, never
   * more than once per FLUSH_INTERVAL_MS, at least once a second. A tenant far from its limit
   * costs one query a second however hard it writes; one near it is watched every 50 ms.
   */
  #remeasureInterval(db: Database, relid: number): number {
    const owner = this.#ctx.cache.ownerOf(db.name, relid);
    if (this.#ctx.busy.has(db.name, relid)) return BUSY_INTERVAL_MS;
    const charged = owner === undefined
      ? []
      : this.#ctx.limited.charges.dependents.get(owner) ?? [];
    if (charged.length === 0) return 0;
    // A group's table is watched as closely as its nearest-to-the-limit member needs.
    let headroom = Infinity;
    for (const oid of charged) {
      const limit = this.#ctx.limited.limits.get(oid);
      if (limit) {
        headroom = Math.min(headroom, limit.limit.hard_limit - this.#ctx.limited.usage(oid));
      }
    }
    if (headroom <= 0) return 0;
    return Math.min(1000, Math.max(FLUSH_INTERVAL_MS, (headroom / MAX_WRITE_RATE) * 500));
  }

  /** Measures what is due among the pending relations of one database, then evaluates. */
  async #flush(db: Database) {
    db.flushTimer = undefined;
    const now = performance.now();
    if (db.retryAt !== undefined && now < db.retryAt) {
      // Backing off after failures: one retry when the pause ends, not one every 50 ms.
      this.#scheduleFlush(db, db.retryAt);
      return;
    }
    db.lastFlush = now;
    const relids: number[] = [];
    let nextDue = Infinity;
    let unknown = 0;
    for (const relid of db.pending) {
      if (db.pending.isUnknown(relid)) {
        // Known relations come first; unknown oids only up to a bound per query.
        if (unknown >= MAX_UNKNOWN_PER_FLUSH) {
          nextDue = now;
          break;
        }
        unknown++;
        relids.push(relid);
        continue;
      }
      const due = (db.measuredRel.get(relid) ?? 0) + this.#remeasureInterval(db, relid);
      if (due <= now) relids.push(relid);
      else nextDue = Math.min(nextDue, due);
    }
    const since = db.pendingSince ?? Date.now();
    for (const relid of relids) {
      if (!db.pending.isUnknown(relid)) db.measuredRel.set(relid, now);
      db.pending.delete(relid);
    }
    if (db.pending.size === 0) db.pendingSince = undefined;
    else this.#scheduleFlush(db, Math.max(now + FLUSH_INTERVAL_MS, nextDue));
    if (relids.length === 0) return;
    const t0 = performance.now();
    const changed = await this.measureSome(db, relids, since);
    const t1 = performance.now();
    await this.#ctx.roles.run();
    this.#log.debug("re-evaluated", {
      database: db.name,
      relations: relids.length,
      roles: changed.size,
      measure_ms: Math.round((t1 - t0) * 100) / 100,
      total_ms: Math.round((performance.now() - t0) * 100) / 100,
    });
  }

  /**
   * Measures `relids` of one database now: charged, removed when gone or no longer a limited
   * role's, busy ones kept by their files; returns the owners whose usage changed. On failure
   * the relations wait again and the database backs off.
   */
  async measureSome(db: Database, relids: number[], since: number): Promise<Set<number>> {
    let rows;
    try {
      rows = await measureRelations(db.sql, relids, db.installed);
      db.failures = 0;
      db.retryAt = undefined;
    } catch (err) {
      db.failures = (db.failures ?? 0) + 1;
      const pause = Math.min(MAX_BACKOFF_MS, FLUSH_INTERVAL_MS * 2 ** db.failures);
      db.retryAt = performance.now() + pause;
      this.#log.warn("cannot measure relations", {
        database: db.name,
        error: errorMessage(err),
        retry_ms: pause,
      });
      for (const r of relids) db.pending.add(r, this.#ctx.cache.ownerOf(db.name, r) !== undefined);
      db.pendingSince ??= Date.now();
      this.#scheduleFlush(db, db.retryAt);
      return new Set();
    }
    const gone: number[] = [];
    const keep = [];
    const now = Date.now();
    for (const r of rows) {
      if (!r.exists || !this.#ctx.limited.charges.dependents.has(r.owner)) gone.push(r.relid);
      else if (r.busy) {
        // Locked: charged what its files hold (when installed), and looked at again soon.
        this.#ctx.busy.seen(db.name, r.relid, now);
        db.hot.touch(r.relid, now);
        if (r.byFiles) keep.push(r);
      } else {
        this.#ctx.busy.clear(db.name, r.relid);
        // A table still growing stays hot: more may come inside a throttle window.
        if (this.#ctx.cache.bytesOf(db.name, r.relid) !== r.bytes) {
          db.hot.touch(r.relid, now);
        }
        keep.push(r);
      }
    }
    const changed = this.#ctx.cache.remove(db.name, gone);
    for (const oid of this.#ctx.cache.update(db.name, keep)) changed.add(oid);
    for (const oid of changed) this.#ctx.roles.markDirty(oid, since);
    this.#ctx.writtenWhileLocked(db, keep.map((r) => r.owner));
    return changed;
  }

  /**
   * Re-measures hot relations: catches writes that fell inside a trigger's throttle window. They
   * join the next notification batch (so a busy database's notifications never starve them).
   */
  #remeasureHot() {
    const now = Date.now();
    for (const db of this.#ctx.databases()) {
      const live = db.hot.live(now);
      for (const relid of live) db.pending.add(relid, true);
      if (live.length === 0) continue;
      db.pendingSince ??= now;
      this.#scheduleFlush(db, Math.max(performance.now(), db.lastFlush + FLUSH_INTERVAL_MS));
    }
  }

  /** Stops the hot-set timer and every database's flush timer. */
  stop(): void {
    clearInterval(this.#hotTimer);
    for (const db of this.#ctx.databases()) clearTimeout(db.flushTimer);
  }
}
