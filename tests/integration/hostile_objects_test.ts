/**
 * Hostile objects: a tenant's code must never run as the monitoring role. A database a tenant
 * created (CREATEDB) with its own postgres_monitor schema; functions, aggregates and operators
 * planted where an unqualified name would find them (public, the "$user" schema); a tenant-owned
 * database with hostile ALTER DATABASE ... SET settings.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  adminUrl,
  client,
  type DaemonProcess,
  fill,
  fillUntilStopped,
  type Fixture,
  type Sql,
  uid,
  waitFor,
  withFixture,
} from "../_helpers.ts";

const MiB = 1024 * 1024;
const ROOT = new URL("../../", import.meta.url);

/** Creates database `name` as `owner` (from template0, like a tenant with CREATEDB). */
async function createDatabaseAs(owner: string, name: string): Promise<void> {
  const sql = client("postgres", owner);
  try {
    const [q] = await sql.unsafe(
      "SELECT format('CREATE DATABASE %I TEMPLATE template0', $1::text) AS q",
      [
        name,
      ],
    );
    await sql.unsafe(String(q!.q));
  } finally {
    await sql.end();
  }
}

/** Drops a database created by a test, ending its sessions. */
async function dropDatabase(name: string): Promise<void> {
  const root = client("postgres");
  try {
    const [q] = await root.unsafe(
      "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text) AS q",
      [name],
    );
    await root.unsafe(String(q!.q));
  } finally {
    await root.end();
  }
}

/**
 * Runs `stmt` (with %I placeholders for `names`) as a superuser in `database`, formatted by
 * pg_catalog.format explicitly: after the planting, an unqualified format() would be the tenant's.
 */
async function adminExec(database: string, stmt: string, names: string[] = []): Promise<void> {
  const sql = client(database);
  try {
    const args = names.map((_, i) => `, $${i + 2}::text`).join("");
    const [q] = await sql.unsafe(`SELECT pg_catalog.format($1${args}) AS q`, [stmt, ...names]);
    await sql.unsafe(String(q!.q));
  } finally {
    await sql.end();
  }
}

/**
 * Canary plumbing, created by the connected tenant in `schema`: a table and a sequence anyone may
 * write, and `canary(text)`, which records who called it. A call by the monitoring role also
 * takes a sequence value, which (unlike the row) survives a rollback of the calling statement.
 */
async function plantCanary(sql: Sql, schema: string, monitor: string): Promise<void> {
  await sql.unsafe(
    "SELECT set_config('pgmon.canary', $1, false), set_config('pgmon.mon', $2, false)",
    [
      schema,
      monitor,
    ],
  );
  await sql.unsafe(
    `DO $do$ DECLARE s text := current_setting('pgmon.canary'); BEGIN
       EXECUTE format('CREATE TABLE %I.canary (who text, what text)', s);
       EXECUTE format('CREATE SEQUENCE %I.canary_seq', s);
       EXECUTE format('GRANT INSERT, SELECT ON %I.canary TO PUBLIC', s);
       EXECUTE format('GRANT USAGE, SELECT, UPDATE ON SEQUENCE %I.canary_seq TO PUBLIC', s);
       EXECUTE format($f$CREATE FUNCTION %I.canary(what text) RETURNS void LANGUAGE plpgsql
         AS $b$ BEGIN
           IF current_user OPERATOR(pg_catalog.=) %L THEN PERFORM pg_catalog.nextval(%L); END IF;
           INSERT INTO %I.canary VALUES (current_user, what);
         END $b$ $f$, s, current_setting('pgmon.mon'), format('%I.canary_seq', s), s);
       EXECUTE format('GRANT EXECUTE ON FUNCTION %I.canary(text) TO PUBLIC', s);
     END $do$`,
  );
}

/**
 * Calls of the canary in `schema` of `database` by the monitoring role: whether any happened (the
 * sequence) and what it called (the rows that committed).
 */
async function canaryCalls(
  database: string,
  schema: string,
  monitor: string,
): Promise<{ n: number; who: string }> {
  const sql = client(database);
  try {
    const [q] = await sql.unsafe(
      `SELECT pg_catalog.format('SELECT (SELECT is_called FROM %1$I.canary_seq) AS called,
         (SELECT string_agg(DISTINCT who || ''/'' || what, '', '') FROM %1$I.canary
           WHERE who = %2$L) AS who', $1::text, $2::text) AS q`,
      [schema, monitor],
    );
    const [row] = await sql.unsafe(String(q!.q));
    return { n: row!.called ? 1 : 0, who: String(row!.who ?? "") };
  } finally {
    await sql.end();
  }
}

