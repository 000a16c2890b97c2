import assert from "node:assert/strict";
import { backoffMs } from "../../lib/backoff.ts";

Deno.test("backoffMs() doubles from 0.25 s and stops at 10 s by default", () => {
  const waits = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => backoffMs(n));
  assert.deepEqual(waits, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
});

Deno.test("backoffMs() takes its own base and cap", () => {
  assert.equal(backoffMs(0, { baseMs: 100, maxMs: 5000 }), 100);
  assert.equal(backoffMs(3, { baseMs: 100, maxMs: 5000 }), 800);
  assert.equal(backoffMs(9, { baseMs: 100, maxMs: 5000 }), 5000);
});

Deno.test("backoffMs() is finite for any number of retries, and a zero base stays zero", () => {
  assert.equal(backoffMs(1e9), 10_000);
  assert.equal(backoffMs(Number.MAX_SAFE_INTEGER, { baseMs: 1, maxMs: 7 }), 7);
  assert.equal(backoffMs(1e9, { baseMs: 0 }), 0);
  assert.equal(backoffMs(-3), 250);
});
