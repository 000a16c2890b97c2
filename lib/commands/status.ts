/**
 * `status`: connects as the monitoring role, measures every limited role as the daemon does
 * (lib/measure/snapshot.ts), and prints usage, limits, state, the leader and the NOTIFY queue.
 * It does not need the daemon to be running.
 *
 * @module
 */
import { type Config, formatBytes } from "../config/mod.ts";
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";
import { LEADER_LOCK_PARAMS } from "../leader.ts";
import { chargedBreakdown } from "../evaluate/charges.ts";
import { type RoleStatus, statusOf } from "../evaluate/evaluator.ts";
import { measureSnapshot } from "../measure/snapshot.ts";
import { USAGE_KINDS, type UsageBreakdown } from "../measure/usage_cache.ts";
import {
  type NotifyQueueUsage,
  oldestTransactions,
  type OpenTransaction,
  readNotifyQueue,
} from "../watch/notify_queue.ts";
import { EXIT } from "./exit.ts";
import { withTrustedControl } from "./control.ts";

/** One row of `status`. */
export interface StatusRow {
  /** Role name. */
  role: string;
  /** Bytes charged across monitored databases. */
  usage_bytes: number;
  /** Of usage_bytes, by kind (tables, indexes, toast, large_objects, catalog_text, ...). */
  usage_by_kind: UsageBreakdown;
  /** Soft limit. */
  soft_limit_bytes: number;
  /** Hard limit. */
  hard_limit_bytes: number;
  /** ok, over_soft, over_hard, locked, locked_manual, exempt. */
  state: RoleStatus;
  /** Where the limit comes from: "user", "member_of 'g'", "member_of 'g' (shared)". */
  source: string;
  /**
   * Groups whose storage is charged to this role besides what it owns (groups it belongs to that
   * have no limit of their own, and a shared budget's group), sorted; empty when none.
   */
  charged_groups: string[];
  /** When locked, if locked. */
  locked_at: string | null;
  /** Why the role is never locked, if protected. */
  protected: string | null;
}

/** The daemon holding the leader lock, as `status` reports it. */
export interface LeaderInfo {
  /** Its leader connection's application_name: "<application_name> leader <host> <pid>". */
  name: string;
  /** Server backend pid of that connection. */
  backend_pid: number;
  /** Client address as the server sees it (null for a unix socket). */
  addr: string | null;
  /** When it connected (it has led since then). */
  since: string;
}

/** Which daemon leads, if any (see lib/leader.ts). */
export async function leaderOf(control: Sql): Promise<LeaderInfo | null> {
  const [row] = await control.unsafe(sqlFile("leader_who"), LEADER_LOCK_PARAMS);
  if (!row) return null;
  return {
    name: String(row.name),
    backend_pid: Number(row.pid),
    addr: row.addr === null ? null : String(row.addr),
    since: (row.backend_start as Date).toISOString(),
  };
}

/** The NOTIFY queue as `status` reports it. */
export interface NotifyQueueStatus extends NotifyQueueUsage {
  /** When usage is above 0, the oldest open transactions: one of them holds the queue's tail. */
  oldest_transactions: OpenTransaction[];
}

/** Queue usage, and the oldest open transactions when it is in use; null if unreadable. */
export async function notifyQueueStatus(control: Sql): Promise<NotifyQueueStatus | null> {
  let q: NotifyQueueUsage;
  try {
    q = await readNotifyQueue(control);
  } catch {
    return null; // an install older than this program: `status` still shows the roles
  }
  const oldest = q.usage > 0 ? await oldestTransactions(control, 5) : [];
  return { ...q, oldest_transactions: oldest };
}

/** What `status` found: one row per limited role, and the cluster around them. */
export interface StatusResult {
  /** One row per limited role, sorted by name. */
  rows: StatusRow[];
  /** Configured roles not found in the cluster. */
  missing: string[];
  /** What could not be measured. */
  failed: string[];
  /** The daemon that leads, if any. */
  leader: LeaderInfo | null;
  /** The NOTIFY queue, or null if unreadable. */
  notify_queue: NotifyQueueStatus | null;
}

/** Usage and state of every limited role. */
export async function status(config: Config): Promise<StatusResult> {
  return await withTrustedControl(config, async (control, target) => {
    const { limits, charges, usage: usageOf, cache, locks, missing, failed } =
      await measureSnapshot(config, target, control);
    const rows = [...limits.values()].map((l): StatusRow => {
      const usage = usageOf(l.role.oid);
      const lock = locks.get(l.role.oid);
      const state = statusOf(usage, l, {
        locked: lock !== undefined,
        lockedManual: lock?.manual_unlock ?? false,
      });
      return {
        role: l.role.name,
        usage_bytes: usage,
        usage_by_kind: chargedBreakdown(charges, l.role.oid, (o) => cache.breakdown(o)),
        soft_limit_bytes: l.limit.soft_limit,
        hard_limit_bytes: l.limit.hard_limit,
        state,
        source: l.source,
        charged_groups: charges.chargedGroups.get(l.role.oid) ?? [],
        locked_at: lock ? lock.locked_at.toISOString() : null,
        protected: l.protectedReason,
      };
    });
    rows.sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : 0));
    return {
      rows,
      missing,
      failed,
      leader: await leaderOf(control),
      notify_queue: await notifyQueueStatus(control),
    };
  });
}

