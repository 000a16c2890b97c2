import assert from "node:assert/strict";
import { UsageCache } from "../../lib/measure/usage_cache.ts";

const ALICE = 100;
const BOB = 200;

Deno.test("UsageCache reports zero usage for an unknown owner", () => {
  const cache = new UsageCache();
  assert.equal(cache.usage(ALICE), 0);
  assert.equal(cache.usageIn("db1", ALICE), 0);
  assert.deepEqual(cache.databases(), []);
  assert.equal(cache.ownerOf("db1", 1), undefined);
});

Deno.test("UsageCache totals an owner's relations across databases", () => {
  const cache = new UsageCache();
  cache.replaceDatabase("db1", [
    { relid: 1, owner: ALICE, bytes: 100 },
    { relid: 2, owner: ALICE, bytes: 20 },
    { relid: 3, owner: BOB, bytes: 7 },
  ]);
  cache.replaceDatabase("db2", [{ relid: 1, owner: ALICE, bytes: 3 }]);
  assert.equal(cache.usage(ALICE), 123);
  assert.equal(cache.usage(BOB), 7);
  assert.equal(cache.usageIn("db1", ALICE), 120);
  assert.equal(cache.usageIn("db2", ALICE), 3);
  assert.deepEqual(cache.databases().sort(), ["db1", "db2"]);
});

Deno.test("UsageCache keeps relations with the same relid in different databases apart", () => {
  const cache = new UsageCache();
  cache.update("db1", [{ relid: 42, owner: ALICE, bytes: 10 }]);
  cache.update("db2", [{ relid: 42, owner: BOB, bytes: 20 }]);
  assert.equal(cache.ownerOf("db1", 42), ALICE);
  assert.equal(cache.ownerOf("db2", 42), BOB);
  assert.equal(cache.usage(ALICE), 10);
  assert.equal(cache.usage(BOB), 20);
});

Deno.test("UsageCache.update() replaces the old size of a relation instead of adding to it", () => {
  const cache = new UsageCache();
  cache.update("db1", [{ relid: 1, owner: ALICE, bytes: 100 }]);
  const changed = cache.update("db1", [{ relid: 1, owner: ALICE, bytes: 250 }]);
  assert.equal(cache.usage(ALICE), 250);
  assert.deepEqual([...changed], [ALICE]);
});

Deno.test("UsageCache.update() moves the bytes of a relation whose owner changed", () => {
  const cache = new UsageCache();
  cache.update("db1", [{ relid: 1, owner: ALICE, bytes: 100 }]);
  const changed = cache.update("db1", [{ relid: 1, owner: BOB, bytes: 100 }]);
  assert.equal(cache.usage(ALICE), 0);
  assert.equal(cache.usage(BOB), 100);
  assert.equal(cache.ownerOf("db1", 1), BOB);
  assert.deepEqual([...changed].sort(), [ALICE, BOB]);
});

Deno.test("UsageCache.update() creates an unknown database", () => {
  const cache = new UsageCache();
  cache.update("fresh", [{ relid: 9, owner: ALICE, bytes: 5 }]);
  assert.deepEqual(cache.databases(), ["fresh"]);
  assert.equal(cache.usage(ALICE), 5);
});

Deno.test("UsageCache.update() does not report an owner whose new relation has zero bytes", () => {
  const cache = new UsageCache();
  const changed = cache.update("db1", [{ relid: 1, owner: ALICE, bytes: 0 }]);
  assert.equal(changed.size, 0);
  assert.equal(cache.ownerOf("db1", 1), ALICE);
});

Deno.test({
  name: "UsageCache.update() does not report an owner whose total did not change",
  fn() {
    const cache = new UsageCache();
    cache.update("db1", [{ relid: 1, owner: ALICE, bytes: 100 }]);
    const changed = cache.update("db1", [{ relid: 1, owner: ALICE, bytes: 100 }]);
    assert.equal(cache.usage(ALICE), 100);
    assert.deepEqual([...changed], []);
  },
});

