/**
 * Issue 12, case 3: temporary files. A `WITH HOLD` cursor keeps its spilled result in `pgsql_tmp`
 * for the session's life, and `temp_file_limit` is unlimited by default. The daemon sets
 * temp_file_limit (a role setting, the hard limit in kB) for limited roles, and charges live
 * temporary files to the login role of the session that made them.
 */
import assert from "node:assert/strict";
import { type Fixture, type Sql, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;

/** temp_file_limit of a new session of `role`, in kB (-1: unlimited). */
async function sessionLimitKb(f: Fixture, role: string): Promise<number> {
  const sql = f.as(role);
  try {
    const [r] = await sql.unsafe(
      "SELECT setting::int8 AS kb FROM pg_catalog.pg_settings WHERE name = 'temp_file_limit'",
    );
    return Number(r?.kb);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** The role-wide temp_file_limit setting of `role`, as stored (null: none). */
async function roleSetting(f: Fixture, role: string): Promise<string | null> {
  const [r] = await f.admin.unsafe(
    `SELECT (SELECT substr(c, 17) FROM pg_db_role_setting s, unnest(s.setconfig) c
              WHERE s.setdatabase = 0 AND s.setrole = $1::regrole AND c LIKE 'temp\\_file\\_limit=%')
            AS setting`,
    [role],
  );
  return r?.setting === null || r?.setting === undefined ? null : String(r.setting);
}

/** Opens a WITH HOLD cursor whose result (about `mib` MiB of incompressible text) spills to disk. */
async function holdCursor(sql: Sql, mib: number): Promise<void> {
  await sql.begin(async (tx) => {
    await tx.unsafe(
      `DECLARE c CURSOR WITH HOLD FOR
         SELECT repeat(md5(g::text || random()::text), 256) FROM generate_series(1, $1) g`,
      [mib * 128] as never,
    );
  });
}

interface StatusRow {
  role: string;
  usage_bytes: number;
  usage_by_kind: { temp_files: number } & Record<string, number>;
  state: string;
}

async function statusRows(f: Fixture): Promise<StatusRow[]> {
  const st = await f.cli(["status", "--json"]);
  assert.equal(st.code, 0, st.stdout + st.stderr);
  const out = JSON.parse(st.stdout) as { rows: StatusRow[]; failed: string[] };
  assert.deepEqual(out.failed, []);
  return out.rows;
}

function isTerminated(err: unknown): boolean {
  return ["CONNECTION_CLOSED", "57P01"].includes((err as { code?: string }).code ?? "");
}

Deno.test("temp_file_limit: a limited role's new sessions get its hard limit, a stricter setting is kept, reload changes and restores it", async () => {
  await withFixture({ monitor: { sweep_interval: 3600 } }, async (f) => {
    const role = await f.createRole(`tfl_${f.id}`, "LOGIN", { schema: true });
    const strict = await f.createRole(`tfs_${f.id}`, "LOGIN", { schema: true });
    const loose = await f.createRole(`tfo_${f.id}`, "LOGIN", { schema: true });
    // An operator's choices before the daemon starts: stricter (kept), looser (replaced).
    await f.exec("ALTER ROLE %I SET temp_file_limit = '512kB'", [strict]);
    await f.exec("ALTER ROLE %I SET temp_file_limit = '1GB'", [loose]);
    const entry = (user: string, hard = 2 * MiB) => ({ user, soft_limit: MiB, hard_limit: hard });
    await f.writeConfig([entry(role), entry(strict), entry(loose)]);
    const d = await f.startDaemon();
    assert.equal(await sessionLimitKb(f, role), 2048);
    assert.equal(await sessionLimitKb(f, strict), 512);
    assert.equal(await sessionLimitKb(f, loose), 2048);
    assert.ok(d.find("temp_file_limit set", role).length === 1, d.dump());
    assert.ok(
      d.find("temp_file_limit kept: a stricter value was set by someone else", strict)
        .length === 1,
    );

    // A sort larger than the limit fails with PostgreSQL's own error.
    const sql = f.as(role);
    await sql.unsafe("SET work_mem = '64kB'");
    await assert.rejects(
      sql.unsafe(
        "SELECT md5(g::text) || repeat('x', 200) AS v FROM generate_series(1, 40000) g ORDER BY 1",
      ),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "53400", err.message);
        assert.match(err.message, /temporary file size exceeds "?temp_file_limit"? \(2048kB\)/);
        return true;
      },
    );

    // A raised hard limit raises the daemon's value; a role no longer limited gets back its own.
    await f.writeConfig([entry(role, 4 * MiB), entry(strict, 4 * MiB)]);
    d.signal("SIGHUP");
    await d.waitForLog((l) => l.msg === "configuration reloaded");
    await waitFor(async () => (await sessionLimitKb(f, role)) === 4096, {
      what: "temp_file_limit 4096 kB after the reload",
    });
    await waitFor(async () => (await roleSetting(f, loose)) === "1GB", {
      what: "the operator's own 1GB back for a role no longer limited",
    });
    assert.equal(await sessionLimitKb(f, strict), 512);
    await f.writeConfig([entry(strict, 4 * MiB)]);
    d.signal("SIGHUP");
    await waitFor(async () => (await roleSetting(f, role)) === null, {
      what: "no temp_file_limit setting left on a role no longer limited",
    });
  });
});

Deno.test("live temporary files count: a WITH HOLD cursor locks its role within seconds, and usage drops back once its session is ended", async () => {
  // No sweep for an hour, no pg_locks watch, no counter check: only the temp file poll.
  const monitor = { sweep_interval: 3600, lock_poll_interval_ms: 0, verify_interval_ms: 0 };
  await withFixture({ monitor }, async (f) => {
    const role = await f.createRole(`tmpa_${f.id}`, "LOGIN", { schema: true });
    const other = await f.createRole(`tmpb_${f.id}`, "LOGIN", { schema: true });
    await f.writeConfig([
      { user: role, soft_limit: 12 * MiB, hard_limit: 16 * MiB, manual_unlock: true },
      { user: other, soft_limit: 32 * MiB, hard_limit: 64 * MiB },
    ]);
    const d = await f.startDaemon();

    // Another role's cursor: shown by status --json while it lives, charged to it alone.
    const o = f.as(other);
    await holdCursor(o, 8);
    await waitFor(async () => {
      const rows = await statusRows(f);
      const b = rows.find((r) => r.role === other)!;
      const a = rows.find((r) => r.role === role)!;
      return b.usage_by_kind.temp_files >= 7 * MiB && a.usage_by_kind.temp_files === 0;
    }, { timeout: 5000, what: "status to show the other role's temporary files" });
    await waitFor(async () => (await f.metricUsage(other)) >= 7 * MiB, {
      timeout: 5000,
      what: "the daemon to charge the other role's temporary files",
    });
    await o.unsafe("CLOSE c");
    await waitFor(async () => (await f.metricUsage(other)) === 0, {
      timeout: 5000,
      what: "the other role's usage back to 0 after CLOSE",
    });

    // About 10 MiB of tables, then a cursor that spills about 8 MiB: over 16 MiB.
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    await sql.unsafe(
      `INSERT INTO t SELECT md5(g::text) || repeat(md5(random()::text), 30)
         FROM generate_series(1, 9000) g`,
    );
    await waitFor(async () => (await f.metricUsage(role)) >= 9 * MiB, {
      what: "the table to be charged",
    });
    assert.ok(await f.canLogin(role));
    const opened = performance.now();
    await holdCursor(sql, 8).catch((err) => {
      if (!isTerminated(err)) throw err;
    });
    await f.waitLocked(role, 5000);
    const lockedMs = performance.now() - opened;
    await waitFor(async () => (await f.sessions(role)) === 0, {
      timeout: 5000,
      what: "the role's sessions to end",
    });
    const lock = await d.waitForLog((l) => l.msg === "role locked" && l.role === role);
    assert.ok(Number(lock.usage_bytes) > 16 * MiB, d.dump());
    assert.ok(lockedMs < 5000, `locked ${Math.round(lockedMs)} ms after the cursor opened`);
    assert.deepEqual(
      (await f.events(role)).filter((e) => e === "locked" || e === "sessions_terminated"),
      ["locked", "sessions_terminated"],
    );
    // Its files went with its session: usage drops back to its tables, status agrees, and the
    // manual unlock is allowed (usage is under the hard limit again).
    await waitFor(async () => {
      const u = await f.metricUsage(role);
      return u > 0 && u < 12 * MiB;
    }, { timeout: 5000, what: "the daemon's usage to drop back to the tables" });
    const row = (await statusRows(f)).find((r) => r.role === role)!;
    assert.equal(row.usage_by_kind.temp_files, 0);
    assert.equal(row.state, "locked_manual");
    const u = await f.cli(["unlock", role]);
    assert.equal(u.code, 0, u.stdout + u.stderr);
    assert.ok(await f.canLogin(role));
  });
});

Deno.test("abuse: a tenant cannot lift its temp_file_limit, and cannot make the daemon charge another role", async () => {
  const monitor = { sweep_interval: 3600, lock_poll_interval_ms: 0, verify_interval_ms: 0 };
  await withFixture({ monitor }, async (f) => {
    const tenant = await f.createRole(`tmpt_${f.id}`, "LOGIN", { schema: true });
    const victim = await f.createRole(`tmpv_${f.id}`, "LOGIN", { schema: true });
    await f.exec("GRANT %I TO %I", [victim, tenant]);
    await f.writeConfig([
      { user: tenant, soft_limit: 32 * MiB, hard_limit: 64 * MiB },
      { user: victim, soft_limit: 32 * MiB, hard_limit: 64 * MiB },
    ]);
    await f.startDaemon();
    assert.equal(await sessionLimitKb(f, tenant), 65536);

    const sql = f.as(tenant);
    const denied = async (stmt: string) => {
      await assert.rejects(sql.unsafe(stmt), (err: Error & { code?: string }) => {
        assert.equal(err.code, "42501", `${stmt}: ${err.message}`);
        return true;
      }, stmt);
    };
    await denied("SET temp_file_limit = -1");
    await denied("SET LOCAL temp_file_limit = -1");
    await denied("SELECT set_config('temp_file_limit', '-1', false)");
    await denied("ALTER ROLE CURRENT_USER SET temp_file_limit = -1");
    await denied("ALTER ROLE CURRENT_USER RESET temp_file_limit");
    await denied(
      `CREATE FUNCTION ${tenant}.f() RETURNS int LANGUAGE sql SET temp_file_limit = -1 AS 'SELECT 1'`,
    );
    await denied("SELECT * FROM postgres_monitor.set_temp_file_limit(CURRENT_USER::regrole, 0)");
    await denied("SELECT * FROM postgres_monitor.temp_file_usage()");
    // RESET ALL succeeds but leaves settings the tenant could not have made.
    await sql.unsafe("ALTER ROLE CURRENT_USER RESET ALL");
    await sql.unsafe("SET ROLE " + victim);
    await denied(`ALTER ROLE ${victim} SET temp_file_limit = -1`);
    assert.equal(await sessionLimitKb(f, tenant), 65536);
    assert.equal(await sessionLimitKb(f, victim), 65536);

    // Spill while pretending to be the victim: SET ROLE, its name as application_name. The files
    // are named after the backend, whose login is the tenant: the charge is the tenant's.
    await sql.unsafe("SELECT set_config('application_name', $1, false)", [victim]);
    await holdCursor(sql, 8);
    await waitFor(async () => (await f.metricUsage(tenant)) >= 7 * MiB, {
      timeout: 5000,
      what: "the tenant to be charged its temporary files",
    });
    const rows = await statusRows(f);
    assert.ok(rows.find((r) => r.role === tenant)!.usage_by_kind.temp_files >= 7 * MiB);
    assert.equal(rows.find((r) => r.role === victim)!.usage_by_kind.temp_files, 0);
    assert.equal(await f.metricUsage(victim), 0);
  });
});
