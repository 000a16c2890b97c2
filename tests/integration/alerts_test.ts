/**
 * Alerts end to end: the daemon, a real PostgreSQL, and a real HTTP receiver on 127.0.0.1 that
 * fails, hangs, rate-limits and recovers; the daemon is killed mid-queue and restarted.
 */
import assert from "node:assert/strict";
import { fill, fillUntilStopped, type Fixture, waitFor, withFixture } from "../_helpers.ts";
import { AlertReceiver } from "../support/alert_receiver.ts";

const MiB = 1024 * 1024;
const SECRET = "whsec_" + btoa("0123456789abcdef0123456789abcdef");

async function eventsOf(f: Fixture, role: string): Promise<{ id: number; event: string }[]> {
  const rows = await f.admin.unsafe(
    "SELECT id::int8 AS id, event FROM postgres_monitor.event_log WHERE rolname = $1 ORDER BY id",
    [role],
  );
  return rows.map((r) => ({ id: Number(r.id), event: String(r.event) }));
}

Deno.test("every state change reaches Slack and a signed webhook, in order", async () => {
  const rx = new AlertReceiver({ secret: SECRET });
  try {
    await withFixture({}, async (f) => {
      const role = await f.createRole(`al_${f.id}`, "LOGIN", { schema: true });
      await f.writeConfig([{ user: role, soft_limit: 1 * MiB, hard_limit: 2 * MiB }], {
        ...f.monitor,
        slack_enabled: true,
        slack_webhook_url: rx.url("/slack"),
        webhooks: [{ name: "ops", url: rx.url("/hook"), secret: SECRET }],
      });
      const d = await f.startDaemon();
      await d.waitForLog((l) => l.msg === "alerts enabled");
      await f.crossEverything(role);

      const events = await eventsOf(f, role);
      assert.deepEqual(events.map((e) => e.event), [
        "soft_exceeded",
        "hard_exceeded",
        "locked",
        "sessions_terminated",
        "soft_cleared",
        "unlocked",
      ]);
      // Slack sends at most one message a second: six take about five seconds.
      await waitFor(() => rx.accepted.filter((r) => r.path === "/slack").length === events.length, {
        timeout: 20_000,
        what: "every alert on both endpoints",
      });
      const hooks = rx.accepted.filter((r) => r.path === "/hook");
      assert.deepEqual(
        hooks.map((h) => h.body.type),
        events.map((e) => `postgres_monitor.${e.event}`),
      );
      assert.ok(hooks.every((h) => h.signed), "every webhook carries a valid signature");
      const data = hooks[2]!.body.data as Record<string, unknown>;
      assert.equal(data.role, role);
      assert.equal(data.hard_limit_bytes, 2 * MiB);
      assert.ok(Number(data.usage_bytes) > 2 * MiB);
      const slack = rx.accepted.filter((r) => r.path === "/slack").map((r) => String(r.body.text));
      assert.ok(slack.every((t) => t.includes(role)), slack.join("\n"));
      assert.match(slack[2]!, /lock/i);
      // Nothing secret in the logs.
      assert.ok(!d.dump().includes(SECRET.slice(6)));
      assert.ok(!d.dump().includes(rx.url("/slack")));
      // Delivery counters reach the textfile within its 10 s refresh.
      await waitFor(
        async () =>
          /postgres_monitor_alerts_total\{endpoint="ops",outcome="sent"\} 6\n/.test(
            await Deno.readTextFile(`${f.dir}/metrics/postgres_realtime_monitor.prom`),
          ),
        { timeout: 15_000, what: "the sent counter in the textfile" },
      );
    });
  } finally {
    await rx.close();
  }
});

Deno.test("a failing, hanging, rate-limiting receiver and a killed daemon still get every alert exactly once, in order", async () => {
  const rx = new AlertReceiver({ secret: SECRET });
  rx.fallback = "fail";
  try {
    await withFixture({}, async (f) => {
      const role = await f.createRole(`kill_${f.id}`, "LOGIN", { schema: true });
      await f.writeConfig([{ user: role, soft_limit: 1 * MiB, hard_limit: 2 * MiB }], {
        ...f.monitor,
        webhooks: [{ name: "ops", url: rx.url("/hook"), secret: SECRET, timeout_ms: 300 }],
        alert_retry_base_ms: 50,
        alert_retry_max_ms: 400,
        circuit_breaker_failures: 3,
        circuit_breaker_cooldown_ms: 200,
      });
      const first = await f.startDaemon();
      const sql = f.as(role);
      await sql.unsafe("CREATE TABLE t (x text)");
      await fill(sql, "t", 1536);
      // The crossing write may be stopped before it commits (the daemon ends runaway writers).
      await fillUntilStopped(sql, "t", 1536);
      await f.waitLocked(role);
      // The receiver has been failing all along: the alerts wait in the queue.
      await waitFor(() => rx.attempts >= 3, { what: "failed delivery attempts" });
      assert.equal(rx.accepted.length, 0);
      first.signal("SIGKILL");
      await first.exited();

      // While the daemon is down the role's data goes away; the next daemon unlocks it.
      await f.exec("DROP TABLE %I.t", [role]);
      rx.script.push("hang", "429");
      rx.fallback = "ok";
      const second = await f.startDaemon();
      await waitFor(() => f.canLogin(role), { what: "the unlock by the second daemon" });
      const events = await eventsOf(f, role);
      await waitFor(() => rx.accepted.length >= events.length, {
        timeout: 20_000,
        what: "every alert delivered",
      });
      const ids = rx.accepted.map((r) => r.id);
      assert.equal(new Set(ids).size, ids.length, "no alert delivered twice");
      assert.deepEqual(
        rx.accepted.map((r) => (r.body.data as { detail: { event_id: number } }).detail.event_id),
        events.map((e) => e.id),
        "every event-log row once, in order",
      );
      assert.ok(rx.accepted.every((r) => r.signed));
      assert.equal(rx.script.length, 0, "the hang and the 429 were both served");
      const retried = second.lines.some((l) => /retry|Retry/.test(JSON.stringify(l)));
      assert.ok(retried || rx.attempts > rx.accepted.length + 2, "the failures were retried");
    });
  } finally {
    await rx.close();
  }
});
