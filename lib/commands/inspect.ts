/**
 * `status` and `unlock`: one-shot commands that connect as the monitoring role, measure, and
 * print or act. They do not need the daemon to be running.
 *
 * @module
 */
import { type Config, formatBytes } from "../config/mod.ts";
import { connect, type ConnectionTarget, type Sql, targetFromConfig } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";
import { LEADER_LOCK_PARAMS } from "../leader.ts";
import { Enforcer, type LockRow } from "../enforce/enforcer.ts";
import { type EffectiveLimit, resolveLimits } from "../evaluate/resolve.ts";
import { type RoleStatus, statusOf } from "../evaluate/evaluator.ts";
import { listRoles, measureOwners } from "../measure/catalog.ts";
import {
  chargedBreakdown,
  chargedUsage,
  type ChargePlan,
  planCharges,
} from "../evaluate/charges.ts";
import { roleGroups } from "../measure/role_groups.ts";
import { requireTrustedControl, schemaTrust } from "../measure/schema_trust.ts";
import { onlyOwners, readTempFiles } from "../measure/temp_files.ts";
import { measureLargeObjects } from "../measure/large_objects.ts";
import { measureCatalogText } from "../measure/catalog_text.ts";
import { applyPlan, databaseSize, databaseStates, planDatabases } from "../watch/databases.ts";
import { USAGE_KINDS, type UsageBreakdown, UsageCache } from "../measure/usage_cache.ts";
import { LOCKS_CHANGED } from "../watch/payload.ts";
import {
  type NotifyQueueUsage,
  oldestTransactions,
  type OpenTransaction,
  readNotifyQueue,
} from "../watch/notify_queue.ts";

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

interface Measured {
  limits: Map<number, EffectiveLimit>;
  charges: ChargePlan;
  /** A limited role's usage: what it owns plus what is charged to it. */
  usage: (oid: number) => number;
  cache: UsageCache;
  locks: Map<number, LockRow>;
  missing: string[];
  failed: string[];
  /** Owners with relations that could not be measured (busy), and how many. */
  busy: Map<number, number>;
}

async function measureAll(config: Config, target: ConnectionTarget, control: Sql) {
  const entries = config.limits;
  const users = entries.flatMap((e) => (e.user !== undefined ? [e.user] : []));
  const groups = entries.flatMap((e) => (e.member_of !== undefined ? [e.member_of] : []));
  const roles = await listRoles(control, users, groups);
  const { limits, missing } = resolveLimits(entries, roles, config.monitor.exempt_roles);
  const cache = new UsageCache();
  // As the daemon does: groups without a limit of their own are measured and charged to members.
  const groupRows = await roleGroups(control, [...limits.keys()]);
  const charges = planCharges(limits, groupRows, config.monitor.exempt_roles);
  const owners = charges.owners;
  const failed: string[] = [];
  const busyOwners = new Map<number, number>();
  // As the daemon sees them (lib/watch/databases.ts): databases where no limited role owns
  // anything are not entered; one nobody can enter counts its size for its limited owner.
  const listed = config.monitor.databases;
  const plan = planDatabases(await databaseStates(control, owners, listed), {
    listed,
    cap: Infinity,
    current: new Set(),
  });
  const measureOne = async (name: string) => {
    const sql = connect(target, name, { max: 1, settings: { lock_timeout: "1s" } });
    try {
      const { sizes, busy } = await measureOwners(sql, owners);
      cache.replaceDatabase(name, sizes);
      // As the daemon does: large objects by their pages where postgres_monitor is installed.
      const installed = (await schemaTrust(sql, false)).state === "installed";
      cache.setSource("large_objects", await measureLargeObjects(sql, owners, installed), name);
      cache.setSource("catalog_text", await measureCatalogText(sql, owners), name);
      for (const { owner } of busy.values()) {
        busyOwners.set(owner, (busyOwners.get(owner) ?? 0) + 1);
      }
    } catch (err) {
      failed.push(`${name}: ${(err as Error).message}`);
    } finally {
      await sql.end({ timeout: 2 });
    }
  };
  // A few connections at a time, however many databases there are.
  for (let i = 0; i < plan.watched.length; i += 4) {
    await Promise.all(plan.watched.slice(i, i + 4).map(measureOne));
  }
  for (const u of plan.unreachable) {
    if (!u.ownerLimited) {
      failed.push(`${u.name}: cannot be entered (${u.reason})`);
      continue;
    }
    try {
      u.bytes = await databaseSize(control, u.oid);
    } catch (err) {
      failed.push(`${u.name}: ${(err as Error).message}`);
    }
  }
  applyPlan(cache, plan);
  // Live temporary files, cluster-wide, as the daemon charges them (lib/measure/temp_files.ts).
  try {
    cache.setSource("temp_files", onlyOwners(await readTempFiles(control), owners));
  } catch (err) {
    failed.push(`temporary files: ${(err as Error).message}`);
  }
  // The shared catalogs' text (comments on databases and roles, role settings), once.
  try {
    cache.setSource("catalog_text", await measureCatalogText(control, owners, true));
  } catch (err) {
    failed.push(`shared catalogs: ${(err as Error).message}`);
  }
  const lockRows = await new Enforcer(control, { dryRun: false }).loadLocks();
  const locks = new Map(lockRows.map((l) => [l.oid, l]));
  const usage = (oid: number) => chargedUsage(charges, oid, (o) => cache.usage(o));
  return {
    limits,
    charges,
    usage,
    cache,
    locks,
    missing,
    failed,
    busy: busyOwners,
  } satisfies Measured;
}

