/**
 * Faults survived, nothing lost: the LISTEN connection killed by the server, PostgreSQL restarted
 * (fast and immediate) and down when the daemon starts, the daemon SIGKILLed between NOLOGIN and
 * ending the sessions, and one role's table locked exclusively while another role must be locked.
 * The server-side faults use `pg_ctl` on the test's own cluster and are skipped (and say so) when
 * the suite runs against an external DATABASE_URL.
 */
import assert from "node:assert/strict";
import { fill, fillUntilStopped, type Fixture, waitFor, withFixture } from "../_helpers.ts";
import { AlertReceiver } from "../support/alert_receiver.ts";
import { pgCtl } from "../support/cluster.ts";

const MiB = 1024 * 1024;
const PG_BIN = Deno.env.get("PGMON_TEST_PG_BIN");
const PG_DATA = Deno.env.get("PGMON_TEST_PG_DATA");
/** The suite's own cluster, which these tests may stop and restart. */
const cluster = PG_BIN && PG_DATA ? { binDir: PG_BIN, dataDir: PG_DATA } : undefined;

/** Backends of the daemon's role in the control database with this application_name suffix. */
async function daemonBackends(f: Fixture, suffix = ""): Promise<number[]> {
  const rows = await f.admin.unsafe(
    `SELECT pid FROM pg_stat_activity
      WHERE usename = $1 AND datname = $2 AND application_name LIKE '%' || $3`,
    [f.monitorRole, f.controlDb, suffix],
  );
  return rows.map((r) => Number(r.pid));
}

/** Backends of the daemon stuck in the stalled terminate_sessions(). */
async function stalled(f: Fixture): Promise<number[]> {
  const rows = await f.admin.unsafe(
    `SELECT pid FROM pg_stat_activity
      WHERE usename = $1 AND state = 'active' AND query LIKE '%terminate_sessions%'`,
    [f.monitorRole],
  );
  return rows.map((r) => Number(r.pid));
}

/** Counts `event` rows for `role` in the event log. */
async function events(f: Fixture, role: string, event: string): Promise<number> {
  const [row] = await f.admin.unsafe(
    "SELECT count(*)::int AS n FROM postgres_monitor.event_log WHERE rolname = $1 AND event = $2",
    [role, event],
  );
  return Number(row!.n);
}

Deno.test("writes made while the LISTEN connection is down are not missed: reconnect, re-measure, lock", async () => {
  // No sweep for an hour and no watch of long transactions: only the reconnect's re-measure can
  // find the writes.
  await withFixture({ monitor: { sweep_interval: 3600, lock_poll_interval_ms: 0 } }, async (f) => {
    const role = await f.limitedRole("listenkill");
    const d = await f.startDaemon();
    const writer = f.as(role);
    // Keep the daemon from reconnecting while the role writes: new connections of its role are
    // refused, the ones it has stay up.
    await f.exec("ALTER ROLE %I CONNECTION LIMIT 0", [f.monitorRole]);
    try {
      const [listener] = await daemonBackends(f, " listen");
      assert.ok(listener, "the daemon's LISTEN backend");
      await f.admin.unsafe("SELECT pg_terminate_backend($1)", [listener]);
      await d.waitForLog((l) => l.msg === "listener disconnected", { what: "the disconnect" });
      // Over the hard limit, committed, while nobody listens: the notifications are lost.
      await writer.unsafe("CREATE TABLE t (x text)");
      await fill(writer, "t", 3072);
      await d.waitForLog(
        (l) => l.msg === "listener disconnected" && /too many connections/.test(String(l.reason)),
        { what: "a refused reconnect" },
      );
      assert.ok(await f.canLogin(role), "not locked while the daemon cannot see the writes");
    } finally {
      await f.exec("ALTER ROLE %I CONNECTION LIMIT -1", [f.monitorRole]);
    }
    await f.waitLocked(role, 15_000);
    const relistened = d.lines.filter((l) => l.msg === "listening").length;
    assert.ok(relistened >= 2, `listened again (${relistened} times in all)`);
    assert.equal(await events(f, role, "locked"), 1);
  });
});

