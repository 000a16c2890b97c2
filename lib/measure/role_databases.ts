/**
 * Where each limited role owns something, read from the control database (pg_shdepend is shared):
 * whether a role may be unlocked depends only on those databases having been measured, so one
 * database a tenant makes unmeasurable does not freeze the unlocks of everybody else.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";

/** Database names per role oid where the role owns objects or the database (sql/role_databases.sql). */
export async function roleDatabases(
  sql: Sql,
  owners: readonly number[],
): Promise<Map<number, Set<string>>> {
  const rows = await sql.unsafe(sqlFile("role_databases"), [JSON.stringify(owners)]);
  const out = new Map<number, Set<string>>(owners.map((o) => [o, new Set<string>()]));
  for (const r of rows) out.get(Number(r.owner))?.add(String(r.datname));
  return out;
}

/**
 * True when every monitored database where the role owns something has a current measurement
 * (`measured(name)`), so its usage is not a partial view. Without `where` (not read yet), every
 * monitored database counts.
 */
export function measuredWhereOwned(
  where: ReadonlySet<string> | undefined,
  monitored: Iterable<string>,
  measured: (db: string) => boolean,
): boolean {
  let any = false;
  for (const db of monitored) {
    any = true;
    if ((where === undefined || where.has(db)) && !measured(db)) return false;
  }
  // A role known to own nothing in any watched database (its last table dropped, its database
  // idle) has a complete view of 0 bytes, even when no database is watched at all.
  return any || where !== undefined;
}
