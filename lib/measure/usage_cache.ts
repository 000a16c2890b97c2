/**
 * Sizes per relation per database, and per-owner totals kept up to date incrementally, so one
 * notification re-measures one relation and re-evaluates one role, whatever the other roles own.
 *
 * @module
 */

/** One measured relation (sql/measure_owners.sql, sql/measure_relations.sql). */
export interface RelationSize {
  /** pg_class oid. */
  relid: number;
  /** Owner role oid. */
  owner: number;
  /** pg_total_relation_size. */
  bytes: number;
}

interface Entry {
  owner: number;
  bytes: number;
}

/** Sizes by database and relation; totals by owner across databases. */
export class UsageCache {
  #dbs = new Map<string, Map<number, Entry>>();
  #totals = new Map<number, number>();

  /** Total bytes owned by a role across all databases. */
  usage(owner: number): number {
    return this.#totals.get(owner) ?? 0;
  }

  /** Databases with measurements. */
  databases(): string[] {
    return [...this.#dbs.keys()];
  }

  /** The owner of a cached relation, if known. */
  ownerOf(db: string, relid: number): number | undefined {
    return this.#dbs.get(db)?.get(relid)?.owner;
  }

  /** Bytes a role owns in one database. */
  usageIn(db: string, owner: number): number {
    let sum = 0;
    for (const e of this.#dbs.get(db)?.values() ?? []) if (e.owner === owner) sum += e.bytes;
    return sum;
  }

  #add(owner: number, delta: number, changed: Set<number>) {
    if (delta === 0) return;
    this.#totals.set(owner, (this.#totals.get(owner) ?? 0) + delta);
    changed.add(owner);
  }

  /**
   * Replaces everything known about one database with a full measurement. Relations in `keep`
   * (skipped because busy) keep their previous size. Returns the owners whose total changed.
   */
  replaceDatabase(
    db: string,
    rows: readonly RelationSize[],
    keep: ReadonlySet<number> = new Set(),
  ): Set<number> {
    const changed = new Set<number>();
    const old = this.#dbs.get(db) ?? new Map<number, Entry>();
    const next = new Map<number, Entry>();
    for (const [relid, e] of old) if (keep.has(relid)) next.set(relid, e);
    for (const r of rows) next.set(r.relid, { owner: r.owner, bytes: r.bytes });
    for (const e of old.values()) this.#add(e.owner, -e.bytes, changed);
    for (const e of next.values()) this.#add(e.owner, e.bytes, changed);
    this.#dbs.set(db, next);
    return changed;
  }

  /** Sets the size of some relations. Returns the owners whose total changed. */
  update(db: string, rows: readonly RelationSize[]): Set<number> {
    const changed = new Set<number>();
    let map = this.#dbs.get(db);
    if (!map) this.#dbs.set(db, map = new Map());
    for (const r of rows) {
      const old = map.get(r.relid);
      if (old) this.#add(old.owner, -old.bytes, changed);
      map.set(r.relid, { owner: r.owner, bytes: r.bytes });
      this.#add(r.owner, r.bytes, changed);
    }
    return changed;
  }

  /** Forgets relations (dropped, or no longer owned by a limited role). Returns changed owners. */
  remove(db: string, relids: Iterable<number>): Set<number> {
    const changed = new Set<number>();
    const map = this.#dbs.get(db);
    if (!map) return changed;
    for (const relid of relids) {
      const old = map.get(relid);
      if (!old) continue;
      map.delete(relid);
      this.#add(old.owner, -old.bytes, changed);
    }
    return changed;
  }

  /** Forgets a whole database (no longer monitored). Returns changed owners. */
  dropDatabase(db: string): Set<number> {
    const changed = this.replaceDatabase(db, []);
    this.#dbs.delete(db);
    return changed;
  }
}
