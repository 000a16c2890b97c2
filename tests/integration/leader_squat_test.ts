/**
 * A tenant squatting on the leader lock (an advisory lock any role may take in the control
 * database) would keep every daemon standing by, and so switch enforcement off for everyone.
 */
import assert from "node:assert/strict";
import { LEADER_LOCK_PARAMS } from "../../lib/leader.ts";
import { fillUntilStopped, waitFor, withFixture } from "../_helpers.ts";

Deno.test("a tenant holding the leader's advisory lock is evicted and the daemon leads and enforces", async () => {
  await withFixture({}, async (f) => {
    const role = await f.limitedRole("squatter");
    const squat = f.as(role);
    const [held] = await squat.unsafe(
      "SELECT pg_try_advisory_lock($1::int4, $2::int4) AS ok, pg_backend_pid() AS pid",
      LEADER_LOCK_PARAMS,
    );
    assert.equal(held!.ok, true, "the tenant took the lock first");
    const d = await f.startDaemon();
    // The squatter's session was ended, and that is on record (and alerted) as tampering.
    const [gone] = await f.admin.unsafe(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1",
      [held!.pid],
    );
    assert.equal(gone!.n, 0);
    const [ev] = await f.admin.unsafe(
      `SELECT detail->>'reason' AS reason FROM postgres_monitor.event_log
        WHERE event = 'tamper' AND rolname = $1`,
      [role],
    );
    assert.match(String(ev?.reason), /held the leader lock/);
    assert.equal(d.find("standing by: another daemon leads").length, 0);
    // And it enforces.
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    await fillUntilStopped(sql, "t", 3072);
    await f.waitLocked(role);
    await waitFor(async () => (await f.sessions(role)) === 0, {
      what: "the tenant's sessions ended",
    });
  });
});
