/**
 * Detection beyond NOTIFY: a runaway transaction stopped before it commits (pg_locks watch), and
 * "poll" detection for clusters that allow no triggers.
 */
import assert from "node:assert/strict";
import { fill, fillUntilStopped, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;

Deno.test("a runaway INSERT ... SELECT is terminated before it commits, and nothing of it stays", async () => {
  await withFixture({}, async (f) => {
    const role = await f.limitedRole("runaway", { soft_limit: 4 * MiB, hard_limit: 8 * MiB });
    const d = await f.startDaemon();
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    // Bounded: if the daemon never stopped it, the statement would end by itself after 60 s.
    await sql.unsafe("SET statement_timeout = '60s'");
    const t0 = performance.now();
    const err = await sql.unsafe(
      `INSERT INTO t SELECT repeat(md5(g::text), 31) FROM (SELECT generate_series(1, 50000000) AS g) AS gs`,
    ).then(() => undefined, (e) => e);
    const elapsed = performance.now() - t0;
    assert.ok(err, "the runaway statement must fail");
    assert.match(
      String(err.message),
      /terminat|CONNECTION_CLOSED|CONNECTION_ENDED/i,
      String(err.message),
    );
    const locked = await d.waitForLog((l) => l.msg === "role locked" && l.role === role);
    console.log(
      `  stopped after ${elapsed.toFixed(0)} ms at ${
        (Number(locked.usage_bytes) / MiB).toFixed(1)
      } MiB (hard limit 8 MiB)`,
    );
    assert.equal(await f.canLogin(role), false);
    const [row] = await f.admin.unsafe(`SELECT count(*)::int AS n FROM "${role}".t`);
    assert.equal(row?.n, 0, "the transaction was rolled back");
  });
});

Deno.test("'poll' detection locks without any trigger on the role's tables", async () => {
  await withFixture({}, async (f) => {
    const role = await f.limitedRole("poll");
    // A trigger-mode daemon first: it attaches the trigger to the table created meanwhile.
    const first = await f.startDaemon();
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    const triggers = async () =>
      Number(
        (await f.admin.unsafe(
          "SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'postgres_monitor_notify'",
        ))[0]?.n,
      );
    assert.equal(await triggers(), 1);
    await first.stop();

    // PostgreSQL 14 backends may send their table counters only at their next transaction, and
    // 15+ hold them up to 10 s: the sweep bounds that, here at 5 s.
    await f.writeConfig(undefined, {
      ...f.monitor,
      detection: "poll",
      poll_interval_ms: 100,
      sweep_interval: 5,
    });
    const d = await f.startDaemon();
    assert.equal(await triggers(), 0, "poll mode removes the notify triggers");
    await fill(sql, "t", 1536);
    await d.waitForLog((l) => l.msg === "soft limit exceeded" && l.role === role);
    await fillUntilStopped(sql, "t", 1536);
    await f.waitLocked(role, 15_000);
    assert.equal(await triggers(), 0);
    // New tables get no trigger in poll mode either.
    await f.exec("CREATE TABLE %I.u (x int)", [role]);
    assert.equal(await triggers(), 0);
    await waitFor(() => d.lines.some((l) => l.msg === "role locked"));
  });
});