/** Every SQL statement's text the daemon may run: sql/*.sql and SQL strings in lib/**.ts. */
async function daemonSqlText(): Promise<string> {
  const parts: string[] = [];
  for await (const e of Deno.readDir(new URL("sql/", ROOT))) {
    if (e.name.endsWith(".sql")) {
      parts.push(await Deno.readTextFile(new URL(`sql/${e.name}`, ROOT)));
    }
  }
  const walk = async (dir: URL) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await walk(new URL(`${e.name}/`, dir));
      else if (e.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(new URL(e.name, dir));
        for (const m of text.matchAll(/`[^`]*`|"(?:[^"\\\n]|\\.)*"/g)) {
          if (/\b(SELECT|INSERT|UPDATE|DELETE|VALUES|LISTEN)\b/.test(m[0])) parts.push(m[0]);
        }
      }
    }
  };
  await walk(new URL("lib/", ROOT));
  return parts.join("\n");
}

/** Names called like functions in the daemon's SQL (qualified or not), SQL keywords aside. */
async function functionNames(): Promise<string[]> {
  const text = await daemonSqlText();
  const names = new Set<string>();
  for (const m of text.matchAll(/(?<![\w$])(?:pg_catalog\.)?([a-z_][a-z0-9_]*)\s*\(/gi)) {
    names.add(m[1]!.toLowerCase());
  }
  const notFunctions = new Set([
    "select",
    "in",
    "any",
    "all",
    "array",
    "exists",
    "values",
    "as",
    "on",
    "filter",
    "over",
    "and",
    "or",
    "not",
    "when",
    "where",
    "from",
    "join",
    "coalesce",
    "greatest",
    "least",
    "nullif",
    "using",
    "with",
    "into",
    "returns",
    "table",
    "cast",
    "lateral",
    "exception",
  ]);
  return [...names].filter((n) => !notFunctions.has(n) && n.length < 60).sort();
}

/**
 * As the tenant connected by `sql`: for every name, functions of several signatures and an
 * aggregate over text in `schema`, each calling the canary; plus operators =, <>, <, >, ||, - on
 * (name, text), (oid, text), (oid, bigint) and (text, name). Names are quoted on the server.
 */
async function plantOverloads(sql: Sql, schema: string, names: string[]): Promise<number> {
  const [row] = await sql.unsafe(
    `CREATE OR REPLACE FUNCTION pg_temp.plant(s text, names text[]) RETURNS int
     LANGUAGE plpgsql AS $plant$
     DECLARE
       n text; sig text; ret text; op text; planted int := 0;
     BEGIN
       FOREACH n IN ARRAY names LOOP
         FOREACH sig IN ARRAY ARRAY['text, text', 'name', 'bigint', 'jsonb', 'oid', 'oid, text',
                                    'text, bigint, oid, bigint', 'interval', 'text, jsonb'] LOOP
           BEGIN
             -- A plausible result type, so that the daemon's statement goes through.
             ret := CASE WHEN n LIKE 'jsonb%' OR n LIKE 'json%' THEN 'jsonb' ELSE 'text' END;
             EXECUTE format($f$CREATE FUNCTION %I.%I(%s) RETURNS %s LANGUAGE plpgsql AS
               $b$ BEGIN PERFORM %I.canary(%L); RETURN NULL; END $b$ $f$,
               s, n, sig, ret, s, n || '(' || sig || ')');
             EXECUTE format('GRANT EXECUTE ON FUNCTION %I.%I(%s) TO PUBLIC', s, n, sig);
             planted := planted + 1;
           EXCEPTION WHEN OTHERS THEN NULL;
           END;
         END LOOP;
         BEGIN
           EXECUTE format($f$CREATE FUNCTION %I.%I(jsonb, text) RETURNS jsonb LANGUAGE plpgsql
             AS $b$ BEGIN PERFORM %I.canary(%L); RETURN '[]'::jsonb; END $b$ $f$,
             s, 'sfunc_' || n, s, n || '(aggregate)');
           EXECUTE format('CREATE AGGREGATE %I.%I(text) (SFUNC = %I.%I, STYPE = jsonb)',
             s, n, s, 'sfunc_' || n);
           planted := planted + 1;
         EXCEPTION WHEN OTHERS THEN NULL;
         END;
       END LOOP;
       FOREACH sig IN ARRAY ARRAY['name, text', 'oid, text', 'oid, bigint', 'text, name'] LOOP
         EXECUTE format($f$CREATE FUNCTION %I.opfn(%s) RETURNS boolean LANGUAGE plpgsql AS
           $b$ BEGIN PERFORM %I.canary(%L); RETURN false; END $b$ $f$,
           s, sig, s, 'operator(' || sig || ')');
         FOREACH op IN ARRAY ARRAY['=', '<>', '<', '>', '||', '-'] LOOP
           BEGIN
             EXECUTE format('CREATE OPERATOR %I.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %I.opfn)',
               s, op, split_part(sig, ', ', 1), split_part(sig, ', ', 2), s);
             planted := planted + 1;
           EXCEPTION WHEN OTHERS THEN NULL;
           END;
         END LOOP;
       END LOOP;
       RETURN planted;
     END $plant$`,
  ).then(() =>
    sql.unsafe("SELECT pg_temp.plant($1, $2::text::text[]) AS n", [
      schema,
      `{${names.map((n) => `"${n}"`).join(",")}}`,
    ])
  );
  return Number(row!.n);
}

/** The monitoring role's per-role and per-database settings (pg_db_role_setting). */
async function monitorSettings(f: Fixture): Promise<string[]> {
  const rows = await f.admin.unsafe(
    `SELECT unnest(s.setconfig) AS c FROM pg_db_role_setting s
       JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = $1`,
    [f.monitorRole],
  );
  // install pins transaction_timeout = 0 on PostgreSQL 17+; anything else was planted.
  return rows.map((r) => String(r.c)).filter((c) => c !== "transaction_timeout=0");
}

Deno.test("a tenant's own database with a look-alike postgres_monitor schema is never called: reported once as tamper, enforcement goes on", async () => {
  await withFixture({ monitor: { sweep_interval: 1 } }, async (f) => {
    const evil = await f.createRole(`evil_${f.id}`, "LOGIN CREATEDB", { schema: true });
    const victim = await f.createRole(`victim_${f.id}`, "LOGIN", { schema: true });
    await f.writeConfig([
      { user: evil, soft_limit: 64 * MiB, hard_limit: 128 * MiB },
      { user: victim, soft_limit: MiB, hard_limit: 2 * MiB },
    ], { ...f.monitor, databases: null });
    const db = `evil_db_${uid()}`;
    let d: DaemonProcess | undefined;
    try {
      d = await f.startDaemon();
      await createDatabaseAs(evil, db);
      const sql = client(db, evil);
      try {
        await plantCanary(sql, "public", f.monitorRole);
        await sql.unsafe("CREATE SCHEMA postgres_monitor");
        await sql.unsafe("GRANT USAGE ON SCHEMA postgres_monitor TO PUBLIC");
        const body = `BEGIN
            EXECUTE format('ALTER ROLE %I SET default_transaction_read_only = on', current_user);
            PERFORM public.canary('$NAME');
            PERFORM pg_terminate_backend(a.pid) FROM pg_stat_activity a
              WHERE a.usename = current_user AND a.pid <> pg_backend_pid();
          END`;
        await sql.unsafe(
          `CREATE FUNCTION postgres_monitor.sync_triggers(roles oid[], max_changes integer)
           RETURNS TABLE (relid oid, relation text, action text, detail text)
           LANGUAGE plpgsql AS $$${body.replace("$NAME", "sync_triggers")}$$`,
        );
        await sql.unsafe(
          `CREATE FUNCTION postgres_monitor.active_writes(roles oid[], min_age interval)
           RETURNS TABLE (relid oid) LANGUAGE plpgsql AS $$${
            body.replace("$NAME", "active_writes")
          }$$`,
        );
        // A table of its own there, written now and then: active_writes has reason to run.
        await sql.unsafe("CREATE TABLE public.t (x text)");
        await fill(sql, "public.t", 64);
      } finally {
        await sql.end();
      }

      const daemon = d;
      // The sweeps reach the new database (the daemon lists databases at every sweep).
      await daemon.waitForLog((l) => l.database === db, { what: `a sweep of ${db}` });
      const sweeps = daemon.find("sweep done").length;
      await waitFor(() => daemon.find("sweep done").length >= sweeps + 3, {
        what: "three more sweeps",
      });
      assert.deepEqual(await canaryCalls(db, "public", f.monitorRole), { n: 0, who: "" });
      assert.deepEqual(await monitorSettings(f), []);
      const line = await daemon.waitForLog(
        (l) =>
          l.msg === "untrusted postgres_monitor schema: never called, sweeps only" &&
          l.database === db,
        { what: "the untrusted schema to be reported", timeout: 1000 },
      );
      assert.ok(JSON.stringify(line.owners).includes(evil), JSON.stringify(line));
      // One tamper event, naming the database and the owner, however many sweeps saw it.
      const tamper = await f.admin.unsafe(
        `SELECT rolname::text AS who, detail->>'reason' AS reason FROM postgres_monitor.event_log
          WHERE event = 'tamper' AND strpos(detail->>'reason', $1) > 0`,
        [db],
      );
      assert.equal(tamper.length, 1, JSON.stringify(tamper));
      assert.equal(tamper[0]!.who, evil);
      assert.match(String(tamper[0]!.reason), /owned by non-superuser/);

      // Enforcement works for everyone: another tenant crossing its hard limit is locked.
      await f.overHard(victim);
      assert.deepEqual(await canaryCalls(db, "public", f.monitorRole), { n: 0, who: "" });
    } finally {
      // The tenant owns the database: it goes before the role (dropped by the fixture).
      await d?.stop();
      await dropDatabase(db);
    }
  });
});

Deno.test('functions, aggregates and operators a tenant plants in public and in the monitoring role\'s "$user" schema never run through a whole cycle', async () => {
  await withFixture({ extraDatabases: 1, monitor: { sweep_interval: 1 } }, async (f) => {
    const role = await f.createRole(`planter_${f.id}`, "LOGIN", { schema: true });
    const other = f.extraDbs[0]!;
    await adminExec(other, "CREATE SCHEMA %I AUTHORIZATION %I", [role, role]);
    await f.writeConfig([
      { user: role, soft_limit: MiB, hard_limit: 2 * MiB, manual_unlock: true },
    ]);
    const names = await functionNames();
    for (const must of ["jsonb_agg", "jsonb_array_elements_text", "format", "concat_ws"]) {
      assert.ok(names.includes(must), `${must} in ${names.join(" ")}`);
    }
    const schemas = ["public", f.monitorRole];
    for (const db of [f.controlDb, other]) {
      // The PostgreSQL 14 default (and any cluster upgraded from it); on 15+ it must be granted.
      await adminExec(db, "GRANT CREATE, USAGE ON SCHEMA public TO PUBLIC");
      // A "$user" schema for the monitoring role, owned by the tenant.
      await adminExec(db, "CREATE SCHEMA %I AUTHORIZATION %I", [f.monitorRole, role]);
      const sql = client(db, role);
      try {
        // The tenant's own statements must not trip over what it plants.
        await sql.unsafe("SET search_path = pg_catalog, pg_temp");
        await sql.unsafe("SELECT set_config('pgmon.s', $1, false)", [f.monitorRole]);
        await sql.unsafe(
          "DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', current_setting('pgmon.s')); END $$",
        );
        for (const s of schemas) {
          await plantCanary(sql, s, f.monitorRole);
          const planted = await plantOverloads(sql, s, names);
          assert.ok(planted > names.length * 5, `planted ${planted} in ${db}.${s}`);
        }
      } finally {
        await sql.end();
      }
    }
    const noCanary = async () => {
      for (const db of [f.controlDb, other]) {
        for (const s of schemas) {
          assert.deepEqual(
            await canaryCalls(db, s, f.monitorRole),
            { n: 0, who: "" },
            `canary in ${db}.${s}`,
          );
        }
      }
    };

    // What it planted is catalog text (function bodies) and counts: the limits go on top of it.
    const st = await f.cli(["status", "--json"]);
    assert.equal(st.code, 0, st.stderr);
    const text = Number(JSON.parse(st.stdout).rows[0].usage_by_kind.catalog_text);
    assert.ok(text > 0, st.stdout);
    await f.writeConfig([
      { user: role, soft_limit: MiB + text, hard_limit: 2 * MiB + text, manual_unlock: true },
    ]);
    const d = await f.startDaemon();
    const sql = f.as(role);
    const there = f.as(role, other);
    await sql.unsafe("CREATE TABLE t (x text)");
    await there.unsafe("CREATE TABLE t (x text)");
    // Soft warning, from writes in both databases.
    await fill(sql, "t", 768);
    await fill(there, "t", 768);
    await waitFor(async () => (await f.events(role)).includes("soft_exceeded"), {
      what: "the soft warning",
    }).catch(async (err) => {
      await noCanary(); // the likelier cause, if it fired
      throw err;
    });
    // Hard limit: locked.
    await fillUntilStopped(sql, "t", 1536);
    await f.waitLocked(role);
    // Space freed by an administrator, then a manual unlock through the CLI.
    await adminExec(f.controlDb, "TRUNCATE %I.t", [role]);
    await adminExec(other, "TRUNCATE %I.t", [role]);
    await waitFor(async () => {
      const r = await f.cli(["unlock", role]);
      return r.code === 0 ? r : undefined;
    }, { what: "the manual unlock", timeout: 15_000 });
    assert.ok(await f.canLogin(role));
    const status = await f.cli(["status", "--json"]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).rows[0].state, "ok");
    const sweeps = d.find("sweep done").length;
    await waitFor(() => d.find("sweep done").length >= sweeps + 2, { what: "two more sweeps" });
    await noCanary();
    assert.deepEqual(await monitorSettings(f), []);
  });
});

/**
 * A client on `database` that opts out of the database's hostile settings with startup
 * parameters (strings, as the server takes them; postgres.js's typings want other types).
 */
function optedOut(database: string, user: string | undefined, version: number): Sql {
  const options = {
    database,
    ...(user === undefined ? {} : { username: user }),
    max: 1,
    onnotice: () => {},
    connection: {
      default_transaction_read_only: "off",
      statement_timeout: "0",
      lock_timeout: "0",
      idle_session_timeout: "0",
      idle_in_transaction_session_timeout: "0",
      search_path: "public",
      ...(version >= 170000 ? { transaction_timeout: "0" } : {}),
    },
  } as unknown as postgres.Options<Record<string, never>>;
  return postgres(adminUrl(), options) as unknown as Sql;
}

Deno.test("a tenant-owned database with hostile ALTER DATABASE settings is still installed, measured, and its owner locked", async () => {
  await withFixture({ monitor: { sweep_interval: 1 } }, async (f) => {
    const owner = await f.createRole(`setter_${f.id}`, "LOGIN CREATEDB");
    const db = `setter_db_${uid()}`;
    let d: DaemonProcess | undefined;
    let tenant: Sql | undefined;
    try {
      await createDatabaseAs(owner, db);
      const sql = client(db, owner);
      let version = 0;
      try {
        await sql.unsafe("CREATE SCHEMA evil");
        const [v] = await sql.unsafe("SELECT current_setting('server_version_num')::int AS v");
        version = Number(v!.v);
        const settings = [
          "search_path = 'evil, public'",
          "default_transaction_read_only = on",
          "default_transaction_isolation = 'serializable'",
          "statement_timeout = '1ms'",
          "lock_timeout = '1ms'",
          "idle_in_transaction_session_timeout = '1s'",
          "idle_session_timeout = '1s'",
          "DateStyle = 'SQL, DMY'",
          "IntervalStyle = 'sql_standard'",
          "TimeZone = 'Pacific/Chatham'",
          "extra_float_digits = -15",
          "bytea_output = 'escape'",
          ...(version >= 170000 ? ["transaction_timeout = '1ms'"] : []),
        ];
        for (const s of settings) {
          const [q] = await sql.unsafe(
            "SELECT format('ALTER DATABASE %I SET ', $1::text) || $2 AS q",
            [db, s],
          );
          await sql.unsafe(String(q!.q));
        }
      } finally {
        await sql.end();
      }
      await f.writeConfig([{ user: owner, soft_limit: MiB, hard_limit: 2 * MiB }], {
        ...f.monitor,
        databases: [f.controlDb, db],
      });
      const install = await f.cli(["install", "--admin-url", adminUrl(), "--no-template1"]);
      assert.equal(install.code, 0, install.stderr + install.stdout);
      d = await f.startDaemon();
      // The owner itself opts out of its database's settings (startup parameters) and writes.
      tenant = optedOut(db, owner, version);
      await tenant.unsafe("CREATE TABLE public.t (x text)");
      await fill(tenant, "public.t", 3072).catch((err) => {
        if (!["CONNECTION_CLOSED", "57P01"].includes((err as { code?: string }).code ?? "")) {
          throw err;
        }
      });
      await f.waitLocked(owner);
      const daemon = d;
      // sync_triggers ran there (read-only by default) and the event trigger tagged the new table.
      const check = optedOut(db, undefined, version);
      try {
        const [t] = await check.unsafe(
          `SELECT count(*)::int AS n FROM pg_catalog.pg_trigger
            WHERE tgrelid = 'public.t'::regclass AND tgname = 'postgres_monitor_notify'`,
        );
        assert.equal(t!.n, 1, "the notify trigger is on the tenant's table");
      } finally {
        await check.end();
      }
      assert.equal(daemon.find("could not attach notify trigger").length, 0, daemon.dump());
      assert.equal(daemon.find("cannot measure database").length, 0, daemon.dump());
      const status = await f.cli(["status", "--json"]);
      assert.equal(status.code, 0, status.stderr);
      const row = JSON.parse(status.stdout).rows[0];
      assert.equal(row.state, "locked");
      assert.ok(Math.abs(Date.parse(row.locked_at) - Date.now()) < 60_000, row.locked_at);
    } finally {
      await tenant?.end({ timeout: 1 }).catch(() => {});
      await d?.stop();
      await dropDatabase(db);
    }
  });
});

Deno.test("a control schema with an object a non-superuser owns is refused by the daemon, status and unlock; install refuses a look-alike schema a database owner made", async () => {
  await withFixture({}, async (f) => {
    const tenant = await f.createRole(`owner_${f.id}`, "LOGIN CREATEDB");
    await f.writeConfig([{ user: tenant, soft_limit: MiB, hard_limit: 2 * MiB }]);
    await adminExec(
      f.controlDb,
      "ALTER FUNCTION postgres_monitor.unlock_role(oid, text, text) OWNER TO %I",
      [tenant],
    );
    for (const args of [["status"], ["unlock", tenant]]) {
      const r = await f.cli(args);
      assert.notEqual(r.code, 0, `${args[0]}: ${r.stdout}`);
      assert.match(r.stderr, /control database '[^']+' is not trusted/, r.stderr);
      assert.ok(r.stderr.includes(tenant), r.stderr);
    }
    const d = await f.startDaemon([], false);
    const refused = await d.waitForLog(
      (l) => l.msg === "control database unavailable" && String(l.error).includes("not trusted"),
      { what: "the daemon to refuse the control database" },
    );
    assert.ok(String(refused.error).includes(tenant), String(refused.error));
    assert.equal(d.find("running").length, 0, d.dump());
    // Once a superuser owns it again, the daemon goes on by itself.
    await adminExec(
      f.controlDb,
      "ALTER FUNCTION postgres_monitor.unlock_role(oid, text, text) OWNER TO CURRENT_USER",
    );
    await d.waitForLog((l) => l.msg === "running", { what: "the daemon to start" });

    // install: a database whose owner made its own postgres_monitor schema first.
    const db = `lookalike_db_${uid()}`;
    try {
      await createDatabaseAs(tenant, db);
      const sql = client(db, tenant);
      try {
        await sql.unsafe("CREATE SCHEMA postgres_monitor");
      } finally {
        await sql.end();
      }
      await f.writeConfig(undefined, { ...f.monitor, databases: [f.controlDb, db] });
      const r = await f.cli(["install", "--admin-url", adminUrl(), "--no-template1"]);
      assert.notEqual(r.code, 0, r.stdout);
      assert.ok(r.stderr.includes(`Cannot install in database '${db}'`), r.stderr);
      assert.ok(r.stderr.includes(`owned by non-superuser ${tenant}`), r.stderr);
      // Nothing of ours was left there: no event trigger would run its functions as superuser.
      const check = client(db);
      try {
        const [row] = await check.unsafe(
          `SELECT (SELECT count(*) FROM pg_event_trigger)::int AS triggers,
                  (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = 'postgres_monitor')::int AS functions`,
        );
        assert.deepEqual({ ...row }, { triggers: 0, functions: 0 });
      } finally {
        await check.end();
      }
    } finally {
      await d.stop();
      await dropDatabase(db);
    }
  });
});
