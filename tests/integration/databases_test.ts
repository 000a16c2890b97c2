/**
 * Every database is reachable, and connections are bounded: a tenant's own database that shuts
 * the daemon out (REVOKE CONNECT, ALLOW_CONNECTIONS false, CONNECTION LIMIT 0, IS_TEMPLATE true)
 * is still measured or judged by its size, and many databases do not multiply connections.
 */
import assert from "node:assert/strict";
import { client, fill, fillUntilStopped, type Sql, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;

/**
 * The fixture installs into its control database only; the daemon then runs with `databases`
 * null (every database), with `extra` monitor settings.
 */
function everyDatabase(monitor: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { ...monitor, databases: null, sweep_interval: 1, ...extra };
}

/** A limit of soft 1 MiB, hard 2 MiB for `user`. */
function small(user: string) {
  return { user, soft_limit: MiB, hard_limit: 2 * MiB };
}

/** Drops databases (as superuser), whatever state a tenant left them in; names travel as data. */
async function dropDatabases(names: string[]) {
  const root = client("postgres");
  try {
    for (const name of names) {
      await root.begin(async (tx) => {
        await tx.unsafe("SELECT set_config('pgmon.db', $1, true)", [name]);
        await tx.unsafe(
          `DO $$ BEGIN
             IF EXISTS (SELECT 1 FROM pg_database WHERE datname = current_setting('pgmon.db')) THEN
               EXECUTE format('ALTER DATABASE %I ALLOW_CONNECTIONS true CONNECTION LIMIT -1',
                              current_setting('pgmon.db'));
               EXECUTE format('ALTER DATABASE %I IS_TEMPLATE false', current_setting('pgmon.db'));
             END IF;
           END $$`,
        );
      });
      const [q] = await root.unsafe(
        "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text) AS q",
        [name],
      );
      await root.unsafe(String(q!.q));
    }
  } finally {
    await root.end();
  }
}

/** 'tamper' events' reasons for a role name. */
async function tamperReasons(admin: Sql, role: string): Promise<string[]> {
  const rows = await admin.unsafe(
    `SELECT detail->>'reason' AS reason FROM postgres_monitor.event_log
      WHERE event = 'tamper' AND rolname = $1 ORDER BY id`,
    [role],
  );
  return rows.map((r) => String(r.reason));
}

Deno.test("a tenant's database with CONNECT revoked from PUBLIC is entered again and locks its owner; other unlocks are not frozen", async () => {
  await withFixture({}, async (f) => {
    const other = await f.createRole(`other_${f.id}`, "LOGIN", { schema: true });
    const tenant = await f.createRole(`hider_${f.id}`, "LOGIN CREATEDB");
    const db = `hide_${f.id}`;
    await f.writeConfig([small(other), small(tenant)], everyDatabase(f.monitor));
    await f.startDaemon();
    await f.overHard(other);
    const tsql = f.as(tenant);
    try {
      await tsql.unsafe(`CREATE DATABASE "${db}" TEMPLATE template0`);
      await tsql.unsafe(`REVOKE CONNECT ON DATABASE "${db}" FROM PUBLIC`);
      const inner = f.as(tenant, db);
      await inner.unsafe("CREATE TABLE big (x text)");
      await fillUntilStopped(inner, "big", 3072);
      await f.waitLocked(tenant);
      const reasons = await tamperReasons(f.admin, tenant);
      assert.ok(
        reasons.some((r) => r.includes(`database ${db}`) && r.includes(`owner ${tenant}`)),
        reasons.join("\n"),
      );
      // The other role's unlock (its table dropped) is not held back by the tenant's database.
      await f.exec("DROP TABLE %I.t", [other]);
      await waitFor(() => f.canLogin(other), { what: "the other role's unlock" });
      assert.ok(!(await f.canLogin(tenant)), "the tenant stays locked");
    } finally {
      await dropDatabases([db]);
    }
  });
});

Deno.test("databases set to ALLOW_CONNECTIONS false, CONNECTION LIMIT 0 or IS_TEMPLATE true are reported or measured, and their owners locked", async () => {
  await withFixture({}, async (f) => {
    const cases = [
      { key: "shut", alter: "ALLOW_CONNECTIONS false", reason: "ALLOW_CONNECTIONS is false" },
      { key: "full", alter: "CONNECTION LIMIT 0", reason: "CONNECTION LIMIT is 0" },
      { key: "tmpl", alter: "IS_TEMPLATE true", reason: undefined },
    ].map((c) => ({ ...c, role: `${c.key}_${f.id}`, db: `${c.key}db_${f.id}` }));
    try {
      for (const c of cases) {
        await f.createRole(c.role, "LOGIN CREATEDB");
        const sql = f.as(c.role);
        await sql.unsafe(`CREATE DATABASE "${c.db}" TEMPLATE template0`);
        const inner = client(c.db, c.role);
        try {
          await inner.unsafe("CREATE TABLE big (x text)");
          await fill(inner, "big", 3072);
        } finally {
          await inner.end();
        }
        await sql.unsafe(`ALTER DATABASE "${c.db}" ${c.alter}`);
      }
      await f.writeConfig(cases.map((c) => small(c.role)), everyDatabase(f.monitor));
      const d = await f.startDaemon();
      for (const c of cases) await f.waitLocked(c.role);
      const sizes = new Map<string, number>();
      for (const c of cases) {
        const [row] = await f.admin.unsafe("SELECT pg_database_size($1::text)::int8 AS n", [c.db]);
        sizes.set(c.db, Number(row!.n));
      }
      await waitFor(async () => {
        for (const c of cases) if ((await f.metricUsage(c.role)) < 3 * MiB) return false;
        return true;
      }, { what: "usage in the metrics file" });
      for (const c of cases) {
        const usage = await f.metricUsage(c.role);
        const reasons = await tamperReasons(f.admin, c.role);
        if (c.reason === undefined) {
          // A template owned by a tenant is still entered and measured table by table.
          assert.ok(usage < sizes.get(c.db)!, `${c.key}: ${usage} measured from inside`);
          assert.deepEqual(reasons, [], `${c.key}: nothing to report`);
          continue;
        }
        // Judged from outside: the whole database is charged to its owner.
        assert.equal(usage, sizes.get(c.db), `${c.key}: charged its database size`);
        assert.equal(reasons.length, 1, reasons.join("\n"));
        assert.ok(
          reasons[0]!.includes(`database ${c.db} (owner ${c.role})`) &&
            reasons[0]!.includes(c.reason),
          reasons[0],
        );
        assert.ok(
          d.find("database cannot be measured from inside").some((l) => l.database === c.db),
          d.dump(),
        );
      }
      const metrics = await Deno.readTextFile(
        `${f.dir}/metrics/postgres_realtime_monitor.prom`,
      );
      assert.match(
        metrics,
        new RegExp(
          `postgres_monitor_database_unreachable\\{database="shutdb_${f.id}",owner="shut_${f.id}"\\} 1`,
        ),
      );
      // `status` sees them the same way: nothing it could not measure, the same usage.
      const st = await f.cli(["status", "--json"]);
      assert.equal(st.code, 0, st.stdout + st.stderr);
      const out = JSON.parse(st.stdout) as {
        failed: string[];
        rows: { role: string; usage_bytes: number }[];
      };
      assert.deepEqual(out.failed, []);
      for (const c of cases.filter((c) => c.reason !== undefined)) {
        const row = out.rows.find((r) => r.role === c.role);
        assert.equal(row?.usage_bytes, sizes.get(c.db), `${c.key}: status charges the size`);
      }
    } finally {
      await dropDatabases(cases.map((c) => c.db));
    }
  });
});

Deno.test("a database a limited role starts using is watched within seconds, not at the next sweep", async () => {
  await withFixture({}, async (f) => {
    const tenant = await f.createRole(`newdb_${f.id}`, "LOGIN CREATEDB");
    const db = `newdb_${f.id}`;
    // No sweep for an hour: only the between-sweeps check can find the new database.
    await f.writeConfig([small(tenant)], everyDatabase(f.monitor, { sweep_interval: 3600 }));
    const d = await f.startDaemon();
    try {
      await f.as(tenant).unsafe(`CREATE DATABASE "${db}" TEMPLATE template0`);
      const t0 = performance.now();
      await f.as(tenant, db).begin(async (tx) => {
        await tx.unsafe("CREATE TABLE big (x text)");
        await fill(tx, "big", 3072);
      });
      await d.waitForLog((l) => l.msg === "listening" && l.database === db, {
        what: "LISTEN in the new database",
      });
      await f.waitLocked(tenant);
      assert.ok(performance.now() - t0 < 8000, `locked after ${performance.now() - t0} ms`);
    } finally {
      await dropDatabases([db]);
    }
  });
});

Deno.test("a database whose CONNECTION LIMIT its owner's sessions fill is judged by its size, then measured from inside once there is room", async () => {
  await withFixture({}, async (f) => {
    const tenant = await f.createRole(`crowd_${f.id}`, "LOGIN CREATEDB");
    const db = `crowddb_${f.id}`;
    const held: Sql[] = [];
    try {
      const sql = f.as(tenant);
      await sql.unsafe(`CREATE DATABASE "${db}" TEMPLATE template0`);
      const inner = f.as(tenant, db);
      await inner.unsafe("CREATE TABLE big (x text)");
      await fill(inner, "big", 3072);
      await sql.unsafe(`ALTER DATABASE "${db}" CONNECTION LIMIT 6`);
      // Five of the six slots taken: no room for the daemon's connections.
      for (let i = 0; i < 4; i++) {
        const c = f.as(tenant, db);
        await c.unsafe("SELECT 1");
        held.push(c);
      }
      await f.writeConfig([small(tenant)], everyDatabase(f.monitor));
      const d = await f.startDaemon();
      await f.waitLocked(tenant);
      const reasons = await tamperReasons(f.admin, tenant);
      assert.ok(
        reasons.some((r) =>
          r.includes(`database ${db} (owner ${tenant})`) &&
          r.includes("CONNECTION LIMIT 6 leaves no room for the monitoring role")
        ),
        reasons.join("\n"),
      );
      // The lock ended the tenant's sessions: the daemon gets in and measures table by table.
      await d.waitForLog((l) => l.msg === "database can be entered again" && l.database === db, {
        what: "the database entered again",
      });
      const [row] = await f.admin.unsafe("SELECT pg_database_size($1::text)::int8 AS n", [db]);
      await waitFor(async () => {
        const usage = await f.metricUsage(tenant);
        return usage > 2 * MiB && usage < Number(row!.n);
      }, { what: "usage measured from inside" });
      assert.ok(!(await f.canLogin(tenant)), "still locked");
    } finally {
      for (const c of held) await c.end({ timeout: 1 }).catch(() => {});
      await dropDatabases([db]);
    }
  });
});

Deno.test("200 databases of a tenant do not multiply the daemon's connections, and limits are still enforced", async () => {
  await withFixture({}, async (f) => {
    const other = await f.createRole(`other_${f.id}`, "LOGIN", { schema: true });
    const tenant = await f.createRole(`many_${f.id}`, "LOGIN CREATEDB");
    await f.writeConfig(
      [small(other), { ...small(tenant), hard_limit: 8 * MiB }],
      everyDatabase(f.monitor, { max_watched_databases: 2 }),
    );
    const names = Array.from(
      { length: 200 },
      (_, i) => `${f.controlDb}_m${String(i).padStart(3, "0")}`,
    );
    const tsql = f.as(tenant);
    const [v] = await tsql.unsafe("SELECT current_setting('server_version_num')::int AS v");
    const strategy = Number(v!.v) >= 150000 ? " STRATEGY FILE_COPY" : "";
    const t0 = performance.now();
    try {
      for (const name of names) {
        await tsql.unsafe(`CREATE DATABASE "${name}" TEMPLATE template0${strategy}`);
      }
      console.log(`200 databases created in ${Math.round(performance.now() - t0)} ms`);
      // Active (a limited role owns a table there): the control database and three of them.
      const used = [names[50]!, names[100]!, names[150]!];
      for (const name of used) {
        const inner = client(name, tenant);
        try {
          await inner.unsafe("CREATE TABLE t (x text)");
        } finally {
          await inner.end();
        }
      }
      const d = await f.startDaemon();
      // Bound (lib/watch/databases.ts): 5 + 5 x watched databases (max_watched_databases = 2).
      const bound = 5 + 5 * 2;
      let most = 0;
      const sessions = async () => {
        const [r] = await f.admin.unsafe(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1",
          [f.monitorRole],
        );
        most = Math.max(most, Number(r!.n));
        return most;
      };
      const sweeps = d.find("sweep done").length;
      await waitFor(async () => {
        await sessions();
        return d.find("sweep done").length >= sweeps + 3;
      }, { what: "three sweeps", interval: 50 });
      assert.ok(most <= bound, `${most} sessions, bound ${bound}`);
      console.log(`at most ${most} sessions of the daemon (bound ${bound})`);
      // A limited role crossing its limit is locked: in the control database (watched) ...
      await f.overHard(other);
      // ... and in a database past the cap (measured by sweeps through a short-lived connection).
      const far = client(names[150]!, tenant);
      try {
        await fillUntilStopped(far, "t", 9 * 1024);
      } finally {
        await far.end({ timeout: 1 });
      }
      await f.waitLocked(tenant);
      assert.ok((await sessions()) <= bound, `${most} sessions, bound ${bound}`);
    } finally {
      await dropDatabases(names);
    }
  });
});

Deno.test("a database's owner cannot hide tables behind pg_database_owner (ALTER OWNER TO, SET ROLE)", async () => {
  await withFixture({}, async (f) => {
    const tenant = await f.createRole(`dbo_${f.id}`, "LOGIN CREATEDB");
    const db = `dbo_${f.id}`;
    // No sweep for an hour: the tables are found by their notifications or their counters.
    await f.writeConfig([small(tenant)], everyDatabase(f.monitor, { sweep_interval: 3600 }));
    const d = await f.startDaemon();
    try {
      // From template1, where postgres_monitor is not installed; and from an installed one.
      await f.as(tenant).unsafe(`CREATE DATABASE "${db}"`);
      const sql = f.as(tenant, db);
      // Given away: pg_database_owner is implicit membership, in neither pg_auth_members nor
      // pg_shdepend; it stands for the database's owner, so the table stays the tenant's.
      await sql.unsafe("CREATE TABLE given (x text)");
      await sql.unsafe("ALTER TABLE given OWNER TO pg_database_owner");
      await fill(sql, "given", 512);
      // Its comment, and a large object given away the same way, are the owner's too.
      await sql.unsafe(
        `COMMENT ON TABLE given IS '${"0123456789abcdef".repeat(16 * 1024)}'`,
      );
      await sql.unsafe(
        `SELECT lo_from_bytea(0, decode(string_agg(md5(g::text), ''), 'hex'))
           FROM (SELECT generate_series(1, 16 * 1024) AS g) AS gs`,
      );
      await sql.unsafe(
        `DO $$ BEGIN EXECUTE format('ALTER LARGE OBJECT %s OWNER TO pg_database_owner',
           (SELECT max(oid) FROM pg_largeobject_metadata)); END $$`,
      );
      let kinds: Record<string, number> = {};
      await waitFor(async () => {
        const st = JSON.parse((await f.cli(["status", "--json"])).stdout);
        const row = st.rows.find((r: { role: string }) => r.role === tenant);
        kinds = row.usage_by_kind;
        return kinds.tables! >= 512 * 1024 && kinds.catalog_text! > 0 &&
          kinds.large_objects! >= 256 * 1024;
      }, {
        what: "the given table, its comment and large object to count against the owner",
        timeout: 20_000,
      }).catch((err) => {
        throw new Error(`${err.message}: ${JSON.stringify(kinds)}`);
      });
      // Made as pg_database_owner and filled past the limit: locked.
      await sql.unsafe("SET ROLE pg_database_owner");
      await sql.unsafe("CREATE TABLE made (x text)");
      await fillUntilStopped(sql, "made", 2048);
      await f.waitLocked(tenant, 20_000);
      // Untouched, the database cost nothing; written, it is watched.
      assert.ok(d.find("listening").some((l) => l.database === db), d.dump());
      const locked = await d.waitForLog((l) => l.msg === "role locked" && l.role === tenant);
      assert.ok(Number(locked.usage_bytes) > 2 * MiB, d.dump());
    } finally {
      await dropDatabases([db]);
    }
  });
});
