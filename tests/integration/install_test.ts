/**
 * What `install` puts in the cluster: DDL keeps working for everyone, triggers follow ownership,
 * the installed objects cannot be turned against other roles, `uninstall` removes it all.
 */
import assert from "node:assert/strict";
import { adminUrl, client, type Fixture, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;

async function notifyTriggers(f: Fixture): Promise<string[]> {
  const rows = await f.admin.unsafe(
    `SELECT c.relname::text AS t FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
      WHERE g.tgname = 'postgres_monitor_notify' ORDER BY 1`,
  );
  return rows.map((r) => String(r.t));
}

Deno.test("after install, every kind of CREATE TABLE and data-writing DDL still works for everyone", async () => {
  await withFixture({}, async (f) => {
    const limited = await f.createRole(`ddl_${f.id}`);
    const free = await f.createRole(`free_${f.id}`);
    await f.writeConfig([{ user: limited, soft_limit: 10 * MiB, hard_limit: 20 * MiB }]);
    for (const r of [limited, free]) await f.exec("CREATE SCHEMA %I AUTHORIZATION %I", [r, r]);
    const d = await f.startDaemon();
    await d.waitForLog((l) => l.msg === "sweep done");
    const statements = [
      "CREATE TABLE a (id int PRIMARY KEY, x text)",
      "INSERT INTO a SELECT g, 'x' FROM generate_series(1, 100) g",
      "CREATE TABLE b AS SELECT * FROM a",
      "SELECT * INTO c FROM a",
      "CREATE TEMP TABLE tmp AS SELECT * FROM a",
      "CREATE INDEX a_x ON a (x)",
      "CREATE TABLE p (id int, x text) PARTITION BY RANGE (id)",
      "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (1000)",
      "INSERT INTO p SELECT * FROM a",
      "CREATE MATERIALIZED VIEW mv AS SELECT * FROM a",
      "REFRESH MATERIALIZED VIEW mv",
      "ALTER TABLE a ADD COLUMN y int DEFAULT 1",
      "CREATE UNLOGGED TABLE u (x int)",
      "CREATE TABLE IF NOT EXISTS a (id int)",
      "TRUNCATE b",
      "DROP TABLE c",
    ];
    for (const role of [limited, free]) {
      const sql = f.as(role);
      for (const s of statements) {
        await sql.unsafe(s).catch((err) => {
          throw new Error(`'${s}' failed for ${role}: ${err.message}`);
        });
      }
    }
    // Superuser DDL too, including an owner change onto the limited role.
    await f.admin.unsafe("CREATE TABLE public.owned_later (x int)");
    await f.exec("ALTER TABLE public.owned_later OWNER TO %I", [limited]);
    const triggers = await notifyTriggers(f);
    // The limited role's tables (new, temporary, re-owned) carry the trigger; the free role's and
    // dropped ones do not.
    for (const t of ["a", "b", "p", "p1", "tmp", "u", "owned_later"]) {
      assert.equal(triggers.filter((x) => x === t).length, 1, `${t} in ${triggers}`);
    }
    assert.equal(triggers.includes("c"), false);
    assert.equal(triggers.length, 7, String(triggers));
    assert.equal(d.find("could not attach notify trigger").length, 0);
  });
});

Deno.test("a limited role cannot use the installed functions against anyone", async () => {
  await withFixture({}, async (f) => {
    const role = await f.createRole(`evil_${f.id}`);
    const victim = await f.createRole(`victim_${f.id}`);
    const sql = f.as(role);
    const calls = [
      [
        "SELECT postgres_monitor.lock_role(oid, 0, 0, 0, false, 'x') FROM pg_roles WHERE rolname = $1",
        [victim],
      ],
      ["SELECT postgres_monitor.terminate_sessions(oid) FROM pg_roles WHERE rolname = $1", [
        victim,
      ]],
      ["SELECT postgres_monitor.unlock_role(oid, 'x', 'x') FROM pg_roles WHERE rolname = $1", [
        victim,
      ]],
      ["SELECT * FROM postgres_monitor.sync_triggers(ARRAY[]::oid[], 10)", []],
      // Which tables other roles' open transactions write to, and why a role is protected: not
      // for a limited role to learn.
      ["SELECT * FROM postgres_monitor.active_writes(ARRAY[]::oid[], '0'::interval)", []],
      // Which logins are creating relations, and how big they are: not for a tenant either.
      ["SELECT * FROM postgres_monitor.creating_bytes(ARRAY[]::oid[], '0'::interval)", []],
      ["SELECT postgres_monitor.protected_reason(oid) FROM pg_roles WHERE rolname = $1", [
        victim,
      ]],
      ["SELECT * FROM postgres_monitor.role_lock", []],
      ["SELECT * FROM postgres_monitor.event_log", []],
      ["INSERT INTO postgres_monitor.event_log (rolname, event) VALUES ('x', 'unlocked')", []],
    ] as const;
    for (const [text, params] of calls) {
      await assert.rejects(sql.unsafe(text, [...params] as never), /permission denied/, text);
    }
    assert.equal(await f.canLogin(victim), true);
  });
});

Deno.test("the monitoring role cannot terminate sessions of a role it has not locked", async () => {
  await withFixture({}, async (f) => {
    const other = await f.createRole(`other_${f.id}`);
    const busy = f.as(other);
    await busy`SELECT 1`;
    const mon = f.as(f.monitorRole);
    await assert.rejects(
      mon.unsafe(
        "SELECT postgres_monitor.terminate_sessions(oid) FROM pg_roles WHERE rolname = $1",
        [other],
      ),
      /not locked by this daemon/,
    );
    await busy`SELECT 1`;
    assert.equal(
      (await mon.unsafe(
        "SELECT postgres_monitor.unlock_role(oid, 'x', 'x') AS r FROM pg_roles WHERE rolname = $1",
        [other],
      ))[0]?.r,
      "not_locked",
    );
  });
});

Deno.test("the event log is append-only, even for its owner", async () => {
  await withFixture({}, async (f) => {
    await f.admin.unsafe(
      "INSERT INTO postgres_monitor.event_log (rolname, event) VALUES ('x', 'unlocked')",
    );
    await assert.rejects(f.admin.unsafe("DELETE FROM postgres_monitor.event_log"), /append-only/);
    await assert.rejects(
      f.admin.unsafe("UPDATE postgres_monitor.event_log SET rolname = 'y'"),
      /append-only/,
    );
  });
});

Deno.test("install is idempotent and uninstall removes every object it created and nothing else", async () => {
  await withFixture({ extraDatabases: 1 }, async (f) => {
    const role = await f.createRole(`un_${f.id}`, "LOGIN", { schema: true });
    await f.writeConfig([{ user: role, soft_limit: 10 * MiB, hard_limit: 20 * MiB }]);

    const again = await f.cli(["install", "--admin-url", adminUrl(), "--no-template1"]);
    assert.equal(again.code, 0, again.stderr);
    const d = await f.startDaemon();
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE keep_me (x int)");
    await waitFor(async () => (await notifyTriggers(f)).includes("keep_me"));
    await d.stop();

    const r = await f.cli(["uninstall", "--admin-url", adminUrl()]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    for (const db of [f.controlDb, ...f.extraDbs]) {
      const c = db === f.controlDb ? f.admin : client(db);
      try {
        const [row] = await c.unsafe(`SELECT
          (SELECT count(*) FROM pg_namespace WHERE nspname = 'postgres_monitor')::int AS schemas,
          (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'postgres_monitor%')::int AS evt,
          (SELECT count(*) FROM pg_trigger WHERE tgname = 'postgres_monitor_notify')::int AS trg`);
        assert.deepEqual({ ...row }, { schemas: 0, evt: 0, trg: 0 }, db);
      } finally {
        if (c !== f.admin) await c.end();
      }
    }
    // The user's table is untouched.
    await sql.unsafe("INSERT INTO keep_me VALUES (1)");
    // DDL still works after uninstall.
    await sql.unsafe("CREATE TABLE after_uninstall (x int)");
  });
});

// The owner's own DROP / DISABLE is refused (silence_test.ts); a superuser's goes through.
Deno.test("a notify trigger that a superuser drops or disables is restored at the next sweep and reported", async () => {
  await withFixture({ monitor: { sweep_interval: 0.5 } }, async (f) => {
    const role = await f.createRole(`tamper_${f.id}`, "LOGIN", { schema: true });
    await f.writeConfig([{ user: role, soft_limit: 10 * MiB, hard_limit: 20 * MiB }]);

    const d = await f.startDaemon();
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE a (x int)");
    await sql.unsafe("CREATE TABLE b (x int)");
    await waitFor(async () => (await notifyTriggers(f)).length === 2, { what: "two triggers" });
    // Let one full sweep measure both tables after they exist.
    const seen = d.lines.length;
    await waitFor(() => d.lines.slice(seen).filter((l) => l.msg === "sweep done").length >= 2);
    await f.exec("DROP TRIGGER postgres_monitor_notify ON %I.a", [role]);
    await f.exec("ALTER TABLE %I.b DISABLE TRIGGER postgres_monitor_notify", [role]);
    const restored = await d.waitForLog((l) =>
      l.msg === "notify trigger was tampered with and has been restored" && l.action === "attached"
    );
    assert.match(String(restored.table), /\.a$/);
    const reenabled = await d.waitForLog((l) => l.action === "re-enabled");
    assert.match(String(reenabled.table), /\.b$/);
    const [row] = await f.admin.unsafe(
      "SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'postgres_monitor_notify' AND tgenabled = 'O'",
    );
    assert.equal(row?.n, 2);
  });
});

Deno.test("on PostgreSQL 16+ the monitoring role may use the reserved connections", async () => {
  await withFixture({}, async (f) => {
    const [r] = await f.admin.unsafe(
      `SELECT current_setting('server_version_num')::int >= 160000 AS v16,
              EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_use_reserved_connections')
                AND pg_has_role($1, 'pg_use_reserved_connections', 'MEMBER') AS granted`,
      [f.monitorRole],
    );
    assert.equal(r!.granted, r!.v16);
  });
});
