import assert from "node:assert/strict";
import { evaluate, initialState, type RoleState } from "../../lib/evaluate/evaluator.ts";
import { keepUnsent } from "../../lib/evaluate/unsent.ts";
import { userLimit } from "../support/limits.ts";

const limit = userLimit(16_384, "alice", 100, 200);

function run(state: RoleState, usage: number, now: number) {
  return evaluate({ usage, limit, state, now, softWarningIntervalMs: 3_600_000 });
}

Deno.test("keepUnsent() makes the evaluator decide an unsent soft warning again, and only once", () => {
  const before = initialState();
  const first = run(before, 150, 1000);
  assert.deepEqual(first.decisions.map((d) => d.kind), ["soft_exceeded"]);
  const kept = keepUnsent(first.state, before, ["soft_exceeded"]);
  const retry = run(kept, 150, 2000);
  assert.deepEqual(retry.decisions.map((d) => d.kind), ["soft_exceeded"]);
  assert.deepEqual(run(retry.state, 150, 3000).decisions, []);
});

Deno.test("keepUnsent() repeats an unsent soft_cleared", () => {
  const before = run(initialState(), 150, 1000).state;
  const cleared = run(before, 50, 2000);
  assert.deepEqual(cleared.decisions.map((d) => d.kind), ["soft_cleared"]);
  const kept = keepUnsent(cleared.state, before, ["soft_cleared"]);
  assert.deepEqual(run(kept, 50, 3000).decisions.map((d) => d.kind), ["soft_cleared"]);
});

Deno.test("keepUnsent() keeps what the decisions that were carried out moved", () => {
  const before = initialState();
  const over = run(before, 300, 1000);
  assert.deepEqual(over.decisions.map((d) => d.kind), ["soft_exceeded", "hard_exceeded", "lock"]);
  // The soft warning was written, the hard one was not (so the lock after it was not tried).
  const kept = keepUnsent(over.state, before, ["hard_exceeded", "lock"]);
  assert.equal(kept.overSoft, true);
  assert.equal(kept.lastSoftWarningAt, 1000);
  assert.equal(kept.overHardSince, undefined);
  assert.deepEqual(run(kept, 300, 2000).decisions.map((d) => d.kind), ["hard_exceeded", "lock"]);
});

Deno.test("keepUnsent() with nothing unsent keeps the new state", () => {
  const before = initialState();
  const first = run(before, 150, 1000);
  assert.deepEqual(keepUnsent(first.state, before, []), first.state);
});
