/**
 * `deno task demo`: the main job on a throwaway PostgreSQL, with timings.
 *
 * Starts a cluster, installs, starts the daemon (with exactly its computed permission flags),
 * then: alice crosses her soft limit (warning), then her hard limit (NOLOGIN, sessions ended);
 * her data is dropped (automatic unlock). bob has manual_unlock: he stays locked until
 * `unlock bob`. Prints how many ms each step took from the commit that caused it.
 *
 * @module
 */
import { startCluster } from "../tests/support/cluster.ts";
import {
  canLogin,
  configFlags,
  connect,
  createRole,
  fill,
  METRICS_FILE,
  monitorSettings,
  sessionCount,
  type Sql,
  writeConfigFiles,
} from "../tests/support/fixture.ts";
import {
  DaemonProcess,
  installAs,
  type LogLine,
  runCli,
  waitFor,
} from "../tests/support/process.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

const bold = (s: string) => (Deno.noColor ? s : `\x1b[1m${s}\x1b[0m`);
const say = (s: string) => console.log(s);
const step = (n: number, s: string) => say(`\n${bold(`${n}. ${s}`)}`);
const ms = (x: number) => `${x.toFixed(0)} ms`;

async function usage(admin: Sql, role: string): Promise<number> {
  const [r] = await admin.unsafe(
    `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8 AS b
       FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
      WHERE r.rolname = $1 AND c.relkind IN ('r', 'm')`,
    [role],
  );
  return Number(r?.b);
}

/** Polls on a separate connection until `check` holds; returns ms since `t0`. */
async function timeUntil(t0: number, check: () => Promise<boolean>, what: string) {
  await waitFor(check, { timeout: 10_000, interval: 2, what });
  return performance.now() - t0;
}

