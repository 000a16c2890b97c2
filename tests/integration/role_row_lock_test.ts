/**
 * A tenant may change its own password. Inside an open transaction that holds its own pg_authid
 * row, so an `ALTER ROLE ... NOLOGIN` by anyone else waits for as long as the tenant likes: the lock
 * would never be applied while the tenant goes on writing in another session.
 */
import assert from "node:assert/strict";
import { fillUntilStopped, waitFor, withFixture } from "../_helpers.ts";

Deno.test("a tenant holding its own role row (ALTER ROLE ... PASSWORD in an open transaction) is locked all the same", async () => {
  await withFixture({}, async (f) => {
    const role = await f.limitedRole("rowlock");
    const d = await f.startDaemon();
    const holder = f.as(role);
    const [h] = await holder.unsafe("SELECT pg_backend_pid() AS pid");
    await holder.unsafe("BEGIN");
    await holder.unsafe(`ALTER ROLE "${role}" PASSWORD 'not-a-secret'`);
    const writer = f.as(role);
    await writer.unsafe("CREATE TABLE t (x text)");
    await fillUntilStopped(writer, "t", 3072);
    await f.waitLocked(role, 15_000);
    await waitFor(async () => (await f.sessions(role)) === 0, { what: "every session ended" });
    const [gone] = await f.admin.unsafe(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1",
      [h!.pid],
    );
    assert.equal(gone!.n, 0, "the holding session was ended");
    assert.deepEqual(
      (await f.events(role)).filter((e) => e === "locked"),
      ["locked"],
    );
    assert.equal(d.find("role locked", role).length, 1);
  });
});
