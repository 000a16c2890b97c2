/**
 * The limited roles as the last sweep resolved them, shared by every stage: the effective limits,
 * whose storage is charged to whom (groups, shared budgets), where each owner owns something,
 * and each limited role's charged usage.
 *
 * @module
 */
import type { LimitEntry } from "../config/mod.ts";
import type { Sql } from "../db/connect.ts";
import { listRoles } from "./catalog.ts";
import { roleDatabases } from "./role_databases.ts";
import { roleGroups } from "./role_groups.ts";
import type { UsageCache } from "./usage_cache.ts";
import { describeEntry } from "../config/mod.ts";
import { errorMessage, type Logger } from "../report/log.ts";
import {
  chargedBreakdown,
  chargedUsage,
  type ChargePlan,
  ownPlan,
  planCharges,
} from "../evaluate/charges.ts";
import { type EffectiveLimit, resolveLimits } from "../evaluate/resolve.ts";

/** Limits, charges and ownership of the limited roles. */
export class LimitedRoles {
  #cache: UsageCache;
  #log: Logger;
  #limits = new Map<number, EffectiveLimit>();
  /** Whose storage is charged to which limited role (lib/evaluate/charges.ts). */
  #charges: ChargePlan = ownPlan([]);
  /** Databases where each limited role owns something (refreshed each sweep). */
  #owned?: Map<number, Set<string>>;
  #missingReported = "";
  #protectedReported = new Set<string>();

  /** Usage comes from `cache`. */
  constructor(cache: UsageCache, log: Logger) {
    this.#cache = cache;
    this.#log = log;
  }

  /** The limited roles by oid, as of the last refresh. */
  get limits(): Map<number, EffectiveLimit> {
    return this.#limits;
  }

  /** Whose storage is charged to which limited role. */
  get charges(): ChargePlan {
    return this.#charges;
  }

  /** Databases where each owner owns something; undefined when unknown. */
  get owned(): Map<number, Set<string>> | undefined {
    return this.#owned;
  }

  /** A limited role's charged usage by kind of storage, bytes. */
  kinds(oid: number): Record<string, number> {
    return chargedBreakdown(this.#charges, oid, (o) => this.#cache.breakdown(o));
  }

  /** Resolves the limit entries against the cluster's roles, then the charges. */
  async refresh(control: Sql, entries: LimitEntry[], exemptRoles: string[]): Promise<void> {
    const users = entries.flatMap((e) => (e.user !== undefined ? [e.user] : []));
    const groups = entries.flatMap((e) => (e.member_of !== undefined ? [e.member_of] : []));
    const roles = await listRoles(control, users, groups);
    const { limits, missing } = resolveLimits(entries, roles, exemptRoles);
    const missingKey = missing.join("\u0000");
    if (missing.length > 0 && missingKey !== this.#missingReported) {
      this.#log.warn("limited roles not found in the cluster (ignored until they exist)", {
        roles: missing,
      });
    }
    this.#missingReported = missingKey;
    for (const l of limits.values()) {
      const key = `${l.role.oid}:${l.protectedReason}`;
      if (l.protectedReason && !this.#protectedReported.has(key)) {
        this.#protectedReported.add(key);
        this.#log.warn("limit on a protected role is reported but never enforced", {
          role: l.role.name,
          reason: l.protectedReason,
          entry: describeEntry(l.limit),
        });
      }
    }
    this.#limits = limits;
    await this.#refreshCharges(control, exemptRoles);
  }

  /**
   * Groups of the limited roles: a group without a limit of its own is measured and watched like
   * its members' own tables and charged to them (lib/evaluate/charges.ts). On failure every role
   * keeps being charged what it owns and the next sweep tries again.
   */
  async #refreshCharges(control: Sql, exemptRoles: string[]) {
    try {
      const groups = await roleGroups(control, [...this.#limits.keys()]);
      this.#charges = planCharges(this.#limits, groups, exemptRoles);
    } catch (err) {
      this.#charges = ownPlan(this.#limits.keys());
      this.#log.warn("cannot read the groups of limited roles", { error: errorMessage(err) });
    }
  }

  /** Name of a measured owner: a limited role or a group charged to limited roles. */
  nameOf(oid: number): string | undefined {
    return this.#limits.get(oid)?.role.name ?? this.#charges.groupNames.get(oid);
  }

  /** Every role whose storage is measured: the limited roles and the groups charged to them. */
  owners(): number[] {
    return this.#charges.owners;
  }

  /** A limited role's usage: what it owns plus what is charged to it (groups, shared budget). */
  usage(oid: number): number {
    return chargedUsage(this.#charges, oid, (o) => this.#cache.usage(o));
  }

  /** Where each limited role owns something; on failure every database counts for everyone. */
  async refreshOwned(control: Sql): Promise<void> {
    try {
      this.#owned = await roleDatabases(control, this.owners());
    } catch (err) {
      this.#owned = undefined;
      this.#log.warn("cannot read where roles own objects", { error: errorMessage(err) });
    }
  }
}
