import assert from "node:assert/strict";
import {
  escapeLabel,
  type MetricsSnapshot,
  renderMetrics,
  writeTextfile,
} from "../../lib/report/metrics.ts";

function snapshot(extra: Partial<MetricsSnapshot> = {}): MetricsSnapshot {
  return {
    roles: [
      { role: "zoe", usage: 300, soft: 1_000, hard: 2_000, locked: false },
      { role: "alice", usage: 2_500, soft: 1_000, hard: 2_000, locked: true },
      { role: "bob", usage: 10, soft: 50, hard: 60, locked: false },
    ],
    actions: { unlock: 1, lock: 2, soft_exceeded: 5 },
    notifications: 42,
    lastSweepSeconds: 0.25,
    lastSweepTimestamp: 1_700_000_000,
    version: "1.2.3",
    ...extra,
  };
}

/** Sample lines: name, optional label set (quoted values may hold any escaped text), value. */
const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (\S+)$/;

function samples(text: string): { name: string; labels: string; value: string }[] {
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((line) => {
    const m = SAMPLE_RE.exec(line);
    assert.ok(m, `not a valid sample line (or it has a timestamp): ${JSON.stringify(line)}`);
    return { name: m[1] ?? "", labels: m[2] ?? "", value: m[3] ?? "" };
  });
}

Deno.test("escapeLabel() escapes backslashes, double quotes and newlines", () => {
  assert.equal(escapeLabel('a"b'), 'a\\"b');
  assert.equal(escapeLabel("a\\b"), "a\\\\b");
  assert.equal(escapeLabel("a\nb"), "a\\nb");
});

Deno.test("escapeLabel() escapes a backslash before a quote without double escaping", () => {
  assert.equal(escapeLabel('\\"'), '\\\\\\"');
  assert.equal(escapeLabel("\\n"), "\\\\n");
});

Deno.test("escapeLabel() leaves ordinary text, spaces and non-ASCII alone", () => {
  assert.equal(escapeLabel("plain name é 1"), "plain name é 1");
});

Deno.test("renderMetrics() keeps the legacy usage metric name and user label", () => {
  const text = renderMetrics(snapshot());
  assert.ok(text.includes('postgres_user_storage_usage_bytes{user="alice"} 2500\n'));
  assert.ok(text.includes('postgres_user_storage_usage_bytes{user="zoe"} 300\n'));
});

Deno.test("renderMetrics() writes limits and the lock flag per role", () => {
  const text = renderMetrics(snapshot());
  assert.ok(text.includes('postgres_monitor_soft_limit_bytes{user="bob"} 50\n'));
  assert.ok(text.includes('postgres_monitor_hard_limit_bytes{user="bob"} 60\n'));
  assert.ok(text.includes('postgres_monitor_role_locked{user="alice"} 1\n'));
  assert.ok(text.includes('postgres_monitor_role_locked{user="bob"} 0\n'));
});

Deno.test("renderMetrics() writes counters, sweep gauges and build info", () => {
  const text = renderMetrics(snapshot());
  assert.ok(text.includes('postgres_monitor_actions_total{action="lock"} 2\n'));
  assert.ok(text.includes("postgres_monitor_notifications_total 42\n"));
  assert.ok(text.includes("postgres_monitor_last_sweep_duration_seconds 0.25\n"));
  assert.ok(text.includes("postgres_monitor_last_sweep_timestamp_seconds 1700000000\n"));
  assert.ok(text.includes('postgres_monitor_build_info{version="1.2.3"} 1\n'));
});

Deno.test("renderMetrics() escapes role names in labels", () => {
  const text = renderMetrics(snapshot({
    roles: [{ role: 'we"ird\\na\nme', usage: 1, soft: 2, hard: 3, locked: false }],
  }));
  assert.ok(text.includes('postgres_user_storage_usage_bytes{user="we\\"ird\\\\na\\nme"} 1\n'));
  // The raw newline must not split the sample over two lines.
  assert.equal(
    samples(text).filter((s) => s.name === "postgres_user_storage_usage_bytes").length,
    1,
  );
});

Deno.test("renderMetrics() writes the NOTIFY queue usage and limit once they were read", () => {
  const text = renderMetrics(snapshot({ notifyQueue: { usage: 0.625, limit: 0.5 } }));
  assert.ok(text.includes("# TYPE postgres_monitor_notify_queue_usage_ratio gauge\n"));
  assert.ok(text.includes("postgres_monitor_notify_queue_usage_ratio 0.625\n"));
  assert.ok(text.includes("# TYPE postgres_monitor_notify_queue_limit_ratio gauge\n"));
  assert.ok(text.includes("postgres_monitor_notify_queue_limit_ratio 0.5\n"));
  // Not read yet (or unreadable): no sample that would look like an empty queue.
  assert.ok(!renderMetrics(snapshot()).includes("notify_queue"));
});

Deno.test("renderMetrics() sorts roles and actions", () => {
  const text = renderMetrics(snapshot());
  const users = samples(text)
    .filter((s) => s.name === "postgres_user_storage_usage_bytes")
    .map((s) => s.labels);
  assert.deepEqual(users, ['{user="alice"}', '{user="bob"}', '{user="zoe"}']);
  const actions = samples(text)
    .filter((s) => s.name === "postgres_monitor_actions_total")
    .map((s) => s.labels);
  assert.deepEqual(actions, [
    '{action="lock"}',
    '{action="soft_exceeded"}',
    '{action="unlock"}',
  ]);
});