Deno.test("UsageCache.remove() forgets relations and reports their owners", () => {
  const cache = new UsageCache();
  cache.replaceDatabase("db1", [
    { relid: 1, owner: ALICE, bytes: 100 },
    { relid: 2, owner: ALICE, bytes: 20 },
    { relid: 3, owner: BOB, bytes: 7 },
  ]);
  const changed = cache.remove("db1", [1, 3, 999]);
  assert.equal(cache.usage(ALICE), 20);
  assert.equal(cache.usage(BOB), 0);
  assert.equal(cache.ownerOf("db1", 1), undefined);
  assert.equal(cache.ownerOf("db1", 2), ALICE);
  assert.deepEqual([...changed].sort(), [ALICE, BOB]);
});

Deno.test("UsageCache.remove() on an unknown database changes nothing", () => {
  const cache = new UsageCache();
  cache.update("db1", [{ relid: 1, owner: ALICE, bytes: 100 }]);
  const changed = cache.remove("other", [1]);
  assert.equal(changed.size, 0);
  assert.equal(cache.usage(ALICE), 100);
  assert.deepEqual(cache.databases(), ["db1"]);
});

Deno.test("UsageCache.replaceDatabase() drops relations missing from the new measurement", () => {
  const cache = new UsageCache();
  cache.replaceDatabase("db1", [
    { relid: 1, owner: ALICE, bytes: 100 },
    { relid: 2, owner: BOB, bytes: 50 },
  ]);
  const changed = cache.replaceDatabase("db1", [{ relid: 1, owner: ALICE, bytes: 110 }]);
  assert.equal(cache.usage(ALICE), 110);
  assert.equal(cache.usage(BOB), 0);
  assert.equal(cache.ownerOf("db1", 2), undefined);
  assert.ok(changed.has(ALICE));
  assert.ok(changed.has(BOB));
});

Deno.test("UsageCache.replaceDatabase() keeps the previous size of relations in keep", () => {
  const cache = new UsageCache();
  cache.replaceDatabase("db1", [
    { relid: 1, owner: ALICE, bytes: 100 },
    { relid: 2, owner: BOB, bytes: 50 },
  ]);
  cache.replaceDatabase("db1", [{ relid: 1, owner: ALICE, bytes: 110 }], new Set([2]));
  assert.equal(cache.usage(ALICE), 110);
  assert.equal(cache.usage(BOB), 50);
  assert.equal(cache.ownerOf("db1", 2), BOB);
});

Deno.test("UsageCache.replaceDatabase() prefers a fresh row over a kept old one", () => {
  const cache = new UsageCache();
  cache.replaceDatabase("db1", [{ relid: 1, owner: ALICE, bytes: 100 }]);
  cache.replaceDatabase("db1", [{ relid: 1, owner: ALICE, bytes: 300 }], new Set([1]));
  assert.equal(cache.usage(ALICE), 300);
});

Deno.test("UsageCache.replaceDatabase() ignores keep entries it never measured", () => {
  const cache = new UsageCache();
  cache.replaceDatabase("db1", [{ relid: 1, owner: ALICE, bytes: 100 }], new Set([77]));
  assert.equal(cache.ownerOf("db1", 77), undefined);
  assert.equal(cache.usage(ALICE), 100);
});

Deno.test("UsageCache.replaceDatabase() leaves other databases alone", () => {
  const cache = new UsageCache();
  cache.replaceDatabase("db1", [{ relid: 1, owner: ALICE, bytes: 100 }]);
  cache.replaceDatabase("db2", [{ relid: 1, owner: ALICE, bytes: 1 }]);
  cache.replaceDatabase("db2", []);
  assert.equal(cache.usage(ALICE), 100);
  assert.equal(cache.usageIn("db1", ALICE), 100);
});

Deno.test("UsageCache.replaceDatabase() reports owners that gained or lost bytes", () => {
  const cache = new UsageCache();
  const first = cache.replaceDatabase("db1", [
    { relid: 1, owner: ALICE, bytes: 100 },
    { relid: 2, owner: BOB, bytes: 50 },
  ]);
  assert.deepEqual([...first].sort(), [ALICE, BOB]);
  const second = cache.replaceDatabase("db1", [{ relid: 2, owner: BOB, bytes: 60 }]);
  assert.deepEqual([...second].sort(), [ALICE, BOB]);
});

