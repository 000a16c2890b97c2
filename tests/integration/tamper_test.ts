/**
 * Bad actors: a limited role moving its data out of sight (owner change, another schema), and
 * schema, table and database names built to break SQL.
 */
import assert from "node:assert/strict";
import {
  adminUrl,
  client,
  fill,
  fillUntilStopped,
  installAs,
  waitFor,
  withFixture,
} from "../_helpers.ts";

const MiB = 1024 * 1024;

Deno.test("a limited role giving its table to an unlimited group, or moving it to another schema, is reported within a sweep", async () => {
  await withFixture({ monitor: { sweep_interval: 1 } }, async (f) => {
    const group = await f.createRole(`shelter_${f.id}`, "NOLOGIN");
    const role = await f.createRole(`mover_${f.id}`, "LOGIN", { schema: true });
    await f.exec("GRANT %I TO %I", [group, role]);
    await f.exec("CREATE SCHEMA %I AUTHORIZATION %I", [`elsewhere_${f.id}`, role]);
    await f.exec("GRANT CREATE ON SCHEMA %I TO %I", [role, group]);
    await f.writeConfig([{ user: role, soft_limit: MiB, hard_limit: 4 * MiB }]);
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE given (x text)");
    await sql.unsafe("CREATE TABLE moved (x text)");
    await fill(sql, "given", 512);
    await fill(sql, "moved", 64);
    const d = await f.startDaemon();
    const sweeps = d.find("sweep done").length;
    await waitFor(() => d.find("sweep done").length > sweeps, { what: "a sweep that sees both" });

    await sql.unsafe(`ALTER TABLE given OWNER TO "${group}"`);
    await sql.unsafe(`ALTER TABLE moved SET SCHEMA "elsewhere_${f.id}"`);
    const tamper = async () =>
      (await f.admin.unsafe(
        `SELECT detail->>'reason' AS reason FROM postgres_monitor.event_log
          WHERE event = 'tamper' AND rolname = $1 ORDER BY id`,
        [role],
      )).map((r) => String(r.reason));
    await waitFor(async () => (await tamper()).length >= 2, {
      what: "two tamper events",
      timeout: 10_000,
    });
    const reasons = await tamper();
    assert.ok(
      reasons.some((r) =>
        r.includes(`${role}.given`) && r.includes(`owner changed from ${role} to ${group}`)
      ),
      reasons.join("\n"),
    );
    assert.ok(
      reasons.some((r) => r.includes(`moved from schema ${role} to elsewhere_${f.id}`)),
      reasons.join("\n"),
    );
    // The moved table is still counted, and still notifies: its trigger went along with it.
    const [trg] = await f.admin.unsafe(
      `SELECT count(*)::int AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relname = 'moved' AND NOT t.tgisinternal AND t.tgenabled <> 'D'`,
    );
    assert.ok(trg!.n >= 1, "the notify trigger is still attached");
    await fillUntilStopped(sql, `"elsewhere_${f.id}".moved`, 4096);
    await f.waitLocked(role);
    // Reported once each, not at every sweep.
    const sweepsNow = d.find("sweep done").length;
    await waitFor(() => d.find("sweep done").length >= sweepsNow + 2, { what: "two more sweeps" });
    assert.equal((await tamper()).length, 2, (await tamper()).join("\n"));
  });
});

/** Names built to break string-built SQL and naive quoting. */
const ODD = `q"uo'te \\ sp%ce é`;

Deno.test("schema, table and database names with quotes, backslashes, spaces, % and non-ASCII are measured and enforced exactly", async () => {
  await withFixture({}, async (f) => {
    const dbName = `pgmon ${ODD} ${f.id}`;
    const root = client("postgres");
    await root.unsafe(`SELECT 1`);
    const [create] = await root.unsafe("SELECT format('CREATE DATABASE %I', $1::text) AS q", [
      dbName,
    ]);
    await root.unsafe(String(create!.q));
    try {
      const role = await f.createRole(`odd ${ODD} ${f.id}`, "LOGIN");
      await f.writeConfig([{ user: role, soft_limit: MiB, hard_limit: 2 * MiB }], {
        ...f.monitor,
        databases: [f.controlDb, dbName],
      });
      const installed = await installAs(await f.flags(), f.dir, adminUrl());
      assert.equal(installed.code, 0, installed.stderr);
      const schema = `s ${ODD}`;
      const table = `t ${ODD}`;
      await f.exec("GRANT CREATE ON DATABASE %I TO %I", [dbName, role], "postgres");
      const sql = f.as(role, dbName);
      const [stmts] = await sql.unsafe(
        `SELECT format('CREATE SCHEMA %I', $1::text) AS s,
                format('CREATE TABLE %I.%I (x text)', $1::text, $2::text) AS t,
                format('%I.%I', $1::text, $2::text) AS q`,
        [schema, table],
      );
      await sql.unsafe(String(stmts!.s));
      await sql.unsafe(String(stmts!.t));
      const d = await f.startDaemon();
      await fill(sql, String(stmts!.q), 1536).catch(() => {});
      await waitFor(async () => {
        const s = await f.cli(["status", "--json"]);
        return JSON.parse(s.stdout).rows.find((r: { role: string }) => r.role === role)
          ?.usage_bytes > MiB;
      }, { what: "the odd table measured in the odd database" });
      await fill(sql, String(stmts!.q), 1536).catch(() => {});
      await f.waitLocked(role);
      await sql.end({ timeout: 1 });
      assert.deepEqual(d.raw, [], "no unparsed output");
      assert.ok(!d.dump().includes("syntax error"), d.dump());
      // Uninstall must reach the odd database too.
      const un = await f.cli(["uninstall", "--admin-url", adminUrl()]);
      assert.equal(un.code, 0, un.stderr);
    } finally {
      const [drop] = await root.unsafe(
        "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text) AS q",
        [dbName],
      );
      await root.unsafe(String(drop!.q));
      await root.end();
    }
  });
});
