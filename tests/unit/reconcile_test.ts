import assert from "node:assert/strict";
import type { Enforcer, LockRow } from "../../lib/enforce/enforcer.ts";
import { type ReconcileContext, reconcileLocks } from "../../lib/enforce/reconcile.ts";
import { initialState, type RoleState } from "../../lib/evaluate/evaluator.ts";
import { Logger } from "../../lib/report/log.ts";

function row(oid: number, fields: Partial<LockRow> = {}): LockRow {
  return {
    oid,
    name: `r${oid}`,
    locked_at: new Date(0),
    reason: "hard limit",
    usage_bytes: 0,
    manual_unlock: false,
    prior_canlogin: true,
    role_exists: true,
    can_login: false,
    sessions: 0,
    ...fields,
  };
}

/** A reconcile context over `locks`, recording what the enforcer was asked to do. */
function setup(locks: LockRow[], states: Map<number, RoleState> = new Map()) {
  const calls: string[] = [];
  const counts: Record<string, number> = {};
  const enforcer = {
    loadLocks: () => Promise.resolve(locks),
    unlock: (oid: number, _actor: string | null, reason: string) => {
      calls.push(`unlock ${oid}: ${reason}`);
      return Promise.resolve("unlocked");
    },
    terminate: (oid: number) => {
      calls.push(`terminate ${oid}`);
      return Promise.resolve(2);
    },
  } as unknown as Enforcer;
  const ctx: ReconcileContext = {
    enforcer,
    log: new Logger("error", () => {}),
    limits: new Map(),
    states,
    state: (oid) => {
      let s = states.get(oid);
      if (!s) states.set(oid, s = initialState());
      return s;
    },
    inflight: new Set(),
    lockVersion: new Map(),
    count: (action, n = 1) => counts[action] = (counts[action] ?? 0) + n,
  };
  return { ctx, calls, counts, states };
}

Deno.test("reconcileLocks() takes a lock row as the role's state and ends its sessions", async () => {
  const { ctx, calls, counts, states } = setup([row(1, { manual_unlock: true, sessions: 2 })]);
  await reconcileLocks(ctx);
  assert.deepEqual(states.get(1), { ...initialState(), locked: true, lockedManual: true });
  assert.deepEqual(calls, ["terminate 1"]);
  assert.equal(counts.sessions_terminated, 2);
});

Deno.test("reconcileLocks() forgets the lock of a dropped role", async () => {
  const { ctx, calls, states } = setup([row(1, { role_exists: false })]);
  await reconcileLocks(ctx);
  assert.deepEqual(calls, ["unlock 1: role was dropped"]);
  assert.equal(states.has(1), false);
});

Deno.test("reconcileLocks() ends the lock when LOGIN was restored by hand", async () => {
  const states = new Map([[1, { ...initialState(), locked: true, lockedManual: true }]]);
  const { ctx, calls } = setup([row(1, { can_login: true })], states);
  await reconcileLocks(ctx);
  assert.deepEqual(calls, ["unlock 1: LOGIN was restored outside the daemon"]);
  assert.equal(states.get(1)!.locked, false);
  assert.equal(states.get(1)!.lockedManual, false);
});

Deno.test("reconcileLocks() unlocks the state of a role whose lock row is gone", async () => {
  const states = new Map([[1, { ...initialState(), locked: true, belowHardSince: 5 }]]);
  const { ctx, calls } = setup([], states);
  await reconcileLocks(ctx);
  assert.deepEqual(calls, []);
  assert.equal(states.get(1)!.locked, false);
  assert.equal(states.get(1)!.belowHardSince, undefined);
});

Deno.test("reconcileLocks() leaves roles alone whose decision is in flight or newer", async (t) => {
  await t.step("in flight: neither the row nor the missing row changes the state", async () => {
    const states = new Map([[2, { ...initialState(), locked: true }]]);
    const { ctx, calls } = setup([row(1, { can_login: true, sessions: 3 })], states);
    ctx.inflight = new Set([1, 2]);
    await reconcileLocks(ctx);
    assert.deepEqual(calls, []);
    assert.equal(states.get(2)!.locked, true);
  });
  await t.step("locked or unlocked while the lock table was read", async () => {
    const states = new Map([[2, { ...initialState(), locked: true }]]);
    const { ctx, calls } = setup([row(1, { can_login: true })], states);
    const versions = new Map<number, number>();
    ctx.lockVersion = versions;
    ctx.enforcer = {
      loadLocks: () => {
        // A lock and an unlock carried out while the snapshot was being read.
        versions.set(1, 1);
        versions.set(2, 1);
        return Promise.resolve([row(1, { can_login: true })]);
      },
    } as unknown as Enforcer;
    await reconcileLocks(ctx);
    assert.deepEqual(calls, []);
    assert.equal(states.get(2)!.locked, true);
    assert.equal(states.has(1), false);
  });
});
