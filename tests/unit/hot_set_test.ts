import assert from "node:assert/strict";
import { HOT_WINDOW_MS, HotSet } from "../../lib/watch/hot_set.ts";

const T0 = 1_700_000_000_000;

Deno.test("HotSet keeps a touched relation hot for HOT_WINDOW_MS, then forgets it", () => {
  const hot = new HotSet();
  hot.touch(1, T0);
  assert.deepEqual(hot.live(T0), [1]);
  assert.deepEqual(hot.live(T0 + HOT_WINDOW_MS), [1], "the window's last millisecond is hot");
  assert.deepEqual(hot.live(T0 + HOT_WINDOW_MS + 1), []);
  assert.equal(hot.size, 0, "expired relations are forgotten");
});

Deno.test("HotSet: a relation touched again stays hot from its latest change", () => {
  const hot = new HotSet();
  hot.touch(1, T0);
  hot.touch(2, T0);
  hot.touch(1, T0 + 1500);
  assert.deepEqual(hot.live(T0 + HOT_WINDOW_MS + 1), [1]);
  assert.deepEqual(hot.live(T0 + 1500 + HOT_WINDOW_MS + 1), []);
});
