/**
 * Fixtures against a real PostgreSQL, for the tests, the demo and the benchmark: clients, config
 * files, roles, writes. {@linkcode Fixture} is the tests' unit (DATABASE_URL, a superuser URL;
 * `deno task test` starts an ephemeral cluster and sets it): it owns a control database, a
 * monitoring role, its test roles and a config directory, and removes all of them in `cleanup()`.
 *
 * @module
 */
import postgres from "postgres";
import { loadConfig } from "../../lib/config/mod.ts";
import { permissionFlags, type PermissionOptions } from "../../lib/permissions.ts";
import { type CliResult, DaemonProcess, installAs, runCli, waitFor } from "./process.ts";

/** A superuser postgres.js client. */
export type Sql = postgres.Sql<Record<string, never>>;

/** File name of the metrics textfile inside a config directory's `metrics/` folder. */
export const METRICS_FILE = "metrics/postgres_realtime_monitor.prom";

const ADMIN_URL = Deno.env.get("DATABASE_URL");

/** The superuser URL the tests run against. */
export function adminUrl(): string {
  if (!ADMIN_URL) {
    throw new Error(
      "DATABASE_URL is not set: run the tests with 'deno task test' (starts a cluster)",
    );
  }
  return ADMIN_URL;
}

/** A URL for `database` as `user` (trust auth on the test cluster). */
export function urlFor(database: string, user?: string): string {
  const url = new URL(adminUrl());
  url.pathname = "/" + encodeURIComponent(database);
  if (user !== undefined) url.username = encodeURIComponent(user);
  return url.toString();
}

/** Options of {@linkcode connect}. */
export interface ConnectOptions {
  /** Database. @default {the URL's} */
  database?: string;
  /** User. @default {the URL's} */
  user?: string;
  /** Pool size. @default {1} */
  max?: number;
  /** application_name of the sessions. @default {none} */
  applicationName?: string;
  /** Seconds to wait for a connection. @default {postgres.js's 30} */
  connectTimeout?: number;
}

/** Opens a client to the cluster at `url` (a superuser URL); notices silenced, never idles out. */
export function connect(url: string, options: ConnectOptions = {}): Sql {
  // Database and user as options: postgres.js does not percent-decode a URL's path.
  return postgres(url, {
    ...(options.database === undefined ? {} : { database: options.database }),
    ...(options.user === undefined ? {} : { username: options.user }),
    max: options.max ?? 1,
    onnotice: () => {},
    idle_timeout: 0,
    ...(options.connectTimeout === undefined ? {} : { connect_timeout: options.connectTimeout }),
    ...(options.applicationName === undefined
      ? {}
      : { connection: { application_name: options.applicationName } }),
  }) as unknown as Sql;
}

/** Opens a test client (to `url`, a superuser URL of another cluster); `onnotice` silenced. */
export function client(database = "postgres", user?: string, max = 1, url = adminUrl()): Sql {
  return connect(url, { database, user, max, applicationName: "pgmon_test", connectTimeout: 10 });
}

/**
 * The monitor settings every daemon started here shares, for a cluster at `url` and a config
 * directory `dir` (metrics, pid file, state; no syslog), with `extra` on top.
 */
export function monitorSettings(
  url: string,
  dir: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port),
    user: "monitor_user",
    metrics_file: `${dir}/${METRICS_FILE}`,
    pid_file: `${dir}/daemon.pid`,
    state_dir: dir,
    syslog_enabled: false,
    ...extra,
  };
}

/** Writes user_limits.json and monitor_config.json into `dir`. */
export async function writeConfigFiles(
  dir: string,
  limits: Record<string, unknown>[],
  monitor: Record<string, unknown>,
): Promise<void> {
  await Deno.writeTextFile(
    `${dir}/user_limits.json`,
    JSON.stringify({ user_limits: limits }, null, 2),
  );
  await Deno.writeTextFile(`${dir}/monitor_config.json`, JSON.stringify(monitor, null, 2));
}

/** The permission flags the daemon computes for the configuration in `dir`. */
export async function configFlags(dir: string, options: PermissionOptions = {}): Promise<string[]> {
  const config = await loadConfig(dir);
  return permissionFlags(config.monitor, config.dir, options);
}

/**
 * Creates a role (name used verbatim) as the superuser `sql`; with `schema`, also a schema of the
 * same name that it owns, where its unqualified CREATE TABLE lands.
 */
