/**
 * `deno task bench`: the figures behind "faster to react, cheaper on the write path".
 *
 * Starts its own PostgreSQL (fsync on, as in production), installs, runs the daemon as an operator
 * would (computed permission flags), and measures in one run:
 *  1. write overhead: pgbench -c 8 -j 2, one-row INSERT per transaction, alternating rounds on a
 *     table with no trigger, with this project's trigger, with the seed's NOTIFY-per-statement
 *     trigger; and "poll" detection against no trigger;
 *  2. detection latency under that load: commit of the crossing write -> NOLOGIN, -> the writer's
 *     session gone, over many crossings (trigger mode, and poll mode);
 *  3. a runaway INSERT ... SELECT: bytes past the hard limit when it was terminated;
 *  4. scale: 10k and 100k relations owned by 1k roles: full sweep time, one-role re-evaluation;
 *  5. the daemon's own RSS and CPU, idle and under load.
 * Prints one table and writes it as JSON (`--out`, default bench_results.json).
 *
 * Flags: --quick (short rounds, fewer crossings, 10k relations only), --rounds N, --seconds S,
 * --crossings N, --out FILE, --skip-scale.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { sqlFile } from "../lib/db/sql_files.ts";
import { type EphemeralCluster, startCluster } from "../tests/support/cluster.ts";
import {
  canLogin,
  configFlags,
  connect,
  createRole,
  monitorSettings,
  type Sql,
  writeConfigFiles,
} from "../tests/support/fixture.ts";
import { DaemonProcess, installAs, waitFor } from "../tests/support/process.ts";
const MiB = 1024 * 1024;

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    seconds: { type: "string" },
    crossings: { type: "string" },
    out: { type: "string", default: "bench_results.json" },
    "skip-scale": { type: "boolean", default: false },
  },
});
const ROUNDS = Number(opt.rounds ?? 3);
const SECONDS = Number(opt.seconds ?? (opt.quick ? 4 : 10));
const CROSSINGS = Number(opt.crossings ?? (opt.quick ? 20 : 60));
const SCALES = opt["skip-scale"] ? [] : opt.quick ? [10_000] : [10_000, 100_000];

const log = (s: string) => console.log(s);
const VERBOSE = Boolean(Deno.env.get("BENCH_VERBOSE"));
const results: Record<string, unknown> = {
  machine: { cores: navigator.hardwareConcurrency, date: new Date().toISOString() },
};

// ---------------------------------------------------------------- helpers

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function client(cluster: EphemeralCluster, user = "postgres", db = "postgres", max = 1): Sql {
  return connect(cluster.url, { user, database: db, max, applicationName: "pgmon_bench" });
}

/** CPU seconds (user+system) and RSS bytes of a process, from /proc. */
async function procStats(pid: number): Promise<{ cpu: number; rss: number }> {
  // Deno grants /proc reads only with --allow-all; cat is a permitted subprocess.
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/stat`, `/proc/${pid}/status`],
    stdout: "piped",
  }).output();
  const [stat = "", status = ""] = new TextDecoder().decode(out.stdout).split(/\n(?=Name:)/);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpu = (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in ticks (100/s)
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  return { cpu, rss };
}

/** CPU share of one core used by `pid` while `fn` runs, and its peak RSS at the end. */
async function cpuDuring<T>(pid: number, fn: () => Promise<T>) {
  const a = await procStats(pid);
  const t0 = performance.now();
  const value = await fn();
  const b = await procStats(pid);
  const secs = (performance.now() - t0) / 1000;
  return { value, cpuPct: ((b.cpu - a.cpu) / secs) * 100, rss: b.rss };
}

function pgbenchPath(cluster: EphemeralCluster): string {
  for (const p of [`${cluster.binDir}/pgbench`, "/usr/bin/pgbench", "/usr/local/bin/pgbench"]) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // try the next
    }
  }
  throw new Error("pgbench not found: install it (Debian package postgresql-client)");
}

/** Runs pgbench with a one-statement script; returns TPS. */
async function pgbench(
  cluster: EphemeralCluster,
  statement: string,
  seconds: number,
  signal?: AbortSignal,
): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "pgmon_bench_" });
  try {
    await Deno.writeTextFile(`${dir}/script.sql`, statement + "\n");
    const out = await new Deno.Command(pgbenchPath(cluster), {
      args: [
        "-n",
        "-c",
        "8",
        "-j",
        "2",
        "-T",
        String(seconds),
        "-f",
        `${dir}/script.sql`,
        "-h",
        cluster.host,
        "-p",
        String(cluster.port),
        "-U",
        "postgres",
        "postgres",
      ],
      stdout: "piped",
      stderr: "piped",
      signal,
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(text);
    if (!m) {
      if (signal?.aborted) return NaN;
      throw new Error(`pgbench failed: ${text}${new TextDecoder().decode(out.stderr)}`);
    }
    return Number(m[1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface Setup {
  cluster: EphemeralCluster;
  dir: string;
  admin: Sql;
  flags: string[];
}

/** Writes both config files; returns the daemon's permission flags for them. */
async function writeConfig(
  dir: string,
  limits: Record<string, unknown>[],
  monitor: Record<string, unknown>,
) {
  await writeConfigFiles(dir, limits, monitor);
  return await configFlags(dir);
}

/** The bench's monitor settings for `databases`, at debug level, sweeping every 5 s. */
function scenarioMonitor(s: Setup, databases: string[], extra: Record<string, unknown> = {}) {
  return monitorSettings(s.cluster.url, s.dir, {
    databases,
    log_level: "debug",
    sweep_interval: 5,
    ...extra,
  });
}

async function startDaemon(s: Setup, flags: string[]): Promise<DaemonProcess> {
  const d = new DaemonProcess(flags, ["run", "--config-dir", s.dir]);
  await d.waitRunning(600_000);
  return d;
}

/** Waits (up to `timeout` ms) until `role` can log in again. */
async function waitUnlocked(s: Setup, role: string, timeout: number, what: string) {
  await waitFor(() => canLogin(s.admin, role), { timeout, what });
}

/** Keeps only the last lines of a long-running daemon's log (the harness stores them all). */
function trimLog(d: DaemonProcess) {
  if (d.lines.length > 2000) d.lines.splice(0, d.lines.length - 200);
}

// ---------------------------------------------------------------- scenarios

async function writeOverhead(s: Setup, daemon: DaemonProcess, variants: Record<string, string>) {
  const tps: Record<string, number[]> = Object.fromEntries(
    Object.keys(variants).map((k) => [k, []]),
  );
  let cpu: number[] = [];
  let rss = 0;
  const names = Object.keys(variants);
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order so drift (autovacuum, checkpoints, caches) does not favour one variant.
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const table = variants[name]!;
      await s.admin.unsafe(`TRUNCATE ${table}`);
      await s.admin.unsafe("CHECKPOINT");
      const run = await cpuDuring(
        daemon.pid,
        () => pgbench(s.cluster, `INSERT INTO ${table} (x) VALUES (1);`, SECONDS),
      );
      tps[name]!.push(run.value);
      if (name === "project" || name === "poll") {
        cpu.push(run.cpuPct);
        rss = Math.max(rss, run.rss);
      }
      log(`    round ${r + 1} ${name.padEnd(8)} ${run.value.toFixed(0)} TPS`);
      trimLog(daemon);
    }
  }
  cpu = cpu.length > 0 ? cpu : [NaN];
  return { tps, daemonCpuPct: mean(cpu), daemonRss: rss };
}

interface Crossing {
  /** "before commit": the lock came while the crossing write was still running (pg_locks watch). */
  kind: "first write" | "throttled" | "before commit";
  nologinMs: number;
  terminatedMs: number;
}

/**
 * One limited role crosses its hard limit again and again; each time: commit of the crossing write
 * -> rolcanlogin false, and -> its session gone; then its table is truncated and the daemon
 * unlocks it. "throttled" crossings follow a first write within the trigger's 100 ms window, so no
 * notification is sent and the daemon must find them another way.
 */
async function crossings(
  s: Setup,
  role: string,
  n: number,
  timeoutMs = 5000,
  daemon?: DaemonProcess,
): Promise<Crossing[]> {
  const out: Crossing[] = [];
  const [{ oid }] = await s.admin.unsafe(
    "SELECT oid::int8 AS oid FROM pg_roles WHERE rolname = $1",
    [
      role,
    ],
  ) as unknown as [{ oid: number }];
  for (let i = 0; i < n; i++) {
    const kind = i % 2 === 0 ? "first write" : "throttled";
    const c = client(s.cluster, role);
    const [{ pid }] = await c`SELECT pg_backend_pid() AS pid` as unknown as [{ pid: number }];
    if (kind === "throttled") {
      await c.unsafe(
        `INSERT INTO ${role}.t SELECT repeat(md5(g::text), 31) FROM generate_series(1, 256) g`,
      );
    }
    const mark = daemon?.lines.length ?? 0;
    const killed = await c.unsafe(
      `INSERT INTO ${role}.t SELECT repeat(md5(g::text), 31) FROM generate_series(1, 2560) g`,
    ).then(() => false, () => true);
    const committed = performance.now();
    if (killed) {
      // Stopped before it could commit: there is no commit to measure from.
      await c.end({ timeout: 1 }).catch(() => {});
      out.push({ kind: "before commit", nologinMs: NaN, terminatedMs: NaN });
      await s.admin.unsafe(`TRUNCATE ${role}.t`);
      await waitUnlocked(s, role, 70_000, "the automatic unlock");
      continue;
    }
    let nologin = NaN;
    let terminated = NaN;
    while (performance.now() - committed < timeoutMs && (isNaN(nologin) || isNaN(terminated))) {
      const [row] = await s.admin.unsafe(
        `SELECT (SELECT rolcanlogin FROM pg_roles WHERE oid = $1) AS login,
                EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $2) AS alive`,
        [oid, pid],
      );
      const now = performance.now() - committed;
      if (isNaN(nologin) && !row?.login) nologin = now;
      if (isNaN(terminated) && !row?.alive) terminated = now;
      if (isNaN(nologin) || isNaN(terminated)) await new Promise((r) => setTimeout(r, 1));
    }
    await c.end({ timeout: 1 }).catch(() => {});
    out.push({ kind, nologinMs: nologin, terminatedMs: terminated });
    if (VERBOSE && daemon && (!(nologin < 300) || i === 0)) {
      log(`      slow crossing (${nologin.toFixed(0)} ms); daemon said:`);
      for (const l of daemon.lines.slice(mark)) log(`        ${JSON.stringify(l).slice(0, 300)}`);
    }
    await s.admin.unsafe(`TRUNCATE ${role}.t`);
    await waitUnlocked(s, role, 70_000, "the automatic unlock");
  }
  return out;
}

function latencySummary(xs: Crossing[]) {
  if (VERBOSE) { for (const c of xs) log(`      ${JSON.stringify(c)}`); }
  const beforeCommit = xs.filter((c) => c.kind === "before commit").length;
  xs = xs.filter((c) => c.kind !== "before commit");
  const pick = (k: keyof Omit<Crossing, "kind">, sub: Crossing[]) => {
    const v = sub.map((c) => c[k]).filter((x) => !isNaN(x));
    return {
      n: v.length,
      missed: sub.length - v.length,
      p50: percentile(v, 50),
      p95: percentile(v, 95),
      p99: percentile(v, 99),
      max: Math.max(...v),
    };
  };
  return {
    beforeCommit,
    nologin: pick("nologinMs", xs),
    terminated: pick("terminatedMs", xs),
    firstWrite: pick("nologinMs", xs.filter((c) => c.kind === "first write")),
    throttled: pick("nologinMs", xs.filter((c) => c.kind === "throttled")),
  };
}

async function runaway(s: Setup, role: string, hard: number, runs: number) {
  const out: { overshootBytes: number; sizeBytes: number; seconds: number; rateMBs: number }[] = [];
  let unlockAfterVacuumMs = NaN;
  for (let i = 0; i < runs; i++) {
    const c = client(s.cluster, role);
    await c`SELECT 1`;
    await c.unsafe("SET statement_timeout = '120s'");
    const t0 = performance.now();
    const err = await c.unsafe(
      `INSERT INTO ${role}.t SELECT repeat(md5(g::text), 31)
         FROM (SELECT generate_series(1, 100000000) AS g) s`,
    ).then(() => undefined, (e) => e as Error);
    const seconds = (performance.now() - t0) / 1000;
    await c.end({ timeout: 1 }).catch(() => {});
    if (!err || /statement timeout/.test(err.message)) {
      throw new Error(`runaway not stopped: ${err?.message ?? "it committed"}`);
    }
    const [row] = await s.admin.unsafe(
      `SELECT pg_total_relation_size('${role}.t')::int8 AS b,
              (SELECT count(*) FROM ${role}.t)::int8 AS n`,
    );
    if (Number(row?.n) !== 0) throw new Error("the runaway's rows were committed");
    const size = Number(row?.b);
    out.push({
      overshootBytes: size - hard,
      sizeBytes: size,
      seconds,
      rateMBs: size / MiB / seconds,
    });
    log(
      `    run ${i + 1}: stopped after ${seconds.toFixed(2)} s at ${(size / MiB).toFixed(1)} MiB ` +
        `(${((size - hard) / MiB).toFixed(1)} MiB past the limit, ${
          (size / MiB / seconds).toFixed(0)
        } MiB/s)`,
    );
    // The files stay large until VACUUM truncates the dead tail; then usage falls and the daemon
    // unlocks at its next look (here: the next sweep, 5 s).
    const t1 = performance.now();
    await s.admin.unsafe(`VACUUM ${role}.t`);
    await waitUnlocked(s, role, 60_000, "the unlock after VACUUM");
    unlockAfterVacuumMs = performance.now() - t1;
  }
  return { runs: out, unlockAfterVacuumMs };
}

async function createScale(s: Setup, db: string, roles: number, perRole: number, from: number) {
  const sql = client(s.cluster, "postgres", db);
  try {
    // One role per tenant, all members of one limited group; COMMIT every 500 tables keeps the
    // lock table small.
    await sql.unsafe(`DO $$
      BEGIN
        FOR r IN 1..${roles} LOOP
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = format('s_%s', r)) THEN
            EXECUTE format('CREATE ROLE s_%s LOGIN IN ROLE scale_tenants', r);
          END IF;
          EXECUTE format('CREATE SCHEMA IF NOT EXISTS s_%s AUTHORIZATION s_%s', r, r);
        END LOOP;
      END $$`);
    await sql.unsafe(`DO $$
      DECLARE n int := 0;
      BEGIN
        FOR t IN ${from + 1}..${perRole} LOOP
          FOR r IN 1..${roles} LOOP
            EXECUTE format('CREATE TABLE s_%s.t%s (x int)', r, t);
            EXECUTE format('ALTER TABLE s_%s.t%s OWNER TO s_%s', r, t, r);
            n := n + 1;
            IF n % 500 = 0 THEN COMMIT; END IF;
          END LOOP;
        END LOOP;
      END $$`);
  } finally {
    await sql.end();
  }
}

async function scale(s: Setup) {
  const db = "bench_scale";
  await s.admin.unsafe(`CREATE DATABASE ${db}`);
  await s.admin.unsafe("CREATE ROLE scale_tenants NOLOGIN");
  const out: Record<string, unknown>[] = [];
  let made = 0;
  for (const total of SCALES) {
    const perRole = total / 1000;
    const t0 = performance.now();
    await createScale(s, db, 1000, perRole, made);
    made = perRole;
    log(
      `    ${total} tables owned by 1000 roles created in ${
        ((performance.now() - t0) / 1000).toFixed(0)
      } s`,
    );
    // s_1 gets a tight limit of its own, so the daemon re-measures its table on every notification
    // (tenants far from their limit are re-measured at most once a second).
    const flags = await writeConfig(s.dir, [
      { member_of: "scale_tenants", soft_limit: "1GB", hard_limit: "2GB" },
      { user: "s_1", soft_limit: "32MB", hard_limit: "64MB" },
    ], scenarioMonitor(s, [db]));
    await installAs(flags, s.dir, s.cluster.url);
    const start = performance.now();
    const d = await startDaemon(s, flags);
    const firstMs = performance.now() - start;
    // Steady state: two more sweeps (triggers attached, caches warm).
    const seen = d.lines.length;
    await waitFor(() => d.lines.slice(seen).filter((l) => l.msg === "sweep done").length >= 2, {
      timeout: 120_000,
      what: "two sweeps",
    });
    if (VERBOSE) {
      for (
        const l of d.lines.slice(seen).filter((l) => /sweep done|measured database/.test(l.msg))
      ) log(`      ${JSON.stringify(l)}`);
    }
    const sweeps = d.lines.slice(seen).filter((l) => l.msg === "sweep done").map((l) =>
      Number(l.ms)
    );
    // One role writes; time from notification to its re-evaluation, as the daemon logs it.
    const w = client(s.cluster, "s_1", db);
    const mark = d.lines.length;
    for (let i = 0; i < 30; i++) {
      await w.unsafe("INSERT INTO s_1.t1 VALUES (1)");
      await new Promise((r) => setTimeout(r, 300)); // past the trigger's 250 ms throttle
    }
    await w.end();
    await waitFor(() => d.lines.slice(mark).filter((l) => l.msg === "re-evaluated").length >= 25, {
      timeout: 20_000,
      what: "re-evaluations",
    }).catch((err) => {
      throw new Error(
        `${err.message}\n${d.lines.slice(-30).map((l) => JSON.stringify(l)).join("\n")}`,
      );
    });
    const evals = d.lines.slice(mark).filter((l) => l.msg === "re-evaluated").map((l) =>
      Number(l.total_ms)
    );
    const idle = await cpuDuring(d.pid, () => new Promise((r) => setTimeout(r, 5000)));
    await d.stop(20_000);
    const row = {
      relations: total,
      roles: 1000,
      firstStartMs: firstMs,
      sweepMs: Math.max(...sweeps),
      reevaluateP50Ms: percentile(evals, 50),
      reevaluateP95Ms: percentile(evals, 95),
      rssBytes: idle.rss,
      cpuPctBetweenSweeps: idle.cpuPct,
    };
    log(
      `    ${total}: first start (attaches triggers) ${(firstMs / 1000).toFixed(1)} s, sweep ${
        row.sweepMs.toFixed(0)
      } ms, one role re-evaluated p50 ${row.reevaluateP50Ms.toFixed(2)} ms / p95 ${
        row.reevaluateP95Ms.toFixed(2)
      } ms, RSS ${(idle.rss / MiB).toFixed(0)} MiB`,
    );
    out.push(row);
  }
  return out;
}

/**
 * 10,000 large objects (4 KiB of incompressible bytes each) of one limited role: what the
 * per-second signature check costs, a sweep with them unchanged, and their re-measurement after
 * one of them changed (lib/measure/large_objects.ts).
 */
async function largeObjects(s: Setup) {
  const db = "bench_lo";
  const n = 10_000;
  await s.admin.unsafe(`CREATE DATABASE ${db}`);
  await s.admin.unsafe("CREATE ROLE lo_tenant LOGIN");
  const flags = await writeConfig(s.dir, [
    { user: "lo_tenant", soft_limit: "1GB", hard_limit: "2GB" },
  ], scenarioMonitor(s, [db], { sweep_interval: 3 }));
  await installAs(flags, s.dir, s.cluster.url);
  const w = client(s.cluster, "lo_tenant", db);
  const t0 = performance.now();
  await w.unsafe(
    `SELECT lo_from_bytea(0, (SELECT string_agg(decode(md5(g::text || '.' || i::text), 'hex'),
                                                ''::bytea) FROM generate_series(1, 256) i))
       FROM generate_series(1, ${n}) g`,
  );
  log(
    `    ${n} large objects of 4 KiB created in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  // The signature itself, as the daemon reads it every second in each watched database.
  const m = client(s.cluster, "monitor_user", db);
  const sig: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    await m.unsafe(sqlFile("large_object_signature"));
    sig.push(performance.now() - t);
  }
  await m.end();
  const d = await startDaemon(s, flags);
  const seen = d.lines.length;
  await waitFor(() => d.lines.slice(seen).filter((l) => l.msg === "sweep done").length >= 2, {
    timeout: 60_000,
    what: "two sweeps",
  });
  const first = d.lines.find((l) => l.msg === "measured large objects");
  const sweeps = d.lines.slice(seen).filter((l) => l.msg === "sweep done").map((l) => Number(l.ms));
  const remeasured = d.lines.slice(seen).filter((l) => l.msg === "measured large objects").length;
  // One object changes: the next check (at most a second later) re-measures.
  const mark = d.lines.length;
  await w.unsafe("SELECT lo_put(max(oid), 0, '\\x00'::bytea) FROM pg_largeobject_metadata");
  await w.end();
  const changed = await d.waitForLog(
    (l) => d.lines.indexOf(l) >= mark && l.msg === "measured large objects",
    { timeout: 30_000, what: "the large objects re-measured" },
  );
  await d.stop(10_000);
  const row = {
    objects: n,
    signatureP50Ms: percentile(sig, 50),
    firstMeasureMs: Number(first?.ms),
    sweepUnchangedMs: Math.max(...sweeps),
    remeasuredWhileUnchanged: remeasured,
    remeasureAfterOneChangedMs: Number(changed.ms),
  };
  log(
    `    signature check p50 ${row.signatureP50Ms.toFixed(2)} ms; sweep with them unchanged ${
      row.sweepUnchangedMs.toFixed(0)
    } ms (${remeasured} re-measurements); after one changed: re-measured in ${
      row.remeasureAfterOneChangedMs.toFixed(0)
    } ms (first measurement ${row.firstMeasureMs.toFixed(0)} ms)`,
  );
  return row;
}

