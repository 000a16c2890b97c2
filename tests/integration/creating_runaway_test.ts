/**
 * Issue 12, case 6: a runaway that creates its relation. CREATE TABLE AS, SELECT INTO, CREATE
 * INDEX, REFRESH MATERIALIZED VIEW and CREATE TABLE + INSERT in one open transaction write into a
 * relation whose pg_class row no other session sees; the runaway watch charges its files to the
 * login (kind "uncommitted") and the role is locked, its session ended and the transaction rolled
 * back, with no sweep and no notification (sweep_interval 3600 s).
 */
import assert from "node:assert/strict";
import { type Fixture, type Sql, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;
const LONG_SWEEP = { sweep_interval: 3600 };

/** Incompressible rows of about 1 kB, up to 10 million (10 GB) unless stopped. */
const ROWS_1K =
  "SELECT md5(g::text || random()::text) || repeat(md5(random()::text), 30) AS x FROM (SELECT generate_series(1, 10000000) AS g) AS gs";

/** postgres_monitor_usage_bytes{user,kind} in the daemon's metrics file (0 when absent). */
async function kindBytes(f: Fixture, role: string, kind: string): Promise<number> {
  const text = await Deno.readTextFile(`${f.dir}/metrics/postgres_realtime_monitor.prom`)
    .catch(() => "");
  const line = text.split("\n").find((l) =>
    l.startsWith(`postgres_monitor_usage_bytes{user="${role}",kind="${kind}"} `)
  );
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

/**
 * Runs `statements` in one transaction as `sql`, then waits in it (pg_sleep) as a transaction
 * that is still open; returns the index of the statement the session was ended in
 * (statements.length: in the wait after them) and the error. Bounded by statement_timeout.
 */
async function runUntilStopped(
  sql: Sql,
  statements: readonly string[],
): Promise<{ at: number; err: unknown }> {
  // One connection (max 1), plain BEGIN: sql.begin would write its ROLLBACK to the dead socket.
  let at = 0;
  let err: unknown;
  try {
    await sql.unsafe("BEGIN");
    await sql.unsafe("SET LOCAL statement_timeout = '60s'");
    for (; at < statements.length; at++) await sql.unsafe(statements[at]!);
    await sql.unsafe("SELECT pg_sleep(30)");
    await sql.unsafe("COMMIT");
  } catch (e) {
    err = e;
  }
  return { at, err };
}

/**
 * The whole case: `setup` as the role (committed), then `statements` in one transaction; the
 * role must be locked, the session ended during `statements[mustStopIn]` or later, nothing of
 * `created` committed, and the "uncommitted" charge cleared after the rollback.
 */
async function assertStopped(
  name: string,
  options: {
    limit?: number;
    setup?: string[];
    statements: string[];
    created: string;
    /** A materialized view that must still be unpopulated (its REFRESH did not commit). */
    unpopulated?: string;
    inStatement?: boolean;
  },
) {
  await withFixture({ monitor: LONG_SWEEP }, async (f) => {
    const hard = options.limit ?? 2 * MiB;
    const role = await f.limitedRole(name, { soft_limit: hard / 2, hard_limit: hard });
    const sql = f.as(role);
    for (const s of options.setup ?? []) await sql.unsafe(s);
    const d = await f.startDaemon();
    const t0 = performance.now();
    const { at, err } = await runUntilStopped(sql, options.statements);
    const elapsed = performance.now() - t0;
    assert.ok(err, "the transaction must not commit");
    assert.match(
      String((err as Error).message),
      /terminat|CONNECTION_CLOSED|CONNECTION_ENDED/i,
      String((err as Error).message),
    );
    const locked = await d.waitForLog((l) => l.msg === "role locked" && l.role === role);
    if (Deno.env.get("CREATING_DEBUG")) console.log(d.dump());
    console.log(
      `  ${name}: ended in ${
        at < options.statements.length ? `statement ${at + 1}` : "the wait after the statements"
      } after ${elapsed.toFixed(0)} ms at ${
        (Number(locked.usage_bytes) / MiB).toFixed(1)
      } MiB (hard limit ${hard / MiB} MiB)`,
    );
    if (options.inStatement ?? true) {
      assert.equal(at, options.statements.length - 1, "ended while the last statement ran");
    }
    assert.equal(await f.canLogin(role), false);
    const [row] = await f.admin.unsafe("SELECT pg_catalog.to_regclass($1) IS NULL AS gone", [
      `${role}.${options.created}`,
    ]);
    assert.equal(row?.gone, true, "nothing was committed");
    if (options.unpopulated) {
      const [mv] = await f.admin.unsafe(
        "SELECT c.relispopulated FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
        [`${role}.${options.unpopulated}`],
      );
      assert.equal(mv?.relispopulated, false, "the refresh was not committed");
    }
    // Rolled back: the charge for uncommitted files goes with the transaction.
    await waitFor(async () => (await kindBytes(f, role, "uncommitted")) === 0, {
      what: "the uncommitted charge to be cleared",
    });
  });
}

Deno.test("a runaway CREATE TABLE AS is stopped before it commits", async () => {
  await assertStopped("ctas", { statements: [`CREATE TABLE t AS ${ROWS_1K}`], created: "t" });
});

Deno.test("a runaway SELECT INTO is stopped before it commits", async () => {
  await assertStopped("selinto", {
    statements: [ROWS_1K.replace(" AS x FROM", " AS x INTO t FROM")],
    created: "t",
  });
});

Deno.test("a runaway CREATE TABLE + INSERT in one transaction is stopped before it commits", async () => {
  await assertStopped("crins", {
    statements: ["CREATE TABLE t (x text PRIMARY KEY)", `INSERT INTO t ${ROWS_1K}`],
    created: "t",
  });
});

Deno.test("a runaway REFRESH MATERIALIZED VIEW is stopped before it commits", async () => {
  await assertStopped("refresh", {
    setup: [
      "CREATE TABLE n (n bigint)",
      "INSERT INTO n VALUES (1)",
      `CREATE MATERIALIZED VIEW mv AS ${
        ROWS_1K.replace("10000000", "(SELECT max(n.n) FROM n)")
      } WITH NO DATA`,
    ],
    statements: ["UPDATE n SET n = 10000000", "REFRESH MATERIALIZED VIEW mv"],
    // The view existed before (empty): what must not commit is its data.
    created: "no_such_relation",
    unpopulated: "mv",
  });
});

Deno.test("a runaway CREATE INDEX is stopped before it commits", async () => {
  // A 7 MB table under a 32 MiB limit, and an index of 200,000 incompressible 480-byte keys
  // (about 110 MB; under 512 bytes, btree does not compress them). The sort happens first (in
  // memory or temporary files), then the index file grows fast: the session may be ended in the
  // statement or in the open transaction after it, either before COMMIT.
  const key = Array.from({ length: 15 }, (_, i) => `md5(g::text || '${i}')`).join(" || ");
  await assertStopped("cindex", {
    limit: 32 * MiB,
    setup: [
      "CREATE TABLE t (g int)",
      "INSERT INTO t SELECT g FROM (SELECT generate_series(1, 200000) AS g) AS gs",
    ],
    statements: [`CREATE INDEX big ON t ((${key}))`],
    created: "big",
    inStatement: false,
  });
});

/** What postgres_monitor.creating_bytes reports now for the given roles, per login name. */
async function creatingNow(f: Fixture, roles: string[]): Promise<Map<string, number>> {
  const rows = await f.admin.unsafe(
    `SELECT r.rolname::text AS login, sum(c.bytes)::int8 AS bytes
       FROM postgres_monitor.creating_bytes(
              ARRAY(SELECT oid FROM pg_catalog.pg_roles WHERE rolname = ANY ($1::text[])),
              '0'::interval) c
       JOIN pg_catalog.pg_roles r ON r.oid = c.login
      GROUP BY r.rolname`,
    [roles],
  );
  return new Map(rows.map((r) => [String(r.login), Number(r.bytes)]));
}

Deno.test("abuse: LOCK TABLE on a committed table is not charged again as uncommitted", async () => {
  await withFixture({ monitor: LONG_SWEEP }, async (f) => {
    const role = await f.limitedRole("locker");
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    // 1.2 MiB committed: over soft (1 MiB), under hard (2 MiB); charged twice it would be over.
    await sql.unsafe(
      "INSERT INTO t SELECT md5(g::text) || repeat(md5(random()::text), 30) FROM (SELECT generate_series(1, 1200) AS g) AS gs",
    );
    const d = await f.startDaemon();
    await sql.unsafe("BEGIN");
    await sql.unsafe("LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
    // An AccessExclusiveLock on an oid with a visible pg_class row: not a relation being created.
    assert.deepEqual(await creatingNow(f, [role]), new Map());
    // Several watch rounds (every 200 ms) with the transaction open and old enough to be read.
    const until = performance.now() + 1500;
    await waitFor(() => performance.now() >= until, { what: "watch rounds" });
    assert.equal(await kindBytes(f, role, "uncommitted"), 0);
    assert.equal(await f.canLogin(role), true, "not locked: its table is counted once");
    await sql.unsafe("ROLLBACK");
    assert.equal(d.dump().includes('"role locked"'), false);
  });
});

Deno.test("abuse: another login's uncommitted relation is charged to it, not to the tenant", async () => {
  await withFixture({ monitor: LONG_SWEEP }, async (f) => {
    const tenant = await f.createRole(`tenant_${f.id}`, "LOGIN", { schema: true });
    const other = await f.createRole(`other_${f.id}`, "LOGIN", { schema: true });
    await f.writeConfig([
      { user: tenant, soft_limit: 1 * MiB, hard_limit: 2 * MiB },
      { user: other, soft_limit: 512 * MiB, hard_limit: 1024 * MiB },
    ]);
    const d = await f.startDaemon();
    // The tenant has a session too (an idle one, and one in an old transaction of its own).
    const mine = f.as(tenant);
    await mine.unsafe("BEGIN");
    await mine.unsafe("SELECT 1");
    const theirs = f.as(other);
    await theirs.unsafe("BEGIN");
    await theirs.unsafe(
      `CREATE TABLE big AS ${ROWS_1K.replace("10000000", "20000")}`, // about 20 MiB
    );
    const seen = await creatingNow(f, [tenant, other]);
    assert.equal(seen.has(tenant), false, "nothing charged to the tenant");
    assert.ok((seen.get(other) ?? 0) > 10 * MiB, `other login charged: ${seen.get(other)}`);
    // The daemon charges it to the other login (its metric), never to the tenant.
    await waitFor(async () => (await kindBytes(f, other, "uncommitted")) > 10 * MiB, {
      what: "the other login's uncommitted charge",
    });
    assert.equal(await kindBytes(f, tenant, "uncommitted"), 0);
    assert.equal(await f.canLogin(tenant), true);
    await theirs.unsafe("ROLLBACK");
    await mine.unsafe("ROLLBACK");
    await waitFor(async () => (await kindBytes(f, other, "uncommitted")) === 0, {
      what: "the charge to be cleared after ROLLBACK",
    });
    assert.equal(d.dump().includes('"role locked"'), false);
  });
});
