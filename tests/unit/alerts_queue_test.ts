import assert from "node:assert/strict";
import {
  type Alert,
  AlertQueue,
  AlertQueueError,
  JOURNAL_FILE,
} from "../../lib/report/alerts/mod.ts";
import { Logger } from "../../lib/report/log.ts";

function alert(key: string, extra: Partial<Alert> = {}): Alert {
  return {
    key,
    event: "soft_exceeded",
    role: `r"${key}`,
    usage_bytes: 10,
    soft_limit_bytes: 5,
    hard_limit_bytes: 20,
    at: "2024-05-01T12:00:00.000Z",
    host: "db1",
    actor: null,
    detail: {},
    dry_run: false,
    ...extra,
  };
}

function quietLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: new Logger("debug", (l) => lines.push(JSON.parse(l))), lines };
}

/** A temporary queue directory, removed on dispose. */
async function tempDir(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "alerts_queue_" });
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

const keys = (q: AlertQueue, ep?: string) => q.pending(ep).map((d) => d.alert.key);

async function journalLines(dir: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(`${dir}/${JOURNAL_FILE}`);
  assert.ok(text === "" || text.endsWith("\n"));
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("AlertQueue replays pending deliveries, outcomes and the mark after reopening", async () => {
  await using tmp = await tempDir();
  const { log } = quietLog();
  const q = await AlertQueue.open(tmp.dir, { log });
  const added = await q.add([
    { endpoint: "a", alert: alert("k1") },
    { endpoint: "b", alert: alert("k1") },
    { endpoint: "a", alert: alert("k2") },
    { endpoint: "a", alert: alert("k3") },
  ], 42);
  assert.equal(added.length, 4);
  await q.finish(added[0]!, "sent");
  await q.finish(added[2]!, "dropped");
  await q.close();

  const r = await AlertQueue.open(tmp.dir, { log });
  try {
    assert.deepEqual(keys(r, "a"), ["k3"]);
    assert.deepEqual(keys(r, "b"), ["k1"]);
    assert.equal(r.head("a")?.alert.key, "k3");
    assert.equal(r.head("a")?.alert.role, 'r"k3');
    assert.equal(r.getMark(), 42);
    assert.equal(r.status("a", "k1"), "sent");
    assert.equal(r.status("a", "k2"), "dropped");
    assert.equal(r.status("a", "k3"), "pending");
    assert.equal(r.status("b", "k2"), undefined);
    assert.deepEqual(r.endpoints().sort(), ["a", "b"]);
    assert.equal(r.size(), 2);
  } finally {
    await r.close();
  }
});

Deno.test("AlertQueue keeps per-endpoint FIFO order across reopening", async () => {
  await using tmp = await tempDir();
  const { log } = quietLog();
  const q = await AlertQueue.open(tmp.dir, { log });
  for (let i = 0; i < 20; i++) {
    await q.add([{ endpoint: i % 2 ? "odd" : "even", alert: alert(`k${i}`) }]);
  }
  await q.close();
  const r = await AlertQueue.open(tmp.dir, { log });
  try {
    assert.deepEqual(keys(r, "even"), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18].map((i) => `k${i}`));
    assert.deepEqual(keys(r, "odd"), [1, 3, 5, 7, 9, 11, 13, 15, 17, 19].map((i) => `k${i}`));
  } finally {
    await r.close();
  }
});

Deno.test("AlertQueue records are durable once add() resolves, without close()", async () => {
  await using tmp = await tempDir();
  await using copy = await tempDir();
  const { log } = quietLog();
  const q = await AlertQueue.open(tmp.dir, { log });
  try {
    const [d] = await q.add([{ endpoint: "a", alert: alert("k1") }, {
      endpoint: "a",
      alert: alert("k2"),
    }], 7);
    await q.finish(d!, "sent");
    // Copying the file now is what a crash leaves behind.
    await Deno.copyFile(`${tmp.dir}/${JOURNAL_FILE}`, `${copy.dir}/${JOURNAL_FILE}`);
  } finally {
    await q.close();
  }
  const r = await AlertQueue.open(copy.dir, { log });
  try {
    assert.deepEqual(keys(r), ["k2"]);
    assert.equal(r.getMark(), 7);
    assert.equal(r.status("a", "k1"), "sent");
  } finally {
    await r.close();
  }
});

Deno.test("AlertQueue ignores a torn last line and rewrites the journal without it", async () => {
  await using tmp = await tempDir();
  const { log, lines } = quietLog();
  const q = await AlertQueue.open(tmp.dir, { log });
  await q.add([{ endpoint: "a", alert: alert("k1") }, { endpoint: "a", alert: alert("k2") }], 3);
  await q.close();
  const path = `${tmp.dir}/${JOURNAL_FILE}`;
  const full = JSON.stringify({ t: "add", ep: "a", ts: 1, alert: alert("k3") });
  await Deno.writeTextFile(path, full.slice(0, full.length - 9), { append: true });

  const r = await AlertQueue.open(tmp.dir, { log });
  try {
    assert.deepEqual(keys(r), ["k1", "k2"]);
    assert.equal(r.getMark(), 3);
    assert.ok(lines.some((l) => l.msg === "alert journal: ignored a torn last line"));
    // Compaction on open removed the torn bytes, so the next append starts on a clean line.
    const records = await journalLines(tmp.dir);
    assert.equal(records.length, 3);
    await r.add([{ endpoint: "a", alert: alert("k4") }]);
  } finally {
    await r.close();
  }
  const again = await AlertQueue.open(tmp.dir, { log });
  try {
    assert.deepEqual(keys(again), ["k1", "k2", "k4"]);
  } finally {
    await again.close();
  }
});

