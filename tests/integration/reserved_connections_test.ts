/**
 * A tenant that opens every free connection would keep a (re)starting daemon out of the cluster.
 * PostgreSQL 16+ reserves `reserved_connections` slots for members of pg_use_reserved_connections,
 * which `install` grants to the monitoring role. The test runs a cluster of its own (those are
 * server-start settings); 14 and 15 have no such slots and it is ignored there.
 */
import assert from "node:assert/strict";
import { startCluster } from "../support/cluster.ts";
import { fillUntilStopped, type Sql, withFixture } from "../_helpers.ts";

const PG_MAJOR = Number(Deno.env.get("PG_VERSION") ?? "17");

Deno.test({
  name:
    "a tenant holding every free connection does not keep the daemon out (PostgreSQL 16+ only: reserved_connections)",
  ignore: PG_MAJOR < 16,
  async fn() {
    const cluster = await startCluster({
      version: String(PG_MAJOR),
      settings: {
        max_connections: 40,
        superuser_reserved_connections: 5,
        reserved_connections: 12,
      },
    });
    try {
      await withFixture({ url: cluster.url }, async (f) => {
        const role = await f.limitedRole("hog");
        const writer = f.as(role);
        await writer.unsafe("CREATE TABLE t (x text)");
        // The tenant takes every connection an ordinary role can have.
        const held: Sql[] = [];
        let refused = "";
        for (let i = 0; i < 40 && !refused; i++) {
          const c = f.as(role);
          try {
            await c.unsafe("SELECT 1");
            held.push(c);
          } catch (err) {
            refused = String((err as Error).message);
          }
        }
        assert.match(refused, /reserved/, "the tenant ran out of connections");
        const d = await f.startDaemon();
        await fillUntilStopped(writer, "t", 3072);
        await f.waitLocked(role);
        await d.waitForLog((l) => l.msg === "role locked" && l.role === role);
      });
    } finally {
      await cluster.stop();
    }
  },
});
