/**
 * Two daemons on one cluster (two processes here, two hosts in production): exactly one leads and
 * enforces, the other stands by and takes over within 10 s when the leader dies or is cut off,
 * with no lock missed or repeated and every alert delivered exactly once.
 */
import assert from "node:assert/strict";
import { LEADER_LOCK_PARAMS } from "../../lib/leader.ts";
import {
  configFlags,
  DaemonProcess,
  fillUntilStopped,
  type Fixture,
  waitFor,
  withFixture,
} from "../_helpers.ts";
import { AlertReceiver } from "../support/alert_receiver.ts";

const MiB = 1024 * 1024;

/** A second config directory for the same cluster: its own pid file, state and textfile. */
async function secondConfig(f: Fixture): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "pgmon_standby_" });
  await Deno.mkdir(`${dir}/state`);
  await Deno.mkdir(`${dir}/metrics`);
  await Deno.copyFile(`${f.dir}/user_limits.json`, `${dir}/user_limits.json`);
  await Deno.writeTextFile(
    `${dir}/monitor_config.json`,
    JSON.stringify({
      ...f.monitor,
      pid_file: `${dir}/daemon.pid`,
      state_dir: `${dir}/state`,
      metrics_file: `${dir}/metrics/postgres_realtime_monitor.prom`,
    }),
  );
  return dir;
}

async function startAt(dir: string): Promise<DaemonProcess> {
  return new DaemonProcess(await configFlags(dir), [
    "run",
    "--config-dir",
    dir,
  ]);
}

/** The leader's application_name, or undefined. */
async function leader(f: Fixture): Promise<string | undefined> {
  const s = await f.cli(["status", "--json"]);
  assert.equal(s.code, 0, s.stderr);
  return JSON.parse(s.stdout).leader?.name;
}

async function leaderGauge(dir: string): Promise<string | undefined> {
  const text = await Deno.readTextFile(`${dir}/metrics/postgres_realtime_monitor.prom`)
    .catch(() => "");
  return text.match(/^postgres_monitor_leader (\d)$/m)?.[1];
}

