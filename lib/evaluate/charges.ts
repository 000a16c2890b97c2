/**
 * Whose bytes count against which limited role: pure, no I/O.
 *
 * PostgreSQL lets a role create objects as, or give ownership to, any role it is a member of
 * (`SET ROLE g; CREATE TABLE ...`, `ALTER TABLE ... OWNER TO g`). So:
 * - Storage owned by a group that has no limit of its own and is not protected (superuser,
 *   replication, exempt, the monitoring role) is charged in full to EVERY limited role that is a
 *   direct or indirect member of it: any member can put bytes there, so every member answers.
 * - A group that has a limit of its own answers for its own storage (it is a limited role).
 * - A `member_of` entry with `shared: true` is one budget: the group's own storage plus what is
 *   charged to every unprotected member that entry limits (each owner counted once); every member
 *   under that entry is judged on that sum, so they are locked and unlocked together.
 *
 * Membership is read from pg_auth_members (sql/role_groups.sql), which works in every database,
 * with or without postgres_monitor installed.
 *
 * @module
 */
import type { EffectiveLimit } from "./resolve.ts";
import { protectedReason, type RoleIdentity } from "./resolve.ts";

/**
 * A role some limited role is a direct or indirect member of (sql/role_groups.sql): the fields of
 * {@linkcode RoleInfo} that decide whether it is protected, and its limited members.
 */
export interface GroupInfo extends RoleIdentity {
  /** Oids of the limited roles that are its direct or indirect members. */
  members: number[];
}

/** Result of {@linkcode planCharges}. */
export interface ChargePlan {
  /** Every role whose storage is measured: the limited roles and the groups charged to them. */
  owners: number[];
  /** For each measured owner, the limited roles whose usage includes its bytes. */
  dependents: Map<number, number[]>;
  /** For each limited role, the owners whose bytes make its usage (itself first). */
  contributors: Map<number, number[]>;
  /** For each limited role, the names of the groups whose storage it is charged (sorted). */
  chargedGroups: Map<number, string[]>;
  /** Names of the groups that are measured but not limited, by oid (for logs). */
  groupNames: Map<number, string>;
}

/** A plan where every limited role is charged only what it owns. */
export function ownPlan(limited: Iterable<number>): ChargePlan {
  return planCharges(new Map([...limited].map((oid) => [oid, undefined])), []);
}

/**
 * Who is charged for what, from the limits in force and the groups of the limited roles.
 * `limits` values may be undefined only through {@linkcode ownPlan}.
 */
export function planCharges(
  limits: ReadonlyMap<number, EffectiveLimit | undefined>,
  groups: readonly GroupInfo[],
  exemptRoles: readonly string[] = [],
): ChargePlan {
  const exempt = new Set(exemptRoles);
  const byName = new Map(groups.map((g) => [g.name, g]));
  const groupNames = new Map<number, string>();
  // Unlimited, unprotected groups charged to each limited member.
  const groupsOf = new Map<number, GroupInfo[]>();
  for (const g of groups) {
    if (limits.has(g.oid) || protectedReason(g, exempt) !== null) continue;
    groupNames.set(g.oid, g.name);
    for (const m of g.members) {
      if (!limits.has(m)) continue;
      let list = groupsOf.get(m);
      if (!list) groupsOf.set(m, list = []);
      list.push(g);
    }
  }
  const individual = (oid: number): number[] => [
    oid,
    ...(groupsOf.get(oid) ?? []).map((g) => g.oid),
  ];
  // Members of each shared budget (by entry), protected members' own bytes left out.
  const budgets = new Map<number, number[]>();
  for (const [oid, l] of limits) {
    if (l?.shared === undefined || l.protectedReason !== null) continue;
    let list = budgets.get(l.limit.index);
    if (!list) budgets.set(l.limit.index, list = []);
    list.push(oid);
  }
  const contributors = new Map<number, number[]>();
  const chargedGroups = new Map<number, string[]>();
  for (const [oid, l] of limits) {
    const set = new Set(individual(oid));
    if (l?.shared !== undefined) {
      const group = byName.get(l.shared);
      if (group && protectedReason(group, exempt) === null) {
        set.add(group.oid);
        groupNames.set(group.oid, group.name);
      }
      for (const m of budgets.get(l.limit.index) ?? []) for (const c of individual(m)) set.add(c);
    }
    contributors.set(oid, [...set]);
    const names = [...set].flatMap((c) => {
      const n = groupNames.get(c);
      return n === undefined || limits.has(c) ? [] : [n];
    });
    chargedGroups.set(oid, names.sort());
  }
  const dependents = new Map<number, number[]>();
  for (const [oid, list] of contributors) {
    for (const c of list) {
      let d = dependents.get(c);
      if (!d) dependents.set(c, d = []);
      d.push(oid);
    }
  }
  for (const oid of [...groupNames.keys()]) if (!dependents.has(oid)) groupNames.delete(oid);
  return { owners: [...dependents.keys()], dependents, contributors, chargedGroups, groupNames };
}

/** Usage of a limited role under the plan: the sum of what its contributors own. */
export function chargedUsage(plan: ChargePlan, oid: number, own: (owner: number) => number) {
  let sum = 0;
  for (const c of plan.contributors.get(oid) ?? [oid]) sum += own(c);
  return sum;
}

/** {@linkcode chargedUsage} by kind: each kind summed over the contributors. */
export function chargedBreakdown<K extends string>(
  plan: ChargePlan,
  oid: number,
  own: (owner: number) => Record<K, number>,
): Record<K, number> {
  const [first, ...rest] = plan.contributors.get(oid) ?? [oid];
  const out = { ...own(first!) };
  for (const c of rest) {
    const b = own(c);
    for (const k of Object.keys(b) as K[]) out[k] = (out[k] ?? 0) + b[k];
  }
  return out;
}

/**
 * The limited roles to re-evaluate when the usage of `changed` owners moved: each owner's
 * dependents (a group's members, a shared budget's members), the owner itself if limited.
 */
export function affectedRoles(plan: ChargePlan, changed: Iterable<number>): Set<number> {
  const out = new Set<number>();
  for (const o of changed) for (const d of plan.dependents.get(o) ?? []) out.add(d);
  return out;
}