/** Renders `status` rows as an aligned text table. */
export function formatStatusTable(rows: StatusRow[]): string {
  const header = [
    "ROLE",
    "USAGE",
    "SOFT",
    "HARD",
    "USED",
    "STATE",
    "OUTSIDE RELATIONS",
    "LIMIT FROM",
  ];
  const body = rows.map((r) => [
    r.role,
    formatBytes(r.usage_bytes),
    formatBytes(r.soft_limit_bytes),
    formatBytes(r.hard_limit_bytes),
    `${Math.round((r.usage_bytes / r.hard_limit_bytes) * 100)}%`,
    r.protected ? `${r.state} (${r.protected})` : r.state,
    outsideRelations(r.usage_by_kind),
    r.charged_groups.length === 0
      ? r.source
      : `${r.source}; charged for ${r.charged_groups.map((g) => `'${g}'`).join(", ")}`,
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => [...(row[i] ?? "")].length)));
  return all.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")
  ).join("\n");
}

/** The kinds of usage that are not relations, e.g. "catalog text 90.0 MiB", or "-". */
function outsideRelations(kinds: UsageBreakdown): string {
  const parts: string[] = [];
  for (const kind of USAGE_KINDS) {
    if (kind === "tables" || kind === "indexes" || kind === "toast" || kinds[kind] === 0) continue;
    parts.push(`${kind.replace("_", " ")} ${formatBytes(kinds[kind])}`);
  }
  return parts.length === 0 ? "-" : parts.join(", ");
}

/** Shows text a tenant chose (application_name, names) on a terminal: control characters escaped. */
function printable(text: string | null): string {
  if (text === null) return "-";
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
    return "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0");
  });
}

/** "42s", "17m", "5h": the age of a transaction. */
function formatAge(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3600)}h`;
}

/**
 * The NOTIFY queue lines of `status`: its usage and the oldest open transactions (an empty string
 * when the queue is empty, so `status` says nothing about it then).
 */
export function formatNotifyQueue(q: NotifyQueueStatus): string {
  if (!(q.usage > 0)) return "";
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  const lines = [
    `NOTIFY queue: ${pct(q.usage)} used (the triggers stop notifying at ${pct(q.limit)}; ` +
    "writes are then seen by sweeps only)",
  ];
  if (q.oldest_transactions.length === 0) return lines.join("\n");
  lines.push(
    "Oldest open transactions (a session that LISTENs and stays in one holds the queue's tail):",
  );
  const header = ["PID", "USER", "DATABASE", "AGE", "STATE", "APPLICATION"];
  const body = q.oldest_transactions.map((t) => [
    String(t.pid),
    printable(t.user),
    printable(t.database),
    formatAge(t.xact_age_seconds),
    printable(t.state),
    printable(t.application_name),
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => [...(row[i] ?? "")].length)));
  for (const row of all) {
    lines.push(
      "  " + row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join("  "),
    );
  }
  return lines.join("\n");
}

/**
 * The `status` command: prints the result as a table (or JSON with `json`) through `out`, and
 * returns the exit code: failure when something could not be measured.
 */
export async function statusCommand(
  config: Config,
  options: { json: boolean; out: (text: string) => void },
): Promise<number> {
  const { out } = options;
  const result = await status(config);
  if (options.json) {
    out(JSON.stringify(result, null, 2));
  } else {
    out(result.rows.length > 0 ? formatStatusTable(result.rows) : "No limited roles.");
    if (result.missing.length > 0) {
      out(`\nNot found in the cluster: ${result.missing.join(", ")}`);
    }
    for (const f of result.failed) out(`Could not measure ${f}`);
    const l = result.leader;
    out(
      l
        ? `\nLeader: ${l.name} (backend ${l.backend_pid}${
          l.addr ? ` from ${l.addr}` : ""
        }, since ${l.since})`
        : "\nLeader: none: no daemon is enforcing",
    );
    const queue = result.notify_queue && formatNotifyQueue(result.notify_queue);
    if (queue) out(`\n${queue}`);
  }
  return result.failed.length > 0 ? EXIT.failure : EXIT.ok;
}
