import assert from "node:assert/strict";
import { parseOid, parsePayload } from "../../lib/watch/payload.ts";
import { PendingRelations } from "../../lib/watch/pending.ts";

Deno.test("parsePayload() reads a relation, a drop and a lock change", () => {
  assert.deepEqual(parsePayload("16384"), { kind: "relation", relid: 16384 });
  assert.deepEqual(parsePayload("c:locks"), { kind: "locks" });
  assert.deepEqual(parsePayload("c:text"), { kind: "catalog_text" });
  assert.deepEqual(parsePayload("c:text "), { kind: "ignored" });
});

Deno.test("parsePayload() turns a 'dropped' payload into a request to look, never a removal", () => {
  assert.deepEqual(parsePayload("d:16384"), { kind: "relation", relid: 16384 });
});

Deno.test("parsePayload() ignores anything that is not a canonical oid", () => {
  for (
    const p of [
      "",
      "0",
      "-1",
      "1e5",
      "0x10",
      " 12",
      "12 ",
      "012",
      "4294967296",
      "d:",
      "d:x",
      "c:other",
      "16384;",
    ]
  ) {
    assert.deepEqual(parsePayload(p), { kind: "ignored" }, p);
  }
  assert.equal(parseOid("4294967295"), 4294967295);
});

Deno.test("PendingRelations keeps every known relation and refuses unknown ones past its bound", () => {
  const p = new PendingRelations(2);
  assert.equal(p.add(1, false), true);
  assert.equal(p.add(2, false), true);
  assert.equal(p.add(3, false), false);
  assert.equal(p.add(2, false), true, "already waiting");
  for (let i = 10; i < 1000; i++) assert.equal(p.add(i, true), true);
  assert.equal(p.size, 992);
  assert.deepEqual([...p].slice(0, 2), [10, 11], "known first");
  assert.equal(p.isUnknown(1), true);
  p.add(1, true);
  assert.equal(p.isUnknown(1), false, "known once measured as a limited role's");
  p.delete(2);
  assert.equal(p.add(3, false), true, "room again");
});
