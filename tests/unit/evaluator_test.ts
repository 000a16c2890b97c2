import assert from "node:assert/strict";
import type { LimitEntry } from "../../lib/config/limits.ts";
import {
  type DecisionKind,
  evaluate,
  type Evaluation,
  initialState,
  type RoleState,
  statusOf,
} from "../../lib/evaluate/evaluator.ts";
import type { EffectiveLimit, RoleInfo } from "../../lib/evaluate/resolve.ts";

const SOFT = 1_000;
const HARD = 2_000;
const HOUR_MS = 3_600_000;
const T0 = 1_700_000_000_000;

function limitOf(
  entry: Partial<LimitEntry> = {},
  protectedReason: string | null = null,
): EffectiveLimit {
  const role: RoleInfo = {
    oid: 16_384,
    name: "alice",
    superuser: false,
    replication: false,
    can_login: true,
    is_self: false,
    groups: [],
  };
  return {
    role,
    limit: {
      user: "alice",
      soft_limit: SOFT,
      hard_limit: HARD,
      manual_unlock: false,
      hard_grace_period: 0,
      unlock_grace_period: 0,
      index: 0,
      ...entry,
    },
    source: "user",
    protectedReason,
  };
}

function run(
  usage: number,
  state: RoleState,
  now: number,
  limit: EffectiveLimit = limitOf(),
  softWarningIntervalMs = HOUR_MS,
): Evaluation {
  return evaluate({ usage, limit, state, now, softWarningIntervalMs });
}

function kinds(e: Evaluation): DecisionKind[] {
  return e.decisions.map((d) => d.kind);
}

function lockedState(extra: Partial<RoleState> = {}): RoleState {
  return { ...initialState(), locked: true, ...extra };
}

Deno.test("initialState() is unlocked, not manual and not over the soft limit", () => {
  assert.deepEqual(initialState(), { locked: false, lockedManual: false, overSoft: false });
});

Deno.test("initialState() returns a fresh object every time", () => {
  const a = initialState();
  a.locked = true;
  assert.equal(initialState().locked, false);
});

Deno.test("evaluate() decides nothing for usage under the soft limit", () => {
  const e = run(SOFT - 1, initialState(), T0);
  assert.deepEqual(e.decisions, []);
  assert.equal(e.wakeAt, undefined);
  assert.equal(e.state.overSoft, false);
});

Deno.test("evaluate() warns when usage crosses the soft limit", () => {
  const e = run(SOFT + 1, initialState(), T0);
  assert.deepEqual(kinds(e), ["soft_exceeded"]);
  assert.equal(e.state.overSoft, true);
  assert.equal(e.state.lastSoftWarningAt, T0);
});

Deno.test("evaluate() fills decisions with the role, usage and limits", () => {
  const limit = limitOf({ manual_unlock: true });
  const [d] = run(SOFT + 5, initialState(), T0, limit).decisions;
  assert.ok(d);
  assert.equal(d.kind, "soft_exceeded");
  assert.equal(d.oid, 16_384);
  assert.equal(d.role, "alice");
  assert.equal(d.usage, SOFT + 5);
  assert.equal(d.soft, SOFT);
  assert.equal(d.hard, HARD);
  assert.equal(d.manualUnlock, true);
  assert.match(d.reason, /soft limit/);
});

Deno.test("evaluate() treats usage equal to the soft limit as not over it", () => {
  const e = run(SOFT, initialState(), T0);
  assert.deepEqual(e.decisions, []);
  assert.equal(e.state.overSoft, false);
});

Deno.test("evaluate() treats usage equal to the hard limit as not over it", () => {
  const e = run(HARD, initialState(), T0);
  assert.deepEqual(kinds(e), ["soft_exceeded"]);
  assert.equal(e.state.overHardSince, undefined);
});

Deno.test("evaluate() does not repeat a soft warning before soft_warning_interval", () => {
  const first = run(SOFT + 1, initialState(), T0);
  const second = run(SOFT + 100, first.state, T0 + HOUR_MS - 1);
  assert.deepEqual(second.decisions, []);
  assert.equal(second.state.lastSoftWarningAt, T0);
  assert.equal(second.wakeAt, T0 + HOUR_MS);
});

