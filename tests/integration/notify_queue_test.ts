/**
 * Issue 11, case 8: the write path never fails because of the daemon. Any role may LISTEN and then
 * sit in an open transaction: the cluster's NOTIFY queue cannot be cleaned past it and fills up.
 * Once it is full, every transaction that queued a NOTIFY fails at COMMIT with "too many
 * notifications in the NOTIFY queue" (SQLSTATE 54000). Before the fix that was every write of
 * every limited role (the statement trigger notifies) and every CREATE INDEX / DROP TABLE on
 * their tables, a superuser's too (the event triggers notify). Now the triggers queue nothing
 * from half full on, the daemon reports the queue (metric, a warning per crossing, `status` with
 * the holding session) and enforces by its sweeps.
 *
 * Filling the queue needs max_notify_queue_pages (PostgreSQL 17+), so the test starts a cluster
 * of its own with the smallest queue (64 pages). On 14 to 16 the queue is a fixed 8 GB, which a
 * test cannot fill: ignored there.
 */
import assert from "node:assert/strict";
import { startCluster } from "../support/cluster.ts";
import {
  client,
  fill,
  fillUntilStopped,
  type Fixture,
  type Sql,
  waitFor,
  withFixture,
} from "../_helpers.ts";

const PG_MAJOR = Number(Deno.env.get("PG_VERSION") ?? "17");

/** The cluster-wide NOTIFY queue usage, 0 to 1. */
async function queueUsage(f: Fixture): Promise<number> {
  const [r] = await f.admin.unsafe("SELECT pg_notification_queue_usage()::float8 AS u");
  return Number(r?.u);
}

