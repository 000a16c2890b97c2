/**
 * Issue 12, case 5: a write through a partitioned table fires the parent's statement trigger only,
 * and the parent has no storage of its own: its partitions (and sub-partitions) must be measured.
 */
import { withFixture } from "../_helpers.ts";

Deno.test("a write through a partitioned parent re-measures its partitions and sub-partitions at once", async () => {
  // No sweep for an hour, no pg_locks watch, no counter check: only the parent's notification.
  const monitor = { sweep_interval: 3600, lock_poll_interval_ms: 0, verify_interval_ms: 0 };
  await withFixture({ monitor }, async (f) => {
    const role = await f.limitedRole("parted");
    const d = await f.startDaemon();
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE p (k int, x text) PARTITION BY RANGE (k)");
    await sql.unsafe("CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100)");
    await sql.unsafe(
      "CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (100) TO (MAXVALUE) PARTITION BY RANGE (k)",
    );
    await sql.unsafe("CREATE TABLE p2a PARTITION OF p2 FOR VALUES FROM (100) TO (MAXVALUE)");
    await d.waitForLog((l) => l.msg === "listening");
    // 3 MiB of 1 kB rows through the parent, into p1 (k < 100) and the sub-partition p2a. The
    // daemon may end the session before or after the commit; either is fine here.
    await sql.unsafe(
      `INSERT INTO p SELECT g % 200, md5(g::text) || repeat(md5(random()::text), 30)
         FROM generate_series(1, 3072) g`,
    ).catch((err) => {
      if (!["CONNECTION_CLOSED", "57P01"].includes((err as { code?: string }).code ?? "")) {
        throw err;
      }
    });
    await f.waitLocked(role, 10_000);
  });
});
