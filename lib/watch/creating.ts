/**
 * Relations being created by open transactions: CREATE TABLE AS, SELECT INTO, CREATE TABLE +
 * INSERT, CREATE INDEX, REFRESH MATERIALIZED VIEW, ALTER TABLE rewrites, CLUSTER, VACUUM FULL.
 * Their pg_class rows are uncommitted, so no other session sees them, but their files grow on
 * disk and the creating backend holds an AccessExclusiveLock on each new oid. The daemon charges
 * what those files hold to the login running the transaction (kind "uncommitted"), each time the
 * runaway watch runs, so a transaction that writes past a hard limit is stopped before it commits.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";

/** Transactions younger than this are not looked at (the same gate as the active-writes watch). */
export const CREATING_MIN_AGE_MS = 50;

/**
 * Bytes of relations being created in the connected database, summed per login role oid
 * (pg_stat_activity.usesysid), for transactions of the logins in `owners` at least `minAgeMs`
 * old. Empty when no such transaction exists. Needs postgres_monitor installed and trusted
 * (postgres_monitor.creating_bytes reads the files with pg_stat_file).
 */
export async function creatingBytes(
  sql: Sql,
  owners: readonly number[],
  minAgeMs = CREATING_MIN_AGE_MS,
): Promise<Map<number, number>> {
  const rows = await sql.unsafe(sqlFile("creating_bytes"), [
    JSON.stringify(owners),
    minAgeMs / 1000,
  ]);
  return sumPerLogin(rows.map((r) => ({ login: Number(r.login), bytes: Number(r.bytes) })));
}

/** Sums rows of one relation each into bytes per login (rows of 0 bytes are left out). */
export function sumPerLogin(
  rows: readonly { login: number; bytes: number }[],
): Map<number, number> {
  const perLogin = new Map<number, number>();
  for (const r of rows) {
    if (r.bytes > 0) perLogin.set(r.login, (perLogin.get(r.login) ?? 0) + r.bytes);
  }
  return perLogin;
}
