/**
 * The decision core: usage, limit and state in; decisions and the next state out. Pure: no I/O,
 * no clock (the caller passes `now`), so every rule is tested without a database.
 *
 * Rules (usage and limits in bytes, "over" means strictly greater, as the legacy daemon did):
 * - usage > soft: `soft_exceeded`, repeated at most every `softWarningIntervalMs` while it lasts;
 *   back to <= soft: `soft_cleared`. A role that crosses again within `softWarningIntervalMs` of
 *   its last warning is not warned again at once (nor cleared again after): a tenant writing and
 *   deleting around its soft limit would otherwise make two alerts per cycle. The repeat at the
 *   end of the interval still tells the operator.
 * - usage > hard while not locked: `hard_exceeded` once, then `lock` when it has lasted
 *   `hard_grace_period` seconds (`lock` repeats on every evaluation until the enforcer confirms,
 *   so a failed lock is retried).
 * - locked and usage <= hard for `unlock_grace_period` seconds and not `manual_unlock`: `unlock`.
 * - protected roles (superuser, replication, self, exempt): never `lock`; warnings still flow.
 * - a shared group budget (`limit.shared`): the caller passes the budget's usage; every reason
 *   starts with "shared budget of group 'g': " so a lock and its alert name the budget.
 *
 * @module
 */
import type { EffectiveLimit } from "./resolve.ts";

/** Per-role memory between evaluations. */
export interface RoleState {
  /** The daemon holds a lock on this role (from the control database, or in memory in dry run). */
  locked: boolean;
  /** The lock needs `unlock ROLE` by hand. */
  lockedManual: boolean;
  /** A soft warning is outstanding (not yet cleared). */
  overSoft: boolean;
  /** When the last soft warning was sent (ms since epoch). */
  lastSoftWarningAt?: number;
  /** Over the soft limit again without a warning (a re-crossing inside the warning interval). */
  softSilent?: boolean;
  /** Since when usage has been over the hard limit while unlocked (ms since epoch). */
  overHardSince?: number;
  /** Since when usage has been at or below the hard limit while locked (ms since epoch). */
  belowHardSince?: number;
}

/** What the daemon should do. */
export type DecisionKind = "soft_exceeded" | "soft_cleared" | "hard_exceeded" | "lock" | "unlock";

/** One decision about one role. */
export interface Decision {
  /** What to do. */
  kind: DecisionKind;
  /** Role oid. */
  oid: number;
  /** Role name. */
  role: string;
  /** Usage in bytes when decided. */
  usage: number;
  /** Soft limit in bytes. */
  soft: number;
  /** Hard limit in bytes. */
  hard: number;
  /** The lock needs a manual unlock. */
  manualUnlock: boolean;
  /** Human-readable reason. */
  reason: string;
}

/** Input of {@linkcode evaluate}. */
export interface EvaluationInput {
  /** Current usage in bytes. */
  usage: number;
  /** The limit in force. */
  limit: EffectiveLimit;
  /** State after the previous evaluation (use {@linkcode initialState} the first time). */
  state: RoleState;
  /** Current time, ms since epoch. */
  now: number;
  /** Minimum time between two soft warnings for one role, ms. */
  softWarningIntervalMs: number;
}

/** Output of {@linkcode evaluate}. */
export interface Evaluation {
  /** State to keep. */
  state: RoleState;
  /** Decisions, in the order they must be carried out. */
  decisions: Decision[];
  /** When to evaluate again even without new usage (a grace period or warning interval ends). */
  wakeAt?: number;
}

/** Display state of a role, as `status` prints it. */
export type RoleStatus = "ok" | "over_soft" | "over_hard" | "locked" | "locked_manual" | "exempt";

/** The state of a role never seen before. */
export function initialState(): RoleState {
  return { locked: false, lockedManual: false, overSoft: false };
}

/**
 * Display state of a role from its usage, limit and lock (the daemon's and `status`'s one rule):
 * a lock first, then a protected role is `exempt` whatever its usage, then usage against limits.
 */
export function statusOf(
  usage: number,
  limit: EffectiveLimit,
  state: Pick<RoleState, "locked" | "lockedManual">,
): RoleStatus {
  if (state.locked) return state.lockedManual ? "locked_manual" : "locked";
  if (limit.protectedReason) return "exempt";
  if (usage > limit.limit.hard_limit) return "over_hard";
  if (usage > limit.limit.soft_limit) return "over_soft";
  return "ok";
}

/** Applies the rules to one role. */
export function evaluate(input: EvaluationInput): Evaluation {
  const { usage, limit, now, softWarningIntervalMs } = input;
  const { soft_limit: soft, hard_limit: hard, manual_unlock: manual } = limit.limit;
  const state: RoleState = { ...input.state };
  const decisions: Decision[] = [];
  const wakes: number[] = [];
  const budget = limit.shared === undefined ? "" : `shared budget of group '${limit.shared}': `;
  const decide = (kind: DecisionKind, reason: string) =>
    decisions.push({
      kind,
      oid: limit.role.oid,
      role: limit.role.name,
      usage,
      soft,
      hard,
      manualUnlock: manual,
      reason: budget + reason,
    });

  // Soft limit: warn on crossing and every interval while over; clear when back under.
  if (usage > soft && !state.locked) {
    const last = state.lastSoftWarningAt;
    const due = last === undefined || now - last >= softWarningIntervalMs;
    if (!state.overSoft && !due) {
      // Crossed again soon after a warning: remembered, said at the next interval.
      state.overSoft = true;
      state.softSilent = true;
    } else if (!state.overSoft || due) {
      decide("soft_exceeded", `usage ${usage} B is over the soft limit ${soft} B`);
      state.overSoft = true;
      state.softSilent = false;
      state.lastSoftWarningAt = now;
    }
    if (softWarningIntervalMs > 0) {
      wakes.push((state.lastSoftWarningAt ?? now) + softWarningIntervalMs);
    }
  } else if (usage <= soft && state.overSoft) {
    if (!state.softSilent) {
      decide("soft_cleared", `usage ${usage} B is back under the soft limit ${soft} B`);
    }
    state.overSoft = false;
    state.softSilent = false;
  }

  if (!state.locked) {
    state.belowHardSince = undefined;
    if (usage > hard) {
      if (state.overHardSince === undefined) {
        state.overHardSince = now;
        decide("hard_exceeded", `usage ${usage} B is over the hard limit ${hard} B`);
      }
      const graceMs = limit.limit.hard_grace_period * 1000;
      if (limit.protectedReason !== null) {
        // Reported above; never locked.
      } else if (now - state.overHardSince >= graceMs) {
        decide(
          "lock",
          graceMs > 0
            ? `usage ${usage} B over the hard limit ${hard} B for ${limit.limit.hard_grace_period} s`
            : `usage ${usage} B is over the hard limit ${hard} B`,
        );
      } else {
        wakes.push(state.overHardSince + graceMs);
      }
    } else {
      state.overHardSince = undefined;
    }
  } else {
    state.overHardSince = undefined;
    if (usage > hard) {
      state.belowHardSince = undefined;
    } else if (!state.lockedManual && !manual) {
      state.belowHardSince ??= now;
      const graceMs = limit.limit.unlock_grace_period * 1000;
      if (now - state.belowHardSince >= graceMs) {
        decide("unlock", `usage ${usage} B is back under the hard limit ${hard} B`);
      } else {
        wakes.push(state.belowHardSince + graceMs);
      }
    }
  }

  return {
    state,
    decisions,
    wakeAt: wakes.length > 0 ? Math.min(...wakes) : undefined,
  };
}
