/**
 * A tenant silencing the notify trigger of its table: DDL that would leave it anything but
 * enabled as installed is refused; a superuser's change is undone at the next sweep and reported;
 * a trigger kept quiet without DDL (a BEFORE trigger writing its throttle setting) is caught by
 * the counter cross-check within verify_interval_ms.
 */
import assert from "node:assert/strict";
import { fill, type Fixture, type Sql, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;

/** Paces the tenant's statements (the scenario's timing, not a wait for a condition). */
const pace = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The state of `table`'s notify trigger (undefined when it has none). */
async function notifyTrigger(f: Fixture, schema: string, table: string) {
  const [t] = await f.admin.unsafe(
    `SELECT t.tgenabled, t.tgfoid = 'postgres_monitor.notify_write()'::regprocedure AS ours
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND t.tgname = 'postgres_monitor_notify'`,
    [schema, table],
  );
  return t === undefined ? undefined : { enabled: String(t.tgenabled), ours: Boolean(t.ours) };
}

/** Tamper reasons recorded for `role`, oldest first. */
async function tamper(f: Fixture, role: string): Promise<string[]> {
  const rows = await f.admin.unsafe(
    `SELECT detail->>'reason' AS reason FROM postgres_monitor.event_log
      WHERE event = 'tamper' AND rolname = $1 ORDER BY id`,
    [role],
  );
  return rows.map((r) => String(r.reason));
}

/** Waits until the daemon has attached the notify trigger to `schema.table`. */
async function attached(f: Fixture, schema: string, table: string) {
  await waitFor(async () => (await notifyTrigger(f, schema, table))?.enabled === "O", {
    what: `the notify trigger on ${schema}.${table}`,
  });
}

Deno.test("a tenant's DDL that would disable, re-mode, rename, replace or drop its notify trigger is refused; dropping the table or schema still works", async () => {
  await withFixture({}, async (f) => {
    const role = await f.limitedRole("hush", { soft_limit: 4 * MiB, hard_limit: 8 * MiB });
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    await sql.unsafe("CREATE TABLE p (x int) PARTITION BY RANGE (x)");
    await sql.unsafe("CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100)");
    await sql.unsafe(
      "CREATE FUNCTION quiet() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
    );
    await f.startDaemon();
    for (const table of ["t", "p", "p1"]) await attached(f, role, table);

    const refused = [
      "ALTER TABLE t DISABLE TRIGGER postgres_monitor_notify",
      "ALTER TABLE t ENABLE REPLICA TRIGGER postgres_monitor_notify",
      "ALTER TABLE t ENABLE ALWAYS TRIGGER postgres_monitor_notify",
      "ALTER TABLE t DISABLE TRIGGER USER",
      "ALTER TABLE t DISABLE TRIGGER ALL",
      "DROP TRIGGER postgres_monitor_notify ON t",
      "ALTER TRIGGER postgres_monitor_notify ON t RENAME TO quiet",
      "CREATE OR REPLACE TRIGGER postgres_monitor_notify AFTER INSERT OR UPDATE OR DELETE" +
      " OR TRUNCATE ON t FOR EACH STATEMENT EXECUTE FUNCTION quiet()",
      "ALTER TABLE p DISABLE TRIGGER ALL",
      "ALTER TABLE p ENABLE REPLICA TRIGGER postgres_monitor_notify",
      "ALTER TABLE p1 DISABLE TRIGGER postgres_monitor_notify",
    ];
    for (const stmt of refused) {
      await assert.rejects(sql.unsafe(stmt), /postgres_monitor: the notify trigger on table/, stmt);
    }
    for (const table of ["t", "p", "p1"]) {
      assert.deepEqual(await notifyTrigger(f, role, table), { enabled: "O", ours: true }, table);
    }
    // Its own triggers, and other DDL on the table, are the tenant's business.
    await sql.unsafe("CREATE TRIGGER mine AFTER INSERT ON t EXECUTE FUNCTION quiet()");
    await sql.unsafe("ALTER TABLE t DISABLE TRIGGER mine");
    await sql.unsafe("DROP TRIGGER mine ON t");
    await sql.unsafe("ALTER TABLE t ADD COLUMN y int");
    // The table, or the schema holding it, can go: the trigger goes with it.
    await sql.unsafe("DROP TABLE t");
    await sql.unsafe("DROP TABLE p");
    await f.exec("CREATE SCHEMA %I AUTHORIZATION %I", [`${role}_2`, role]);
    await sql.unsafe(`CREATE TABLE "${role}_2".q (x text)`);
    await attached(f, `${role}_2`, "q");
    await sql.unsafe(`DROP SCHEMA "${role}_2" CASCADE`);
  });
});

Deno.test("a notify trigger a superuser set to ENABLE REPLICA is restored at the next sweep and reported with its mode", async () => {
  await withFixture({ monitor: { sweep_interval: 1 } }, async (f) => {
    const role = await f.limitedRole("replica", { soft_limit: 4 * MiB, hard_limit: 8 * MiB });
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    await f.startDaemon();
    await attached(f, role, "t");
    // A superuser may (the guard lets it); the daemon still puts the trigger back.
    await f.exec("ALTER TABLE %I.t ENABLE REPLICA TRIGGER postgres_monitor_notify", [role]);
    await waitFor(async () => (await tamper(f, role)).length > 0, {
      what: "a tamper event",
      timeout: 10_000,
    });
    const reasons = await tamper(f, role);
    assert.equal(reasons.length, 1, reasons.join("\n"));
    assert.match(
      reasons[0]!,
      /notify trigger re-enabled on \S+\.t in database \S+ \(mode replica\)/,
    );
    assert.deepEqual(await notifyTrigger(f, role, "t"), { enabled: "O", ours: true });
  });
});

/**
 * As `role`: a BEFORE statement trigger on `t` that writes the notify trigger's throttle setting
 * before every statement, so notify_write() always believes it has just notified.
 */
async function hush(sql: Sql) {
  await sql.unsafe(`CREATE FUNCTION hush() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM set_config('postgres_monitor.t' || TG_RELID::text,
        floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text, false);
      RETURN NULL;
    END $$`);
  await sql.unsafe(
    "CREATE TRIGGER a_hush BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON t" +
      " FOR EACH STATEMENT EXECUTE FUNCTION hush()",
  );
}

/** A role with a quiet table `t` and a running daemon that hears nothing but its cross-check. */
async function quietTenant(f: Fixture, prefix: string) {
  const role = await f.limitedRole(prefix, { soft_limit: MiB, hard_limit: 2 * MiB });
  const sql = f.as(role);
  await sql.unsafe("CREATE TABLE t (x text)");
  const d = await f.startDaemon();
  await attached(f, role, "t");
  await hush(sql);
  return { role, sql, d };
}

/** Waits for the tamper event, then `checks` more cross-checks, and asserts it stayed one. */
async function reportedOnce(f: Fixture, role: string, verify: number, checks = 3) {
  await waitFor(async () => (await tamper(f, role)).length > 0, {
    what: "a tamper event",
    timeout: 5000,
  });
  const since = performance.now();
  // Absence cannot be waited for: give the cross-check `checks` more rounds to repeat itself.
  await waitFor(() => performance.now() - since > checks * verify, {
    what: `${checks} more checks`,
    timeout: checks * verify + 2000,
  });
  const reasons = await tamper(f, role);
  assert.equal(reasons.length, 1, reasons.join("\n"));
  assert.ok(
    reasons[0]!.includes(
      `writes without notification on table ${role}.t in database ${f.controlDb}`,
    ),
    reasons[0],
  );
}

const VERIFY = 1000;
const QUIET = { sweep_interval: 3600, lock_poll_interval_ms: 0, verify_interval_ms: VERIFY };

Deno.test("a tenant whose BEFORE trigger keeps the notify trigger quiet is locked within verify_interval_ms and reported once", async () => {
  await withFixture({ monitor: QUIET }, async (f) => {
    const { role, sql } = await quietTenant(f, "shadow");
    // Several statements, as a steady writer makes them: a session reports its statistics at
    // the end of a transaction at most once a second, so they are paced by a little more.
    let crossed = 0;
    for (let i = 0; i < 4; i++) {
      if (i > 0) await pace(1100);
      await fill(sql, "t", 768).catch(() => {}); // the lock may end the session
      if (i === 2) crossed = performance.now(); // 2.25 MiB: past the hard limit
    }
    await f.waitLocked(role, 10_000);
    const lockedAfter = performance.now() - crossed;
    assert.ok(lockedAfter < VERIFY + 2000, `locked ${Math.round(lockedAfter)} ms after crossing`);
    await reportedOnce(f, role, VERIFY);
  });
});

Deno.test("a quiet burst followed by silence is locked once PostgreSQL reports the session's statistics, plus verify_interval_ms", async () => {
  await withFixture({ monitor: QUIET }, async (f) => {
    const { role, sql } = await quietTenant(f, "burst");
    const [v] = await f.admin.unsafe("SELECT current_setting('server_version_num')::int AS n");
    for (let i = 0; i < 4; i++) await fill(sql, "t", 768).catch(() => {});
    const t0 = performance.now();
    // A session reports its statistics when a transaction ends, at most every second (14: every
    // 0.5 s). What it wrote since is held: 15+ sends it after 10 s of idleness, 14 only when its
    // next transaction ends (or it disconnects), so there the burst waits for one.
    if (Number(v!.n) < 150000) {
      await waitFor(() => performance.now() - t0 > 600, { what: "the report interval" });
      await sql.unsafe("SELECT 1");
    }
    const bound = (Number(v!.n) < 150000 ? 600 : 10_000) + VERIFY + 3000;
    await f.waitLocked(role, bound);
    assert.ok(performance.now() - t0 < bound);
    await reportedOnce(f, role, VERIFY, 2);
  });
});

Deno.test("a tenant writing normally (throttled statements, rollbacks, deletes, VACUUM) through many cross-checks is never reported", async () => {
  const verify = 300;
  await withFixture({ monitor: { verify_interval_ms: verify } }, async (f) => {
    const role = await f.limitedRole("plain", { soft_limit: 64 * MiB, hard_limit: 128 * MiB });
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    const d = await f.startDaemon();
    await attached(f, role, "t");
    const rollback = () =>
      sql.begin(async (tx) => {
        await fill(tx, "t", 128);
        throw new Error("roll back");
      }).catch(() => {});
    // Rolled-back INSERTs grow the table and move its counters, but notify nothing.
    for (let i = 0; i < 6; i++) {
      await rollback();
      if (i % 2 === 1) await sql.unsafe("VACUUM t");
      await pace(250);
    }
    for (let i = 0; i < 12; i++) {
      await fill(sql, "t", 32); // notified
      await fill(sql, "t", 32); // inside the trigger's 250 ms throttle window: not notified
      await rollback();
      if (i % 3 === 0) await sql.unsafe("DELETE FROM t WHERE random() < 0.3");
      if (i % 4 === 1) await sql.unsafe("VACUUM t");
      await pace(250); // spread over many rounds: each sees some of these in the counters
    }
    const since = performance.now();
    await waitFor(() => performance.now() - since > 4 * verify, { what: "four more checks" });
    assert.deepEqual(await tamper(f, role), []);
    assert.equal(d.find("table written without notifications").length, 0);
  });
});

Deno.test("writes lost with a LISTEN reconnect are re-measured, not reported as silenced", async () => {
  const verify = 300;
  await withFixture({
    monitor: { sweep_interval: 3600, lock_poll_interval_ms: 0, verify_interval_ms: verify },
  }, async (f) => {
    const role = await f.limitedRole("relisten", { soft_limit: 64 * MiB, hard_limit: 128 * MiB });
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    const d = await f.startDaemon();
    await attached(f, role, "t");
    // Keep the daemon from listening again while the role writes (its other connections stay).
    await f.exec("ALTER ROLE %I CONNECTION LIMIT 0", [f.monitorRole]);
    try {
      const [listener] = await f.admin.unsafe(
        `SELECT pid FROM pg_stat_activity
          WHERE usename = $1 AND datname = $2 AND application_name LIKE '% listen'`,
        [f.monitorRole, f.controlDb],
      );
      await f.admin.unsafe("SELECT pg_terminate_backend($1)", [listener!.pid]);
      await d.waitForLog((l) => l.msg === "listener disconnected", { what: "the disconnect" });
      for (let i = 0; i < 3; i++) {
        await fill(sql, "t", 256); // notified into the void
        await pace(2 * verify);
      }
    } finally {
      await f.exec("ALTER ROLE %I CONNECTION LIMIT -1", [f.monitorRole]);
    }
    await waitFor(() => d.find("listening").length >= 2, { what: "LISTEN again" });
    // Statistics of the last write may come up to 10 s late (an idle session): wait for them.
    await waitFor(async () => {
      const [s] = await f.admin.unsafe(
        "SELECT n_tup_ins::int AS n FROM pg_stat_all_tables WHERE relid = $1::regclass",
        [`"${role}".t`],
      );
      return s?.n === 3 * 256;
    }, { what: "the statistics of every write", timeout: 15_000 });
    const since = performance.now();
    await waitFor(() => performance.now() - since > 4 * verify, { what: "four more checks" });
    assert.deepEqual(await tamper(f, role), []);
  });
});