for (const mode of ["fast", "immediate"] as const) {
  Deno.test({
    name: `PostgreSQL restarted (${mode} shutdown): the daemon reconnects and still locks`,
    ignore: !cluster,
    async fn() {
      await withFixture({ monitor: { sweep_interval: 3600 } }, async (f) => {
        const role = await f.limitedRole(`restart_${mode}`);
        const d = await f.startDaemon();
        await pgCtl(cluster!, ["restart", "-m", mode, "-w"]);
        // Whichever connection notices first: a LISTEN connection, or the leader's (the daemon
        // then stops enforcing, stands by and leads again, without a "listener disconnected").
        await d.waitForLog(
          (l) =>
            l.msg === "listener disconnected" ||
            l.msg === "lost the leader lock: enforcement stopped, standing by",
          { what: "the disconnect" },
        );
        await waitFor(
          () => d.lines.filter((l) => l.msg === "listening").length >= 2,
          { what: "LISTEN again after the restart", timeout: 20_000 },
        );
        await f.overHard(role);
        assert.equal(d.exitCode, undefined, "still running");
        assert.equal(await events(f, role, "locked"), 1);
      });
    },
  });
}

Deno.test({
  name: "PostgreSQL down when the daemon starts: it waits, says why, and converges when it is back",
  ignore: !cluster,
  async fn() {
    await withFixture({}, async (f) => {
      const role = await f.limitedRole("downatstart");
      // Over the hard limit before the daemon ever runs.
      const writer = f.as(role);
      await writer.unsafe("CREATE TABLE t (x text)");
      await fill(writer, "t", 3072);
      await writer.end();
      await pgCtl(cluster!, ["stop", "-m", "fast", "-w"]);
      let restarted = false;
      try {
        const d = await f.startDaemon([], false);
        const waits = () => d.find("control database unavailable");
        await waitFor(() => waits().length >= 3, { what: "three logged retries", timeout: 15_000 });
        assert.match(String(waits()[0]!.error), /ECONNREFUSED|connect|refused/i);
        assert.equal(d.exitCode, undefined, "waiting, not crashing");
        await pgCtl(cluster!, ["start", "-w"]);
        restarted = true;
        await d.waitForLog((l) => l.msg === "running", { what: "running", timeout: 30_000 });
        await f.waitLocked(role);
      } finally {
        if (!restarted) await pgCtl(cluster!, ["start", "-w"]);
      }
    });
  },
});