Deno.test("AlertQueue skips unreadable lines in the middle with a warning", async () => {
  await using tmp = await tempDir();
  const { log, lines } = quietLog();
  const good = (k: string) => JSON.stringify({ t: "add", ep: "a", ts: 1, alert: alert(k) });
  await Deno.writeTextFile(
    `${tmp.dir}/${JOURNAL_FILE}`,
    [good("k1"), "{garbage", '{"t":"add","ep":"a"}', good("k2"), ""].join("\n"),
  );
  const q = await AlertQueue.open(tmp.dir, { log });
  try {
    assert.deepEqual(keys(q), ["k1", "k2"]);
    const warn = lines.find((l) => l.msg === "alert journal: skipped unreadable lines");
    assert.equal(warn?.lines, 2);
  } finally {
    await q.close();
  }
});

Deno.test("AlertQueue never queues the same key twice for one endpoint", async () => {
  await using tmp = await tempDir();
  const { log } = quietLog();
  const q = await AlertQueue.open(tmp.dir, { log });
  try {
    const first = await q.add([
      { endpoint: "a", alert: alert("k1") },
      { endpoint: "a", alert: alert("k1") },
      { endpoint: "b", alert: alert("k1") },
    ]);
    assert.deepEqual(first.map((d) => d.endpoint), ["a", "b"]);
    assert.equal((await q.add([{ endpoint: "a", alert: alert("k1") }])).length, 0);
    await q.finish(first[0]!, "sent");
    assert.equal((await q.add([{ endpoint: "a", alert: alert("k1") }])).length, 0);
    // Concurrent adds of one key: only one wins.
    const both = await Promise.all([
      q.add([{ endpoint: "a", alert: alert("k9") }]),
      q.add([{ endpoint: "a", alert: alert("k9") }]),
    ]);
    assert.equal(both[0].length + both[1].length, 1);
  } finally {
    await q.close();
  }
  const r = await AlertQueue.open(tmp.dir, { log });
  try {
    assert.equal((await r.add([{ endpoint: "a", alert: alert("k1") }])).length, 0);
    assert.equal((await r.add([{ endpoint: "b", alert: alert("k1") }])).length, 0);
    assert.equal((await r.add([{ endpoint: "c", alert: alert("k1") }])).length, 1);
  } finally {
    await r.close();
  }
});

Deno.test("AlertQueue compaction keeps pending deliveries, the mark and the dedup keys", async () => {
  await using tmp = await tempDir();
  const { log } = quietLog();
  const q = await AlertQueue.open(tmp.dir, { log, compactBytes: 4096, maxFinished: 50 });
  try {
    for (let i = 0; i < 200; i++) {
      const [d] = await q.add([{ endpoint: "a", alert: alert(`k${i}`) }], i);
      // Every fourth delivery stays pending.
      if (i % 4 !== 0) await q.finish(d!, i % 3 ? "sent" : "dropped");
    }
    const { size } = await Deno.stat(q.path);
    // Without compaction 200 adds and 150 dones would be far larger.
    assert.ok(size < 30_000, `journal is ${size} bytes`);
  } finally {
    await q.close();
  }
  const r = await AlertQueue.open(tmp.dir, { log, maxFinished: 50 });
  try {
    assert.deepEqual(keys(r, "a"), Array.from({ length: 50 }, (_, i) => `k${i * 4}`));
    assert.equal(r.getMark(), 199);
    // The last 50 finished keys are remembered, older ones forgotten.
    assert.equal(r.status("a", "k199"), "sent");
    assert.equal(r.status("a", "k198"), "dropped");
    assert.equal(r.status("a", "k1"), undefined);
    assert.equal((await r.add([{ endpoint: "a", alert: alert("k199") }])).length, 0);
    const records = await journalLines(tmp.dir);
    assert.equal(records.filter((x) => x.t === "done").length, 50);
    assert.equal(records.filter((x) => x.t === "add").length, 50);
    assert.equal(records.filter((x) => x.t === "mark").length, 1);
  } finally {
    await r.close();
  }
});

Deno.test("AlertQueue.compact() rewrites the journal to its live records", async () => {
  await using tmp = await tempDir();
  const { log } = quietLog();
  const q = await AlertQueue.open(tmp.dir, { log });
  try {
    const added = await q.add([
      { endpoint: "a", alert: alert("k1") },
      { endpoint: "a", alert: alert("k2") },
    ], 1);
    await q.setMark(2);
    await q.finish(added[0]!, "sent");
    assert.equal((await journalLines(tmp.dir)).length, 5);
    await q.compact();
    assert.deepEqual((await journalLines(tmp.dir)).map((x) => x.t), ["mark", "done", "add"]);
    assert.equal(q.getMark(), 2);
    await Deno.stat(q.path);
    await assert.rejects(() => Deno.stat(`${q.path}.tmp`), Deno.errors.NotFound);
  } finally {
    await q.close();
  }
});

