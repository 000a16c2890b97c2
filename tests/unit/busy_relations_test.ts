import assert from "node:assert/strict";
import { busyReason, BusyRelations } from "../../lib/measure/busy_relations.ts";
import { measuredWhereOwned } from "../../lib/measure/role_databases.ts";

const t = { owner: 10, name: "s.t", byFiles: true };

Deno.test("BusyRelations reports a relation once per episode, after minMs", () => {
  const b = new BusyRelations();
  assert.deepEqual(b.sweep("db", new Map([[1, t]]), 0, 1000), []);
  assert.deepEqual(b.sweep("db", new Map([[1, t]]), 500, 1000), []);
  const [due] = b.sweep("db", new Map([[1, t]]), 1200, 1000);
  assert.equal(due?.relid, 1);
  assert.equal(due?.busyMs, 1200);
  assert.match(
    busyReason(due!, "db"),
    /table s\.t in database db .* for 1 s: charged what its files/,
  );
  assert.deepEqual(b.sweep("db", new Map([[1, t]]), 5000, 1000), [], "once per episode");
  // Not busy at a sweep: the episode ends; a new one is reported again.
  assert.deepEqual(b.sweep("db", new Map(), 6000, 1000), []);
  assert.equal(b.has("db", 1), false);
  assert.deepEqual(b.sweep("db", new Map([[1, t]]), 7000, 1000), []);
  assert.equal(b.sweep("db", new Map([[1, t]]), 8000, 1000).length, 1);
});

Deno.test("BusyRelations starts an episode when a notification measurement saw the lock first", () => {
  const b = new BusyRelations();
  b.seen("db", 1, 0);
  assert.equal(b.has("db", 1), true);
  assert.equal(b.sweep("db", new Map([[1, t]]), 1000, 1000).length, 1);
  b.clear("db", 1);
  assert.equal(b.has("db", 1), false);
});

Deno.test("measuredWhereOwned ignores databases where the role owns nothing", () => {
  const measured = (db: string) => db !== "blind";
  assert.equal(measuredWhereOwned(new Set(["a"]), ["a", "blind"], measured), true);
  assert.equal(measuredWhereOwned(new Set(["a", "blind"]), ["a", "blind"], measured), false);
  // Not known yet: every database counts.
  assert.equal(measuredWhereOwned(undefined, ["a", "blind"], measured), false);
  assert.equal(measuredWhereOwned(new Set(), [], measured), true, "owns nothing, nothing watched");
  assert.equal(
    measuredWhereOwned(undefined, [], measured),
    false,
    "not known yet, nothing watched",
  );
  assert.equal(measuredWhereOwned(new Set(), ["blind"], measured), true);
});
