import assert from "node:assert/strict";
import { sumPerLogin } from "../../lib/watch/creating.ts";

Deno.test("relations being created are summed per login; empty ones are left out", () => {
  const m = sumPerLogin([
    { login: 10, bytes: 8192 },
    { login: 20, bytes: 0 },
    { login: 10, bytes: 1000 },
    { login: 30, bytes: 5 },
  ]);
  assert.deepEqual([...m], [[10, 9192], [30, 5]]);
  assert.equal(sumPerLogin([]).size, 0);
});
