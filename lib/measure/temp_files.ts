/**
 * Live temporary files per role (issue 12): sorts, hashes and materialisations that spill, and
 * `WITH HOLD` cursors, which keep theirs for the session's life. One query in the control database
 * covers the whole cluster (every database, every tablespace, parallel filesets): files are named
 * after the backend that made them, so each is charged to that session's login role
 * (`postgres_monitor.temp_file_usage()`, sql/install_control.sql).
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";

/**
 * How often the daemon reads the temporary files. One call costs 1.4 ms of server time with no
 * temporary file and 2 ms with a few (README, "What counts"): at this spacing a `WITH HOLD` cursor
 * or a spilling sort is charged within about a second of its file growing.
 */
export const TEMP_FILES_POLL_MS = 500;

/**
 * Share of time the reading may take: a parallel hash join that spills makes thousands of batch
 * files, each one stat()ed (114 ms for 5,000 files here), and the polls are spaced out to keep to
 * this share of one server core.
 */
export const TEMP_FILES_MAX_DUTY = 0.05;

/** Least time from the end of one reading to the start of the next, after one that took `ms`. */
export function tempPollDelay(ms: number): number {
  return Math.max(TEMP_FILES_POLL_MS, ms / TEMP_FILES_MAX_DUTY);
}

/** Bytes of live temporary files per login role oid (roles without any are absent). */
export async function readTempFiles(control: Sql): Promise<Map<number, number>> {
  const rows = await control.unsafe(sqlFile("temp_file_usage"));
  const perOwner = new Map<number, number>();
  for (const r of rows) perOwner.set(Number(r.roleid), Number(r.bytes));
  return perOwner;
}

/** Only the roles in `owners`: what the usage cache keeps. */
export function onlyOwners(
  perOwner: ReadonlyMap<number, number>,
  owners: Iterable<number>,
): Map<number, number> {
  const kept = new Map<number, number>();
  for (const o of owners) {
    const b = perOwner.get(o);
    if (b !== undefined && b > 0) kept.set(o, b);
  }
  return kept;
}
