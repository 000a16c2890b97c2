/**
 * Issue 11, case 5: no lock a tenant holds blinds the daemon. A lock queue on a table or its
 * index (REINDEX behind an open transaction, LOCK TABLE ... ACCESS EXCLUSIVE) must neither hide
 * what the tenant writes, nor stop another tenant's lock, nor freeze unlocks elsewhere.
 */
import assert from "node:assert/strict";
import {
  client,
  fill,
  fillUntilStopped,
  type Fixture,
  type Sql,
  waitFor,
  withFixture,
} from "../_helpers.ts";

const MiB = 1024 * 1024;

/** A reserved connection (one backend) with its pid. */
type Session = Awaited<ReturnType<Sql["reserve"]>> & { pid: number };

/** Reserves one connection of `sql` and reads its backend pid. */
async function session(sql: Sql): Promise<Session> {
  const s = await sql.reserve();
  const [row] = await s.unsafe("SELECT pg_backend_pid() AS pid");
  return Object.assign(s, { pid: Number(row!.pid) });
}

/** Ends a backend (a test's lock holder or waiter) if it still exists. */
async function endBackend(f: Fixture, pid: number): Promise<void> {
  await f.admin.unsafe("SELECT pg_terminate_backend($1)", [pid]).catch(() => {});
}

/** Waits until backend `pid` waits for a relation lock. */
async function waitQueued(f: Fixture, pid: number): Promise<void> {
  await waitFor(async () => {
    const [r] = await f.admin.unsafe(
      "SELECT count(*)::int AS n FROM pg_locks WHERE pid = $1 AND NOT granted",
      [pid],
    );
    return Number(r!.n) > 0;
  }, { what: `backend ${pid} to queue for a lock` });
}

/** Whether backend `pid` still exists. */
async function alive(f: Fixture, pid: number): Promise<boolean> {
  const [r] = await f.admin.unsafe(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1",
    [pid],
  );
  return Number(r!.n) > 0;
}

/** Reasons of the 'tamper' events of `role`. */
async function tamperReasons(f: Fixture, role: string): Promise<string[]> {
  const rows = await f.admin.unsafe(
    `SELECT detail->>'reason' AS reason FROM postgres_monitor.event_log
      WHERE event = 'tamper' AND rolname = $1 ORDER BY id`,
    [role],
  );
  return rows.map((r) => String(r.reason));
}

Deno.test("a REINDEX queued behind a tenant's open transaction hides neither its writes nor another tenant's", async () => {
  await withFixture({ monitor: { sweep_interval: 3600 } }, async (f) => {
    const writer = await f.createRole(`rx_writer_${f.id}`, "LOGIN", { schema: true });
    const other = await f.createRole(`rx_other_${f.id}`, "LOGIN", { schema: true });
    await f.writeConfig([
      { user: writer, soft_limit: MiB, hard_limit: 2 * MiB },
      { user: other, soft_limit: MiB, hard_limit: 2 * MiB },
    ]);
    const w = f.as(writer);
    await w.unsafe("CREATE TABLE t (x text, id serial)");
    await w.unsafe("CREATE INDEX t_i ON t (id)");
    await w.unsafe("CREATE TABLE u (x text)");
    const o = f.as(other);
    await o.unsafe("CREATE TABLE w (x text)");
    const d = await f.startDaemon();

    const a = await session(f.as(writer));
    const admin = client(f.controlDb, undefined, 2);
    const b = await session(admin);
    const c = await session(admin);
    try {
      // A committed write makes t one the daemon looks at. Then open transactions (the writer's,
      // and one that outlives it) hold ACCESS SHARE on t and its index, and a REINDEX queues for
      // the index in ACCESS EXCLUSIVE mode: every later lock on the index waits behind it.
      await fill(w, "t", 16);
      const [q] = await c.unsafe(
        `SELECT format('SELECT count(*) FROM %1$I.t WHERE id > 0', $1::text) AS hold,
                format('REINDEX INDEX %1$I.t_i', $1::text) AS reindex`,
        [writer],
      );
      await a.unsafe("BEGIN");
      await a.unsafe("SELECT count(*) FROM t WHERE id > 0");
      await c.unsafe("BEGIN");
      await c.unsafe(String(q!.hold));
      const reindex = b.unsafe(String(q!.reindex)).catch(() => {});
      await waitQueued(f, b.pid);
      // Over the hard limit in the open transaction: its files grow before any commit.
      await fillUntilStopped(a, "u", 3072);
      await f.waitLocked(writer, 15_000);
      await waitFor(async () => !(await alive(f, a.pid)), {
        what: "the writer's open transaction to be ended",
        timeout: 15_000,
      });
      // Another tenant of the same database crossing while the queue stays is locked too.
      await fillUntilStopped(o, "w", 3072);
      await f.waitLocked(other, 15_000);
      assert.ok(await alive(f, b.pid), "the REINDEX still waits");
      assert.equal(d.find("role locked").length, 2, d.dump());
      await endBackend(f, b.pid);
      await reindex;
    } finally {
      await endBackend(f, a.pid);
      await endBackend(f, b.pid);
      await endBackend(f, c.pid);
      a.release();
      b.release();
      c.release();
      await admin.end({ timeout: 1 }).catch(() => {});
    }
  });
});