Deno.test("evaluate() repeats a soft warning once soft_warning_interval has passed", () => {
  const first = run(SOFT + 1, initialState(), T0);
  const second = run(SOFT + 1, first.state, T0 + HOUR_MS);
  assert.deepEqual(kinds(second), ["soft_exceeded"]);
  assert.equal(second.state.lastSoftWarningAt, T0 + HOUR_MS);
  assert.equal(second.wakeAt, T0 + 2 * HOUR_MS);
});

Deno.test("evaluate() wakes at the next soft warning time while over the soft limit", () => {
  const e = run(SOFT + 1, initialState(), T0);
  assert.equal(e.wakeAt, T0 + HOUR_MS);
});

Deno.test("evaluate() sets no soft wake-up when the warning interval is zero", () => {
  const e = run(SOFT + 1, initialState(), T0, limitOf(), 0);
  assert.deepEqual(kinds(e), ["soft_exceeded"]);
  assert.equal(e.wakeAt, undefined);
});

Deno.test("evaluate() clears the soft warning when usage is back under the soft limit", () => {
  const over = run(SOFT + 1, initialState(), T0);
  const back = run(SOFT, over.state, T0 + 1);
  assert.deepEqual(kinds(back), ["soft_cleared"]);
  assert.equal(back.state.overSoft, false);
  assert.equal(back.wakeAt, undefined);
});

Deno.test("evaluate() clears the soft warning only once", () => {
  const over = run(SOFT + 1, initialState(), T0);
  const back = run(0, over.state, T0 + 1);
  const again = run(0, back.state, T0 + 2);
  assert.deepEqual(kinds(again), []);
});

Deno.test("evaluate() warns again at once after the soft limit is cleared and crossed again once the interval has passed", () => {
  const over = run(SOFT + 1, initialState(), T0);
  const back = run(SOFT - 1, over.state, T0 + 1);
  const again = run(SOFT + 1, back.state, T0 + HOUR_MS);
  assert.deepEqual(kinds(again), ["soft_exceeded"]);
});

Deno.test("evaluate() says nothing for a tenant flapping around its soft limit within the interval, then warns at its end", () => {
  let s = run(SOFT + 1, initialState(), T0);
  assert.deepEqual(kinds(s), ["soft_exceeded"]);
  s = run(SOFT - 1, s.state, T0 + 1);
  assert.deepEqual(kinds(s), ["soft_cleared"]);
  for (let i = 0; i < 100; i++) {
    const up = run(SOFT + 1, s.state, T0 + 10 + 2 * i);
    assert.deepEqual(kinds(up), [], `crossing ${i}`);
    s = run(SOFT - 1, up.state, T0 + 11 + 2 * i);
    assert.deepEqual(kinds(s), [], `clearing ${i}`);
  }
  const over = run(SOFT + 1, s.state, T0 + 1000);
  assert.deepEqual(kinds(over), []);
  assert.equal(over.wakeAt, T0 + HOUR_MS, "the repeat is scheduled");
  const repeat = run(SOFT + 1, over.state, T0 + HOUR_MS);
  assert.deepEqual(kinds(repeat), ["soft_exceeded"]);
  const cleared = run(SOFT - 1, repeat.state, T0 + HOUR_MS + 1);
  assert.deepEqual(kinds(cleared), ["soft_cleared"]);
});

Deno.test("evaluate() warns at every crossing when the warning interval is zero", () => {
  let s = run(SOFT + 1, initialState(), T0, limitOf(), 0);
  s = run(SOFT - 1, s.state, T0 + 1, limitOf(), 0);
  const again = run(SOFT + 1, s.state, T0 + 2, limitOf(), 0);
  assert.deepEqual(kinds(again), ["soft_exceeded"]);
});

Deno.test("evaluate() does not mutate the state it was given", () => {
  const state = initialState();
  const snapshot = structuredClone(state);
  run(HARD + 1, state, T0);
  assert.deepEqual(state, snapshot);
});

Deno.test("evaluate() reports hard_exceeded and locks at once without a grace period", () => {
  const e = run(HARD + 1, initialState(), T0);
  assert.deepEqual(kinds(e), ["soft_exceeded", "hard_exceeded", "lock"]);
  assert.equal(e.state.overHardSince, T0);
  // The evaluator never marks the role locked itself; the enforcer confirms.
  assert.equal(e.state.locked, false);
});

