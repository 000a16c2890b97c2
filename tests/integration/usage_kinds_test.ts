/**
 * Usage is one number the operator can trust: `status --json` and the metrics break it down by
 * kind, and the parts are what PostgreSQL itself reports for the role's table, index and TOAST.
 *
 * @module
 */
import assert from "node:assert/strict";
import { USAGE_KINDS } from "../../lib/measure/usage_cache.ts";
import { waitFor, withFixture } from "../_helpers.ts";

const KINDS: readonly string[] = USAGE_KINDS;

Deno.test("status --json and the metrics break usage down into tables, indexes and TOAST", async () => {
  await withFixture({}, async (f) => {
    const role = await f.limitedRole("kinds", { soft_limit: "64MiB", hard_limit: "128MiB" });
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (id int PRIMARY KEY, body text)");
    // Incompressible 40 kB values go to TOAST; the primary key is an index.
    await sql.unsafe(
      `INSERT INTO t SELECT i, (SELECT string_agg(md5(i::text || j::text), '')
                                  FROM generate_series(1, 1250) j)
         FROM generate_series(1, 40) i`,
    );
    const [pg] = await f.admin.unsafe(
      `SELECT pg_total_relation_size(c.oid)::int8 AS total, pg_indexes_size(c.oid)::int8 AS idx,
              pg_total_relation_size(c.reltoastrelid)::int8 AS toast
         FROM pg_class c WHERE c.oid = format('%I.t', $1::text)::regclass`,
      [role],
    );
    const d = await f.startDaemon();
    await d.waitForLog((l) => l.msg === "sweep done");

    const st = JSON.parse((await f.cli(["status", "--json"])).stdout);
    const row = st.rows.find((r: { role: string }) => r.role === role);
    assert.deepEqual(Object.keys(row.usage_by_kind).sort(), [...KINDS].sort());
    const k = row.usage_by_kind;
    assert.equal(row.usage_bytes, Number(pg!.total));
    assert.equal(k.indexes, Number(pg!.idx));
    assert.equal(k.toast, Number(pg!.toast));
    assert.ok(k.toast > 1024 * 1024, `TOAST holds the 40 kB values: ${JSON.stringify(k)}`);
    assert.equal(k.tables, Number(pg!.total) - Number(pg!.idx) - Number(pg!.toast));
    assert.equal(KINDS.reduce((s, kind) => s + k[kind], 0), row.usage_bytes);

    // The daemon's metrics carry the same parts, one series per kind.
    const metric = async (kind: string) => {
      const text = await Deno.readTextFile(`${f.dir}/metrics/postgres_realtime_monitor.prom`);
      const line = text.split("\n").find((l) =>
        l.startsWith(`postgres_monitor_usage_bytes{user="${role}",kind="${kind}"} `)
      );
      return line === undefined ? -1 : Number(line.split(" ").pop());
    };
    await waitFor(async () => (await metric("toast")) === k.toast, { what: "toast metric" });
    assert.equal(await metric("indexes"), k.indexes);
    assert.equal(await metric("tables"), k.tables);
    assert.equal(await metric("large_objects"), 0);

    // A notification re-measures the table with its parts: a new index shows at once.
    await sql.unsafe("CREATE INDEX ON t (md5(body))");
    const [after] = await f.admin.unsafe(
      `SELECT pg_indexes_size(format('%I.t', $1::text)::regclass)::int8 AS idx`,
      [role],
    );
    await sql.unsafe("INSERT INTO t VALUES (1000, 'x')");
    await waitFor(async () => (await metric("indexes")) >= Number(after!.idx), {
      what: `indexes metric to reach ${after!.idx}`,
    });
  });
});
