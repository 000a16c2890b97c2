/**
 * Sizes per relation per database, other stored bytes per owner (large objects, catalog text,
 * temporary files, relations being created), and per-owner totals kept up to date incrementally,
 * so one notification re-measures one relation and re-evaluates one role, whatever the other
 * roles own.
 *
 * @module
 */

/** Where a role's bytes are, as `status --json` and the metrics break usage down. */
export const USAGE_KINDS = [
  "tables",
  "indexes",
  "toast",
  "large_objects",
  "catalog_text",
  "temp_files",
  "uncommitted",
] as const;

/** One of {@linkcode USAGE_KINDS}. */
export type UsageKind = typeof USAGE_KINDS[number];

/** Kinds measured per owner rather than per relation (see {@linkcode UsageCache.setSource}). */
export type SourceKind = Exclude<UsageKind, "tables" | "indexes" | "toast">;

/** One measured relation (sql/measure_owners.sql, sql/measure_relations.sql). */
export interface RelationSize {
  /** pg_class oid. */
  relid: number;
  /** Owner role oid. */
  owner: number;
  /** pg_total_relation_size: heap, TOAST and indexes, all forks. */
  bytes: number;
  /** Of `bytes`, its indexes (pg_indexes_size). @default {0} */
  indexes?: number;
  /** Of `bytes`, its TOAST table and TOAST index. @default {0} */
  toast?: number;
}

interface Entry {
  owner: number;
  bytes: number;
  indexes: number;
  toast: number;
}

/** Bytes by kind; every kind present. */
export type UsageBreakdown = Record<UsageKind, number>;

function emptyBreakdown(): UsageBreakdown {
  return Object.fromEntries(USAGE_KINDS.map((k) => [k, 0])) as UsageBreakdown;
}

/** The scope of sources that belong to no database (temporary files). */
const CLUSTER = "\0cluster";

/** Sizes by database and relation; totals by owner across databases. */
export class UsageCache {
  #dbs = new Map<string, Map<number, Entry>>();
  /** scope (database, or CLUSTER) -> kind -> owner -> bytes. */
  #sources = new Map<string, Map<SourceKind, Map<number, number>>>();
  #totals = new Map<number, number>();
  #kinds = new Map<number, UsageBreakdown>();

  /** Total bytes charged to a role across all databases. */
  usage(owner: number): number {
    return this.#totals.get(owner) ?? 0;
  }