/** Usage and state of every limited role. */
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

export async function status(
  config: Config,
): Promise<
  {
    rows: StatusRow[];
    missing: string[];
    failed: string[];
    leader: LeaderInfo | null;
    notify_queue: NotifyQueueStatus | null;
  }
> {
  const target = await targetFromConfig(config.monitor);
  const control = connect(target, config.monitor.control_database, { max: 1 });
  try {
    await requireTrustedControl(control, config.monitor.control_database);
    const { limits, charges, usage: usageOf, cache, locks, missing, failed } = await measureAll(
      config,
      target,
      control,
    );
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
  } finally {
    await control.end({ timeout: 2 });
  }
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

/** Raised by {@linkcode unlock} when it refuses; the message says why. */
export class UnlockRefusedError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UnlockRefusedError";
  }
}

/**
 * Ends the daemon's lock on `role` (for `manual_unlock` roles, or any locked role). Refuses an
 * unknown or unlocked role, and a role still over its hard limit (the daemon would lock it again
 * at once): free space as an administrator or raise the limit and reload first.
 */
export async function unlock(
  config: Config,
  role: string,
  options: { actor: string },
): Promise<string> {
  const target = await targetFromConfig(config.monitor);
  const control = connect(target, config.monitor.control_database, { max: 1 });
  try {
    await requireTrustedControl(control, config.monitor.control_database);
    const [found] = await control.unsafe(sqlFile("role_oid"), [role]);
    if (!found) throw new UnlockRefusedError(`Cannot unlock '${role}': no such role`);
    const oid = Number(found.oid);
    const { limits, charges, usage: usageOf, locks, busy, failed } = await measureAll(
      config,
      target,
      control,
    );
    if (!locks.has(oid)) {
      throw new UnlockRefusedError(`Cannot unlock '${role}': it is not locked by this daemon`);
    }
    // An unmeasured relation or database could hide usage: do not unlock on a partial view.
    // Busy relations of a group charged to the role hide its usage just as well.
    const busyHere = (charges.contributors.get(oid) ?? [oid]).reduce(
      (n, o) => n + (busy.get(o) ?? 0),
      0,
    );
    if (failed.length > 0 || busyHere > 0) {
      throw new UnlockRefusedError(
        `Cannot unlock '${role}' now: its usage could not be measured completely (` +
          [...failed, ...(busyHere > 0 ? [`${busyHere} table(s) locked exclusively`] : [])]
            .join("; ") +
          "); try again",
      );
    }
    const limit = limits.get(oid);
    const usage = usageOf(oid);
    if (limit && usage > limit.limit.hard_limit) {
      throw new UnlockRefusedError(
        `Cannot unlock '${role}': usage ${usage} B is still over its hard limit ` +
          `${limit.limit.hard_limit} B and the daemon would lock it again; free space or raise ` +
          `the limit (and reload the daemon) first`,
      );
    }
    const result = await new Enforcer(control, { dryRun: false }).unlock(
      oid,
      options.actor,
      "manual unlock",
    );
    // Tell a running daemon at once (it would notice at the next sweep anyway).
    await control.unsafe(sqlFile("announce_locks"), [config.monitor.listen_channel, LOCKS_CHANGED]);
    return result;
  } finally {
    await control.end({ timeout: 2 });
  }
}
