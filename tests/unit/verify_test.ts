import assert from "node:assert/strict";
import { NotifyVerifier, type TupleCounters } from "../../lib/watch/verify.ts";

const c = (tuples: number, live = tuples): TupleCounters => ({ tuples, live });
const counters = (entries: [number, TupleCounters][]) => new Map(entries);

/** A verifier whose listener has been up since 0 and which has seen rounds at 10 s and 20 s. */
function warmed(): NotifyVerifier {
  const v = new NotifyVerifier({ slackMs: 5000 });
  v.connected(0);
  assert.deepEqual(
    v.moved(counters([[1, c(0)], [2, c(0)]]), 10_000, true),
    [],
    "first round: no base",
  );
  assert.deepEqual(v.moved(counters([[1, c(0)], [2, c(0)]]), 20_000, true), []);
  return v;
}

Deno.test("NotifyVerifier.moved() names the tables whose tuple counters changed", () => {
  const v = warmed();
  assert.deepEqual(v.moved(counters([[1, c(5)], [2, c(0)], [3, c(9)]]), 30_000, true), [1]);
});

Deno.test("NotifyVerifier.silenced() reports a table that grew without any notification, once per episode", () => {
  const v = warmed();
  v.moved(counters([[1, c(5)], [2, c(0)]]), 30_000, true);
  assert.deepEqual(v.silenced([{ relid: 1, before: 8192, after: 16384 }]), [1]);
  v.moved(counters([[1, c(9)], [2, c(0)]]), 40_000, true);
  assert.deepEqual(v.silenced([{ relid: 1, before: 16384, after: 32768 }]), [], "same episode");
  // A notification ends the episode; silence after it is a new one.
  v.notified(1, 41_000);
  v.moved(counters([[1, c(12)], [2, c(0)]]), 50_000, true);
  assert.deepEqual(v.silenced([{ relid: 1, before: 32768, after: 40960 }]), [], "notified lately");
  v.moved(counters([[1, c(15)], [2, c(0)]]), 60_000, true);
  assert.deepEqual(v.silenced([{ relid: 1, before: 40960, after: 49152 }]), [1]);
});

Deno.test("NotifyVerifier.silenced() accepts growth explained by a notification within the slack before the previous round", () => {
  const v = warmed();
  v.notified(1, 16_000); // the stats showed the notified write only after the round at 20 s
  v.moved(counters([[1, c(5)], [2, c(0)]]), 30_000, true);
  assert.deepEqual(v.silenced([{ relid: 1, before: 8192, after: 16384 }]), []);
});

Deno.test("NotifyVerifier.silenced() ignores unchanged sizes, rollbacks, unknown tables and unmoved tables", () => {
  const v = warmed();
  v.moved(counters([[1, c(5)], [2, c(3, 0)]]), 30_000, true);
  assert.deepEqual(
    v.silenced([
      { relid: 1, before: 8192, after: 8192 }, // the notified write was already measured
      { relid: 2, before: 8192, after: 16384 }, // a rolled-back INSERT: no live tuple gained
      { relid: 3, before: 8192, after: 16384 }, // counters did not move
    ]),
    [],
  );
  v.moved(counters([[1, c(9)], [2, c(3, 0)]]), 40_000, true);
  assert.deepEqual(v.silenced([{ relid: 1, before: undefined, after: 16384 }]), []);
});

Deno.test("NotifyVerifier.silenced() judges nothing across a LISTEN reconnect or before the database was re-measured", () => {
  const v = warmed();
  v.disconnected();
  v.connected(25_000);
  v.moved(counters([[1, c(5)], [2, c(0)]]), 30_000, true);
  assert.deepEqual(v.silenced([{ relid: 1, before: 8192, after: 16384 }]), [], "reconnected");
  v.moved(counters([[1, c(9)], [2, c(0)]]), 40_000, false);
  assert.deepEqual(v.silenced([{ relid: 1, before: 16384, after: 32768 }]), [], "not measured");
  v.moved(counters([[1, c(12)], [2, c(0)]]), 50_000, true);
  assert.deepEqual(v.silenced([{ relid: 1, before: 32768, after: 40960 }]), [1]);
  v.disconnected();
  v.moved(counters([[1, c(15)], [2, c(3)]]), 60_000, true);
  assert.deepEqual(v.silenced([{ relid: 2, before: 0, after: 8192 }]), [], "down now");
});

Deno.test("NotifyVerifier.baseline() makes the next round compare with the counters of a full measurement", () => {
  const v = new NotifyVerifier({ slackMs: 5000 });
  v.connected(0);
  v.baseline(counters([[1, c(0)]]), 10_000);
  assert.deepEqual(v.moved(counters([[1, c(7)]]), 11_000, true), [1]);
  assert.deepEqual(v.silenced([{ relid: 1, before: 0, after: 8192 }]), [1]);
});

Deno.test("NotifyVerifier.moved() leaves out tables notified since the previous round: they were measured then", () => {
  const v = warmed();
  v.notified(1, 25_000);
  v.notified(2, 19_000);
  assert.deepEqual(v.moved(counters([[1, c(5)], [2, c(5)]]), 30_000, true), [2]);
});