async function main() {
  say(bold("postgres_realtime_monitor demo"));
  const cluster = await startCluster({ log: (l) => say(`  ${l}`) });
  const dir = await Deno.makeTempDir({ prefix: "pgmon_demo_" });
  let daemon: DaemonProcess | undefined;
  const clients: Sql[] = [];
  const open = (user: string) => {
    const c = connect(cluster.url, { user });
    clients.push(c);
    return c;
  };
  try {
    await Deno.mkdir(`${dir}/metrics`);
    await writeConfigFiles(dir, [
      { user: "alice", soft_limit: "1MB", hard_limit: "2MB", manual_unlock: false },
      { user: "bob", soft_limit: "1MB", hard_limit: "2MB", manual_unlock: true },
    ], monitorSettings(cluster.url, dir));
    say(`  config in ${dir}: alice and bob, soft 1 MiB, hard 2 MiB; bob needs a manual unlock`);
    const flags = await configFlags(dir);

    const admin = open("postgres");
    for (const role of ["alice", "bob"]) await createRole(admin, role, "LOGIN", { schema: true });
    const inst = await installAs(flags, dir, cluster.url);
    say(`  installed: ${inst.stdout.trim().split("\n").at(-1)}`);

    daemon = new DaemonProcess(flags, ["run", "--config-dir", dir]);
    const started = performance.now();
    await daemon.waitRunning();
    say(`  daemon running (pid ${daemon.pid}) after ${ms(performance.now() - started)}`);
    say(`  permission flags: ${flags.join(" ")}`);
    const seen = (pred: (l: LogLine) => boolean) => () => Promise.resolve(daemon!.lines.some(pred));
    const loginOf = (role: string) => canLogin(admin, role);
    const sessions = (role: string) => sessionCount(admin, role);

    step(1, "alice writes 1.5 MiB: over her soft limit");
    const alice = open("alice");
    await alice.unsafe("CREATE TABLE alice.data (x text)");
    let t0 = performance.now();
    await fill(alice, "alice.data", 1536);
    t0 = performance.now();
    let t = await timeUntil(
      t0,
      seen((l) => l.msg === "soft limit exceeded" && l.role === "alice"),
      "the soft warning",
    );
    say(`  usage ${(await usage(admin, "alice") / MiB).toFixed(2)} MiB`);
    say(`  soft-limit warning logged ${ms(t)} after the commit; alice can still log in`);

    step(2, "alice writes 1 MiB more: over her hard limit");
    const aliceIdle = open("alice");
    await aliceIdle`SELECT 1`;
    say(`  alice has ${await sessions("alice")} open sessions (one writing, one idle)`);
    await fill(alice, "alice.data", 1024);
    t0 = performance.now();
    const tNologin = await timeUntil(t0, async () => !(await loginOf("alice")), "NOLOGIN");
    const tGone = await timeUntil(t0, async () => (await sessions("alice")) === 0, "sessions");
    say(`  usage ${(await usage(admin, "alice") / MiB).toFixed(2)} MiB`);
    say(`  NOLOGIN set ${ms(tNologin)} after the commit`);
    say(`  all alice sessions terminated ${ms(tGone)} after the commit`);
    const idleErr = await aliceIdle`SELECT 1`.then(() => "no error", (e) => e.message);
    say(`  her idle session, on its next query: "${idleErr}"`);
    const loginErr = await open("alice")`SELECT 1`.then(() => "logged in", (e) => e.message);
    say(`  a new login attempt: "${loginErr}"`);
    step(3, "an administrator drops alice's table: automatic unlock");
    t0 = performance.now();
    await admin.unsafe("DROP TABLE alice.data");
    t = await timeUntil(t0, () => loginOf("alice"), "the unlock");
    say(`  LOGIN restored ${ms(t)} after the DROP committed`);
    const back = open("alice");
    await back`SELECT 1`;
    say(`  alice logs in again`);

    step(4, "bob (manual_unlock) crosses his hard limit, then his data is dropped");
    const bob = open("bob");
    await bob.unsafe("CREATE TABLE bob.data (x text)");
    await fill(bob, "bob.data", 2560);
    t0 = performance.now();
    t = await timeUntil(t0, async () => !(await loginOf("bob")), "bob's lock");
    say(`  bob locked ${ms(t)} after the commit`);
    await admin.unsafe("DROP TABLE bob.data");
    const status = await runCli(flags, ["status", "--config-dir", dir]);
    say(`  after the drop, 'status' shows bob still locked (manual unlock):\n`);
    say(status.stdout.trimEnd().split("\n").map((l) => `    ${l}`).join("\n"));
    say(`\n  bob can log in: ${await loginOf("bob")}`);

    step(5, "the operator runs 'unlock bob'");
    t0 = performance.now();
    const un = await runCli(flags, ["unlock", "bob", "--config-dir", dir], {
      USER: "demo-operator",
    });
    say(`  ${un.stdout.trim() || un.stderr.trim()} (${ms(performance.now() - t0)})`);
    say(`  bob can log in: ${await loginOf("bob")}`);
    await daemon.waitForLog((l) => l.msg === "lock was released by hand");
    say(`  the running daemon heard of it and keeps bob unlocked`);

    step(6, "what the event log recorded");
    const events = await admin.unsafe(
      `SELECT to_char(at, 'HH24:MI:SS.MS') AS at, rolname::text AS role, event, actor
         FROM postgres_monitor.event_log ORDER BY id`,
    );
    for (const e of events) {
      say(`    ${e.at}  ${String(e.role).padEnd(6)} ${String(e.event).padEnd(20)} ${e.actor}`);
    }
    say(`\n${bold("Demo finished.")} Metrics file excerpt:`);
    const metrics = await Deno.readTextFile(`${dir}/${METRICS_FILE}`);
    say(
      metrics.split("\n").filter((l) =>
        l.startsWith("postgres_user_storage_usage_bytes") ||
        l.startsWith("postgres_monitor_role_locked")
      ).map((l) => `    ${l}`).join("\n"),
    );
  } finally {
    if (daemon) await daemon.stop();
    for (const c of clients) await c.end({ timeout: 1 }).catch(() => {});
    await cluster.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

await main();