Deno.test("evaluate() emits hard_exceeded only once while usage stays over the hard limit", () => {
  const first = run(HARD + 1, initialState(), T0);
  const second = run(HARD + 1, first.state, T0 + 1_000);
  assert.ok(!kinds(second).includes("hard_exceeded"));
  assert.equal(second.state.overHardSince, T0);
});

Deno.test("evaluate() repeats lock while state.locked is still false so a failed lock is retried", () => {
  const first = run(HARD + 1, initialState(), T0);
  const second = run(HARD + 1, first.state, T0 + 1_000);
  assert.deepEqual(kinds(second), ["lock"]);
  const third = run(HARD + 1, second.state, T0 + 2_000);
  assert.deepEqual(kinds(third), ["lock"]);
});

Deno.test("evaluate() locks only after hard_grace_period has elapsed", () => {
  const limit = limitOf({ hard_grace_period: 30 });
  const first = run(HARD + 1, initialState(), T0, limit);
  assert.deepEqual(kinds(first), ["soft_exceeded", "hard_exceeded"]);
  assert.equal(first.wakeAt, T0 + 30_000);

  const during = run(HARD + 1, first.state, T0 + 29_999, limit);
  assert.deepEqual(kinds(during), []);
  assert.equal(during.wakeAt, T0 + 30_000);

  const after = run(HARD + 1, during.state, T0 + 30_000, limit);
  assert.deepEqual(kinds(after), ["lock"]);
  assert.match(after.decisions[0]?.reason ?? "", /30 s/);
});

Deno.test("evaluate() restarts hard_grace_period when usage dips under the hard limit", () => {
  const limit = limitOf({ hard_grace_period: 30 });
  const first = run(HARD + 1, initialState(), T0, limit);
  const dip = run(HARD, first.state, T0 + 20_000, limit);
  assert.equal(dip.state.overHardSince, undefined);
  const again = run(HARD + 1, dip.state, T0 + 31_000, limit);
  assert.deepEqual(kinds(again), ["hard_exceeded"]);
  assert.equal(again.state.overHardSince, T0 + 31_000);
  assert.equal(again.wakeAt, T0 + 61_000);
});

Deno.test("evaluate() wakes at the earliest of the soft interval and the hard grace end", () => {
  const limit = limitOf({ hard_grace_period: 30 });
  const e = run(HARD + 1, initialState(), T0, limit, 10_000);
  assert.equal(e.wakeAt, T0 + 10_000);
});

Deno.test("evaluate() never locks a protected role but still reports it", () => {
  const limit = limitOf({}, "superuser");
  const first = run(HARD + 1, initialState(), T0, limit);
  assert.deepEqual(kinds(first), ["soft_exceeded", "hard_exceeded"]);
  const later = run(HARD + 1_000, first.state, T0 + 10 * HOUR_MS, limit);
  assert.ok(!kinds(later).includes("lock"));
  assert.deepEqual(kinds(later), ["soft_exceeded"]);
});

Deno.test("evaluate() never locks a protected role even after hard_grace_period", () => {
  const limit = limitOf({ hard_grace_period: 5 }, "listed in exempt_roles");
  const first = run(HARD + 1, initialState(), T0, limit);
  const later = run(HARD + 1, first.state, T0 + 6_000, limit);
  assert.ok(!kinds(first).includes("lock"));
  assert.ok(!kinds(later).includes("lock"));
});

Deno.test("evaluate() sends no soft warnings while the role is locked", () => {
  const e = run(SOFT + 1, lockedState(), T0);
  assert.ok(!kinds(e).includes("soft_exceeded"));
  const overHard = run(HARD + 1, lockedState({ overSoft: true, lastSoftWarningAt: 0 }), T0);
  assert.deepEqual(kinds(overHard), []);
});

Deno.test("evaluate() sends neither hard_exceeded nor lock for an already locked role", () => {
  const e = run(HARD + 1, lockedState(), T0);
  assert.deepEqual(kinds(e), []);
  assert.equal(e.state.overHardSince, undefined);
});

Deno.test("evaluate() unlocks at once when unlock_grace_period is zero", () => {
  const e = run(HARD, lockedState(), T0);
  assert.deepEqual(kinds(e), ["unlock"]);
});

