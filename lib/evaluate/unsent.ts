/**
 * Decisions that could not be carried out (their event could not be written, the lock failed)
 * must be decided again, not lost. The evaluator moves the role's state as if every decision it
 * returns were done; `keepUnsent` puts back what the decisions left undone moved, so the next
 * evaluation decides them again, once. Pure.
 *
 * @module
 */
import type { DecisionKind, RoleState } from "./evaluator.ts";

// The state fields each kind of decision moves. `lock` and `unlock` move none: the evaluator
// repeats them until the daemon records that the role is locked or unlocked.
const MOVES: Readonly<Record<DecisionKind, readonly (keyof RoleState)[]>> = {
  soft_exceeded: ["overSoft", "softSilent", "lastSoftWarningAt"],
  soft_cleared: ["overSoft", "softSilent"],
  hard_exceeded: ["overHardSince"],
  lock: [],
  unlock: [],
};

/**
 * The state to keep when the decisions `unsent` were not carried out: `after` (the evaluator's
 * new state) with the fields those decisions moved taken from `before` (the state it was given).
 */
export function keepUnsent(
  after: RoleState,
  before: RoleState,
  unsent: readonly DecisionKind[],
): RoleState {
  const state: RoleState = { ...after };
  const target = state as unknown as Record<string, unknown>;
  for (const kind of unsent) {
    for (const field of MOVES[kind]) target[field] = before[field];
  }
  return state;
}