  /** A role's usage by kind (all zero for an unknown role). */
  breakdown(owner: number): UsageBreakdown {
    return { ...(this.#kinds.get(owner) ?? emptyBreakdown()) };
  }

  /** Databases with measurements. */
  databases(): string[] {
    const names = new Set(this.#dbs.keys());
    for (const scope of this.#sources.keys()) if (scope !== CLUSTER) names.add(scope);
    return [...names];
  }

  /** The owner of a cached relation, if known. */
  ownerOf(db: string, relid: number): number | undefined {
    return this.#dbs.get(db)?.get(relid)?.owner;
  }

  /** The cached size of one relation, if known. */
  bytesOf(db: string, relid: number): number | undefined {
    return this.#dbs.get(db)?.get(relid)?.bytes;
  }

  /** Bytes charged to a role in one database (relations and per-database sources). */
  usageIn(db: string, owner: number): number {
    let sum = 0;
    for (const e of this.#dbs.get(db)?.values() ?? []) if (e.owner === owner) sum += e.bytes;
    for (const m of this.#sources.get(db)?.values() ?? []) sum += m.get(owner) ?? 0;
    return sum;
  }

  /** What one source holds for a role in one database (undefined: the cluster scope). */
  sourceBytes(kind: SourceKind, owner: number, db?: string): number {
    return this.#sources.get(db ?? CLUSTER)?.get(kind)?.get(owner) ?? 0;
  }

  #add(owner: number, kind: UsageKind, delta: number, changed: Set<number>) {
    if (delta === 0) return;
    let k = this.#kinds.get(owner);
    if (!k) this.#kinds.set(owner, k = emptyBreakdown());
    k[kind] += delta;
    const total = (this.#totals.get(owner) ?? 0) + delta;
    if (total === 0) {
      this.#totals.delete(owner);
      this.#kinds.delete(owner);
    } else this.#totals.set(owner, total);
    changed.add(owner);
  }

  #addEntry(e: Entry, sign: 1 | -1, changed: Set<number>) {
    this.#add(e.owner, "tables", sign * (e.bytes - e.indexes - e.toast), changed);
    this.#add(e.owner, "indexes", sign * e.indexes, changed);
    this.#add(e.owner, "toast", sign * e.toast, changed);
  }

  /** Owners whose total really changed, from a set of owners something was added to. */
  #net(touched: Set<number>, before: Map<number, number>): Set<number> {
    const changed = new Set<number>();
    for (const o of touched) if ((this.#totals.get(o) ?? 0) !== before.get(o)) changed.add(o);
    return changed;
  }

  #snapshot(owners: Iterable<number>): Map<number, number> {
    const m = new Map<number, number>();
    for (const o of owners) if (!m.has(o)) m.set(o, this.#totals.get(o) ?? 0);
    return m;
  }

  /**
   * Replaces everything known about one database's relations with a full measurement. Relations
   * in `keep` (skipped because busy) keep their previous size. Returns the owners whose total
   * changed.
   */
  replaceDatabase(
    db: string,
    rows: readonly RelationSize[],
    keep: ReadonlySet<number> = new Set(),
  ): Set<number> {
    const old = this.#dbs.get(db) ?? new Map<number, Entry>();
    const next = new Map<number, Entry>();
    for (const [relid, e] of old) if (keep.has(relid)) next.set(relid, e);
    for (const r of rows) next.set(r.relid, entry(r));
    // Summed per owner first: a database can hold 100,000 relations of a few owners.
    const sums = new Map<number, Entry>();
    const sum = (e: Entry, sign: 1 | -1) => {
      let s = sums.get(e.owner);
      if (!s) sums.set(e.owner, s = { owner: e.owner, bytes: 0, indexes: 0, toast: 0 });
      s.bytes += sign * e.bytes;
      s.indexes += sign * e.indexes;
      s.toast += sign * e.toast;
    };
    for (const e of old.values()) sum(e, -1);
    for (const e of next.values()) sum(e, 1);
    const before = this.#snapshot(sums.keys());
    const touched = new Set<number>();
    for (const s of sums.values()) this.#addEntry(s, 1, touched);
    this.#dbs.set(db, next);
    return this.#net(touched, before);
  }

  /** Sets the size of some relations. Returns the owners whose total changed. */
  update(db: string, rows: readonly RelationSize[]): Set<number> {
    let map = this.#dbs.get(db);
    if (!map) this.#dbs.set(db, map = new Map());
    const owners: number[] = [];
    for (const r of rows) {
      owners.push(r.owner);
      const o = map.get(r.relid)?.owner;
      if (o !== undefined) owners.push(o);
    }
    const before = this.#snapshot(owners);
    const touched = new Set<number>();
    for (const r of rows) {
      const old = map.get(r.relid);
      if (old) this.#addEntry(old, -1, touched);
      const e = entry(r);
      map.set(r.relid, e);
      this.#addEntry(e, 1, touched);
    }
    return this.#net(touched, before);
  }

  /** Forgets relations (dropped, or no longer owned by a limited role). Returns changed owners. */
  remove(db: string, relids: Iterable<number>): Set<number> {
    const map = this.#dbs.get(db);
    if (!map) return new Set();
    const gone: Entry[] = [];
    for (const relid of relids) {
      const old = map.get(relid);
      if (!old) continue;
      map.delete(relid);
      gone.push(old);
    }
    const before = this.#snapshot(gone.map((e) => e.owner));
    const touched = new Set<number>();
    for (const e of gone) this.#addEntry(e, -1, touched);
    return this.#net(touched, before);
  }

  /**
   * Replaces what one source (large objects, catalog text, ...) holds per owner in one database,
   * or cluster-wide when `db` is undefined (temporary files). Returns the owners whose total
   * changed.
   */
  setSource(kind: SourceKind, perOwner: ReadonlyMap<number, number>, db?: string): Set<number> {
    const scope = db ?? CLUSTER;
    let kinds = this.#sources.get(scope);
    if (!kinds) this.#sources.set(scope, kinds = new Map());
    const old = kinds.get(kind) ?? new Map<number, number>();
    const before = this.#snapshot([...old.keys(), ...perOwner.keys()]);
    const touched = new Set<number>();
    for (const [o, b] of old) this.#add(o, kind, -b, touched);
    const next = new Map<number, number>();
    for (const [o, b] of perOwner) {
      if (b === 0) continue;
      next.set(o, b);
      this.#add(o, kind, b, touched);
    }
    if (next.size > 0) kinds.set(kind, next);
    else kinds.delete(kind);
    if (kinds.size === 0) this.#sources.delete(scope);
    return this.#net(touched, before);
  }

  /** Forgets a whole database (no longer monitored), sources included. Returns changed owners. */
  dropDatabase(db: string): Set<number> {
    const changed = this.replaceDatabase(db, []);
    this.#dbs.delete(db);
    for (const kind of [...(this.#sources.get(db)?.keys() ?? [])]) {
      for (const o of this.setSource(kind, new Map(), db)) changed.add(o);
    }
    return changed;
  }
}

function entry(r: RelationSize): Entry {
  return { owner: r.owner, bytes: r.bytes, indexes: r.indexes ?? 0, toast: r.toast ?? 0 };
}