Deno.test("renderMetrics() output does not depend on the input order", () => {
  const a = snapshot();
  const b = snapshot({ roles: [...a.roles].reverse() });
  assert.equal(renderMetrics(a), renderMetrics(b));
});

Deno.test("renderMetrics() gives every family HELP and TYPE before its samples", () => {
  const lines = renderMetrics(snapshot({ notifyQueue: { usage: 0, limit: 0.5 } })).split("\n");
  const help = new Map<string, number>();
  const type = new Map<string, string>();
  lines.forEach((line, i) => {
    const h = /^# HELP (\S+) \S/.exec(line);
    if (h?.[1]) {
      assert.ok(!help.has(h[1]), `duplicate HELP for ${h[1]}`);
      help.set(h[1], i);
    }
    const t = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
    if (t?.[1] && t[2]) {
      assert.ok(!type.has(t[1]), `duplicate TYPE for ${t[1]}`);
      type.set(t[1], t[2]);
    }
  });
  const names = new Set(samples(lines.join("\n")).map((s) => s.name));
  assert.ok(names.size >= 9);
  for (const name of names) {
    assert.ok(help.has(name), `no HELP for ${name}`);
    assert.ok(type.has(name), `no TYPE for ${name}`);
  }
  assert.deepEqual([...help.keys()].sort(), [...type.keys()].sort());
  for (const [name, kind] of type) {
    if (name.endsWith("_total")) assert.equal(kind, "counter", name);
  }
});

Deno.test("renderMetrics() writes no timestamps and ends with one newline", () => {
  const text = renderMetrics(snapshot());
  assert.ok(text.endsWith("\n"));
  assert.ok(!text.endsWith("\n\n"));
  for (const s of samples(text)) assert.ok(Number.isFinite(Number(s.value)), s.value);
});

Deno.test("renderMetrics() still declares per-role families when there are no roles", () => {
  const text = renderMetrics(snapshot({ roles: [], actions: {} }));
  assert.ok(text.includes("# TYPE postgres_user_storage_usage_bytes gauge\n"));
  assert.ok(text.includes("# TYPE postgres_monitor_actions_total counter\n"));
  assert.ok(!text.includes("{user="));
});

Deno.test("writeTextfile() writes the file and leaves no temp file behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/metrics.prom`;
    await writeTextfile(path, "first\n");
    await writeTextfile(path, "second\n");
    assert.equal(await Deno.readTextFile(path), "second\n");
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["metrics.prom"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeTextfile() creates the file readable by node_exporter (mode 0644)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/metrics.prom`;
    await writeTextfile(path, "x\n");
    const mode = (await Deno.stat(path)).mode;
    assert.ok(mode !== null);
    // The umask may remove bits but never adds any.
    assert.equal(mode & 0o777 & ~0o644, 0);
    assert.ok((mode & 0o400) !== 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeTextfile() removes its temp file and rethrows when the rename fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A non-empty directory at the target path makes the rename fail.
    const path = `${dir}/metrics.prom`;
    await Deno.mkdir(path);
    await Deno.writeTextFile(`${path}/keep`, "");
    await assert.rejects(writeTextfile(path, "x\n"));
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["metrics.prom"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeTextfile() keeps the textfile world-readable under the unit's UMask=0027", async () => {
  const dir = await Deno.makeTempDir();
  const old = Deno.umask(0o027);
  try {
    const path = `${dir}/metrics.prom`;
    await writeTextfile(path, "x\n");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o644);
  } finally {
    Deno.umask(old);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("renderMetrics() gives one usage series per role and kind, with the role's name escaped", () => {
  const text = renderMetrics(snapshot({
    roles: [{
      role: 'we"ird',
      usage: 30,
      soft: 50,
      hard: 60,
      locked: false,
      kinds: { tables: 10, indexes: 5, large_objects: 15 },
    }],
  }));
  const lines = samples(text).filter((s) => s.name === "postgres_monitor_usage_bytes");
  assert.deepEqual(lines.map((s) => `${s.labels} ${s.value}`), [
    '{user="we\\"ird",kind="tables"} 10',
    '{user="we\\"ird",kind="indexes"} 5',
    '{user="we\\"ird",kind="large_objects"} 15',
  ]);
  assert.equal(lines.reduce((sum, s) => sum + Number(s.value), 0), 30);
  assert.match(text, /# TYPE postgres_monitor_usage_bytes gauge/);
});

Deno.test("writeTextfile() called many times at once writes the latest text and no temp file is left", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/metrics.prom`;
    const texts = Array.from({ length: 200 }, (_, i) => `call ${i}\n`.repeat(2000));
    const results = await Promise.allSettled(texts.map((t) => writeTextfile(path, t)));
    assert.deepEqual(results.filter((r) => r.status === "rejected"), []);
    assert.equal(await Deno.readTextFile(path), texts.at(-1));
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["metrics.prom"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("renderMetrics() counts deliveries dropped from a full alert queue as outcome overflow", () => {
  const text = renderMetrics(snapshot({
    alerts: [{
      endpoint: "ops",
      queued: 10_000,
      sent: 1,
      retried: 7,
      dropped: 0,
      overflowed: 25,
      circuitOpen: true,
    }],
  }));
  assert.ok(text.includes('postgres_monitor_alerts_total{endpoint="ops",outcome="overflow"} 25\n'));
  assert.ok(text.includes('postgres_monitor_alerts_total{endpoint="ops",outcome="dropped"} 0\n'));
});
