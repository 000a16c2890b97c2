import assert from "node:assert/strict";
import { Coalesced } from "../../lib/coalesce.ts";

/** A task whose runs finish only when the test says so. */
function gatedTask() {
  const gates: PromiseWithResolvers<void>[] = [];
  let runs = 0;
  const task = () => {
    runs++;
    const gate = Promise.withResolvers<void>();
    gates.push(gate);
    return gate.promise;
  };
  /** Waits (a bounded number of microtask turns) until run `n` has started. */
  const started = async (n: number) => {
    for (let i = 0; gates.length < n; i++) {
      if (i > 1000) throw new Error(`run ${n} never started`);
      await Promise.resolve();
    }
  };
  /** Lets run `n` finish, once it has started. */
  const finish = async (n: number, error?: Error) => {
    await started(n);
    if (error) gates[n - 1]!.reject(error);
    else gates[n - 1]!.resolve();
  };
  return { task, started, finish, runs: () => runs };
}

Deno.test("Coalesced folds every call made during a run into one more run", async () => {
  const t = gatedTask();
  const c = new Coalesced(t.task);
  let settled = 0;
  const first = c.run().then(() => settled++);
  const during = [c.run(), c.run(), c.run()].map((p) => p.then(() => settled++));
  assert.equal(t.runs(), 1);
  await t.finish(1);
  await t.started(2);
  assert.equal(settled, 0, "nobody is answered before the run that covers their call");
  await t.finish(2);
  await Promise.all([first, ...during]);
  assert.equal(t.runs(), 2);
  assert.equal(settled, 4);
});

Deno.test("Coalesced runs once for a lone call, and again for a later one", async () => {
  const t = gatedTask();
  const c = new Coalesced(t.task);
  const one = c.run();
  await t.finish(1);
  await one;
  assert.equal(t.runs(), 1);
  const two = c.run();
  await t.finish(2);
  await two;
  assert.equal(t.runs(), 2);
});

Deno.test("Coalesced makes no extra run once stopped", async () => {
  const t = gatedTask();
  let stopped = false;
  const c = new Coalesced(t.task, () => stopped);
  const first = c.run();
  const second = c.run();
  stopped = true;
  await t.finish(1);
  await Promise.all([first, second]);
  assert.equal(t.runs(), 1);
});

Deno.test("Coalesced rejects every waiting caller when the task throws, and runs again after", async () => {
  const t = gatedTask();
  const c = new Coalesced(t.task);
  const a = c.run();
  const b = c.run();
  await t.finish(1, new Error("boom"));
  await assert.rejects(a, /boom/);
  await assert.rejects(b, /boom/);
  await c.idle();
  const next = c.run();
  await t.finish(2);
  await next;
  assert.equal(t.runs(), 2);
});

Deno.test("Coalesced.idle() waits for the run in progress and never rejects", async () => {
  const t = gatedTask();
  const c = new Coalesced(t.task);
  const run = c.run().catch(() => {});
  let idle = false;
  const waiting = c.idle().then(() => idle = true);
  await Promise.resolve();
  assert.equal(idle, false);
  await t.finish(1, new Error("boom"));
  await waiting;
  assert.equal(idle, true);
  await run;
  await c.idle();
});
