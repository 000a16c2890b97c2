/**
 * Issue 12, case 1: large objects live in pg_largeobject (a catalog only superusers may read) and
 * fire no trigger. They are charged to their owner (kind large_objects), seen within seconds
 * between sweeps, and their charge follows ALTER LARGE OBJECT ... OWNER TO.
 */
import assert from "node:assert/strict";
import { defaultMonitorConfig } from "../../lib/config/monitor.ts";
import { DROPPED_PREFIX, LOCKS_CHANGED } from "../../lib/watch/payload.ts";
import { type Fixture, type Sql, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;

/** No sweep for an hour, no pg_locks watch, no counter check: only the large-object check. */
const monitor = { sweep_interval: 3600, lock_poll_interval_ms: 0, verify_interval_ms: 0 };

/** SQL for `kib` KiB of incompressible bytes (md5 digests). */
function randomBytes(kib: number): string {
  return `(SELECT string_agg(decode(md5(g::text || random()::text), 'hex'), ''::bytea)
             FROM (SELECT generate_series(1, ${kib * 64}) AS g) AS gs)`;
}

/** Runs `stmt` as a tenant; the daemon may end the session after the commit. */
async function asTenant(sql: Sql, stmt: string): Promise<void> {
  await sql.unsafe(stmt).catch((err) => {
    if (!["CONNECTION_CLOSED", "57P01"].includes((err as { code?: string }).code ?? "")) {
      throw err;
    }
  });
}

/** Large-object oids a role owns in the control database. */
async function objectsOf(f: Fixture, role: string): Promise<number[]> {
  const rows = await f.admin.unsafe(
    "SELECT oid::int8 AS oid FROM pg_largeobject_metadata WHERE lomowner = $1::regrole ORDER BY 1",
    [role],
  );
  return rows.map((r) => Number(r.oid));
}

/** usage_by_kind of a role in `status --json`. */
async function statusKinds(f: Fixture, role: string): Promise<Record<string, number>> {
  const r = await f.cli(["status", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const row = JSON.parse(r.stdout).rows.find((x: { role: string }) => x.role === role);
  return row.usage_by_kind;
}

Deno.test("a large object over the hard limit locks within seconds; lo_unlink unlocks", async () => {
  await withFixture({ monitor }, async (f) => {
    const role = await f.limitedRole("lo");
    const d = await f.startDaemon();
    const sql = f.as(role);
    const t0 = performance.now();
    await asTenant(sql, `SELECT lo_from_bytea(0, ${randomBytes(3072)})`);
    await f.waitLocked(role, 10_000);
    console.log(`locked ${Math.round(performance.now() - t0)} ms after lo_from_bytea(3 MiB)`);
    const [oid] = await objectsOf(f, role);
    assert.ok(oid, "the tenant owns the large object");

    // status measures on its own and agrees with the installed function, to the byte.
    const [fn] = await f.admin.unsafe(
      "SELECT bytes::int8 AS b FROM postgres_monitor.large_object_bytes(ARRAY[$1::regrole::oid])",
      [role],
    );
    const kinds = await statusKinds(f, role);
    assert.equal(kinds.large_objects, Number(fn!.b));
    assert.ok(kinds.large_objects! > 3 * MiB, `charged ${kinds.large_objects}`);
    const lines = d.find("measured large objects");
    assert.ok(lines.length > 0, d.dump());

    await f.admin.unsafe("SELECT lo_unlink($1::oid)", [oid]);
    await waitFor(() => f.canLogin(role), { timeout: 15_000, what: "the unlock after lo_unlink" });
    assert.equal((await statusKinds(f, role)).large_objects, 0);
  });
});

Deno.test("growth of an existing large object by lowrite and lo_put is seen", async () => {
  await withFixture({ monitor }, async (f) => {
    const role = await f.limitedRole("lo");
    const d = await f.startDaemon();
    const sql = f.as(role);
    const [r] = await sql.unsafe(`SELECT lo_from_bytea(0, ${randomBytes(256)})::int8 AS oid`);
    const oid = Number(r!.oid);
    // lowrite through a descriptor (INV_WRITE), appending 1 MiB: over the soft limit.
    await sql.begin(async (tx) => {
      const [fd] = await tx.unsafe("SELECT lo_open($1::oid, x'20000'::int) AS fd", [oid]);
      await tx.unsafe("SELECT lo_lseek($1::int, 0, 2)", [fd!.fd]);
      await tx.unsafe(`SELECT lowrite($1::int, ${randomBytes(1024)})`, [fd!.fd]);
    });
    await waitFor(async () => (await f.events(role)).includes("soft_exceeded"), {
      what: "soft_exceeded after lowrite",
    });
    assert.equal(await f.canLogin(role), true);
    // lo_put past the end: over the hard limit.
    await asTenant(sql, `SELECT lo_put(${oid}::oid, ${1280 * 1024}, ${randomBytes(1024)})`);
    await f.waitLocked(role, 10_000);
    assert.ok(d.find("role locked", role).length > 0 || !(await f.canLogin(role)));
  });
});

Deno.test("abuse: others' large objects are not charged; OWNER TO moves the charge; spoofed NOTIFY changes nothing", async () => {
  await withFixture({ monitor }, async (f) => {
    const role = await f.limitedRole("lo");
    const other = await f.createRole(`lo_other_${f.id}`);
    const d = await f.startDaemon();
    const tenant = f.as(role);
    const stranger = f.as(other);
    // 3 MiB owned by an unlimited role: never the tenant's.
    await stranger.unsafe(`SELECT lo_from_bytea(0, ${randomBytes(3072)})`);
    const big = (await objectsOf(f, other))[0]!;
    // The tenant's own 1 MiB (under the hard limit).
    await tenant.unsafe(`SELECT lo_from_bytea(0, ${randomBytes(1024)})`);
    await waitFor(async () => (await f.events(role)).includes("soft_exceeded"), {
      what: "soft_exceeded for the tenant's own large object",
    });
    const before = (await statusKinds(f, role)).large_objects!;
    assert.ok(before > MiB && before < 2 * MiB, `charged ${before}`);
    assert.equal(await f.canLogin(role), true, "others' large objects are not the tenant's");

    // Anyone may NOTIFY on the channel: "dropped" oids, lock changes, garbage. The daemon keeps
    // charging the large objects (they are measured, never believed from a payload).
    const channel = defaultMonitorConfig("/").listen_channel; // the fixture keeps the default
    const dropped = (oid: number) => `${DROPPED_PREFIX}${oid}`;
    for (const payload of [dropped(big), LOCKS_CHANGED, String(big), "lo", "-1", dropped(0)]) {
      await tenant.unsafe("SELECT pg_notify($1, $2)", [channel, payload]);
      await stranger.unsafe("SELECT pg_notify($1, $2)", [channel, payload]);
    }
    await d.waitForLog((l) => l.msg === "sweep done" && l.reason === "control");
    assert.equal((await statusKinds(f, role)).large_objects, before);
    assert.equal(await f.canLogin(role), true);

    // The administrator gives the stranger's 3 MiB to the tenant: the charge moves with it.
    await f.admin.unsafe(
      `SELECT format('ALTER LARGE OBJECT %s OWNER TO %I', $1::oid, $2::text) AS q`,
      [
        big,
        role,
      ],
    ).then(([q]) => f.admin.unsafe(String(q!.q)));
    await f.waitLocked(role, 15_000);
    // ... and back: the tenant is unlocked (the size of pg_largeobject did not change; the
    // statistics counters of pg_largeobject_metadata did).
    await f.admin.unsafe(
      `SELECT format('ALTER LARGE OBJECT %s OWNER TO %I', $1::oid, $2::text) AS q`,
      [
        big,
        other,
      ],
    ).then(([q]) => f.admin.unsafe(String(q!.q)));
    await waitFor(() => f.canLogin(role), { timeout: 20_000, what: "the unlock after OWNER TO" });
    assert.equal((await statusKinds(f, role)).large_objects, before);
    // The tenant cannot give its objects away to a role it is not a member of.
    const [mine] = await objectsOf(f, role);
    const t2 = f.as(role);
    await assert.rejects(
      t2.unsafe(`ALTER LARGE OBJECT ${mine} OWNER TO ${other}`),
      /must be (able to SET ROLE|member of role)/,
    );
  });
});
