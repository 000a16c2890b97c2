/**
 * Which limit applies to which role: pure, no I/O.
 *
 * @module
 */
import type { LimitEntry } from "../config/limits.ts";

/** A role as the catalog names it, with what decides whether it may be locked. */
export interface RoleIdentity {
  /** Role oid (cluster-wide). */
  oid: number;
  /** Role name, exactly as in the catalog. */
  name: string;
  /** rolsuper. */
  superuser: boolean;
  /** rolreplication. */
  replication: boolean;
  /** True for the role the daemon is connected as. */
  is_self: boolean;
}

/** What the daemon knows about a role from the catalog (sql/list_roles.sql). */
export interface RoleInfo extends RoleIdentity {
  /** rolcanlogin. */
  can_login: boolean;
  /** Limited groups (named in the limits file) this role is a direct or indirect member of. */
  groups: string[];
}

/** The limit in force for one role. */
export interface EffectiveLimit {
  /** The role. */
  role: RoleInfo;
  /** The entry that applies. */
  limit: LimitEntry;
  /** Where it comes from: "user" or "member_of 'group'". */
  source: string;
  /** Why the daemon must never lock this role, or null. */
  protectedReason: string | null;
  /**
   * The group whose shared budget this is (a `member_of` entry with `shared: true`): usage is the
   * budget's (lib/evaluate/charges.ts) and decisions name it. Absent for a role's own budget.
   */
  shared?: string;
}

/** Result of {@linkcode resolveLimits}. */
export interface Resolution {
  /** Limits by role oid. */
  limits: Map<number, EffectiveLimit>;
  /** Names in the limits file (users and groups) that match no role. */
  missing: string[];
}

/** Why a role is never locked, or null: superuser, replication, the daemon's own role, exempt. */
export function protectedReason(
  role: Pick<RoleInfo, "name" | "superuser" | "replication" | "is_self">,
  exempt: ReadonlySet<string>,
): string | null {
  if (role.superuser) return "superuser";
  if (role.replication) return "replication role";
  if (role.is_self) return "the monitoring role itself";
  if (exempt.has(role.name)) return "listed in exempt_roles";
  return null;
}

/**
 * Maps every limited role to the entry that applies: an explicit `user` entry wins; otherwise the
 * strictest (lowest `hard_limit`, then first in the file) of the `member_of` entries naming a group
 * the role belongs to. Group roles themselves get no limit from their own `member_of` entry.
 */
export function resolveLimits(
  entries: readonly LimitEntry[],
  roles: readonly RoleInfo[],
  exemptRoles: readonly string[] = [],
): Resolution {
  const exempt = new Set(exemptRoles);
  const byUser = new Map<string, LimitEntry>();
  const byGroup = new Map<string, LimitEntry>();
  for (const e of entries) {
    if (e.user !== undefined) byUser.set(e.user, e);
    else if (e.member_of !== undefined) byGroup.set(e.member_of, e);
  }
  const limits = new Map<number, EffectiveLimit>();
  const seenUsers = new Set<string>();
  const seenGroups = new Set<string>();
  for (const role of roles) {
    for (const g of role.groups) seenGroups.add(g);
    const own = byUser.get(role.name);
    let limit: LimitEntry | undefined = own;
    let source = "user";
    let group: string | undefined;
    if (own) {
      seenUsers.add(role.name);
    } else {
      for (const g of role.groups) {
        const e = byGroup.get(g);
        if (!e) continue;
        if (
          !limit || e.hard_limit < limit.hard_limit ||
          (e.hard_limit === limit.hard_limit && e.index < limit.index)
        ) {
          limit = e;
          group = g;
          source = `member_of '${g}'`;
        }
      }
    }
    if (!limit) continue;
    const protectedWhy = protectedReason(role, exempt);
    if (limit.shared && group !== undefined) {
      limits.set(role.oid, {
        role,
        limit,
        source: `${source} (shared)`,
        protectedReason: protectedWhy,
        shared: group,
      });
    } else limits.set(role.oid, { role, limit, source, protectedReason: protectedWhy });
  }
  const missing = [
    ...[...byUser.keys()].filter((u) => !seenUsers.has(u)),
    ...[...byGroup.keys()].filter((g) => !seenGroups.has(g) && !roles.some((r) => r.name === g)),
  ];
  return { limits, missing };
}
