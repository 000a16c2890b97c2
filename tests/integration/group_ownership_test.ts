/**
 * Issue 12, case 2: storage owned by a group the tenant belongs to. A member may create objects as
 * the group (`SET ROLE`) or give it a table (`ALTER TABLE ... OWNER TO`); a group without a limit
 * of its own is charged in full to every limited member, and its tables are watched in real time
 * like the members' own. A `shared` member_of entry is one budget for the group and its members.
 */
import assert from "node:assert/strict";
import { fill, fillUntilStopped, type Fixture, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;

/** No sweep for an hour, no pg_locks watch, no counter check: only the tables' notifications. */
const REAL_TIME_ONLY = { sweep_interval: 3600, lock_poll_interval_ms: 0, verify_interval_ms: 0 };

interface StatusRow {
  role: string;
  usage_bytes: number;
  state: string;
  source: string;
  charged_groups: string[];
}

async function statusRows(f: Fixture): Promise<Record<string, StatusRow>> {
  const r = await f.cli(["status", "--json"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const rows = (JSON.parse(r.stdout) as { rows: StatusRow[] }).rows;
  return Object.fromEntries(rows.map((row) => [row.role, row]));
}

Deno.test("(a) SET ROLE to an unlimited group, CREATE TABLE, fill: the member is locked and its sessions ended", async () => {
  await withFixture({ monitor: REAL_TIME_ONLY }, async (f) => {
    const group = await f.createRole(`grp_${f.id}`, "NOLOGIN", { schema: true });
    const member = await f.createRole(`mem_${f.id}`);
    await f.exec("GRANT %I TO %I", [group, member]);
    await f.writeConfig([{ member_of: group, soft_limit: 1 * MiB, hard_limit: 2 * MiB }]);
    const d = await f.startDaemon();
    await d.waitForLog((l) => l.msg === "listening");
    const sql = f.as(member);
    const idle = f.as(member);
    await idle`SELECT 1`;
    await sql.unsafe(`SET ROLE "${group}"`);
    await sql.unsafe(`CREATE TABLE "${group}".t (x text)`);
    await fillUntilStopped(sql, `"${group}".t`, 3072);
    await f.waitLocked(member, 10_000);
    await waitFor(async () => (await f.sessions(member)) === 0, {
      what: `the sessions of '${member}' to end`,
    });
    const locked = await d.waitForLog((l) => l.msg === "role locked" && l.role === member);
    assert.ok(Number(locked.usage_bytes) > 2 * MiB, d.dump());
    // The group has no limit: nothing to lock there, and it is not a limited role of its own.
    assert.equal(d.find("role locked").filter((l) => l.role === group).length, 0);
    const rows = await statusRows(f);
    assert.equal(rows[member]?.source, `member_of '${group}'`);
    assert.deepEqual(rows[member]?.charged_groups, [group]);
    assert.ok(rows[member]!.usage_bytes > 2 * MiB, JSON.stringify(rows));
    assert.equal(rows[group], undefined);
  });
});

Deno.test("(b) CREATE TABLE, ALTER TABLE ... OWNER TO an unlimited group, then fill: the member is locked", async () => {
  await withFixture({ monitor: REAL_TIME_ONLY }, async (f) => {
    const group = await f.createRole(`grp_${f.id}`, "NOLOGIN", { schema: true });
    const member = await f.createRole(`mem_${f.id}`);
    await f.exec("GRANT %I TO %I", [group, member]);
    await f.writeConfig([{ user: member, soft_limit: 1 * MiB, hard_limit: 2 * MiB }]);
    const d = await f.startDaemon();
    await d.waitForLog((l) => l.msg === "listening");
    const sql = f.as(member);
    // Created by the member (its own table, watched), then given away before it holds anything.
    await sql.unsafe(`CREATE TABLE "${group}".t (x text)`);
    await sql.unsafe(`ALTER TABLE "${group}".t OWNER TO "${group}"`);
    const [owner] = await f.admin.unsafe(
      "SELECT relowner::regrole::text AS o FROM pg_class WHERE oid = $1::regclass",
      [`"${group}".t`],
    );
    assert.equal(owner?.o, group);
    await fillUntilStopped(sql, `"${group}".t`, 3072);
    await f.waitLocked(member, 10_000);
    const rows = await statusRows(f);
    assert.equal(rows[member]?.source, "user");
    assert.deepEqual(rows[member]?.charged_groups, [group]);
  });
});

Deno.test("(c) a shared group budget: two members under it alone, over it together, are locked and unlocked together", async () => {
  await withFixture({ monitor: REAL_TIME_ONLY }, async (f) => {
    const group = await f.createRole(`team_${f.id}`, "NOLOGIN");
    const a = await f.createRole(`a_${f.id}`, "LOGIN", { schema: true });
    const b = await f.createRole(`b_${f.id}`, "LOGIN", { schema: true });
    await f.exec("GRANT %I TO %I, %I", [group, a, b]);
    await f.writeConfig([
      { member_of: group, shared: true, soft_limit: 1 * MiB, hard_limit: 2 * MiB },
    ]);
    const d = await f.startDaemon();
    await d.waitForLog((l) => l.msg === "listening");
    // About 1.1 MiB each: over the soft limit alone, under the hard limit alone.
    const sa = f.as(a);
    await sa.unsafe("CREATE TABLE t (x text)");
    await fill(sa, "t", 1000);
    await d.waitForLog((l) => l.msg === "soft limit exceeded" && l.role === b);
    assert.equal(await f.canLogin(a), true);
    assert.equal(await f.canLogin(b), true);
    const sb = f.as(b);
    await sb.unsafe("CREATE TABLE t (x text)");
    await fillUntilStopped(sb, "t", 1000);
    await f.waitLocked(a, 10_000);
    await f.waitLocked(b, 10_000);
    const reasons = await f.admin.unsafe(
      "SELECT rolname::text AS r, reason FROM postgres_monitor.role_lock WHERE rolname IN ($1, $2)",
      [a, b],
    );
    assert.equal(reasons.length, 2);
    for (const row of reasons) {
      assert.match(String(row.reason), new RegExp(`^shared budget of group '${group}': `));
    }
    const rows = await statusRows(f);
    for (const r of [a, b]) {
      assert.equal(rows[r]?.source, `member_of '${group}' (shared)`);
      assert.equal(rows[r]?.state, "locked");
      assert.ok(rows[r]!.usage_bytes > 2 * MiB, JSON.stringify(rows));
    }
    assert.equal(rows[a]!.usage_bytes, rows[b]!.usage_bytes);
    // The data is dropped: both are unlocked.
    await f.exec("DROP TABLE %I.t", [a]);
    await f.exec("DROP TABLE %I.t", [b]);
    await waitFor(async () => (await f.canLogin(a)) && (await f.canLogin(b)), {
      what: "both members to be unlocked",
    });
    await d.waitForLog((l) => l.msg === "role unlocked" && l.role === a);
    await d.waitForLog((l) => l.msg === "role unlocked" && l.role === b);
  });
});

Deno.test("(d) abuse: a group the tenant is not in, a superuser group and an exempt member are never charged or locked", async () => {
  const monitor = { sweep_interval: 2, lock_poll_interval_ms: 0 };
  await withFixture({ monitor }, async (f) => {
    const group = await f.createRole(`grp_${f.id}`, "NOLOGIN", { schema: true });
    const stranger = await f.createRole(`other_${f.id}`, "NOLOGIN", { schema: true });
    const su = await f.createRole(`sugrp_${f.id}`, "NOLOGIN SUPERUSER", { schema: true });
    const tenant = await f.createRole(`tenant_${f.id}`);
    const ex = await f.createRole(`exempt_${f.id}`);
    await f.exec("GRANT %I TO %I, %I", [group, tenant, ex]);
    await f.exec("GRANT %I TO %I", [su, tenant]);
    await f.writeConfig([{ member_of: group, soft_limit: 1 * MiB, hard_limit: 2 * MiB }], {
      ...f.monitor,
      exempt_roles: [ex],
    });
    const d = await f.startDaemon();
    // 3 MiB owned by a group the tenant is not in, and 3 MiB owned by a superuser group it is in.
    for (const owner of [stranger, su]) {
      await f.exec("CREATE TABLE %I.t (x text)", [owner]);
      await f.exec("ALTER TABLE %I.t OWNER TO %I", [owner, owner]);
      await fill(f.admin, `"${owner}".t`, 3072);
    }
    // PostgreSQL itself refuses to give a table to a role the tenant cannot SET ROLE to.
    const sql = f.as(tenant);
    await sql.unsafe(`CREATE TABLE "${group}".mine (x text)`);
    await assert.rejects(
      sql.unsafe(`ALTER TABLE "${group}".mine OWNER TO "${stranger}"`),
      /must be (able to SET ROLE|member of role)/,
    );
    // Two sweeps later the tenant is still charged nothing of them.
    const sweeps = d.find("sweep done").length;
    await waitFor(() => d.find("sweep done").length >= sweeps + 2, { what: "two sweeps" });
    assert.equal(await f.canLogin(tenant), true, d.dump());
    let rows = await statusRows(f);
    assert.ok(rows[tenant]!.usage_bytes < 1 * MiB, JSON.stringify(rows));
    assert.deepEqual(rows[tenant]?.charged_groups, [group]);

    // The exempt member fills the group's table: the group is charged to every member; the
    // tenant is locked, the exempt member only reported.
    const e = f.as(ex);
    await e.unsafe(`SET ROLE "${group}"`);
    await e.unsafe(`CREATE TABLE "${group}".big (x text)`);
    await fill(e, `"${group}".big`, 3072);
    await f.waitLocked(tenant, 10_000);
    await d.waitForLog((l) => l.msg === "hard limit exceeded" && l.role === ex);
    await d.waitForLog((l) => l.msg === "limit on a protected role is reported but never enforced");
    assert.equal(await f.canLogin(ex), true);
    assert.equal(d.find("role locked").filter((l) => l.role === ex).length, 0);
    await e`SELECT 1`; // its session was not ended
    rows = await statusRows(f);
    assert.equal(rows[ex]?.state, "exempt");
    assert.ok(rows[tenant]!.usage_bytes > 3 * MiB && rows[tenant]!.usage_bytes < 4 * MiB);
  });
});

Deno.test("(e) a large object and catalog text a member stores as the group count against it between sweeps", async () => {
  await withFixture({ monitor: REAL_TIME_ONLY }, async (f) => {
    const group = await f.createRole(`grp_${f.id}`, "NOLOGIN", { schema: true });
    const member = await f.createRole(`mem_${f.id}`);
    await f.exec("GRANT %I TO %I", [group, member]);
    await f.writeConfig([{ user: member, soft_limit: 1 * MiB, hard_limit: 2 * MiB }]);
    const d = await f.startDaemon();
    await d.waitForLog((l) => l.msg === "listening");
    const sql = f.as(member);
    await sql.unsafe(`SET ROLE "${group}"`);
    // 1 MiB of incompressible bytes in a large object the group owns (charged about 1.35 MiB, what
    // it takes on disk): over the soft limit.
    await sql.unsafe(
      `SELECT lo_from_bytea(0, decode(string_agg(md5(g::text || random()::text), ''), 'hex'))
         FROM (SELECT generate_series(1, 64 * 1024) AS g) AS gs`,
    );
    await d.waitForLog((l) => l.msg === "soft limit exceeded" && l.role === member, {
      what: "the group's large object to count against the member",
    });
    // 1 MiB more in a comment on the group's function: over the hard limit, locked.
    await sql.unsafe(`CREATE FUNCTION "${group}".f() RETURNS int LANGUAGE sql AS 'SELECT 1'`);
    const [text] = await sql.unsafe(
      `SELECT string_agg(md5(g::text || random()::text), '') AS t
         FROM (SELECT generate_series(1, 32 * 1024) AS g) AS gs`,
    );
    await sql.unsafe(`DO $$ BEGIN EXECUTE format('COMMENT ON FUNCTION %I.f() IS %L', '${group}',
      ${"$t$"}${String(text!.t)}${"$t$"}); END $$`);
    await f.waitLocked(member, 10_000);
    const rows = await statusRows(f);
    assert.ok(rows[member]!.usage_bytes > 2 * MiB, JSON.stringify(rows[member]));
  });
});