Deno.test("evaluate() unlocks only after unlock_grace_period, waking at its end before", () => {
  const limit = limitOf({ unlock_grace_period: 60 });
  const first = run(HARD - 1, lockedState(), T0, limit);
  assert.deepEqual(kinds(first), []);
  assert.equal(first.state.belowHardSince, T0);
  assert.equal(first.wakeAt, T0 + 60_000);

  const during = run(HARD - 1, first.state, T0 + 59_999, limit);
  assert.deepEqual(kinds(during), []);
  assert.equal(during.wakeAt, T0 + 60_000);

  const after = run(HARD - 1, during.state, T0 + 60_000, limit);
  assert.deepEqual(kinds(after), ["unlock"]);
});

Deno.test("evaluate() repeats unlock while state.locked is still true", () => {
  const first = run(0, lockedState(), T0);
  const second = run(0, first.state, T0 + 1);
  assert.deepEqual(kinds(first), ["unlock"]);
  assert.deepEqual(kinds(second), ["unlock"]);
});

Deno.test("evaluate() resets belowHardSince when a locked role goes back over the hard limit", () => {
  const limit = limitOf({ unlock_grace_period: 60 });
  const below = run(HARD - 1, lockedState(), T0, limit);
  assert.equal(below.state.belowHardSince, T0);
  const over = run(HARD + 1, below.state, T0 + 30_000, limit);
  assert.equal(over.state.belowHardSince, undefined);
  assert.deepEqual(kinds(over), []);
  const belowAgain = run(HARD - 1, over.state, T0 + 61_000, limit);
  assert.deepEqual(kinds(belowAgain), []);
  assert.equal(belowAgain.state.belowHardSince, T0 + 61_000);
  assert.equal(belowAgain.wakeAt, T0 + 121_000);
});

Deno.test("evaluate() never auto-unlocks when the limit has manual_unlock", () => {
  const limit = limitOf({ manual_unlock: true });
  const first = run(0, lockedState(), T0, limit);
  const later = run(0, first.state, T0 + 100 * HOUR_MS, limit);
  assert.ok(!kinds(first).includes("unlock"));
  assert.ok(!kinds(later).includes("unlock"));
  assert.equal(later.wakeAt, undefined);
});

Deno.test("evaluate() never auto-unlocks a lockedManual state even without manual_unlock", () => {
  const state = lockedState({ lockedManual: true });
  const first = run(0, state, T0);
  const later = run(0, first.state, T0 + 100 * HOUR_MS);
  assert.ok(!kinds(first).includes("unlock"));
  assert.ok(!kinds(later).includes("unlock"));
});

Deno.test("evaluate() clears a soft warning for a locked role back under the soft limit", () => {
  const e = run(0, lockedState({ overSoft: true, lastSoftWarningAt: T0 }), T0 + 1);
  assert.deepEqual(kinds(e), ["soft_cleared", "unlock"]);
});

Deno.test("evaluate() clears overHardSince and belowHardSince in the states they do not apply", () => {
  const unlocked = run(0, { ...initialState(), belowHardSince: T0 }, T0 + 1);
  assert.equal(unlocked.state.belowHardSince, undefined);
  const locked = run(HARD + 1, lockedState({ overHardSince: T0 }), T0 + 1);
  assert.equal(locked.state.overHardSince, undefined);
});

Deno.test("statusOf() reports locked and locked_manual before looking at usage", () => {
  const limit = limitOf();
  assert.equal(statusOf(0, limit, lockedState()), "locked");
  assert.equal(statusOf(0, limit, lockedState({ lockedManual: true })), "locked_manual");
});

Deno.test("statusOf() uses strictly-greater comparisons for over_hard and over_soft", () => {
  const limit = limitOf();
  const s = initialState();
  assert.equal(statusOf(SOFT, limit, s), "ok");
  assert.equal(statusOf(SOFT + 1, limit, s), "over_soft");
  assert.equal(statusOf(HARD, limit, s), "over_soft");
  assert.equal(statusOf(HARD + 1, limit, s), "over_hard");
});

Deno.test("statusOf() says exempt for a protected role unless it is locked", () => {
  const limit = limitOf({}, "superuser");
  assert.equal(statusOf(HARD + 1, limit, initialState()), "exempt");
  assert.equal(statusOf(0, limit, initialState()), "exempt");
  assert.equal(statusOf(0, limit, lockedState()), "locked");
  assert.equal(statusOf(0, limit, lockedState({ lockedManual: true })), "locked_manual");
});
