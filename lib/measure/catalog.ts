/**
 * Catalog reads: databases, roles, relation sizes. Every statement is a file in sql/, run with
 * parameters; nothing here builds SQL from names. Lists travel as one JSON parameter, unpacked
 * on the server: postgres.js's array encoding depends on a type fetch that can race the first
 * query on a new connection.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";
import type { RoleIdentity, RoleInfo } from "../evaluate/resolve.ts";
import type { RelationSize } from "./usage_cache.ts";
import type { TupleCounters } from "../watch/verify.ts";

/** A measured relation with the flags of sql/measure_relations.sql. */
export interface MeasuredRelation extends RelationSize {
  /** The relation still exists. */
  exists: boolean;
  /** An AccessExclusiveLock is held or wanted on it: not measured by the normal path. */
  busy: boolean;
  /** Busy, and `bytes` is what its files hold on disk (postgres_monitor.file_bytes). */
  byFiles: boolean;
}

/** A relation the sweep found busy (see sql/measure_owners.sql). */
export interface BusyRelation {
  /** Owner role oid. */
  owner: number;
  /** Quoted schema.table. */
  name: string;
  /** Charged what its files hold; otherwise it keeps its previous size. */
  byFiles: boolean;
}

/** Databases that accept connections. */
export async function listDatabases(sql: Sql): Promise<string[]> {
  const rows = await sql.unsafe(sqlFile("list_databases"));
  return rows.map((r) => String(r.datname));
}

/** The named roles and every member of the named groups (sql/list_roles.sql). */
export async function listRoles(
  sql: Sql,
  names: readonly string[],
  groups: readonly string[],
): Promise<RoleInfo[]> {
  const rows = await sql.unsafe(sqlFile("list_roles"), [
    JSON.stringify([...names, ...groups]),
    JSON.stringify(groups),
  ]);
  return rows.map((r) => ({
    ...roleIdentity(r),
    can_login: Boolean(r.can_login),
    groups: Array.isArray(r.groups) ? r.groups.map(String) : [],
  }));
}

/** A role's identity from a catalog row (sql/list_roles.sql, sql/role_groups.sql). */
export function roleIdentity(row: Record<string, unknown>): RoleIdentity {
  return {
    oid: Number(row.oid),
    name: String(row.name),
    superuser: Boolean(row.superuser),
    replication: Boolean(row.replication),
    is_self: Boolean(row.is_self),
  };
}

/**
 * Sizes of every relation the given roles own in the connected database, and the relations an
 * AccessExclusiveLock (held or wanted) kept from being measured normally. With `installed`, those
 * are charged what their files hold (and are in `sizes`); otherwise they keep their previous size.
 */
export async function measureOwners(
  sql: Sql,
  owners: readonly number[],
  installed = false,
): Promise<
  { sizes: RelationSize[]; busy: Map<number, BusyRelation>; placed: Map<number, Placement> }
> {
  const rows = await sql.unsafe(sqlFile("measure_owners"), [JSON.stringify(owners)]);
  const sizes: RelationSize[] = [];
  const busy = new Map<number, BusyRelation>();
  const placed = new Map<number, Placement>();
  for (const r of rows) {
    const relid = Number(r.relid);
    const owner = Number(r.owner);
    placed.set(relid, { owner, nsp: Number(r.nsp) });
    if (r.busy) busy.set(relid, { owner, name: String(r.name), byFiles: installed });
    else {
      sizes.push({
        relid,
        owner,
        bytes: Number(r.bytes),
        indexes: Number(r.indexes),
        toast: Number(r.toast),
      });
    }
  }
  // Busy relations are few: one more look-up, for them alone, charges what their files hold.
  if (installed && busy.size > 0) {
    const files = await sql.unsafe(sqlFile("file_bytes"), [JSON.stringify([...busy.keys()])]);
    for (const f of files) {
      const relid = Number(f.relid);
      sizes.push({ relid, owner: busy.get(relid)!.owner, bytes: Number(f.bytes) });
    }
  }
  return { sizes, busy, placed };
}

/** Owner and schema of a relation, as a full sweep saw it. */
export interface Placement {
  /** Owner role oid. */
  owner: number;
  /** Schema (pg_namespace) oid. */
  nsp: number;
}

/** Where a relation is now, for one that changed owner or schema between two sweeps. */
export interface RelationMove {
  /** pg_class oid. */
  relid: number;
  /** False if it was dropped. */
  exists: boolean;
  /** Current owner oid and name, schema and table name (when it exists). */
  owner: number;
  /** Current owner's name. */
  ownerName: string;
  /** Current schema. */
  schema: string;
  /** Schema it was in at the previous sweep. */
  oldSchema: string;
  /** Table name. */
  name: string;
}