/** postgres_monitor_notify_queue_usage_ratio in the metrics file, or undefined. */
async function metricQueueUsage(f: Fixture): Promise<number | undefined> {
  const text = await Deno.readTextFile(`${f.dir}/metrics/postgres_realtime_monitor.prom`)
    .catch(() => "");
  const m = /^postgres_monitor_notify_queue_usage_ratio (\S+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Large payloads until a NOTIFY fails at COMMIT (bounded): true once the queue is full. */
async function fillQueue(flood: Sql): Promise<boolean> {
  for (let i = 0; i < 1000; i++) {
    try {
      await flood.unsafe("SELECT pg_notify('pgmon_flood', $1 || repeat('x', 7000))", [String(i)]);
    } catch (err) {
      if ((err as { code?: string }).code !== "54000") throw err;
      return true;
    }
  }
  return false;
}

/** Tables of `schema` that carry the notify trigger. */
async function watched(f: Fixture, schema: string): Promise<string[]> {
  const rows = await f.admin.unsafe(
    `SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE t.tgname = 'postgres_monitor_notify' AND n.nspname = $1 ORDER BY 1`,
    [schema],
  );
  return rows.map((r) => String(r.relname));
}

Deno.test({
  name:
    "a tenant pinning the NOTIFY queue until it is full fails no write and no DDL; the daemon reports the queue and its holder and still locks by sweeps (PostgreSQL 17+ only: 14-16 have no max_notify_queue_pages)",
  ignore: PG_MAJOR < 17,
  async fn() {
    const cluster = await startCluster({
      version: String(PG_MAJOR),
      settings: { max_notify_queue_pages: 64 },
    });
    try {
      await withFixture(
        { url: cluster.url, monitor: { sweep_interval: 1 } },
        async (f) => {
          const role = await f.limitedRole("q", { manual_unlock: true });
          const holderRole = await f.createRole(`qhold_${f.id}`);
          const d = await f.startDaemon();
          const writer = f.as(role);
          await writer.unsafe("CREATE TABLE t (x text)");
          await writer.unsafe("CREATE TABLE u (x text)");
          await waitFor(async () => (await watched(f, role)).length === 2, {
            what: "the notify trigger on both tables",
          });

          // The tenant: LISTEN on any channel, then an open transaction that never ends.
          const holder = f.as(holderRole);
          await holder.unsafe("LISTEN pgmon_any_channel");
          const release = Promise.withResolvers<void>();
          const began = Promise.withResolvers<number>();
          const holding = holder.begin(async (tx) => {
            const [r] = await tx.unsafe("SELECT pg_backend_pid() AS pid");
            began.resolve(Number(r!.pid));
            await release.promise;
          });
          holding.catch((err) => began.reject(err));
          const flood = client("postgres", undefined, 1, cluster.url);
          try {
            const holderPid = await began.promise;
            assert.ok(await fillQueue(flood), "the queue filled up");
            assert.ok((await queueUsage(f)) > 0.5, "queue usage over half");

            // Writes of the limited role commit, and DDL on its tables, its own and a superuser's.
            // Before the fix every one of these failed at COMMIT with "too many notifications in
            // the NOTIFY queue": the statement trigger or an event trigger had queued a NOTIFY.
            const steps: [string, () => Promise<unknown>][] = [
              ["INSERT", () => writer.unsafe("INSERT INTO t VALUES ('a')")],
              ["UPDATE in a new session", () => f.as(role).unsafe("UPDATE t SET x = 'b'")],
              ["CREATE INDEX", () => writer.unsafe("CREATE INDEX t_x ON t (x)")],
              ["DROP TABLE", () => writer.unsafe("DROP TABLE u")],
              ["superuser CREATE INDEX", () => f.exec("CREATE INDEX t_x2 ON %I.t (x)", [role])],
              ["superuser ALTER TABLE", () => f.exec("ALTER TABLE %I.t ADD y int", [role])],
            ];
            const failed: string[] = [];
            for (const [what, step] of steps) {
              await step().catch((err) => failed.push(`${what}: ${(err as Error).message}`));
            }
            assert.deepEqual(failed, []);

            // The daemon shows the usage, warns once, and names the holder.
            await waitFor(async () => ((await metricQueueUsage(f)) ?? 0) > 0.5, {
              what: "the queue usage in the metrics file",
            });
            const warned = await d.waitForLog((l) => l.msg.startsWith("NOTIFY queue is filling"), {
              what: "the queue warning",
            });
            assert.ok(Number(warned.usage) > 0.5);
            assert.equal(warned.limit, 0.5);
            const named = warned.oldest_transactions as { pid: number; user: string }[];
            assert.ok(named.some((t) => t.pid === holderPid && t.user === holderRole));

            const json = await f.cli(["status", "--json"]);
            assert.equal(json.code, 0, json.stderr);
            const q = JSON.parse(json.stdout).notify_queue;
            assert.ok(q.usage > 0.5, json.stdout);
            assert.equal(q.limit, 0.5);
            const held = q.oldest_transactions.find((t: { pid: number }) => t.pid === holderPid);
            assert.ok(held, json.stdout);
            assert.equal(held.user, holderRole);
            assert.equal(held.database, f.controlDb);
            assert.equal(held.state, "idle in transaction");
            assert.equal(held.application_name, "pgmon_test");
            assert.ok(held.xact_age_seconds >= 0);
            assert.equal("query" in held, false, "never the query text");
            const text = await f.cli(["status"]);
            assert.equal(text.code, 0, text.stderr);
            assert.match(text.stdout, /NOTIFY queue: \d+(\.\d)?% used/);
            assert.match(text.stdout, new RegExp(`^ +${holderPid} +${holderRole} `, "m"));

            // Over the hard limit with no notification at all: the sweep locks the role.
            await fillUntilStopped(writer, "t", 3072);
            await f.waitLocked(role, 15_000);
            assert.ok((await queueUsage(f)) > 0.5, "still full while the role was locked");
            const sweeps = d.lines.length;
            await waitFor(
              () => d.lines.slice(sweeps).filter((l) => l.msg === "sweep done").length >= 2,
              { what: "two more sweeps" },
            );
            assert.equal(d.find(warned.msg).length, 1, "one warning per crossing");

            // An administrator frees the space and unlocks: the command's announcement to the
            // daemon must not fail it (before, its NOTIFY failed after the unlock was done).
            await f.exec("DROP TABLE %I.t", [role]);
            const unlocked = await f.cli(["unlock", role]);
            assert.equal(unlocked.code, 0, unlocked.stderr + unlocked.stdout);
            assert.ok(await f.canLogin(role));
          } finally {
            release.resolve();
            await holding.catch(() => {});
            await flood.end({ timeout: 1 });
          }
          // The holder is gone: the queue drains and the daemon says notifications are back.
          await waitFor(async () => (await queueUsage(f)) < 0.5, {
            what: "the queue to drain",
          });
          await d.waitForLog((l) => l.msg.startsWith("NOTIFY queue is below its limit"), {
            what: "the all-clear",
          });
        },
      );
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test("only the monitoring role may list the oldest transactions, never with their query text; status is quiet about an empty queue", async () => {
  await withFixture({}, async (f) => {
    const tenant = await f.createRole(`qpeek_${f.id}`);
    const other = await f.createRole(`qother_${f.id}`);
    const release = Promise.withResolvers<void>();
    const began = Promise.withResolvers<number>();
    const holding = f.as(other).begin(async (tx) => {
      const [r] = await tx.unsafe("SELECT pg_backend_pid() AS pid");
      began.resolve(Number(r!.pid));
      await release.promise;
    });
    holding.catch((err) => began.reject(err));
    try {
      const pid = await began.promise;
      await assert.rejects(
        f.as(tenant).unsafe("SELECT * FROM postgres_monitor.oldest_transactions(5)"),
        /permission denied/,
      );
      const rows = await f.as(f.monitorRole).unsafe(
        "SELECT * FROM postgres_monitor.oldest_transactions(5)",
      );
      assert.deepEqual(rows.columns.map((c) => c.name), [
        "pid",
        "usename",
        "datname",
        "xact_start",
        "xact_age_seconds",
        "state",
        "application_name",
      ]);
      const row = rows.find((r) => Number(r.pid) === pid);
      assert.ok(row, "another role's open transaction is listed");
      assert.equal(row.usename, other);
    } finally {
      release.resolve();
      await holding.catch(() => {});
    }
    const json = await f.cli(["status", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const q = JSON.parse(json.stdout).notify_queue;
    assert.equal(q.usage, 0);
    assert.deepEqual(q.oldest_transactions, []);
    const text = await f.cli(["status"]);
    assert.doesNotMatch(text.stdout, /NOTIFY queue/);
  });
});

Deno.test({
  name:
    "writes unnotified because the NOTIFY queue is full are enforced by the counter check and not reported as tampering (PostgreSQL 17+ only)",
  ignore: PG_MAJOR < 17,
  async fn() {
    const cluster = await startCluster({
      version: String(PG_MAJOR),
      settings: { max_notify_queue_pages: 64 },
    });
    try {
      // No sweep for an hour, no watch of open transactions: only the statistics-counter check
      // can find the writes.
      await withFixture(
        {
          url: cluster.url,
          monitor: { sweep_interval: 3600, verify_interval_ms: 300, lock_poll_interval_ms: 0 },
        },
        async (f) => {
          const role = await f.limitedRole("qv");
          const holderRole = await f.createRole(`qvhold_${f.id}`);
          const d = await f.startDaemon();
          const writer = f.as(role);
          await writer.unsafe("CREATE TABLE t (x text)");
          await waitFor(async () => (await watched(f, role)).length === 1, {
            what: "the notify trigger",
          });
          // Known and measured before the queue fills (a table first seen later is not judged).
          await fill(writer, "t", 64);
          await waitFor(async () => (await f.metricUsage(role)) > 0, { what: "t measured" });
          const holder = f.as(holderRole);
          await holder.unsafe("LISTEN pgmon_any_channel");
          const release = Promise.withResolvers<void>();
          const holding = holder.begin(() => release.promise);
          const flood = client("postgres", undefined, 1, cluster.url);
          try {
            assert.ok(await fillQueue(flood), "the queue filled up");
            // Past the table's hot window (2 s) and the check's notification slack (5 s), so that
            // only the counter check can find the next write: time itself is the condition here.
            await new Promise((r) => setTimeout(r, 7500));
            await fillUntilStopped(writer, "t", 3072);
            await f.waitLocked(role, 30_000);
            assert.equal(d.find("table written without notifications").length, 0, d.dump());
            const [r] = await f.admin.unsafe(
              `SELECT count(*)::int AS n FROM postgres_monitor.event_log
                WHERE event = 'tamper' AND detail->>'reason' LIKE 'writes without notification%'`,
            );
            assert.equal(r!.n, 0);
          } finally {
            release.resolve();
            await holding.catch(() => {});
            await flood.end({ timeout: 1 });
          }
        },
      );
    } finally {
      await cluster.stop();
    }
  },
});
