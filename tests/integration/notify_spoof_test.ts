/**
 * Hostile notifications (issue 11, case 3): any role may NOTIFY on the daemon's channel. A payload
 * may make the daemon look sooner, never believe less; floods cost bounded work and cannot make the
 * event log repeat.
 */
import assert from "node:assert/strict";
import { defaultMonitorConfig } from "../../lib/config/monitor.ts";
import { DROPPED_PREFIX } from "../../lib/watch/payload.ts";
import { fill, fillUntilStopped, type Fixture, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;
const CHANNEL = defaultMonitorConfig("/").listen_channel; // the fixture keeps the default

/** An unlimited login role with no privileges beyond the defaults (CONNECT, NOTIFY). */
async function accomplice(f: Fixture) {
  const name = await f.createRole(`accomplice_${f.id}`, "LOGIN");
  return f.as(name);
}

/** The table's oid, as text. */
async function oidOf(f: Fixture, table: string): Promise<string> {
  const [r] = await f.admin.unsafe("SELECT $1::regclass::oid::text AS oid", [table]);
  return String(r!.oid);
}

Deno.test("a spoofed 'dropped' notification does not unlock a role whose table still exists", async () => {
  await withFixture({}, async (f) => {
    const role = await f.limitedRole("spoofed", { unlock_grace_period: 0 });
    const d = await f.startDaemon();
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    await fillUntilStopped(sql, "t", 3072);
    await f.waitLocked(role);
    const oid = await oidOf(f, `"${role}".t`);

    const evil = await accomplice(f);
    const before = d.find("re-evaluated").length;
    for (let i = 0; i < 20; i++) {
      await evil.unsafe("SELECT pg_notify($1, $2)", [CHANNEL, `${DROPPED_PREFIX}${oid}`]);
    }
    // The hint makes the daemon measure the table again; the catalog says it is still there.
    await waitFor(async () => {
      assert.equal(await f.canLogin(role), false, "unlocked on a spoofed notification");
      return d.find("re-evaluated").length > before;
    }, { what: "the spoofed table measured again" });
    assert.equal(await f.canLogin(role), false);
    assert.ok(!(await f.events(role)).includes("unlocked"), (await f.events(role)).join(","));

    // A real drop still unlocks at once.
    await f.exec("DROP TABLE %I.t", [role]);
    await waitFor(() => f.canLogin(role), { what: "the unlock after a real drop" });
  });
});

Deno.test("alternating spoofed drop and write notifications write no events and send no alerts", async () => {
  await withFixture({}, async (f) => {
    const role = await f.limitedRole("flapped", { soft_limit: MiB, hard_limit: 8 * MiB });
    const d = await f.startDaemon();
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    await fill(sql, "t", 1536);
    await waitFor(async () => (await f.events(role)).includes("soft_exceeded"), {
      what: "the soft warning",
    });
    const oid = await oidOf(f, `"${role}".t`);
    const evil = await accomplice(f);
    const metric = async () => {
      const text = await Deno.readTextFile(`${f.dir}/metrics/postgres_realtime_monitor.prom`)
        .catch(() => "");
      const m = text.match(/^postgres_monitor_notifications_total (\d+)$/m);
      return m ? Number(m[1]) : 0;
    };
    const seen = await metric();
    // One transaction each: NOTIFY folds identical payloads only inside one transaction.
    for (let i = 0; i < 200; i++) {
      await evil.unsafe("SELECT pg_notify($1, $2)", [CHANNEL, `${DROPPED_PREFIX}${oid}`]);
      await evil.unsafe("SELECT pg_notify($1, $2)", [CHANNEL, oid]);
    }
    await waitFor(async () => (await metric()) >= seen + 400, {
      what: "all 400 notifications received",
      timeout: 20_000,
    });
    // A real write after the flood: once it is measured, the spoofed batches before it were too.
    const usage = await f.metricUsage(role);
    await fill(sql, "t", 256);
    await waitFor(async () => (await f.metricUsage(role)) > usage, { what: "the real write" });
    assert.deepEqual(await f.events(role), ["soft_exceeded"]);
    assert.equal(d.find("back under soft limit", role).length, 0);
  });
});

/** Resident memory of a process, in bytes (`ps`: /proc would need --allow-all). */
async function rss(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] }).output();
  return Number(new TextDecoder().decode(out.stdout).trim()) * 1024;
}

Deno.test("a flood of made-up oids costs bounded memory and does not delay another role's lock", async () => {
  await withFixture({}, async (f) => {
    const victim = await f.createRole(`victim_${f.id}`, "LOGIN", { schema: true });
    await f.writeConfig([{ user: victim, soft_limit: MiB, hard_limit: 2 * MiB }]);
    const d = await f.startDaemon();
    const start = await rss(d.pid);
    const evil = await accomplice(f);
    // 300k distinct oids (no real relation has them), in 6 transactions, while the victim writes.
    let flooding = true;
    const flood = (async () => {
      for (let i = 0; i < 6 && flooding; i++) {
        const from = 3_000_000_000 + i * 50_000;
        await evil.unsafe(
          "SELECT count(pg_notify($1, g::text)) FROM generate_series($2::bigint, $2::bigint + 49999) g",
          [CHANNEL, from],
        );
      }
    })();
    try {
      const sql = f.as(victim);
      await sql.unsafe("CREATE TABLE t (x text)");
      // The flood is being served (the bound was hit) when the victim crosses its limit.
      await d.waitForLog((l) =>
        l.msg === "too many notifications of unknown relations: measuring the database"
      );
      await fillUntilStopped(sql, "t", 3072);
      const t0 = performance.now();
      await f.waitLocked(victim, 10_000);
      console.log(
        `  locked ${Math.round(performance.now() - t0)} ms after the commit, under flood`,
      );
    } finally {
      flooding = false;
      await flood;
    }
    const peak = await rss(d.pid);
    console.log(
      `  daemon RSS ${Math.round(start / MiB)} MiB before, ${Math.round(peak / MiB)} after`,
    );
    assert.ok(peak < start + 150 * MiB, `RSS grew from ${start} to ${peak}`);
    await d.waitForLog((l) =>
      l.msg === "too many notifications of unknown relations: measuring the database"
    );
  });
});