Deno.test("SIGKILL between NOLOGIN and ending the sessions: on restart the sessions go, the lock stays, one alert", async () => {
  const rx = new AlertReceiver();
  try {
    await withFixture({
      monitor: {
        sweep_interval: 1,
        webhooks: [{ name: "ops", url: rx.url("/hook") }],
      },
    }, async (f) => {
      const role = await f.limitedRole("killed");
      // Stall terminate_sessions: NOLOGIN commits, then the daemon hangs in the next call.
      await f.admin.unsafe(`
        ALTER FUNCTION postgres_monitor.terminate_sessions(oid)
          RENAME TO terminate_sessions_real`);
      await f.admin.unsafe(`
        CREATE FUNCTION postgres_monitor.terminate_sessions(oid) RETURNS integer
          LANGUAGE sql AS 'SELECT pg_sleep(3600)::text::int'`);
      await f.exec("GRANT EXECUTE ON FUNCTION postgres_monitor.terminate_sessions(oid) TO %I", [
        f.monitorRole,
      ]);
      const d1 = await f.startDaemon();
      const victim = f.as(role);
      await victim.unsafe("CREATE TABLE t (x text)");
      await fillUntilStopped(victim, "t", 3072);
      await waitFor(async () => !(await f.canLogin(role)), { what: "NOLOGIN" });
      await waitFor(async () => (await stalled(f)).length > 0, { what: "the stalled call" });
      d1.signal("SIGKILL");
      await d1.exited();
      // The role's session outlived the daemon.
      assert.ok(await f.sessions(role) > 0, "a session of the locked role is still there");
      // Put the real function back (the stalled backend is cancelled with it).
      for (const pid of await stalled(f)) {
        await f.admin.unsafe("SELECT pg_cancel_backend($1)", [pid]);
      }
      await f.admin.unsafe("DROP FUNCTION postgres_monitor.terminate_sessions(oid)");
      await f.admin.unsafe(`
        ALTER FUNCTION postgres_monitor.terminate_sessions_real(oid)
          RENAME TO terminate_sessions`);

      const d2 = await f.startDaemon();
      await waitFor(async () => await f.sessions(role) === 0, { what: "the sessions ended" })
        .catch((err) => {
          throw new Error(`${err.message}\n${d2.dump()}`);
        });
      // Ended by the restarted daemon (its lock reconciliation or its re-evaluation), not by us.
      assert.ok(d2.lines.some((l) => l.role === role), "the restarted daemon acted on the role");
      assert.ok(!(await f.canLogin(role)));
      const [lock] = await f.admin.unsafe(
        "SELECT count(*)::int AS n FROM postgres_monitor.role_lock WHERE rolname = $1",
        [role],
      );
      assert.equal(lock!.n, 1, "the lock is recorded");
      assert.equal(await events(f, role, "locked"), 1, "locked once, not again");
      await waitFor(() => rx.accepted.some((h) => h.type === "postgres_monitor.locked"), {
        what: "the lock alert",
      });
      // Two more sweeps: a duplicate, if the restart made one, has been sent by then.
      const sweeps = d2.find("sweep done").length;
      await waitFor(() => d2.find("sweep done").length >= sweeps + 2, { what: "two sweeps" });
      const locks = rx.accepted.filter((h) => h.type === "postgres_monitor.locked");
      assert.equal(locks.length, 1, JSON.stringify(rx.accepted));
    });
  } finally {
    await rx.close();
  }
});

Deno.test("one role's table held by ACCESS EXCLUSIVE (VACUUM FULL, ALTER TABLE) stalls neither the daemon nor another role's lock", async () => {
  await withFixture({ monitor: { sweep_interval: 1 } }, async (f) => {
    const busy = await f.createRole(`busy_${f.id}`, "LOGIN", { schema: true });
    const other = await f.createRole(`other_${f.id}`, "LOGIN", { schema: true });
    await f.writeConfig([
      { user: busy, soft_limit: MiB, hard_limit: 2 * MiB },
      { user: other, soft_limit: MiB, hard_limit: 2 * MiB },
    ]);
    const b = f.as(busy);
    await b.unsafe("CREATE TABLE t (x text)");
    await fill(b, "t", 128);
    const d = await f.startDaemon();
    // An open transaction holding ACCESS EXCLUSIVE on busy's table, as ALTER TABLE or VACUUM FULL
    // would for their whole run.
    const holder = await f.admin.reserve();
    try {
      await holder.unsafe("BEGIN");
      const [stmt] = await holder.unsafe(
        "SELECT format('LOCK TABLE %I.t IN ACCESS EXCLUSIVE MODE', $1::text) AS q",
        [busy],
      );
      await holder.unsafe(String(stmt!.q));
      const sweeps = d.find("sweep done").length;
      // overHard waits (bounded) for the lock.
      await f.overHard(other);
      // Sweeps keep completing while the lock is held.
      await waitFor(() => d.find("sweep done").length >= sweeps + 2, {
        what: "two sweeps during the lock",
        timeout: 20_000,
      }).catch((err) => {
        throw new Error(`${err.message}\n${d.dump()}`);
      });
    } finally {
      await holder.unsafe("ROLLBACK").catch(() => {});
      holder.release();
    }
    assert.ok(await f.canLogin(busy), "the busy role is not locked by a partial view");
  });
});
