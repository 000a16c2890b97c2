/**
 * The postgres.js guard (lib/db/dense_results.ts) against a real server: a query that fails after
 * sending some rows must not leave holes in the next result on the same connection.
 */
import assert from "node:assert/strict";
import { connect, type ConnectionTarget, type Sql } from "../../lib/db/connect.ts";
import { measureRelations } from "../../lib/measure/catalog.ts";
import postgres from "postgres";
import { adminUrl, client, uid } from "../_helpers.ts";

/** Sends rows 1..3, then fails on row 4 (division by zero). */
const FAILS_MID_STREAM = "SELECT i, 1 / (4 - i) AS boom FROM generate_series(1, 10) AS i";
const FIVE_ROWS = "SELECT x FROM generate_series(1, 5) AS x";
const EXPECTED = [1, 2, 3, 4, 5].map((x) => ({ x }));

function target(): ConnectionTarget {
  const url = new URL(adminUrl());
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: url.password === "" ? undefined : decodeURIComponent(url.password),
    applicationName: "pgmon_test driver",
    connectTimeout: 10,
  };
}

async function withGuarded(fn: (sql: Sql) => Promise<void>, settings?: Record<string, string>) {
  const sql = connect(target(), "postgres", { max: 1, settings });
  try {
    await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

function assertDense(rows: readonly unknown[], expected: unknown[]) {
  assert.equal(0 in rows || rows.length === 0, true, `leading hole in ${Deno.inspect(rows)}`);
  assert.deepEqual([...rows], expected);
}

Deno.test("canary: unguarded postgres.js still leaves holes after a query fails mid-stream", async () => {
  // When this fails, postgres.js has fixed porsager/postgres#1181 and dense_results.ts can go.
  const sql = client("postgres", undefined, 1);
  try {
    await assert.rejects(sql.unsafe(FAILS_MID_STREAM), /division by zero/);
    const rows = await sql.unsafe(FIVE_ROWS);
    assert.equal(0 in rows, false, "the first row is a hole");
    assert.equal(rows.length, 8, "3 holes, then the 5 rows");
    assert.deepEqual(rows.slice(3), EXPECTED);
  } finally {
    await sql.end({ timeout: 1 });
  }
});

Deno.test("guarded client: the query after a mid-stream failure has no holes (unsafe, tagged, pipelined)", async () => {
  await withGuarded(async (sql) => {
    await assert.rejects(sql.unsafe(FAILS_MID_STREAM), /division by zero/);
    const after = await sql.unsafe(FIVE_ROWS);
    assertDense(after, EXPECTED);
    assert.equal(after.count, 5);

    await assert.rejects(sql`SELECT i, 1 / (4 - i) AS boom FROM generate_series(1, 10) AS i`);
    assertDense(await sql`SELECT x FROM generate_series(1, 5) AS x`, EXPECTED);

    // Pipelined: both sent before the first fails.
    const [failed, next] = await Promise.allSettled([
      sql.unsafe(FAILS_MID_STREAM),
      sql.unsafe(FIVE_ROWS),
    ]);
    assert.equal(failed.status, "rejected");
    assert.equal(next.status, "fulfilled");
    assertDense(next.value, EXPECTED);

    // An empty result and a one-row result after a failure.
    await assert.rejects(sql.unsafe(FAILS_MID_STREAM));
    assertDense(await sql.unsafe("SELECT 1 AS x WHERE false"), []);
    await assert.rejects(sql.unsafe(FAILS_MID_STREAM));
    const [row] = await sql.unsafe("SELECT 42 AS x");
    assert.deepEqual(row, { x: 42 });
  });
});

/** int8 and oid as numbers, as lib/db/connect.ts sets them, for an unguarded client. */
const NUMERIC_INT8 = {
  int8: { to: 20, from: [20, 26], serialize: String, parse: Number },
};

Deno.test("measureRelations after a lock_timeout on one table returns every row of the next call", async () => {
  const admin = client("postgres", undefined, 1);
  const schema = `drv_${uid()}`;
  const tables = ["a", "b", "c", "d"];
  try {
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    const oids: number[] = [];
    for (const t of tables) {
      await admin.unsafe(`CREATE TABLE ${schema}.${t} (x int)`);
      await admin.unsafe(`INSERT INTO ${schema}.${t} SELECT generate_series(1, 100)`);
      const [r] = await admin.unsafe("SELECT $1::regclass::oid::int8 AS oid", [`${schema}.${t}`]);
      oids.push(Number(r?.oid));
    }
    // The measuring query sends rows in hash order, so whether rows go out before it waits on the
    // locked table depends on which table is locked: lock each in turn.
    let holesUnguarded = 0;
    for (const [i, t] of tables.entries()) {
      const others = oids.filter((_, j) => j !== i);
      const locker = client("postgres", undefined, 1);
      const unguarded = postgres(adminUrl(), {
        max: 1,
        onnotice: () => {},
        connection: { lock_timeout: 100 },
        types: NUMERIC_INT8,
      }) as unknown as Sql;
      try {
        await locker.begin(async (tx) => {
          await tx.unsafe(`LOCK TABLE ${schema}.${t} IN ACCESS EXCLUSIVE MODE`);
          await assert.rejects(measureRelations(unguarded, oids), /lock timeout/);
          if (!(0 in await unguarded.unsafe(FIVE_ROWS))) holesUnguarded++;
          await withGuarded(async (sql) => {
            await assert.rejects(measureRelations(sql, oids), /lock timeout/);
            const rows = await measureRelations(sql, others);
            assert.ok(0 in rows, `leading hole in ${Deno.inspect(rows)}`);
            assert.deepEqual(
              rows.map((r) => r.relid).sort((x, y) => x - y),
              [...others].sort((x, y) => x - y),
            );
            for (const r of rows) assert.equal(r.exists, true);
          }, { lock_timeout: "100ms" });
        });
      } finally {
        await Promise.all([locker.end({ timeout: 1 }), unguarded.end({ timeout: 1 })]);
      }
    }
    // Shows the test reproduces the failure it guards against (a canary, like the first test).
    assert.ok(holesUnguarded > 0, "no lock position left holes in an unguarded client");
  } finally {
    await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end({ timeout: 1 });
  }
});
