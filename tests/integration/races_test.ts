/**
 * Races found in review (issue 13): a warning whose event could not be written is retried, once;
 * a SIGHUP while the daemon still waits for PostgreSQL is applied once it runs, after its state is
 * restored.
 */
import assert from "node:assert/strict";
import { fill, type Fixture, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;

/** A webhook receiver on 127.0.0.1 that accepts everything and keeps the event names. */
function receiver() {
  const events: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json();
    events.push(String(body.type));
    return new Response("ok");
  });
  return {
    events,
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    close: () => server.shutdown(),
  };
}

/** Writes 64 KiB more as `role` and waits until the metrics show it: the role was evaluated again. */
async function evaluatedAgain(f: Fixture, role: string) {
  const before = await f.metricUsage(role);
  await fill(f.as(role), "t", 64);
  await waitFor(async () => (await f.metricUsage(role)) > before, {
    timeout: 15_000,
    what: "the role measured and evaluated again",
  });
}

Deno.test("a soft warning whose event cannot be written is retried until it is: one event, one alert", async () => {
  const rx = receiver();
  try {
    await withFixture({}, async (f) => {
      const role = await f.createRole(`unsent_${f.id}`, "LOGIN", { schema: true });
      await f.writeConfig([{ user: role, soft_limit: 1 * MiB, hard_limit: 64 * MiB }], {
        ...f.monitor,
        webhooks: [{ name: "ops", url: rx.url }],
      });
      const d = await f.startDaemon();
      const failed = () =>
        d.lines.filter((l) =>
          l.msg === "cannot carry out decision, will retry" && l.decision === "soft_exceeded"
        ).length;
      await f.exec("REVOKE INSERT ON postgres_monitor.event_log FROM %I", [f.monitorRole]);
      try {
        const sql = f.as(role);
        await sql.unsafe("CREATE TABLE t (x text)");
        await fill(sql, "t", 1536);
        await waitFor(() => failed() >= 2, {
          timeout: 15_000,
          what: "the warning tried again after its event could not be written",
        }).catch((err) => {
          throw new Error(`${err.message}\n--- daemon log ---\n${d.dump()}`);
        });
        assert.deepEqual(await f.events(role), []);
      } finally {
        await f.exec("GRANT INSERT ON postgres_monitor.event_log TO %I", [f.monitorRole]);
      }
      await waitFor(async () => (await f.events(role)).length > 0, {
        what: "the warning recorded once the event log takes it",
      });
      await waitFor(() => rx.events.length > 0, { timeout: 15_000, what: "the alert" });
      await evaluatedAgain(f, role);
      assert.deepEqual(await f.events(role), ["soft_exceeded"]);
      assert.deepEqual(rx.events, ["postgres_monitor.soft_exceeded"]);
      assert.equal(d.find("soft limit exceeded", role).length, 1, "logged once, when recorded");
    });
  } finally {
    await rx.close();
  }
});

Deno.test("SIGHUP while the daemon still waits for PostgreSQL: it keeps running, restores state before sweeping, then reloads", async () => {
  await withFixture({}, async (f) => {
    const role = await f.limitedRole("hup", { hard_limit: 64 * MiB });
    const first = await f.startDaemon();
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    await fill(sql, "t", 1536);
    await waitFor(async () => (await f.events(role)).length > 0, { what: "the soft warning" });
    assert.equal(await first.stop(), 0);

    // The monitoring role may hold one connection: the leader election gets it, the daemon's
    // control pool is refused, so start() waits with growing pauses.
    await f.exec("ALTER ROLE %I CONNECTION LIMIT 1", [f.monitorRole]);
    const d = await f.startDaemon([], false);
    try {
      await d.waitForLog((l) => l.msg === "leading: this daemon enforces", { timeout: 20_000 });
      // A pause of seconds ahead: PostgreSQL answers again and the SIGHUP lands inside it.
      await d.waitForLog(
        (l) =>
          l.msg === "control database unavailable" && Number(l.retry_ms) >= 4000 &&
          /too many connections/.test(String(l.error)),
        { timeout: 20_000, what: "start() waiting for the control database" },
      );
    } finally {
      await f.exec("ALTER ROLE %I CONNECTION LIMIT -1", [f.monitorRole]);
    }
    d.signal("SIGHUP");
    await d.waitForLog((l) => l.msg === "running", { timeout: 30_000 });
    await d.waitForLog((l) => l.msg === "configuration reloaded", { timeout: 15_000 });
    await evaluatedAgain(f, role);
    // Restored before any sweep: the role's outstanding warning is not repeated.
    assert.deepEqual(await f.events(role), ["soft_exceeded"]);
    const order = d.lines.map((l) => l.msg);
    assert.ok(
      order.indexOf("running") < order.indexOf("configuration reloaded"),
      "the reload is applied once the daemon runs",
    );
    assert.equal(d.exitCode, undefined, "still running");
    assert.equal(await d.stop(), 0, d.dump());
  });
});
