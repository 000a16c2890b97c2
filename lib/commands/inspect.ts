/**
 * `status` and `unlock`: one-shot commands that connect as the monitoring role, measure, and
 * print or act. They do not need the daemon to be running.
 *
 * @module
 */
import { type Config, formatBytes } from "../config/mod.ts";
import { connect, type ConnectionTarget, type Sql, targetFromConfig } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";
import { Enforcer, type LockRow } from "../enforce/enforcer.ts";
import { type EffectiveLimit, resolveLimits } from "../evaluate/resolve.ts";
import { listDatabases, listRoles, measureOwners } from "../measure/catalog.ts";
import { UsageCache } from "../measure/usage_cache.ts";

/** One row of `status`. */
export interface StatusRow {
  /** Role name. */
  role: string;
  /** Bytes owned across monitored databases. */
  usage_bytes: number;
  /** Soft limit. */
  soft_limit_bytes: number;
  /** Hard limit. */
  hard_limit_bytes: number;
  /** ok, over_soft, over_hard, locked, locked_manual, exempt. */
  state: string;
  /** Where the limit comes from. */
  source: string;
  /** When locked, if locked. */
  locked_at: string | null;
  /** Why the role is never locked, if protected. */
  protected: string | null;
}

interface Measured {
  limits: Map<number, EffectiveLimit>;
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
  const dbs = config.monitor.databases ?? await listDatabases(control);
  const cache = new UsageCache();
  const owners = [...limits.keys()];
  const failed: string[] = [];
  const busyOwners = new Map<number, number>();
  await Promise.all(dbs.map(async (name) => {
    const sql = connect(target, name, { max: 1, settings: { lock_timeout: "1s" } });
    try {
      const { sizes, busy } = await measureOwners(sql, owners);
      cache.replaceDatabase(name, sizes);
      for (const { owner } of busy.values()) {
        busyOwners.set(owner, (busyOwners.get(owner) ?? 0) + 1);
      }
    } catch (err) {
      failed.push(`${name}: ${(err as Error).message}`);
    } finally {
      await sql.end({ timeout: 2 });
    }
  }));
  const lockRows = await new Enforcer(control, { dryRun: false }).loadLocks();
  const locks = new Map(lockRows.map((l) => [l.oid, l]));
  return { limits, cache, locks, missing, failed, busy: busyOwners } satisfies Measured;
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
  const [row] = await control.unsafe(sqlFile("leader_who"));
  if (!row) return null;
  return {
    name: String(row.name),
    backend_pid: Number(row.pid),
    addr: row.addr === null ? null : String(row.addr),
    since: (row.backend_start as Date).toISOString(),
  };
}

export async function status(
  config: Config,
): Promise<
  { rows: StatusRow[]; missing: string[]; failed: string[]; leader: LeaderInfo | null }
> {
  const target = await targetFromConfig(config.monitor);
  const control = connect(target, config.monitor.control_database, { max: 1 });
  try {
    const { limits, cache, locks, missing, failed } = await measureAll(config, target, control);
    const rows = [...limits.values()].map((l): StatusRow => {
      const usage = cache.usage(l.role.oid);
      const lock = locks.get(l.role.oid);
      const state = lock
        ? (lock.manual_unlock ? "locked_manual" : "locked")
        : l.protectedReason
        ? "exempt"
        : usage > l.limit.hard_limit
        ? "over_hard"
        : usage > l.limit.soft_limit
        ? "over_soft"
        : "ok";
      return {
        role: l.role.name,
        usage_bytes: usage,
        soft_limit_bytes: l.limit.soft_limit,
        hard_limit_bytes: l.limit.hard_limit,
        state,
        source: l.source,
        locked_at: lock ? lock.locked_at.toISOString() : null,
        protected: l.protectedReason,
      };
    });
    rows.sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : 0));
    return { rows, missing, failed, leader: await leaderOf(control) };
  } finally {
    await control.end({ timeout: 2 });
  }
}

/** Renders `status` rows as an aligned text table. */
export function formatStatusTable(rows: StatusRow[]): string {
  const header = ["ROLE", "USAGE", "SOFT", "HARD", "USED", "STATE", "LIMIT FROM"];
  const body = rows.map((r) => [
    r.role,
    formatBytes(r.usage_bytes),
    formatBytes(r.soft_limit_bytes),
    formatBytes(r.hard_limit_bytes),
    `${Math.round((r.usage_bytes / r.hard_limit_bytes) * 100)}%`,
    r.protected ? `${r.state} (${r.protected})` : r.state,
    r.source,
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => [...(row[i] ?? "")].length)));
  return all.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")
  ).join("\n");
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
    const [found] = await control.unsafe(
      "SELECT oid::int8 AS oid FROM pg_catalog.pg_roles WHERE rolname = $1",
      [role],
    );
    if (!found) throw new UnlockRefusedError(`Cannot unlock '${role}': no such role`);
    const oid = Number(found.oid);
    const { limits, cache, locks, busy, failed } = await measureAll(config, target, control);
    if (!locks.has(oid)) {
      throw new UnlockRefusedError(`Cannot unlock '${role}': it is not locked by this daemon`);
    }
    // An unmeasured relation or database could hide usage: do not unlock on a partial view.
    if (failed.length > 0 || busy.has(oid)) {
      throw new UnlockRefusedError(
        `Cannot unlock '${role}' now: its usage could not be measured completely (` +
          [...failed, ...(busy.has(oid) ? [`${busy.get(oid)} table(s) locked exclusively`] : [])]
            .join("; ") +
          "); try again",
      );
    }
    const limit = limits.get(oid);
    const usage = cache.usage(oid);
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
    await control.unsafe("SELECT pg_catalog.pg_notify($1, 'c:locks')", [
      config.monitor.listen_channel,
    ]);
    return result;
  } finally {
    await control.end({ timeout: 2 });
  }
}
