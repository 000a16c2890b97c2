/**
 * The event log is the alert outbox: every row after the last one handed to the alert queue
 * becomes one alert, whoever wrote it (the daemon, or `unlock` run by an operator). The queue
 * stores the last row id with the alerts in one durable append, so a crash anywhere neither loses
 * nor repeats an alert.
 *
 * @module
 */
import type { MonitorConfig } from "../config/monitor.ts";
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";
import type { Alert } from "./alerts/alert.ts";
import type { Endpoint } from "./alerts/delivery.ts";

/** One row of sql/events_since.sql. */
export interface EventRow {
  /** event_log id. */
  id: number;
  /** When. */
  at: Date;
  /** Role oid, if any. */
  oid: number | null;
  /** Role name. */
  role: string;
  /** Event name. */
  event: string;
  /** Usage, bytes. */
  usage_bytes: number | null;
  /** Soft limit, bytes. */
  soft_limit: number | null;
  /** Hard limit, bytes. */
  hard_limit: number | null;
  /** Who did it. */
  actor: string;
  /** Extra fields. */
  detail: Record<string, unknown> | null;
}

/** The alert for one event-log row. */
export function alertFromEvent(row: EventRow, host: string): Alert {
  return {
    key: `event:${row.id}`,
    event: row.event,
    role: row.role,
    usage_bytes: row.usage_bytes,
    soft_limit_bytes: row.soft_limit,
    hard_limit_bytes: row.hard_limit,
    at: row.at.toISOString(),
    host,
    actor: row.actor,
    detail: { ...(row.detail ?? {}), event_id: row.id },
    dry_run: false,
  };
}

/**
 * Rows {@linkcode eventsSince} returns at most: a shorter page means the event log is read to its
 * end, a full one that more may follow.
 */
export const EVENTS_PAGE_ROWS = 500;

/** Event-log rows after `mark`, oldest first, at most {@linkcode EVENTS_PAGE_ROWS}. */
export async function eventsSince(sql: Sql, mark: number): Promise<EventRow[]> {
  const rows = await sql.unsafe(sqlFile("events_since"), [mark, EVENTS_PAGE_ROWS]);
  return rows.map((r) => ({
    id: Number(r.id),
    at: r.at as Date,
    oid: r.oid === null ? null : Number(r.oid),
    role: String(r.role),
    event: String(r.event),
    usage_bytes: r.usage_bytes === null ? null : Number(r.usage_bytes),
    soft_limit: r.soft_limit === null ? null : Number(r.soft_limit),
    hard_limit: r.hard_limit === null ? null : Number(r.hard_limit),
    actor: String(r.actor),
    detail: (typeof r.detail === "string" ? JSON.parse(r.detail) : r.detail) as
      | Record<string, unknown>
      | null,
  }));
}

/** The newest event-log id (0 when empty). */
export async function lastEventId(sql: Sql): Promise<number> {
  const [row] = await sql.unsafe(sqlFile("last_event_id"));
  return Number(row?.id ?? 0);
}

/** Alert endpoints from the configuration; webhook secrets are read from `secret_file` here. */
export async function endpointsFromConfig(m: MonitorConfig): Promise<Endpoint[]> {
  const endpoints: Endpoint[] = [];
  if (m.slack_enabled && m.slack_webhook_url) {
    endpoints.push({
      name: "slack",
      kind: "slack",
      url: m.slack_webhook_url,
      secret: null,
      events: [],
      timeoutMs: m.alert_timeout_ms,
    });
  }
  for (const w of m.webhooks) {
    let secret = w.secret;
    if (w.secret_file) {
      try {
        secret = (await Deno.readTextFile(w.secret_file)).split(/\r?\n/)[0] ?? "";
      } catch (err) {
        throw new Error(
          `Cannot read secret_file '${w.secret_file}' of webhook '${w.name}': ${
            (err as Error).name
          }`,
        );
      }
    }
    endpoints.push({
      name: w.name,
      kind: "webhook",
      url: w.url,
      secret: secret || null,
      events: [...w.events],
      timeoutMs: w.timeout_ms,
    });
  }
  return endpoints;
}
