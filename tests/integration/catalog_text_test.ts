/**
 * Issue 12, case 4: catalog text. `COMMENT ON` its own objects, function bodies, view definitions
 * and role settings store data in the catalogs that no relation of the tenant holds; it counts
 * (kind `catalog_text`), is seen within seconds of the DDL (the `c:text` hint of the event trigger)
 * and at every sweep, and a spoofed hint flood costs at most one measurement a second.
 */
import assert from "node:assert/strict";
import { defaultMonitorConfig } from "../../lib/config/monitor.ts";
import { CATALOG_TEXT_CHANGED } from "../../lib/watch/payload.ts";
import { type Fixture, type Sql, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;
const CHANNEL = defaultMonitorConfig("/").listen_channel; // the fixture keeps the default
/** No sweep during a test, no pg_locks watch, no counter check: only the DDL hint can tell. */
const NO_SWEEP = { sweep_interval: 3600, lock_poll_interval_ms: 0, verify_interval_ms: 0 };

/** Incompressible text of about `kib` KiB (md5 chains), made on the server. */
const TEXT = (kib: number) =>
  `(SELECT string_agg(md5(g::text || random()::text), '') FROM (SELECT generate_series(1, ${
    kib * 32
  }) AS g) AS gs)`;

/** Runs `stmt` with `%L` replaced by about `kib` KiB of incompressible text, as `sql`'s role. */
async function withText(sql: Pick<Sql, "unsafe">, stmt: string, kib: number) {
  await sql.unsafe(`DO $do$ BEGIN EXECUTE format($q$${stmt}$q$, ${TEXT(kib)}); END $do$`);
}

/** status --json row of `role`. */
async function statusOf(f: Fixture, role: string) {
  const r = await f.cli(["status", "--json"]);
  const status = JSON.parse(r.stdout);
  const row = status.rows.find((x: { role: string }) => x.role === role);
  assert.ok(row, r.stdout + r.stderr);
  return row as {
    state: string;
    usage_bytes: number;
    usage_by_kind: { catalog_text: number; tables: number };
  };
}

Deno.test("(a) a 3 MiB COMMENT locks within seconds without a sweep; COMMENT ... IS NULL unlocks", async () => {
  await withFixture({ monitor: NO_SWEEP }, async (f) => {
    const role = await f.limitedRole("commenter");
    const d = await f.startDaemon();
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (k int)");
    await d.waitForLog((l) => l.msg === "listening");
    const t0 = performance.now();
    await withText(sql, "COMMENT ON TABLE t IS %L", 3072);
    await f.waitLocked(role, 10_000);
    const lockedMs = Math.round(performance.now() - t0);
    const row = await statusOf(f, role);
    assert.ok(row.usage_by_kind.catalog_text >= 3 * MiB, JSON.stringify(row));
    assert.ok(row.usage_by_kind.tables < 64 * 1024, JSON.stringify(row));
    const table = (await f.cli(["status"])).stdout;
    assert.match(table, /catalog text 3(\.\d)? MiB/, table);

    await f.exec("COMMENT ON TABLE %I.t IS NULL", [role]);
    await waitFor(() => f.canLogin(role), { what: "the unlock after COMMENT IS NULL" });
    console.log(`catalog_text: locked ${lockedMs} ms after the COMMENT returned`);
  });
});

Deno.test("(b, c) a function body and a view definition carrying data are counted at once", async () => {
  await withFixture({ monitor: NO_SWEEP }, async (f) => {
    const role = await f.limitedRole("definer");
    const d = await f.startDaemon();
    const sql = f.as(role);
    await d.waitForLog((l) => l.msg === "listening");
    // 1.25 MiB of function body: over the soft limit (1 MiB), under the hard one (2 MiB).
    await withText(
      sql,
      "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $b$ SELECT %L::text $b$",
      1280,
    );
    await waitFor(async () => (await f.events(role)).includes("soft_exceeded"), {
      what: "the soft warning for the function body",
    });
    assert.equal(await f.canLogin(role), true);
    // A view whose definition holds 1.25 MiB of text: together over the hard limit.
    await withText(sql, "CREATE VIEW v AS SELECT %L::text AS x", 1280);
    await f.waitLocked(role, 10_000);
    const row = await statusOf(f, role);
    assert.ok(row.usage_by_kind.catalog_text >= 2 * MiB, JSON.stringify(row));
    // Dropping them frees the space (sql_drop sends the hint too).
    await f.exec("DROP VIEW %I.v", [role]);
    await f.exec("DROP FUNCTION %I.f()", [role]);
    await waitFor(() => f.canLogin(role), { what: "the unlock after the drops" });
  });
});

Deno.test("(d) a spoofed c:text flood costs at most one measurement a second", async () => {
  await withFixture({ monitor: NO_SWEEP }, async (f) => {
    const role = await f.limitedRole("flooded");
    const d = await f.startDaemon();
    await d.waitForLog((l) => l.msg === "listening");
    const evil = f.as(await f.createRole(`flooder_${f.id}`, "LOGIN"));
    const hinted = () => d.find("catalog text measured on a hint").length;
    const before = hinted();
    const t0 = performance.now();
    // One transaction each: identical payloads fold only inside one transaction.
    let sent = 0;
    while (performance.now() - t0 < 3000) {
      await evil.unsafe("SELECT pg_notify($1, $2)", [CHANNEL, CATALOG_TEXT_CHANGED]);
      sent++;
    }
    const floodS = (performance.now() - t0) / 1000;
    // The trailing measurement after the last hint comes at most a second later.
    await new Promise((r) => setTimeout(r, 1500));
    const runs = hinted() - before;
    assert.ok(runs >= 1, d.dump());
    assert.ok(runs <= Math.ceil(floodS) + 2, `${runs} measurements in ${floodS.toFixed(1)} s`);
    assert.equal(await f.canLogin(role), true);
    console.log(
      `catalog_text: ${sent} spoofed hints in ${floodS.toFixed(1)} s -> ${runs} measurements`,
    );
  });
});

Deno.test("(d) a superuser's comment on the tenant's table is the tenant's; another role's text is not", async () => {
  await withFixture({ monitor: NO_SWEEP }, async (f) => {
    const role = await f.limitedRole("owner");
    const other = await f.createRole(`other_${f.id}`, "LOGIN", { schema: true });
    const d = await f.startDaemon();
    const sql = f.as(role);
    const bystander = f.as(other);
    await sql.unsafe("CREATE TABLE t (k int)");
    await bystander.unsafe("CREATE TABLE t (k int)"); // same name, another schema and owner
    await d.waitForLog((l) => l.msg === "listening");
    // Another role's text, on its own table of the same name and its function: not the tenant's.
    await withText(bystander, "COMMENT ON TABLE t IS %L", 3072);
    await withText(
      bystander,
      "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $b$ SELECT %L::text $b$",
      3072,
    );
    await waitFor(() => d.find("catalog text measured on a hint").length >= 1, {
      what: "a hinted measurement",
    });
    let row = await statusOf(f, role);
    assert.equal(row.usage_by_kind.catalog_text, 0, JSON.stringify(row));
    assert.equal(await f.canLogin(role), true);

    // A superuser comments on the tenant's table: the tenant's object, the tenant's bytes.
    const admin = f.admin;
    await withText(admin, `COMMENT ON TABLE "${role}".t IS %L`, 3072);
    await f.waitLocked(role, 10_000);
    row = await statusOf(f, role);
    assert.ok(row.usage_by_kind.catalog_text >= 3 * MiB, JSON.stringify(row));
  });
});

Deno.test("(d) ALTER ROLE ... SET on itself (shared catalog, no event trigger) counts at the sweep", async () => {
  await withFixture({ monitor: { sweep_interval: 2 } }, async (f) => {
    const role = await f.limitedRole("setter");
    const sql = f.as(role);
    // A role may set application_name for itself, of any length; PostgreSQL stores it whole.
    await withText(sql, `ALTER ROLE "${role}" SET application_name = %L`, 3072);
    const row = await statusOf(f, role);
    assert.equal(row.state, "over_hard", JSON.stringify(row));
    assert.ok(row.usage_by_kind.catalog_text >= 3 * MiB, JSON.stringify(row));
    await f.startDaemon();
    await f.waitLocked(role, 15_000);
    await f.exec("ALTER ROLE %I RESET ALL", [role]);
    await waitFor(() => f.canLogin(role), { what: "the unlock after RESET ALL" });
  });
});