/** Looks up where the given relations are now (see sql/relation_moves.sql). */
export async function relationMoves(
  sql: Sql,
  moved: readonly { relid: number; old_nsp: number }[],
): Promise<RelationMove[]> {
  if (moved.length === 0) return [];
  const rows = await sql.unsafe(sqlFile("relation_moves"), [JSON.stringify(moved)]);
  return rows.map((r) => ({
    relid: Number(r.relid),
    exists: Boolean(r.exists),
    owner: Number(r.owner),
    ownerName: String(r.owner_name ?? ""),
    schema: String(r.schema ?? ""),
    oldSchema: String(r.old_schema ?? ""),
    name: String(r.name ?? ""),
  }));
}

/**
 * Sizes of specific relations (from notifications, the pg_locks watch) in the connected database.
 * With `installed`, a locked relation is charged what its files hold instead of failing the call.
 */
export async function measureRelations(
  sql: Sql,
  relids: readonly number[],
  installed = false,
): Promise<MeasuredRelation[]> {
  const file = installed ? "measure_relations_installed" : "measure_relations";
  const rows = await sql.unsafe(sqlFile(file), [JSON.stringify(relids)]);
  return rows.map((r) => ({
    relid: Number(r.relid),
    owner: Number(r.owner),
    bytes: Number(r.bytes),
    indexes: Number(r.indexes ?? 0),
    toast: Number(r.toast ?? 0),
    exists: Boolean(r.exists),
    busy: Boolean(r.busy),
    byFiles: Boolean(r.by_files),
  }));
}

/** One change made by postgres_monitor.sync_triggers. */
export interface TriggerChange {
  /** Table oid. */
  relid: number;
  /** Quoted schema.table. */
  relation: string;
  /** attached, re-enabled, replaced, detached, busy, error. */
  action: string;
  /** Error text for busy / error; what was wrong for re-enabled / replaced (e.g. "mode replica"). */
  detail: string | null;
}

/** Tables changed per sync_triggers call, each in its own transaction (bounded lock count). */
const SYNC_BATCH = 500;

/**
 * Makes the notify trigger present on exactly the tables of `owners` in the connected database,
 * in batches of at most {@linkcode SYNC_BATCH} tables per transaction.
 */
export async function syncTriggers(sql: Sql, owners: readonly number[]): Promise<TriggerChange[]> {
  const all: TriggerChange[] = [];
  for (;;) {
    const rows = await sql.unsafe(sqlFile("sync_triggers"), [JSON.stringify(owners), SYNC_BATCH]);
    const batch = rows.map((r) => ({
      relid: Number(r.relid),
      relation: String(r.relation),
      action: String(r.action),
      detail: r.detail === null ? null : String(r.detail),
    }));
    all.push(...batch);
    // Busy or failing tables come back every call: stop once a batch changed nothing new.
    const progressed = batch.some((c) => c.action !== "busy" && c.action !== "error");
    if (batch.length < SYNC_BATCH || !progressed) return all;
  }
}

/**
 * Tables of `owners` that an open transaction at least `minAgeMs` old is writing to now
 * (postgres_monitor.active_writes, installed by sql/install_database.sql).
 */
export async function activeWrites(
  sql: Sql,
  owners: readonly number[],
  minAgeMs = 50,
): Promise<number[]> {
  const rows = await sql.unsafe(sqlFile("active_writes"), [
    JSON.stringify(owners),
    minAgeMs / 1000,
  ]);
  return rows.map((r) => Number(r.relid));
}

/** Tuple counters of the tables of `owners` (sql/table_counters.sql), by relid. */
export async function tupleCounters(
  sql: Sql,
  owners: readonly number[],
): Promise<Map<number, TupleCounters>> {
  const rows = await sql.unsafe(sqlFile("table_counters"), [JSON.stringify(owners)]);
  return new Map(
    rows.map((r) => [Number(r.relid), { tuples: Number(r.tuples), live: Number(r.live) }]),
  );
}

/** Change signatures of the tables of `owners` (sql/table_counters.sql), by relid. */
export async function tableCounters(
  sql: Sql,
  owners: readonly number[],
): Promise<Map<number, string>> {
  const rows = await sql.unsafe(sqlFile("table_counters"), [JSON.stringify(owners)]);
  return new Map(rows.map((r) => [Number(r.relid), String(r.signature)]));
}