export async function createRole(
  sql: Sql,
  name: string,
  attrs = "LOGIN",
  options: { schema?: boolean } = {},
): Promise<string> {
  // set_config then DO: the name travels as data, never in SQL text.
  await sql.begin(async (tx) => {
    await tx.unsafe("SELECT set_config('pgmon.r', $1, true)", [name]);
    await tx.unsafe(
      `DO $$ BEGIN EXECUTE format('CREATE ROLE %I ${attrs}', current_setting('pgmon.r')); END $$`,
    );
    if (!options.schema) return;
    await tx.unsafe(
      `DO $$ BEGIN
         EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', current_setting('pgmon.r'),
                        current_setting('pgmon.r'));
       END $$`,
    );
  });
  return name;
}

/** rolcanlogin of a role. */
export async function canLogin(sql: Sql, role: string): Promise<boolean> {
  const [r] = await sql.unsafe("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [role]);
  return Boolean(r?.rolcanlogin);
}

/** Live client sessions of a role. */
export async function sessionCount(sql: Sql, role: string): Promise<number> {
  const [r] = await sql.unsafe(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND backend_type = 'client backend'",
    [role],
  );
  return Number(r?.n);
}

/** A short random suffix for cluster-wide names. */
export function uid(): string {
  return crypto.randomUUID().slice(0, 8);
}

/** Options of {@linkcode Fixture.create}. */
export interface FixtureOptions {
  /** Entries of user_limits.json (role names as given). */
  limits?: Record<string, unknown>[];
  /** Extra keys of monitor_config.json. */
  monitor?: Record<string, unknown>;
  /** How many extra monitored databases to create besides the control database. @default {0} */
  extraDatabases?: number;
  /** Run `install` (as the CLI, with the computed flags). @default {true} */
  install?: boolean;
  /** Superuser URL of the cluster to use (a test's own cluster). @default {adminUrl()} */
  url?: string;
}

/** A control database, a monitoring role, test roles and a config directory. */
export class Fixture {
  /** Unique suffix. */
  readonly id = uid();
  /** Config directory. */
  dir = "";
  /** Control database (also monitored). */
  readonly controlDb = `pgmon_${this.id}`;
  /** Extra monitored databases. */
  extraDbs: string[] = [];
  /** The daemon's role. */
  readonly monitorRole = `pgmon_mon_${this.id}`;
  /** Superuser client on the control database. */
  admin!: Sql;
  /** Superuser URL of the fixture's cluster. */
  url = "";
  #roles: string[] = [];
  #clients: Sql[] = [];
  #daemons: DaemonProcess[] = [];
  #limits: Record<string, unknown>[] = [];
  #monitor: Record<string, unknown> = {};

  /** Creates databases and config, and installs (unless `install: false`). */
  static async create(options: FixtureOptions = {}): Promise<Fixture> {
    const f = new Fixture();
    f.dir = await Deno.makeTempDir({ prefix: "pgmon_test_" });
    f.#limits = options.limits ?? [];
    f.url = options.url ?? adminUrl();
    const root = client("postgres", undefined, 1, f.url);
    try {
      await root.unsafe(`CREATE DATABASE ${quoteIdent(f.controlDb)}`);
      for (let i = 0; i < (options.extraDatabases ?? 0); i++) {
        const name = `${f.controlDb}_x${i}`;
        await root.unsafe(`CREATE DATABASE ${quoteIdent(name)}`);
        f.extraDbs.push(name);
      }
    } finally {
      await root.end();
    }
    f.admin = client(f.controlDb, undefined, 2, f.url);
    f.#monitor = monitorSettings(f.url, f.dir, {
      user: f.monitorRole,
      control_database: f.controlDb,
      databases: [f.controlDb, ...f.extraDbs],
      state_dir: `${f.dir}/state`,
      log_level: "debug",
      ...options.monitor,
    });
    await Deno.mkdir(`${f.dir}/metrics`);
    await Deno.mkdir(`${f.dir}/state`);
    await f.writeConfig();
    if (options.install ?? true) {
      await installAs(await f.flags(), f.dir, f.url);
    }
    return f;
  }

  /** (Re)writes both config files from the current limits and monitor settings. */
  async writeConfig(
    limits: Record<string, unknown>[] = this.#limits,
    monitor: Record<string, unknown> = this.#monitor,
  ) {
    this.#limits = limits;
    this.#monitor = monitor;
    await writeConfigFiles(this.dir, limits, monitor);
  }

  /** A copy of the monitor configuration last written, to derive a changed one from. */
  get monitor(): Record<string, unknown> {
    return structuredClone(this.#monitor);
  }

  /** The permission flags computed for this fixture's configuration. */
  async flags(options: PermissionOptions = {}): Promise<string[]> {
    return await configFlags(this.dir, options);
  }

  /** Runs a CLI command with this config dir and the computed flags. */
  async cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    return await runCli(await this.flags(), [...args, "--config-dir", this.dir], env);
  }

  /**
   * Starts the daemon with exactly the computed flags and waits until it is running; `env` and
   * `permissions` describe the environment it runs in (systemd's variables, a --pid-file).
   */
  async startDaemon(
    extraArgs: string[] = [],
    wait = true,
    options: { env?: Record<string, string>; permissions?: PermissionOptions } = {},
  ): Promise<DaemonProcess> {
    const d = new DaemonProcess(
      await this.flags(options.permissions),
      ["run", "--config-dir", this.dir, ...extraArgs],
      options.env,
    );
    this.#daemons.push(d);
    if (wait) await d.waitRunning();
    return d;
  }

  /**
   * Makes a daemon started elsewhere (another config dir, a built executable) this fixture's:
   * stopped at cleanup, and checked by {@linkcode assertNoInternalErrors}.
   */
  adopt(d: DaemonProcess): DaemonProcess {
    this.#daemons.push(d);
    return d;
  }

  /**
   * Creates a role (name used verbatim) that cleanup drops; with `schema`, also a schema of the
   * same name that it owns, where its unqualified CREATE TABLE lands.
   */
  async createRole(
    name: string,
    attrs = "LOGIN",
    options: { schema?: boolean } = {},
  ): Promise<string> {
    await createRole(this.admin, name, attrs, options);
    this.#roles.push(name);
    return name;
  }

  /**
   * The common case: a login role with its own schema and one limit (soft 1 MiB, hard 2 MiB unless
   * `extra` says otherwise), written to user_limits.json (replacing what was there).
   */
  async limitedRole(prefix: string, extra: Record<string, unknown> = {}): Promise<string> {
    const role = await this.createRole(`${prefix}_${this.id}`, "LOGIN", { schema: true });
    await this.writeConfig([{
      user: role,
      soft_limit: 1024 * 1024,
      hard_limit: 2048 * 1024,
      ...extra,
    }]);
    return role;
  }

  /** As `role`: creates table `t` in its schema and writes 3 MiB into it; waits for the lock. */
  async overHard(role: string): Promise<Sql> {
    const sql = this.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    await fillUntilStopped(sql, "t", 3072);
    await this.waitLocked(role);
    return sql;
  }

  /**
   * Walks `role` through every state: over soft (1.5 MiB), over hard (3 MiB, locked), then its
   * table dropped by an administrator (unlocked).
   */
  async crossEverything(role: string): Promise<void> {
    const sql = this.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    await fill(sql, "t", 1536);
    await fillUntilStopped(sql, "t", 1536);
    await this.waitLocked(role);
    await this.exec("DROP TABLE %I.t", [role]);
    await waitFor(() => this.canLogin(role), { what: "the unlock" });
  }

  /** Runs `stmt` (with %I placeholders) formatted on the server with `names` as identifiers. */
  async exec(stmt: string, names: string[], database = this.controlDb): Promise<void> {
    const sql = database === this.controlDb ? this.admin : client(database, undefined, 1, this.url);
    try {
      const [row] = await sql.unsafe(
        `SELECT format($1, ${names.map((_, i) => `$${i + 2}::text`).join(", ")}) AS q`,
        [stmt, ...names],
      );
      await sql.unsafe(String(row!.q));
    } finally {
      if (sql !== this.admin) await sql.end();
    }
  }

  /** A client logged in as `role` (closed by cleanup). */
  as(role: string, database = this.controlDb): Sql {
    const c = client(database, role, 1, this.url);
    this.#clients.push(c);
    return c;
  }

  /** Waits until `role` cannot log in; on timeout the error carries the daemons' logs. */
  async waitLocked(role: string, timeout = 10_000): Promise<void> {
    await waitFor(async () => !(await this.canLogin(role)), {
      timeout,
      what: `'${role}' to be locked`,
    }).catch((err) => {
      throw new Error(
        `${err.message}\n--- daemon logs ---\n${this.#daemons.map((d) => d.dump()).join("\n")}`,
      );
    });
  }

  /** rolcanlogin of a role. */
  async canLogin(role: string): Promise<boolean> {
    return await canLogin(this.admin, role);
  }

  /** postgres_user_storage_usage_bytes of a role in the metrics file (-1 if absent). */
  async metricUsage(role: string): Promise<number> {
    const text = await Deno.readTextFile(`${this.dir}/${METRICS_FILE}`)
      .catch(() => "");
    const label = role.replaceAll("\\", "\\\\").replaceAll('"', '\\"');
    const line = text.split("\n").find((l) =>
      l.startsWith(`postgres_user_storage_usage_bytes{user="${label}"} `)
    );
    return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : -1;
  }

  /** Live client sessions of a role. */
  async sessions(role: string): Promise<number> {
    return await sessionCount(this.admin, role);
  }

  /** Events of the event log for a role, oldest first. */
  async events(role: string): Promise<string[]> {
    const rows = await this.admin.unsafe(
      "SELECT event FROM postgres_monitor.event_log WHERE rolname = $1 ORDER BY id",
      [role],
    );
    return rows.map((r) => String(r.event));
  }

  /**
   * Throws, with the logs, if any daemon of this fixture logged an `internal error` (a background
   * task failed in a way nothing handled) or died of an uncaught exception.
   */
  assertNoInternalErrors() {
    const bad = this.#daemons.filter((d) =>
      d.lines.some((l) => l.msg === "internal error") ||
      d.raw.some((l) => /\bUncaught\b/.test(l))
    );
    if (bad.length > 0) {
      throw new Error(
        `a daemon hit an internal error\n--- daemon logs ---\n${
          bad.map((d) => d.dump()).join("\n")
        }`,
      );
    }
  }

  /** Stops daemons, closes clients, drops databases and roles. */
  async cleanup() {
    for (const d of this.#daemons) await d.stop();
    for (const c of this.#clients) await c.end({ timeout: 1 }).catch(() => {});
    await this.admin?.end({ timeout: 1 }).catch(() => {});
    const root = client("postgres", undefined, 1, this.url);
    try {
      for (const db of [this.controlDb, ...this.extraDbs]) {
        await root.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(db)} WITH (FORCE)`);
      }
      for (const role of [...this.#roles, this.monitorRole]) {
        await root.begin(async (tx) => {
          await tx.unsafe("SELECT set_config('pgmon.r', $1, true)", [role]);
          await tx.unsafe(
            `DO $$ BEGIN
               PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE usename = current_setting('pgmon.r');
               IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_setting('pgmon.r')) THEN
                 EXECUTE format('DROP ROLE %I', current_setting('pgmon.r'));
               END IF;
             END $$`,
          );
        });
      }
    } finally {
      await root.end();
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Quotes an identifier that the test itself generated (only [a-z0-9_]). */
function quoteIdent(name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`Unexpected test identifier '${name}'`);
  return `"${name}"`;
}

/** Inserts about `kib` KiB of incompressible 1 kB rows into `table` (a name the test chose). */
export async function fill(sql: Pick<Sql, "unsafe">, table: string, kib: number): Promise<void> {
  await sql.unsafe(
    `INSERT INTO ${table} SELECT md5(g::text || random()::text) || repeat(md5(random()::text), 30)
       FROM generate_series(1, $1) g`,
    [kib] as never,
  );
}

/**
 * {@linkcode fill} past the hard limit: the daemon may terminate the session before the INSERT
 * commits (the runaway-transaction watch) or right after (the lock); either is fine here.
 */
export async function fillUntilStopped(
  sql: Pick<Sql, "unsafe">,
  table: string,
  kib: number,
): Promise<void> {
  try {
    await fill(sql, table, kib);
  } catch (err) {
    const e = err as { code?: string };
    if (e.code !== "CONNECTION_CLOSED" && e.code !== "57P01") throw err;
  }
}

/**
 * Runs `fn` with a new fixture and always cleans it up; fails if a daemon hit an internal error
 * even when `fn` passed.
 */
export async function withFixture(
  options: FixtureOptions,
  fn: (f: Fixture) => Promise<void>,
): Promise<void> {
  const f = await Fixture.create(options);
  try {
    await fn(f);
    f.assertNoInternalErrors();
  } finally {
    await f.cleanup();
  }
}