Deno.test("a standby daemon takes over within 10 s when the leader dies or is cut off: no lock missed or repeated, every alert once", async () => {
  const rx = new AlertReceiver();
  let dirB = "";
  try {
    await withFixture({
      monitor: {
        sweep_interval: 2,
        webhooks: [{ name: "ops", url: rx.url("/hook") }],
      },
    }, async (f) => {
      const roles = [];
      for (const n of [1, 2, 3]) {
        roles.push(await f.createRole(`ha${n}_${f.id}`, "LOGIN", { schema: true }));
      }
      await f.writeConfig(roles.map((r) => ({ user: r, soft_limit: MiB, hard_limit: 2 * MiB })));
      dirB = await secondConfig(f);

      const a = await f.startDaemon();
      const b = f.adopt(await startAt(dirB));
      await b.waitForLog((l) => l.msg === "standing by: another daemon leads", {
        what: "B standing by",
      });
      assert.match(await leader(f) ?? "", new RegExp(` ${a.pid}$`));
      await waitFor(async () => await leaderGauge(f.dir) === "1", { what: "A's gauge 1" });
      assert.equal(await leaderGauge(dirB), "0");
      assert.equal(b.find("leading: this daemon enforces").length, 0);

      // The leader locks role 1; its alerts are delivered and the shared cursor records it.
      await f.overHard(roles[0]!);
      const lastEvent = async () =>
        Number(
          (await f.admin.unsafe("SELECT max(id)::int8 AS id FROM postgres_monitor.event_log"))[0]!
            .id,
        );
      const cursor = async () =>
        Number(
          (await f.admin.unsafe(
            "SELECT delivered_through::int8 AS id FROM postgres_monitor.alert_cursor",
          ))[0]?.id ?? 0,
        );
      await waitFor(async () => await cursor() >= await lastEvent(), { what: "the cursor" })
        .catch(async (err) => {
          throw new Error(
            `${err.message}: cursor ${await cursor()}, last ${await lastEvent()}\n${a.dump()}`,
          );
        });

      // The leader dies; role 2 goes over its hard limit while nobody leads.
      a.signal("SIGKILL");
      const killedAt = performance.now();
      await a.exited();
      const writer = f.as(roles[1]!);
      await writer.unsafe("CREATE TABLE t (x text)");
      await fillUntilStopped(writer, "t", 3072);
      await b.waitForLog((l) => l.msg === "leading: this daemon enforces", {
        what: "B taking over",
        timeout: 10_000,
      });
      // Bounded by the wait above (10 s, the issue's limit); the figure is printed, not asserted.
      const takeoverMs = performance.now() - killedAt;
      await f.waitLocked(roles[1]!);
      assert.match(await leader(f) ?? "", new RegExp(` ${b.pid}$`));

      // A comes back as the standby; B is cut off (its leader session terminated).
      const a2 = await f.startDaemon([], false);
      await a2.waitForLog((l) => l.msg === "standing by: another daemon leads", {
        what: "A standing by",
      });
      const [row] = await f.admin.unsafe(
        `SELECT pid FROM pg_stat_activity WHERE application_name LIKE '% leader % ' || $1`,
        [String(b.pid)],
      );
      await f.admin.unsafe("SELECT pg_terminate_backend($1)", [row!.pid]);
      await b.waitForLog(
        (l) => l.msg === "lost the leader lock: enforcement stopped, standing by",
        {
          what: "B stepping down",
        },
      );
      const cutAt = b.lines.findIndex((l) => l.msg.startsWith("lost the leader lock"));
      const leads = (d: DaemonProcess, after = -1) =>
        d.lines.some((l, i) => i > after && l.msg === "leading: this daemon enforces");
      await waitFor(() => leads(a2) || leads(b, cutAt), {
        what: "a new leader after the cut",
        timeout: 10_000,
      });
      assert.ok(!(leads(a2) && leads(b, cutAt)), "not both");
      const newLeader = leads(a2) ? a2 : b;
      await waitFor(async () => (await leader(f))?.endsWith(` ${newLeader.pid}`), {
        what: "status naming the new leader",
      });
      // Exactly one leader lock is held.
      const [held] = await f.admin.unsafe(
        `SELECT count(*)::int AS n FROM pg_locks
          WHERE locktype = 'advisory' AND classid = $1::oid AND objid = $2::oid AND granted`,
        LEADER_LOCK_PARAMS,
      );
      assert.equal(held!.n, 1);

      await f.overHard(roles[2]!);
      await waitFor(async () => await cursor() >= await lastEvent(), {
        what: "every alert delivered",
        timeout: 15_000,
      });
      // Each role locked once; each event alerted exactly once, none skipped.
      for (const r of roles) {
        const [n] = await f.admin.unsafe(
          "SELECT count(*)::int AS n FROM postgres_monitor.event_log WHERE rolname = $1 AND event = 'locked'",
          [r],
        );
        assert.equal(n!.n, 1, `${r} locked once`);
      }
      const ids = rx.accepted.map((h) => Number(h.eventId));
      const sent = (d: DaemonProcess) =>
        d.find("alert sent").map((l) => l.key).join(" ") + " | " +
        d.lines.filter((l) => /alert|lead|standing/.test(l.msg)).map((l) =>
          `${l.msg}${l.from_event === undefined ? "" : ` ${l.from_event}`}`
        ).join("; ");
      assert.equal(
        new Set(ids).size,
        ids.length,
        `no duplicate: ${ids.join(",")}\nA: ${sent(a)}\nB: ${sent(b)}\nA2: ${sent(a2)}`,
      );
      const all = (await f.admin.unsafe("SELECT id::int8 AS id FROM postgres_monitor.event_log"))
        .map((r) => Number(r.id));
      assert.deepEqual([...ids].sort((x, y) => x - y), all.sort((x, y) => x - y));
      console.log(`takeover after the leader was killed: ${takeoverMs.toFixed(0)} ms`);
    });
  } finally {
    if (dirB) await Deno.remove(dirB, { recursive: true });
    await rx.close();
  }
});
