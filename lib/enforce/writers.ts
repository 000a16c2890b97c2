/**
 * Stops writers into a locked role's relations, whoever they are (issue 12, case 7). The lock
 * ends the owner's sessions only; another role with INSERT on its tables, or a session that did
 * `SET ROLE` to it, would otherwise go on committing past the hard limit. In each database where
 * the role owns something, `postgres_monitor.stop_writers` (sql/install_database.sql) cancels the
 * statement of every session holding a write lock on one of its relations (terminates one idle in
 * its transaction), never a superuser's or the monitoring role's own session.
 *
 * This module decides when to call it and with what: at most once per {@linkcode
 * STOP_WRITERS_INTERVAL_MS} per database and role however often writes are seen (a flood of
 * notifications cannot make it spin), never two calls at once for the same pair, and a
 * transaction cancelled before that is still seen writing into the same role's relations (the
 * cancel came between two statements) is terminated. A new transaction of a cancelled session is
 * cancelled again, not terminated: an application's pooled connection survives its retries.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";

/** Least time between two calls for the same database and role, unless forced (after a lock). */
export const STOP_WRITERS_INTERVAL_MS = 200;

/**
 * A transaction cancelled at least this long ago and still seen writing is terminated: the cancel
 * was lost (it arrived between two statements of the transaction).
 */
export const RESIST_MS = 500;

/** How long a cancelled transaction is remembered. */
const FORGET_MS = 60_000;

/** One session signalled by `postgres_monitor.stop_writers`. */
export interface StoppedWriter {
  /** Backend pid. */
  pid: number;
  /** The session's login role. */
  role: string;
  /** The locked role's relations it held a write lock on, comma-separated. */
  relations: string;
  /** Start of its transaction, microseconds since the epoch (text, exact), or "". */
  xactUs: string;
  /** pg_stat_activity.state when signalled. */
  state: string;
  /** 'cancelled', 'terminated' or 'gone' (the session ended meanwhile). */
  action: string;
}

/** A transaction to terminate if it still writes (cancelled before). */
export interface CancelledXact {
  /** Backend pid. */
  pid: number;
  /** Transaction start, as {@linkcode StoppedWriter.xactUs}. */
  xact_us: string;
}

/** Calls `postgres_monitor.stop_writers` once; `terminate`: transactions to terminate. */
export async function stopWriters(
  sql: Sql,
  owner: number,
  terminate: readonly CancelledXact[],
): Promise<StoppedWriter[]> {
  const rows = await sql.unsafe(sqlFile("stop_writers"), [owner, JSON.stringify(terminate)]);
  return rows.map((r) => ({
    pid: Number(r.pid),
    role: String(r.usename ?? ""),
    relations: String(r.relations ?? ""),
    xactUs: String(r.xact_us ?? ""),
    state: String(r.state ?? ""),
    action: String(r.action),
  }));
}

/** Throttles and escalates {@linkcode stopWriters} per database and role. */
export class WriterStopper {
  #lastCall = new Map<string, number>();
  #running = new Set<string>();
  /** Per database and role: "pid:xact_us" -> when that transaction was cancelled (ms). */
  #cancelled = new Map<string, Map<string, number>>();
  #call: typeof stopWriters;

  /** `call` replaces the SQL call (unit tests). */
  constructor(call: typeof stopWriters = stopWriters) {
    this.#call = call;
  }

  /**
   * Stops the writers into `owner`'s relations in database `db` (pool `sql`). Returns undefined
   * when skipped: a call for the same pair is running, or one was made less than
   * {@linkcode STOP_WRITERS_INTERVAL_MS} ago and `force` is false. Errors reach the caller.
   */
  async stop(
    sql: Sql,
    db: string,
    owner: number,
    options: { force?: boolean; now?: number } = {},
  ): Promise<StoppedWriter[] | undefined> {
    const key = `${db}\u0000${owner}`;
    const now = options.now ?? Date.now();
    if (this.#running.has(key)) return undefined;
    if (!options.force && now - (this.#lastCall.get(key) ?? -Infinity) < STOP_WRITERS_INTERVAL_MS) {
      return undefined;
    }
    this.#lastCall.set(key, now);
    this.#running.add(key);
    try {
      const seen = this.#cancelled.get(key) ?? new Map<string, number>();
      for (const [x, at] of seen) if (now - at > FORGET_MS) seen.delete(x);
      const resisting = [...seen].filter(([, at]) => now - at >= RESIST_MS).map(([x]) => {
        const [pid, xact_us] = x.split(":");
        return { pid: Number(pid), xact_us: xact_us ?? "" };
      });
      const rows = await this.#call(sql, owner, resisting);
      for (const r of rows) {
        const x = `${r.pid}:${r.xactUs}`;
        if (r.action === "cancelled") {
          if (!seen.has(x)) seen.set(x, now);
        } else seen.delete(x);
      }
      if (seen.size > 0) this.#cancelled.set(key, seen);
      else this.#cancelled.delete(key);
      return rows;
    } finally {
      this.#running.delete(key);
    }
  }

  /** Forgets a role (unlocked, or no longer limited). */
  forget(owner: number): void {
    for (const key of [...this.#lastCall.keys()]) {
      if (key.endsWith(`\u0000${owner}`)) this.#lastCall.delete(key);
    }
    for (const key of [...this.#cancelled.keys()]) {
      if (key.endsWith(`\u0000${owner}`)) this.#cancelled.delete(key);
    }
  }
}
