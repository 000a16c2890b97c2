/**
 * The cluster's NOTIFY queue, which real-time detection rides on. Any session that LISTENs and
 * stays in an open transaction pins the queue's tail; once the queue is full every transaction
 * that queued a NOTIFY fails at COMMIT. The installed triggers therefore stop notifying at
 * `postgres_monitor.notify_queue_limit()` (sql/install_database.sql), and from then on writes are
 * seen by sweeps only. This module reads how full the queue is, for the metrics, the log and
 * `status`, and names the oldest open transactions, one of which holds the tail.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";
import { errorMessage, type Logger } from "../report/log.ts";

/** How full the NOTIFY queue is, and where the triggers stop notifying. */
export interface NotifyQueueUsage {
  /** pg_notification_queue_usage(): 0 (empty) to 1 (full). */
  usage: number;
  /** Usage at or above which the installed triggers queue no NOTIFY. */
  limit: number;
}

/** Reads the queue usage and the trigger's limit (sql/notify_queue.sql, control database). */
export async function readNotifyQueue(sql: Sql): Promise<NotifyQueueUsage> {
  const [row] = await sql.unsafe(sqlFile("notify_queue"));
  return { usage: Number(row?.usage), limit: Number(row?.queue_limit) };
}

/** An open transaction of a client session, as `status` shows it (never its query text). */
export interface OpenTransaction {
  /** Server process id (for pg_terminate_backend). */
  pid: number;
  /** Session user. */
  user: string | null;
  /** Database it is connected to. */
  database: string | null;
  /** When the transaction began, ISO 8601. */
  xact_start: string;
  /** Age of the transaction, seconds. */
  xact_age_seconds: number;
  /** pg_stat_activity.state ("idle in transaction", "active", ...). */
  state: string | null;
  /** application_name as the client set it (tenant-controlled text). */
  application_name: string | null;
}

/**
 * The `n` oldest open transactions of client sessions in the cluster, oldest first
 * (postgres_monitor.oldest_transactions, installed in the control database).
 */
export async function oldestTransactions(sql: Sql, n = 5): Promise<OpenTransaction[]> {
  const rows = await sql.unsafe(sqlFile("oldest_transactions"), [n]);
  return rows.map((r) => ({
    pid: Number(r.pid),
    user: r.usename === null ? null : String(r.usename),
    database: r.datname === null ? null : String(r.datname),
    xact_start: (r.xact_start as Date).toISOString(),
    xact_age_seconds: Math.round(Number(r.xact_age_seconds) * 10) / 10,
    state: r.state === null ? null : String(r.state),
    application_name: r.application_name === null ? null : String(r.application_name),
  }));
}

/**
 * Keeps the last queue usage read (for the metrics) and logs a warning when it reaches the
 * triggers' limit, once per crossing, and a line when it is back under it.
 */
export class NotifyQueueWatch {
  #log: Logger;
  #last: NotifyQueueUsage | undefined;
  #over = false;
  #overAt = -Infinity;
  #failing = false;

  /** Creates the watch; nothing is read until {@linkcode read}. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** The last usage and limit read, or undefined before the first successful read. */
  get last(): NotifyQueueUsage | undefined {
    return this.#last;
  }

  /**
   * True when a read at or after `since` (ms since epoch) found the queue at or over the limit:
   * the triggers were not notifying then, so a write without a notification is not tampering.
   */
  wasOverSince(since: number): boolean {
    return this.#overAt >= since;
  }

  /** Reads the usage from the control database and logs a crossing; never throws. */
  async read(sql: Sql): Promise<void> {
    let q: NotifyQueueUsage;
    try {
      q = await readNotifyQueue(sql);
    } catch (err) {
      // Said once per run of failures: an install older than this daemon lacks the limit function.
      if (!this.#failing) {
        this.#log.warn("cannot read the NOTIFY queue usage", {
          error: errorMessage(err),
          hint: "run 'install' again if the daemon was upgraded",
        });
      }
      this.#failing = true;
      return;
    }
    this.#failing = false;
    this.#last = q;
    if (q.usage >= q.limit) this.#overAt = Date.now();
    if (!this.#over && q.usage >= q.limit) {
      this.#over = true;
      // Name the likely holders in the same line; the warning must not wait on or fail with it.
      const oldest = await oldestTransactions(sql, 3).catch(() => undefined);
      this.#log.warn(
        "NOTIFY queue is filling up: triggers stopped notifying, writes are seen by sweeps only",
        {
          usage: q.usage,
          limit: q.limit,
          oldest_transactions: oldest,
          hint: "a session that LISTENs and stays in an open transaction holds the queue's " +
            "tail; 'status' lists the oldest transactions",
        },
      );
    } else if (this.#over && q.usage < q.limit) {
      this.#over = false;
      this.#log.info("NOTIFY queue is below its limit again: triggers notify again", {
        usage: q.usage,
        limit: q.limit,
      });
    }
  }
}