Deno.test("AlertQueue.add() refuses after close and rejects a non-finite mark", async () => {
  await using tmp = await tempDir();
  const { log } = quietLog();
  const q = await AlertQueue.open(tmp.dir, { log });
  await assert.rejects(() => q.add([], Number.NaN), RangeError);
  await q.close();
  await assert.rejects(() => q.add([{ endpoint: "a", alert: alert("k") }]), AlertQueueError);
});

Deno.test("AlertQueue.open() fails with AlertQueueError when the directory is unusable", async () => {
  await using tmp = await tempDir();
  const file = `${tmp.dir}/plain`;
  await Deno.writeTextFile(file, "");
  await assert.rejects(
    () => AlertQueue.open(`${file}/sub`, { log: quietLog().log }),
    (err: Error) => err.name === "AlertQueueError" && err.message.includes(file),
  );
});

Deno.test("AlertQueue keeps at most maxPending per endpoint: the head, each role's newest lock change, the newest", async () => {
  await using tmp = await tempDir();
  const { log, lines } = quietLog();
  const q = await AlertQueue.open(tmp.dir, { log, maxPending: 5 });
  try {
    await q.add([{ endpoint: "a", alert: alert("event:1") }]);
    await q.add([{ endpoint: "a", alert: alert("event:2", { event: "locked", role: "x" }) }]);
    await q.add([{ endpoint: "a", alert: alert("event:3", { event: "locked", role: "y" }) }]);
    await q.add([{ endpoint: "a", alert: alert("event:4", { event: "unlocked", role: "y" }) }]);
    for (let i = 5; i <= 30; i++) await q.add([{ endpoint: "a", alert: alert(`event:${i}`) }]);
    await q.add([{ endpoint: "b", alert: alert("event:30") }]);
    // event:1 may be in flight; x's lock and y's unlock say which roles are locked now.
    assert.deepEqual(keys(q, "a"), ["event:1", "event:2", "event:4", "event:29", "event:30"]);
    assert.equal(q.overflowed("a"), 25);
    assert.equal(q.overflowed("b"), 0);
    assert.equal(q.status("a", "event:3"), "dropped");
    assert.equal(q.status("a", "event:5"), "dropped");
    assert.equal(q.oldestEventId("a"), 1);
    // Dropped keys are remembered: the same state change is not queued again.
    assert.deepEqual(await q.add([{ endpoint: "a", alert: alert("event:5") }]), []);
    const warned = lines.filter((l) => String(l.msg).startsWith("alert queue full"));
    assert.equal(warned.length, 1, "logged once a minute, not once per drop");
    assert.equal(warned[0]!.endpoint, "a");
  } finally {
    await q.close();
  }
});

Deno.test("AlertQueue applies its bound when it replays a journal written with a larger one", async () => {
  await using tmp = await tempDir();
  const { log } = quietLog();
  const q = await AlertQueue.open(tmp.dir, { log, maxPending: 1000 });
  await q.add(
    Array.from({ length: 50 }, (_, i) => ({ endpoint: "a", alert: alert(`event:${i}`) })),
  );
  await q.close();
  const r = await AlertQueue.open(tmp.dir, { log, maxPending: 10 });
  try {
    assert.equal(r.size("a"), 10);
    assert.deepEqual(keys(r, "a"), [
      "event:0",
      ...[41, 42, 43, 44, 45, 46, 47, 48, 49].map((i) => `event:${i}`),
    ]);
    assert.equal(r.overflowed("a"), 40);
    const adds = (await journalLines(tmp.dir)).filter((l) => l.t === "add");
    assert.equal(adds.length, 10, "the compacted journal holds the bounded queue");
  } finally {
    await r.close();
  }
});

Deno.test("AlertQueue.oldestEventId() follows finishes, drops and ids out of order", async () => {
  await using tmp = await tempDir();
  const { log } = quietLog();
  const q = await AlertQueue.open(tmp.dir, { log });
  try {
    const added = await q.add([
      { endpoint: "a", alert: alert("dry:1") },
      { endpoint: "a", alert: alert("event:10") },
      { endpoint: "a", alert: alert("event:11") },
    ]);
    assert.equal(q.oldestEventId("a"), 10);
    await q.finish(added[1]!, "sent");
    assert.equal(q.oldestEventId("a"), 11);
    // A lower id after a higher one (a takeover moved the mark back).
    await q.add([{ endpoint: "a", alert: alert("event:7") }]);
    assert.equal(q.oldestEventId("a"), 7);
    for (const d of q.pending("a")) await q.finish(d, "sent");
    assert.equal(q.oldestEventId("a"), undefined);
    assert.equal(q.oldestEventId("nobody"), undefined);
  } finally {
    await q.close();
  }
});
