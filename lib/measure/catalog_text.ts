/**
 * Catalog text: what a role stores in the catalogs as free text of a size it chooses (comments,
 * function bodies, view and rule definitions, column defaults, check constraints, policies,
 * trigger arguments, ALTER ROLE ... SET values, ...), charged to the owner of the object it
 * belongs to, in bytes as stored. sql/catalog_text.sql lists every place and how each is charged.
 *
 * Measured per database (usage kind `catalog_text`) at every sweep and, where postgres_monitor is
 * installed, on the `c:text` hint the DDL event trigger sends (at most once a second per database,
 * see {@linkcode SpacedRuns}); the shared catalogs (comments on databases and roles, role and
 * database settings) once per sweep, in the control database, charged cluster-wide.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";

/**
 * Bytes of catalog text per owner (role oid -> bytes) for `owners`: in the connected database's
 * catalogs, or with `shared` in the shared catalogs (call that once per cluster). Owners with none
 * are absent. Reads only pg_catalog, so it works in a database without postgres_monitor.
 */
export async function measureCatalogText(
  sql: Sql,
  owners: readonly number[],
  shared = false,
): Promise<Map<number, number>> {
  const perOwner = new Map<number, number>();
  if (owners.length === 0) return perOwner;
  const rows = await sql.unsafe(sqlFile("catalog_text"), [JSON.stringify(owners), shared]);
  for (const r of rows) perOwner.set(Number(r.owner), Number(r.bytes));
  return perOwner;
}