// ---------------------------------------------------------------- main

async function main() {
  log(
    `postgres_realtime_monitor benchmark (${ROUNDS} rounds of ${SECONDS} s, ${CROSSINGS} crossings)`,
  );
  const cluster = await startCluster({
    log: (l) => log(`  ${l}`),
    settings: {
      fsync: "on",
      full_page_writes: "on",
      synchronous_commit: "on",
      shared_buffers: "'256MB'",
      max_locks_per_transaction: 128,
    },
  });
  const dir = await Deno.makeTempDir({ prefix: "pgmon_bench_" });
  await Deno.mkdir(`${dir}/metrics`);
  const admin = client(cluster, "postgres", "postgres", 2);
  const s: Setup = { cluster, dir, admin, flags: [] };
  let daemon: DaemonProcess | undefined;
  try {
    results.postgres = (await admin`SHOW server_version`)[0]?.server_version;
    const base = scenarioMonitor(s, ["postgres"], { log_level: VERBOSE ? "debug" : "info" });
    const limits = [
      { user: "bench_owner", soft_limit: "500GB", hard_limit: "1000GB" },
      { user: "victim", soft_limit: "1MB", hard_limit: "2MB" },
      { user: "runaway", soft_limit: "50MB", hard_limit: "100MB" },
    ];
    s.flags = await writeConfig(dir, limits, base);
    const tenants = ["bench_owner", "victim", "runaway"];
    for (const r of tenants) await createRole(admin, r, "LOGIN", { schema: true });
    await admin.unsafe(`
      CREATE TABLE public.w_none (x int);
      CREATE TABLE public.w_seed (x int);
      CREATE TABLE public.w_noop (x int);
      -- The floor for any PL/pgSQL trigger: one that does nothing.
      CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS
        $f$ BEGIN RETURN NULL; END $f$;
      CREATE TRIGGER noop AFTER INSERT OR UPDATE OR DELETE ON public.w_noop
        FOR EACH STATEMENT EXECUTE FUNCTION public.noop();
      -- The seed's design: NOTIFY on every statement, naming current_user.
      CREATE FUNCTION public.seed_notify() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS
        $f$ BEGIN PERFORM pg_notify('storage_limit_check', current_user); RETURN NULL; END $f$;
      CREATE TRIGGER seed_notify AFTER INSERT OR UPDATE OR DELETE ON public.w_seed
        FOR EACH STATEMENT EXECUTE FUNCTION public.seed_notify();
    `).simple();
    await installAs(s.flags, dir, cluster.url);
    for (const r of tenants) {
      const c = client(cluster, r);
      await c.unsafe(`CREATE TABLE ${r}.t (x text)`);
      if (r === "bench_owner") await c.unsafe("CREATE TABLE bench_owner.w_project (x int)");
      await c.end();
    }
    await admin.unsafe("GRANT USAGE ON SCHEMA bench_owner TO PUBLIC");
    await admin.unsafe("GRANT INSERT ON bench_owner.w_project TO PUBLIC");

    // ------------------------------------------------------------ trigger mode
    log("\n1+5. write overhead (pgbench -c 8 -j 2, one-row INSERT per transaction), daemon cost");
    daemon = await startDaemon(s, s.flags);
    const idle = await cpuDuring(daemon.pid, () => new Promise((r) => setTimeout(r, 10_000)));
    log(
      `    daemon idle: ${idle.cpuPct.toFixed(2)} % of one core, RSS ${
        (idle.rss / MiB).toFixed(0)
      } MiB`,
    );
    const w1 = await writeOverhead(s, daemon, {
      none: "public.w_none",
      noop: "public.w_noop",
      project: "bench_owner.w_project",
      seed: "public.w_seed",
    });

    log(`\n2. detection latency under load (${CROSSINGS} crossings, trigger mode)`);
    const load = new AbortController();
    const bg = pgbench(
      cluster,
      "INSERT INTO bench_owner.w_project (x) VALUES (1);",
      3600,
      load.signal,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const lat = latencySummary(await crossings(s, "victim", CROSSINGS, 5000, daemon));
    load.abort();
    await bg.catch(() => NaN);
    log(
      `    NOLOGIN p50 ${lat.nologin.p50.toFixed(1)} / p95 ${lat.nologin.p95.toFixed(1)} / p99 ${
        lat.nologin.p99.toFixed(1)
      } ms; session gone p99 ${lat.terminated.p99.toFixed(1)} ms`,
    );

    log("\n3. runaway transaction (one INSERT ... SELECT far past a 100 MiB hard limit)");
    const run = await runaway(s, "runaway", 100 * MiB, 3);
    await daemon.stop(10_000);
    daemon = undefined;

    // ------------------------------------------------------------ poll mode
    log("\n1b. 'poll' detection: write overhead and latency");
    const pollFlags = await writeConfig(dir, limits, {
      ...base,
      detection: "poll",
      poll_interval_ms: 250,
    });
    daemon = await startDaemon(s, pollFlags);
    const w2 = await writeOverhead(s, daemon, {
      none: "public.w_none",
      poll: "bench_owner.w_project",
    });
    const pollN = Math.max(10, Math.round(CROSSINGS / 3));
    const load2 = new AbortController();
    const bg2 = pgbench(
      cluster,
      "INSERT INTO bench_owner.w_project (x) VALUES (1);",
      3600,
      load2.signal,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const latPoll = latencySummary(await crossings(s, "victim", pollN, 10_000));
    load2.abort();
    await bg2.catch(() => NaN);
    log(
      `    poll mode NOLOGIN p50 ${latPoll.nologin.p50.toFixed(0)} / p99 ${
        latPoll.nologin.p99.toFixed(0)
      } ms`,
    );
    await daemon.stop(10_000);
    daemon = undefined;

    log("\n4. scale");
    const sc = await scale(s);

    log("\n6. large objects (10,000 of one limited role)");
    const lo = await largeObjects(s);

    // ------------------------------------------------------------ report
    const none = mean(w1.tps.none!);
    const none2 = mean(w2.tps.none!);
    const rows: [string, string, string, string][] = [];
    const ok = (b: boolean) => (b ? "met" : "NOT met");
    rows.push(["write TPS, no trigger", none.toFixed(0), "", ""]);
    const nr = mean(w1.tps.noop!) / none;
    rows.push(["write TPS ratio, a PL/pgSQL trigger doing nothing", nr.toFixed(3), "(floor)", ""]);
    const pr = mean(w1.tps.project!) / none;
    rows.push(["write TPS ratio, this project's trigger", pr.toFixed(3), ">= 0.90", ok(pr >= 0.9)]);
    const sr = mean(w1.tps.seed!) / none;
    rows.push(["write TPS ratio, seed's NOTIFY per statement", sr.toFixed(3), "(about 0.35)", ""]);
    const pl = mean(w2.tps.poll!) / none2;
    rows.push(["write TPS ratio, 'poll' detection", pl.toFixed(3), ">= 0.98", ok(pl >= 0.98)]);
    rows.push([
      "commit -> NOLOGIN p50/p95/p99 (ms)",
      `${lat.nologin.p50.toFixed(0)} / ${lat.nologin.p95.toFixed(0)} / ${
        lat.nologin.p99.toFixed(0)
      }`,
      "p99 <= 150",
      ok(lat.nologin.p99 <= 150 && lat.nologin.missed === 0),
    ]);
    rows.push([
      "commit -> session gone p50/p95/p99 (ms)",
      `${lat.terminated.p50.toFixed(0)} / ${lat.terminated.p95.toFixed(0)} / ${
        lat.terminated.p99.toFixed(0)
      }`,
      "p99 <= 150",
      ok(lat.terminated.p99 <= 150 && lat.terminated.missed === 0),
    ]);
    rows.push([
      "  crossings measured / stopped before their commit",
      `${lat.nologin.n} / ${lat.beforeCommit}`,
      "",
      "",
    ]);
    rows.push([
      "  of which first write / throttled, p99 (ms)",
      `${lat.firstWrite.p99.toFixed(0)} / ${lat.throttled.p99.toFixed(0)}`,
      "",
      "",
    ]);
    rows.push([
      "'poll' commit -> NOLOGIN p50/p99 (ms)",
      `${latPoll.nologin.p50.toFixed(0)} / ${latPoll.nologin.p99.toFixed(0)}`,
      "",
      "",
    ]);
    const worst = Math.max(...run.runs.map((r) => r.overshootBytes));
    rows.push([
      "runaway overshoot, worst of 3 (MiB)",
      (worst / MiB).toFixed(1),
      "<= 64 MB",
      ok(worst <= 64e6),
    ]);
    rows.push([
      "  at a write rate of (MiB/s)",
      mean(run.runs.map((r) => r.rateMBs)).toFixed(0),
      "",
      "",
    ]);
    for (const r of sc) {
      rows.push([
        `full sweep, ${r.relations} relations / 1000 roles (ms)`,
        Number(r.sweepMs).toFixed(0),
        r.relations === 100_000 ? "<= 3000" : "",
        r.relations === 100_000 ? ok(Number(r.sweepMs) <= 3000) : "",
      ]);
      rows.push([
        `one role re-evaluated, ${r.relations} relations, p50/p95 (ms)`,
        `${Number(r.reevaluateP50Ms).toFixed(1)} / ${Number(r.reevaluateP95Ms).toFixed(1)}`,
        "<= 20",
        ok(Number(r.reevaluateP95Ms) <= 20),
      ]);
      rows.push([
        `daemon RSS at ${r.relations} relations (MiB)`,
        (Number(r.rssBytes) / MiB).toFixed(0),
        "",
        "",
      ]);
    }
    rows.push([
      "large objects: signature check / sweep, 10,000 unchanged (ms)",
      `${lo.signatureP50Ms.toFixed(2)} / ${lo.sweepUnchangedMs.toFixed(0)}`,
      "",
      "",
    ]);
    rows.push([
      "large objects: re-measure after one of 10,000 changed (ms)",
      lo.remeasureAfterOneChangedMs.toFixed(0),
      "",
      "",
    ]);
    rows.push([
      "daemon idle: CPU % of one core / RSS (MiB)",
      `${idle.cpuPct.toFixed(2)} / ${(idle.rss / MiB).toFixed(0)}`,
      "<= 5 / <= 120",
      ok(idle.cpuPct <= 5 && idle.rss <= 120 * MiB),
    ]);
    rows.push([
      "daemon under write load: CPU % / RSS (MiB)",
      `${w1.daemonCpuPct.toFixed(1)} / ${(w1.daemonRss / MiB).toFixed(0)}`,
      "RSS <= 120",
      ok(w1.daemonRss <= 120 * MiB),
    ]);
    Object.assign(results, {
      writeOverhead: { trigger: w1, poll: w2 },
      latency: { trigger: lat, poll: latPoll },
      runaway: run,
      scale: sc,
      largeObjects: lo,
      idle,
      table: rows,
    });
    const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), 6));
    log(`\nResults (PostgreSQL ${results.postgres}, ${navigator.hardwareConcurrency} cores)\n`);
    log(
      `| ${
        ["figure", "value", "target", "status"].map((h, i) => h.padEnd(widths[i]!)).join(" | ")
      } |`,
    );
    log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
    for (const r of rows) log(`| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`);
    await Deno.writeTextFile(opt.out!, JSON.stringify(results, null, 2) + "\n");
    log(`\nwritten to ${opt.out}`);
  } finally {
    if (daemon) await daemon.stop(10_000);
    await admin.end({ timeout: 2 }).catch(() => {});
    await cluster.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

await main();