Deno.test("a tenant's ACCESS EXCLUSIVE lock on its own table is reported once and its files are charged", async () => {
  await withFixture({ monitor: { sweep_interval: 1 } }, async (f) => {
    const role = await f.limitedRole("aex");
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text, id serial)");
    await sql.unsafe("CREATE INDEX t_i ON t (id)");
    await fill(sql, "t", 64);
    // The files of t, its index, TOAST table and TOAST index are exactly what
    // pg_total_relation_size counts; and a tenant may not call the function (it reads any file).
    const [sizes] = await f.admin.unsafe(
      `SELECT postgres_monitor.file_bytes(c.oid)::int8 AS files,
              pg_total_relation_size(c.oid)::int8 AS total
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = 't'`,
      [role],
    );
    assert.ok(Number(sizes!.total) > 64 * 1024, JSON.stringify(sizes));
    assert.equal(Number(sizes!.files), Number(sizes!.total));
    await assert.rejects(
      sql.unsafe("SELECT postgres_monitor.file_bytes('t'::regclass)"),
      /permission denied/,
    );
    const d = await f.startDaemon();
    const a = await session(f.as(role));
    try {
      await a.unsafe("BEGIN");
      await a.unsafe("LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
      await fill(a, "t", 64);
      // Busy for longer than a sweep: reported, once, naming the table and the database.
      await waitFor(async () => (await tamperReasons(f, role)).length > 0, {
        what: "a tamper event for the busy table",
        timeout: 15_000,
      }).catch((err) => {
        throw new Error(`${err.message}\n${d.dump()}`);
      });
      const [reason] = await tamperReasons(f, role);
      assert.match(reason!, new RegExp(`${role}\\.t\\b`));
      assert.ok(reason!.includes(f.controlDb), reason);
      assert.match(reason!, /files/);
      const sweeps = d.find("sweep done").length;
      await waitFor(() => d.find("sweep done").length >= sweeps + 2, { what: "two more sweeps" })
        .catch((err) => {
          throw new Error(`${err.message}\n${d.dump()}`);
        });
      assert.equal((await tamperReasons(f, role)).length, 1, "reported once per episode");
      // Over the hard limit under the lock: charged by its files, locked, its session ended.
      await fillUntilStopped(a, "t", 3072);
      await f.waitLocked(role, 15_000);
      await waitFor(async () => !(await alive(f, a.pid)), {
        what: "the locking transaction to be ended",
        timeout: 15_000,
      });
    } finally {
      await endBackend(f, a.pid);
      a.release();
    }
  });
});

