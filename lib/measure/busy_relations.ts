/**
 * Episodes of relations that cannot be measured the normal way because an AccessExclusiveLock is
 * held or queued on them (or on an index or TOAST of theirs). A tenant can hold such a lock for
 * as long as it likes; one that lasts longer than a sweep interval is reported once per episode.
 *
 * @module
 */
import type { BusyRelation } from "./catalog.ts";

/** A busy relation due for its report. */
export interface BusyReport extends BusyRelation {
  /** pg_class oid. */
  relid: number;
  /** How long it has been busy, ms. */
  busyMs: number;
}

interface Episode {
  since: number;
  reported: boolean;
}

/** The 'tamper' event reason for a busy relation of database `db`. */
export function busyReason(b: BusyReport, db: string): string {
  const charged = b.byFiles
    ? "charged what its files hold on disk"
    : "keeps its last measured size (postgres_monitor is not installed there)";
  return `table ${b.name} in database ${db} has been locked (ACCESS EXCLUSIVE held or queued ` +
    `on it, its indexes or TOAST) for ${Math.round(b.busyMs / 1000)} s: ${charged}`;
}

/** Busy episodes per database and relation. */
export class BusyRelations {
  #dbs = new Map<string, Map<number, Episode>>();

  #db(db: string): Map<number, Episode> {
    let m = this.#dbs.get(db);
    if (!m) this.#dbs.set(db, m = new Map());
    return m;
  }

  /** A measurement found `relid` busy at `now` (ms): starts its episode unless one is open. */
  seen(db: string, relid: number, now: number): void {
    const m = this.#db(db);
    if (!m.has(relid)) m.set(relid, { since: now, reported: false });
  }

  /** Whether `relid` is in an open busy episode. */
  has(db: string, relid: number): boolean {
    return this.#dbs.get(db)?.has(relid) ?? false;
  }

  /** A measurement succeeded the normal way: the relation's episode (if any) is over. */
  clear(db: string, relid: number): void {
    this.#dbs.get(db)?.delete(relid);
  }

  /**
   * A full sweep of `db` found exactly `busy` busy at `now`: other episodes end; returns the
   * relations busy for at least `minMs` that were not reported yet in this episode (now marked).
   */
  sweep(db: string, busy: ReadonlyMap<number, BusyRelation>, now: number, minMs: number) {
    const m = this.#db(db);
    for (const relid of m.keys()) if (!busy.has(relid)) m.delete(relid);
    const due: BusyReport[] = [];
    for (const [relid, b] of busy) {
      this.seen(db, relid, now);
      const e = m.get(relid)!;
      if (e.reported || now - e.since < minMs) continue;
      e.reported = true;
      due.push({ relid, ...b, busyMs: now - e.since });
    }
    return due;
  }

  /** Forgets a database (no longer monitored). */
  dropDatabase(db: string): void {
    this.#dbs.delete(db);
  }
}
