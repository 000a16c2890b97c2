import assert from "node:assert/strict";
import { ownPlan } from "../../lib/evaluate/charges.ts";
import type { Decision } from "../../lib/evaluate/evaluator.ts";
import { Roles } from "../../lib/evaluate/roles.ts";
import type { Database } from "../../lib/watch/database.ts";
import { userLimit } from "../support/limits.ts";

const OID = 16_384;

/** Roles over one limited role with settable usage, one database, recorded decisions. */
function setup(options: { carryOut?: (d: Decision) => boolean } = {}) {
  const decided: Decision[] = [];
  const limits = new Map([[OID, userLimit(OID, "alice", 1_000, 2_000)]]);
  const db = { name: "app", measuredAt: 1 } as Database;
  const world = { usage: 0, db };
  const roles = new Roles({
    limits: () => limits,
    charges: () => ownPlan(limits.keys()),
    usage: () => world.usage,
    owned: () => new Set(["app"]),
    databases: () => new Map([["app", world.db]]),
    carryOut: (d) => {
      decided.push(d);
      const ok = options.carryOut?.(d) ?? true;
      // As lib/enforce/actions.ts does: the lock state is the carried-out lock's.
      if (ok && d.kind === "lock") roles.state(d.oid).locked = true;
      if (ok && d.kind === "unlock") roles.state(d.oid).locked = false;
      return Promise.resolve(ok);
    },
    pumpAlerts: () => Promise.resolve(),
    scheduleMetrics: () => {},
    detach: (_task, p) => void p.catch(() => {}),
    stopped: () => false,
  });
  roles.configure({ softWarningIntervalMs: 3_600_000 });
  return { roles, decided, world };
}

Deno.test("Roles.run() decides nothing until the lock table has been read", async () => {
  const { roles, decided, world } = setup();
  world.usage = 5_000;
  roles.touch(OID);
  await roles.run();
  assert.equal(decided.length, 0);
  roles.locksLoaded();
  await roles.run();
  assert.deepEqual(decided.map((d) => d.kind), ["soft_exceeded", "hard_exceeded", "lock"]);
  assert.equal(roles.state(OID).locked, true);
  roles.stop();
});

Deno.test("Roles.run() evaluates only dirty roles", async () => {
  const { roles, decided, world } = setup();
  roles.locksLoaded();
  world.usage = 5_000;
  await roles.run();
  assert.equal(decided.length, 0);
  roles.markDirty(OID, Date.now());
  await roles.run();
  assert.equal(decided.length, 3);
  roles.stop();
});

Deno.test("Roles.run() never unlocks on a partial view", async () => {
  const { roles, decided, world } = setup();
  roles.locksLoaded();
  world.usage = 5_000;
  roles.touch(OID);
  await roles.run();
  decided.length = 0;
  // Usage drops, but the database where the role owns things is not measured (reconnecting).
  world.usage = 0;
  world.db = { name: "app", measuredAt: 0 } as Database;
  roles.touch(OID);
  await roles.run();
  assert.deepEqual(decided.map((d) => d.kind), []);
  assert.equal(roles.state(OID).locked, true);
  world.db = { name: "app", measuredAt: 1 } as Database;
  roles.touch(OID);
  await roles.run();
  assert.deepEqual(decided.map((d) => d.kind), ["soft_cleared", "unlock"]);
  roles.stop();
});

Deno.test("Roles.run() keeps the state of a decision that could not be carried out", async () => {
  const { roles, decided, world } = setup({ carryOut: (d) => d.kind !== "soft_exceeded" });
  roles.locksLoaded();
  world.usage = 1_500;
  roles.touch(OID);
  await roles.run();
  assert.deepEqual(decided.map((d) => d.kind), ["soft_exceeded"]);
  // Not recorded: the warning is still owed, so the next evaluation decides it again.
  assert.equal(roles.state(OID).overSoft, false);
  roles.touch(OID);
  await roles.run();
  assert.deepEqual(decided.map((d) => d.kind), ["soft_exceeded", "soft_exceeded"]);
  roles.stop();
});

Deno.test("Roles.restoreSoftWarnings() keeps a restart from repeating a soft warning", async () => {
  const { roles, decided, world } = setup();
  roles.restoreSoftWarnings(
    new Map([
      [OID, { event: "soft_exceeded", at: new Date() }],
      [OID + 1, { event: "soft_cleared", at: new Date() }],
    ]),
  );
  assert.equal(roles.state(OID + 1).overSoft, false);
  roles.locksLoaded();
  world.usage = 1_500;
  roles.touch(OID);
  await roles.run();
  assert.equal(decided.length, 0);
  world.usage = 0;
  roles.touch(OID);
  await roles.run();
  assert.deepEqual(decided.map((d) => d.kind), ["soft_cleared"]);
  roles.stop();
});