Deno.test("unmeasurable databases do not freeze the unlock of a role that owns nothing there", async () => {
  await withFixture({ extraDatabases: 2, monitor: { sweep_interval: 1 } }, async (f) => {
    const elsewhere = f.extraDbs[0]!;
    const closed = f.extraDbs[1]!;
    const blocker = await f.createRole(`blk_${f.id}`, "LOGIN", { schema: true });
    const tenant = await f.createRole(`far_${f.id}`, "LOGIN");
    await f.exec("CREATE SCHEMA %I AUTHORIZATION %I", [tenant, tenant], elsewhere);
    await f.writeConfig([
      { user: blocker, soft_limit: 8 * MiB, hard_limit: 16 * MiB },
      { user: tenant, soft_limit: MiB, hard_limit: 2 * MiB },
    ]);
    const bl = f.as(blocker);
    await bl.unsafe("CREATE TABLE t (x text, id serial)");
    await bl.unsafe("CREATE INDEX t_i ON t (id)");
    await fill(bl, "t", 64);
    const d = await f.startDaemon();

    // The blocker's open transaction holds ACCESS SHARE on t and its index; a REINDEX then waits
    // for the index in ACCESS EXCLUSIVE mode, and every later lock on the index queues behind it.
    const a = await session(f.as(blocker));
    const admin = client(f.controlDb);
    const b = await session(admin);
    try {
      await a.unsafe("BEGIN");
      await a.unsafe("SELECT count(*) FROM t WHERE id > 0");
      const reindex = b.unsafe(
        `SELECT format('REINDEX INDEX %I.t_i', $1::text) AS q`,
        [blocker],
      ).then(([r]) => b.unsafe(String(r!.q))).catch(() => {});
      await waitQueued(f, b.pid);
      // And a database the daemon can no longer enter at all (as a tenant with CREATEDB can do
      // to its own database): it stays unmeasured.
      await f.exec("REVOKE CONNECT ON DATABASE %I FROM PUBLIC, %I", [closed, f.monitorRole]);
      await f.admin.unsafe(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        [closed],
      );
      // Sweeps of the control database meet the queue from now on.
      const sweeps = d.find("sweep done").length;
      await waitFor(() => d.find("sweep done").length >= sweeps + 2, {
        what: "two sweeps during the queue",
        timeout: 15_000,
      });

      const t = f.as(tenant, elsewhere);
      await t.unsafe("CREATE TABLE t (x text)");
      await fillUntilStopped(t, "t", 3072);
      await f.waitLocked(tenant, 15_000);
      await f.exec("DROP TABLE %I.t", [tenant], elsewhere);
      await waitFor(() => f.canLogin(tenant), { what: "the unlock", timeout: 15_000 })
        .catch((err) => {
          throw new Error(`${err.message}\n${d.dump()}`);
        });
      assert.ok(await alive(f, b.pid), "the lock queue was still there");
      await endBackend(f, b.pid);
      await reindex;
    } finally {
      await endBackend(f, a.pid);
      await endBackend(f, b.pid);
      a.release();
      b.release();
      await admin.end({ timeout: 1 }).catch(() => {});
    }
  });
});

Deno.test("a table that cannot be measured in a database without postgres_monitor is retried with backoff and reported", async () => {
  await withFixture({ monitor: { sweep_interval: 1 } }, async (f) => {
    const bare = `${f.controlDb}_bare`;
    const root = client("postgres");
    const [create] = await root.unsafe(
      "SELECT format('CREATE DATABASE %I', $1::text) AS c, format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text) AS d",
      [bare],
    );
    await root.unsafe(String(create!.c));
    try {
      const role = await f.createRole(`bare_${f.id}`, "LOGIN");
      await f.exec("CREATE SCHEMA %I AUTHORIZATION %I", [role, role], bare);
      await f.exec("GRANT CONNECT ON DATABASE %I TO %I", [bare, f.monitorRole], "postgres");
      await f.writeConfig([{ user: role, soft_limit: MiB, hard_limit: 2 * MiB }], {
        ...f.monitor,
        databases: [f.controlDb, bare],
      });
      const sql = f.as(role, bare);
      await sql.unsafe("CREATE TABLE t (x text)");
      await fill(sql, "t", 64);
      const d = await f.startDaemon();
      const holder = client(bare);
      const h = await session(holder);
      try {
        await h.unsafe("BEGIN");
        const [q] = await h.unsafe(
          "SELECT format('LOCK TABLE %I.t IN ACCESS EXCLUSIVE MODE', $1::text) AS q",
          [role],
        );
        await h.unsafe(String(q!.q));
        const failed = () => d.find("cannot measure relations").length;
        const before = failed();
        const sweeps = d.find("sweep done").length;
        // Six sweeps (about six seconds) under the lock.
        await waitFor(() => d.find("sweep done").length >= sweeps + 6, {
          what: "six sweeps under the lock",
          timeout: 20_000,
        });
        const n = failed() - before;
        // Retried every 50 ms that would be dozens; doubling from 100 ms it is a handful.
        assert.ok(n <= 8, `${n} failed measurements in six sweeps\n${d.dump()}`);
        const report = d.find("relation cannot be measured: lock held or queued", role);
        assert.equal(report.length, 1, d.dump());
        assert.equal(report[0]!.by_files, false);
        assert.equal(report[0]!.database, bare);
      } finally {
        await endBackend(f, h.pid);
        h.release();
        await holder.end({ timeout: 1 }).catch(() => {});
      }
    } finally {
      await root.unsafe(String(create!.d));
      await root.end();
    }
  });
});
