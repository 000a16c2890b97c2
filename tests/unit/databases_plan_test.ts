import assert from "node:assert/strict";
import { UsageCache } from "../../lib/measure/usage_cache.ts";
import { applyPlan, type DatabaseState, planDatabases } from "../../lib/watch/databases.ts";

function db(name: string, extra: Partial<DatabaseState> = {}): DatabaseState {
  return {
    name,
    oid: 1,
    owner: 10,
    ownerName: "owner",
    ownerLimited: false,
    active: true,
    allowConnections: true,
    connectionLimit: -1,
    canConnect: true,
    otherSessions: 0,
    ...extra,
  };
}

Deno.test("planDatabases() gives no connection to a database where no limited role owns anything", () => {
  const plan = planDatabases([db("a"), db("b", { active: false })], {
    listed: null,
    cap: 10,
    current: new Set(),
  });
  assert.deepEqual(plan.watched, ["a"]);
  assert.equal(plan.idle, 1);
});

Deno.test("planDatabases() watches at most cap databases, those already watched first, the rest by sweeps", () => {
  const plan = planDatabases([db("a"), db("b"), db("c"), db("d")], {
    listed: null,
    cap: 2,
    current: new Set(["c"]),
  });
  assert.deepEqual(plan.watched, ["c", "a"]);
  assert.deepEqual(plan.sweepOnly, ["b", "d"]);
});

Deno.test("planDatabases() watches every listed database whatever the cap", () => {
  const plan = planDatabases([db("a", { active: false }), db("b")], {
    listed: ["a", "b"],
    cap: 0,
    current: new Set(),
  });
  assert.deepEqual(plan.watched, ["a", "b"]);
  assert.deepEqual(plan.sweepOnly, []);
});

Deno.test("planDatabases() judges from outside a database nobody can enter, and regrants a revoked CONNECT", () => {
  const plan = planDatabases([
    db("shut", { allowConnections: false }),
    db("full", { connectionLimit: 0 }),
    db("revoked", { canConnect: false }),
    db("busy", { connectionLimit: 6, otherSessions: 2 }),
    db("roomy", { connectionLimit: 6, otherSessions: 1 }),
  ], { listed: null, cap: 10, current: new Set() });
  assert.deepEqual(plan.unreachable.map((u) => [u.name, u.reason]), [
    ["shut", "ALLOW_CONNECTIONS is false"],
    ["full", "CONNECTION LIMIT is 0"],
    ["busy", "CONNECTION LIMIT 6 leaves no room for the monitoring role"],
  ]);
  assert.deepEqual(plan.regrant.map((d) => d.name), ["revoked"]);
  assert.deepEqual(plan.watched, ["revoked", "roomy"]);
});

Deno.test("applyPlan() charges an unreachable database's size to its limited owner and forgets idle ones", () => {
  const cache = new UsageCache();
  cache.replaceDatabase("shut", [{ relid: 5, owner: 10, bytes: 100 }]);
  cache.replaceDatabase("idle", [{ relid: 6, owner: 20, bytes: 50 }]);
  cache.replaceDatabase("other", [{ relid: 7, owner: 30, bytes: 70 }]);
  const plan = planDatabases([
    db("shut", { allowConnections: false }),
    db("other", { allowConnections: false, owner: 99 }),
    db("idle", { active: false }),
  ], { listed: null, cap: 10, current: new Set() });
  plan.unreachable[0]!.bytes = 8000;
  const changed = applyPlan(cache, plan);
  assert.deepEqual([...changed].sort(), [10, 20]);
  assert.equal(cache.usage(10), 8000);
  assert.equal(cache.usage(20), 0);
  // The owner of "other" is not limited: what limited roles own there keeps its last size.
  assert.equal(cache.usage(30), 70);
});
