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

  /** The cached size of one relation, if known. */
  bytesOf(db: string, relid: number): number | undefined {
    return this.#dbs.get(db)?.get(relid)?.bytes;
  }

  /** Bytes a role owns in one database. */
  usageIn(db: string, owner: number): number {
    let sum = 0;
    for (const e of this.#dbs.get(db)?.values() ?? []) if (e.owner === owner) sum += e.bytes;
    return sum;
  }

  /** Applies net deltas per owner; returns the owners whose total really changed. */
  #apply(deltas: Map<number, number>): Set<number> {
    const changed = new Set<number>();
    for (const [owner, delta] of deltas) {
      if (delta === 0) continue;
      const total = (this.#totals.get(owner) ?? 0) + delta;
      if (total === 0) this.#totals.delete(owner);
      else this.#totals.set(owner, total);
      changed.add(owner);
    }
    return changed;
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
    const old = this.#dbs.get(db) ?? new Map<number, Entry>();
    const next = new Map<number, Entry>();
    for (const [relid, e] of old) if (keep.has(relid)) next.set(relid, e);
    for (const r of rows) next.set(r.relid, { owner: r.owner, bytes: r.bytes });
    const deltas = new Map<number, number>();
    for (const e of old.values()) deltas.set(e.owner, (deltas.get(e.owner) ?? 0) - e.bytes);
    for (const e of next.values()) deltas.set(e.owner, (deltas.get(e.owner) ?? 0) + e.bytes);
    this.#dbs.set(db, next);
    return this.#apply(deltas);
  }

  /** Sets the size of some relations. Returns the owners whose total changed. */
  update(db: string, rows: readonly RelationSize[]): Set<number> {
    let map = this.#dbs.get(db);
    if (!map) this.#dbs.set(db, map = new Map());
    const deltas = new Map<number, number>();
    for (const r of rows) {
      const old = map.get(r.relid);
      if (old) deltas.set(old.owner, (deltas.get(old.owner) ?? 0) - old.bytes);
      map.set(r.relid, { owner: r.owner, bytes: r.bytes });
      deltas.set(r.owner, (deltas.get(r.owner) ?? 0) + r.bytes);
    }
    return this.#apply(deltas);
  }

  /** Forgets relations (dropped, or no longer owned by a limited role). Returns changed owners. */
  remove(db: string, relids: Iterable<number>): Set<number> {
    const map = this.#dbs.get(db);
    if (!map) return new Set();
    const deltas = new Map<number, number>();
    for (const relid of relids) {
      const old = map.get(relid);
      if (!old) continue;
      map.delete(relid);
      deltas.set(old.owner, (deltas.get(old.owner) ?? 0) - old.bytes);
    }
    return this.#apply(deltas);
  }

  /** Forgets a whole database (no longer monitored). Returns changed owners. */
  dropDatabase(db: string): Set<number> {
    const changed = this.replaceDatabase(db, []);
    this.#dbs.delete(db);
    return changed;
  }
}