Deno.test({
  name: "UsageCache.replaceDatabase() does not report owners whose total is unchanged",
  fn() {
    const cache = new UsageCache();
    const rows = [
      { relid: 1, owner: ALICE, bytes: 100 },
      { relid: 2, owner: BOB, bytes: 50 },
    ];
    cache.replaceDatabase("db1", rows);
    const changed = cache.replaceDatabase("db1", [
      { relid: 1, owner: ALICE, bytes: 100 },
      { relid: 2, owner: BOB, bytes: 60 },
    ]);
    assert.deepEqual([...changed], [BOB]);
  },
});

Deno.test("UsageCache.dropDatabase() forgets a database and subtracts its bytes", () => {
  const cache = new UsageCache();
  cache.replaceDatabase("db1", [
    { relid: 1, owner: ALICE, bytes: 100 },
    { relid: 2, owner: BOB, bytes: 50 },
  ]);
  cache.replaceDatabase("db2", [{ relid: 1, owner: ALICE, bytes: 5 }]);
  const changed = cache.dropDatabase("db1");
  assert.deepEqual(cache.databases(), ["db2"]);
  assert.equal(cache.usage(ALICE), 5);
  assert.equal(cache.usage(BOB), 0);
  assert.equal(cache.ownerOf("db1", 1), undefined);
  assert.deepEqual([...changed].sort(), [ALICE, BOB]);
});

Deno.test("UsageCache.dropDatabase() of an unknown database reports nothing", () => {
  const cache = new UsageCache();
  cache.update("db1", [{ relid: 1, owner: ALICE, bytes: 100 }]);
  assert.equal(cache.dropDatabase("nope").size, 0);
  assert.deepEqual(cache.databases(), ["db1"]);
  assert.equal(cache.usage(ALICE), 100);
});

Deno.test("UsageCache breaks usage down by kind: relations' parts and per-owner sources", () => {
  const cache = new UsageCache();
  cache.replaceDatabase("db1", [{ relid: 1, owner: ALICE, bytes: 100, indexes: 30, toast: 20 }]);
  assert.deepEqual(
    cache.setSource("large_objects", new Map([[ALICE, 7]]), "db1"),
    new Set([ALICE]),
  );
  assert.deepEqual(
    cache.setSource("temp_files", new Map([[ALICE, 5], [BOB, 1]])),
    new Set([ALICE, BOB]),
  );
  assert.equal(cache.usage(ALICE), 112);
  assert.equal(cache.usageIn("db1", ALICE), 107);
  const b = cache.breakdown(ALICE);
  assert.deepEqual(
    [b.tables, b.indexes, b.toast, b.large_objects, b.temp_files, b.catalog_text],
    [50, 30, 20, 7, 5, 0],
  );
  // The same source again changes nothing; a smaller one moves the total.
  assert.deepEqual(cache.setSource("large_objects", new Map([[ALICE, 7]]), "db1"), new Set());
  assert.deepEqual(
    cache.setSource("large_objects", new Map([[ALICE, 2]]), "db1"),
    new Set([ALICE]),
  );
  assert.equal(cache.usage(ALICE), 107);
  // Dropping the database forgets its relations and its sources, not the cluster's.
  assert.deepEqual(cache.dropDatabase("db1"), new Set([ALICE]));
  assert.equal(cache.usage(ALICE), 5);
  assert.deepEqual(cache.databases(), []);
  assert.equal(cache.breakdown(ALICE).temp_files, 5);
  // A relation's parts follow it when it is measured again without an index.
  cache.update("db2", [{ relid: 9, owner: BOB, bytes: 10, indexes: 4 }]);
  cache.update("db2", [{ relid: 9, owner: BOB, bytes: 10 }]);
  assert.deepEqual([cache.breakdown(BOB).tables, cache.breakdown(BOB).indexes], [10, 0]);
});
