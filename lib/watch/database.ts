/**
 * One watched database as the daemon keeps it: its pools, its LISTEN connection, the hot set and
 * pending relations of notification-driven measurement, and what the last sweep saw.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import type { Placement } from "../measure/catalog.ts";
import type { HotSet } from "./hot_set.ts";
import type { Listener } from "./listener.ts";
import type { PendingRelations } from "./pending.ts";
import type { NotifyVerifier } from "./verify.ts";

/**
 * Least time between two measurements of a busy relation: each one waits lock_timeout before it
 * falls back to the file sizes, so a lock held for hours must not cost a wait every 50 ms.
 */
export const BUSY_INTERVAL_MS = 1000;

/** One watched database. */
export interface Database {
  /** Database name. */
  name: string;
  /** Pool for notification-driven measurement and the watchers. */
  sql: Sql;
  /** Full sweeps only: two connections whose relation caches stay warm between sweeps. */
  sweepSql: Sql;
  /** LISTEN connection on the notification channel. */
  listener: Listener;
  /** "trigger" detection: the notification cross-check (lib/watch/verify.ts). */
  verify: NotifyVerifier;
  /** Whether postgres_monitor is installed there (triggers, file sizes). */
  installed: boolean;
  /** When the last full measurement of this database succeeded (ms), 0 if never since connect. */
  measuredAt: number;
  /** Relations re-measured every hot_interval_ms for a while after a change. */
  hot: HotSet;
  /** Notified relations waiting for the next flush. */
  pending: PendingRelations;
  /** When a notification overflow last caused a whole-database measurement (ms). */
  overflowMeasuredAt: number;
  /** When the last notification-driven measurement started (performance.now()). */
  lastFlush: number;
  /** When each table was last measured on a notification (performance.now()). */
  measuredRel: Map<number, number>;
  /** What sql/schema_trust.sql said last (logged when it changes). */
  trust?: string;
  /** "poll" detection: last change signature per table. */
  counters?: Map<number, string>;
  /** Owner and schema of every limited role's relation at the last full sweep. */
  placed?: Map<number, Placement>;
  /** Earliest notification time of the pending batch, for the lag figures. */
  pendingSince?: number;
  flushTimer?: ReturnType<typeof setTimeout>;
  /** When flushTimer fires (performance.now() time). */
  flushAt: number;
  /** Failed notification measurements in a row, and no new one before retryAt (performance.now()). */
  failures?: number;
  retryAt?: number;
}
