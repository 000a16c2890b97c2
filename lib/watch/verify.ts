/**
 * The notification cross-check of "trigger" detection. A tenant can keep the notify trigger from
 * speaking without touching it (a BEFORE trigger of its own that writes the trigger's throttle
 * setting, or anything not yet thought of). Every few seconds the daemon reads the tables' tuple
 * counters (sql/table_counters.sql) and re-measures the tables whose counters moved without a
 * notification since the previous round: that alone bounds how long silenced writes go unseen.
 * A table that grew although no notification for it arrived since shortly before the previous
 * round, while the database's LISTEN connection stayed up and its sizes were complete, was
 * written without notifications: reported once per table and episode.
 *
 * Only growth counts, never the counters themselves: statistics reach the counters up to seconds
 * after the commit, but a notified write was measured when its notification arrived, so by then
 * its table no longer grows. Sizes change with VACUUM (new fsm/vm forks) too, but a vacuum moves
 * no tuple counter, so such a table is not looked at.
 *
 * {@linkcode NotifyVerifier} is pure (time is passed in); the daemon does the I/O.
 *
 * @module
 */

/** Statistics counters of one table (sql/table_counters.sql). */
export interface TupleCounters {
  /** n_tup_ins + n_tup_upd + n_tup_del: moves on every write, committed or not. */
  tuples: number;
  /** n_live_tup: rises only with committed inserts (a rolled-back INSERT leaves it alone). */
  live: number;
}

/** A re-measured table: its size in the cache before and after the measurement. */
export interface Remeasured {
  /** Table oid. */
  relid: number;
  /** Bytes known before; undefined when the table was not known. */
  before: number | undefined;
  /** Bytes known after; undefined when it could not be measured. */
  after: number | undefined;
}

/** Options for {@linkcode NotifyVerifier}. */
export interface NotifyVerifierOptions {
  /**
   * A notification for the table this long before the previous round still explains its growth
   * (a notified table is re-measured within about two seconds: throttled writes after a
   * notification are caught by the hot re-measurements).
   * @default {5000}
   */
  slackMs?: number;
}

/** Per-database state of the cross-check. */
export class NotifyVerifier {
  #slackMs: number;
  #counters?: Map<number, TupleCounters>;
  /** Counters of the tables that moved in the current round, until it is judged. */
  #moved = new Map<number, { before: TupleCounters; now: TupleCounters }>();
  #prevAt = 0;
  #roundAt = 0;
  #complete = false;
  #lastNotified = new Map<number, number>();
  #upSince: number | undefined;
  #flagged = new Set<number>();

  /** Creates the state of one database, with its LISTEN connection down. */
  constructor(options: NotifyVerifierOptions = {}) {
    this.#slackMs = options.slackMs ?? 5000;
  }

  /** A notification for `relid` arrived at `now` (ms): ends that table's silence episode. */
  notified(relid: number, now: number): void {
    this.#lastNotified.set(relid, now);
    this.#flagged.delete(relid);
  }

  /** The LISTEN connection is (again) up at `now`. */
  connected(now: number): void {
    this.#upSince = now;
  }

  /** The LISTEN connection is down: no table is judged until it has been up a whole window. */
  disconnected(): void {
    this.#upSince = undefined;
  }

  /**
   * Counters read at `now`, just before a full measurement of the database: the next round
   * compares with them (the measurement includes whatever moved them so far).
   */
  baseline(counters: Map<number, TupleCounters>, now: number): void {
    this.#counters = counters;
    this.#roundAt = now;
    this.#moved.clear();
  }

  /**
   * Starts a round with the counters read at `now`; returns the tables whose tuple counters moved
   * since the previous round (none at the first), to be re-measured. `complete`: the database was
   * fully measured since its LISTEN connection last (re)connected, so the known sizes include
   * whatever was written while notifications were lost.
   */
  moved(counters: Map<number, TupleCounters>, now: number, complete: boolean): number[] {
    const before = this.#counters;
    this.#counters = counters;
    this.#prevAt = this.#roundAt;
    this.#roundAt = now;
    this.#complete = complete;
    this.#moved.clear();
    for (const relid of this.#flagged) if (!counters.has(relid)) this.#flagged.delete(relid);
    for (const relid of this.#lastNotified.keys()) {
      if (!counters.has(relid)) this.#lastNotified.delete(relid);
    }
    if (before === undefined) return [];
    for (const [relid, c] of counters) {
      const b = before.get(relid);
      if (b === undefined || b.tuples === c.tuples) continue;
      // Notified since the previous round: measured on that notification (and kept hot after
      // it), so normal traffic costs no second measurement. A tenant that notifies now and then
      // to dodge this is measured on every notification: its writes wait at most two rounds.
      if ((this.#lastNotified.get(relid) ?? -Infinity) >= this.#prevAt) continue;
      this.#moved.set(relid, { before: b, now: c });
    }
    return [...this.#moved.keys()];
  }

  /**
   * Judges the re-measured tables of the round: returns those written without notification that
   * were not already reported in this episode (each is reported once until a notification for it
   * arrives again).
   */
  silenced(measured: readonly Remeasured[]): number[] {
    if (this.#prevAt === 0 || !this.#complete) return [];
    // Notifications sent while we were not listening are lost: that is not the tenant's doing.
    if (this.#upSince === undefined || this.#upSince > this.#prevAt) return [];
    const windowStart = this.#prevAt - this.#slackMs;
    const out: number[] = [];
    for (const m of measured) {
      const moved = this.#moved.get(m.relid);
      if (moved === undefined || this.#flagged.has(m.relid)) continue;
      if (m.before === undefined || m.after === undefined || m.after <= m.before) continue;
      if (moved.now.live <= moved.before.live) continue; // no committed insert (e.g. a rollback)
      if ((this.#lastNotified.get(m.relid) ?? -Infinity) >= windowStart) continue;
      this.#flagged.add(m.relid);
      out.push(m.relid);
    }
    return out;
  }
}
