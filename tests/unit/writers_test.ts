/** WriterStopper: throttling per database and role, and cancel-then-terminate escalation. */
import assert from "node:assert/strict";
import type { Sql } from "../../lib/db/connect.ts";
import {
  type CancelledXact,
  RESIST_MS,
  STOP_WRITERS_INTERVAL_MS,
  type StoppedWriter,
  WriterStopper,
} from "../../lib/enforce/writers.ts";

const sql = {} as Sql;

function writer(pid: number, xactUs: string, action = "cancelled"): StoppedWriter {
  return { pid, role: "w", relations: "s.t", xactUs, state: "active", action };
}

Deno.test("WriterStopper throttles per database and role unless forced", async () => {
  const calls: string[] = [];
  const stopper = new WriterStopper((_sql, owner) => {
    calls.push(String(owner));
    return Promise.resolve([]);
  });
  assert.deepEqual(await stopper.stop(sql, "db", 1, { now: 1000 }), []);
  assert.equal(
    await stopper.stop(sql, "db", 1, { now: 1000 + STOP_WRITERS_INTERVAL_MS - 1 }),
    undefined,
  );
  assert.deepEqual(await stopper.stop(sql, "db2", 1, { now: 1001 }), [], "another database");
  assert.deepEqual(await stopper.stop(sql, "db", 2, { now: 1001 }), [], "another role");
  assert.deepEqual(await stopper.stop(sql, "db", 1, { now: 1002, force: true }), [], "forced");
  assert.deepEqual(await stopper.stop(sql, "db", 1, { now: 1002 + STOP_WRITERS_INTERVAL_MS }), []);
  assert.deepEqual(calls, ["1", "1", "2", "1", "1"]);
});

Deno.test("WriterStopper never runs two calls for one pair at once", async () => {
  let release!: () => void;
  const stopper = new WriterStopper(() =>
    new Promise<StoppedWriter[]>((r) => release = () => r([]))
  );
  const first = stopper.stop(sql, "db", 1, { now: 0 });
  assert.equal(await stopper.stop(sql, "db", 1, { now: 10_000, force: true }), undefined);
  release();
  assert.deepEqual(await first, []);
});

Deno.test("WriterStopper terminates a cancelled transaction still writing, not a new one", async () => {
  const passed: CancelledXact[][] = [];
  let answer: StoppedWriter[] = [writer(7, "100")];
  const stopper = new WriterStopper((_sql, _owner, terminate) => {
    passed.push([...terminate]);
    return Promise.resolve(answer);
  });
  await stopper.stop(sql, "db", 1, { now: 0 });
  // Too soon after the cancel: not yet resisting.
  await stopper.stop(sql, "db", 1, { now: RESIST_MS - 1, force: true });
  await stopper.stop(sql, "db", 1, { now: RESIST_MS, force: true });
  assert.deepEqual(passed, [[], [], [{ pid: 7, xact_us: "100" }]]);
  // Terminated: forgotten. A new transaction of the same session is only cancelled.
  answer = [writer(7, "100", "terminated")];
  await stopper.stop(sql, "db", 1, { now: RESIST_MS + 1, force: true });
  answer = [writer(7, "200")];
  await stopper.stop(sql, "db", 1, { now: RESIST_MS + 2, force: true });
  await stopper.stop(sql, "db", 1, { now: RESIST_MS + 3, force: true });
  assert.deepEqual(passed.slice(3), [[{ pid: 7, xact_us: "100" }], [], []]);
  stopper.forget(1);
  await stopper.stop(sql, "db", 1, { now: 10 * RESIST_MS });
  assert.deepEqual(passed.at(-1), [], "forget() drops what was cancelled");
});
