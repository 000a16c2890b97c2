import assert from "node:assert/strict";
import { SpacedRuns } from "../../lib/watch/spaced.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("SpacedRuns folds a flood of requests into one run now and one trailing run", async () => {
  const starts: number[] = [];
  const runs = new SpacedRuns(200, (key) => {
    assert.equal(key, "db");
    starts.push(performance.now());
    return Promise.resolve();
  });
  try {
    for (let i = 0; i < 1000; i++) runs.request("db");
    await sleep(350);
    assert.equal(starts.length, 2);
    assert.ok(starts[1]! - starts[0]! >= 195, `${starts[1]! - starts[0]!} ms apart`);
  } finally {
    runs.stop();
  }
});

Deno.test("SpacedRuns spaces runs by ten times the last run's duration", async () => {
  const starts: number[] = [];
  const runs = new SpacedRuns(10, async () => {
    starts.push(performance.now());
    await sleep(40);
  });
  try {
    runs.request("db");
    await sleep(5);
    runs.request("db"); // during the run: one more, 400 ms after the first start
    await sleep(250);
    assert.equal(starts.length, 1);
    await sleep(300);
    assert.equal(starts.length, 2);
    assert.ok(starts[1]! - starts[0]! >= 395, `${starts[1]! - starts[0]!} ms apart`);
  } finally {
    runs.stop();
  }
});

Deno.test("SpacedRuns keeps keys apart and starts nothing after stop()", async () => {
  const seen: string[] = [];
  const runs = new SpacedRuns(1000, (key) => {
    seen.push(key);
    return Promise.resolve();
  });
  runs.request("a");
  runs.request("b");
  runs.request("a"); // trailing run of "a", cancelled by stop()
  runs.stop();
  runs.request("c");
  await sleep(20);
  assert.deepEqual(seen, ["a", "b"]);
});
