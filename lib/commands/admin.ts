/**
 * `install` and `uninstall`: apply or remove sql/ in every monitored database, as a superuser.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { connect, type Sql } from "../db/connect.ts";
import { sqlFile, type SqlName } from "../db/sql_files.ts";
import { listDatabases } from "../measure/catalog.ts";

/** How to reach the cluster as a superuser. */
export interface AdminOptions {
  /** A full connection URL (overrides the rest). */
  url?: string;
  /** Superuser name, with host and port from the configuration. @default {"postgres"} */
  user?: string;
  /** Password for `user`. */
  password?: string;
  /** Also act on template1, so databases created later inherit the objects. @default {true} */
  template1?: boolean;
  /** uninstall: drop the monitoring role if install created it. @default {false} */
  dropRole?: boolean;
  /** Progress lines. */
  out: (line: string) => void;
}

function adminConnect(
  config: Config,
  opts: AdminOptions,
  database: string,
  settings: Record<string, string> = {},
): Sql {
  const m = config.monitor;
  let target = {
    host: m.host,
    port: m.port,
    user: opts.user ?? "postgres",
    password: opts.password,
    applicationName: "postgres_realtime_monitor install",
    connectTimeout: m.connect_timeout,
  };
  if (opts.url) {
    // Parsed here rather than handed to postgres.js, which would also consult PG* variables.
    const url = new URL(opts.url);
    target = {
      ...target,
      host: decodeURIComponent(url.hostname.replace(/^\[|\]$/g, "")) ||
        (url.searchParams.get("host") ?? m.host),
      port: url.port ? Number(url.port) : m.port,
      user: url.username ? decodeURIComponent(url.username) : target.user,
      password: url.password ? decodeURIComponent(url.password) : target.password,
    };
  }
  return connect(target, database, {
    max: 1,
    onNotice: (n) => opts.out(`  ${n.severity}: ${n.message}`),
    settings: { client_min_messages: "warning", ...settings },
  });
}

async function targetDatabases(config: Config, admin: Sql, template1: boolean) {
  const m = config.monitor;
  const dbs = new Set(m.databases ?? await listDatabases(admin));
  dbs.add(m.control_database);
  if (template1) dbs.add("template1");
  return [...dbs];
}

/** Runs sql/ files in one transaction; returns the rows of the last statement. */
async function runFile(
  config: Config,
  opts: AdminOptions,
  database: string,
  files: SqlName[],
  settings: Record<string, string>,
): Promise<Record<string, unknown>[]> {
  const sql = adminConnect(config, opts, database, settings);
  try {
    return await sql.begin(async (tx) => {
      await tx.unsafe(
        sqlFile("install_settings"),
        [config.monitor.user, config.monitor.listen_channel],
      );
      let last: Record<string, unknown>[] = [];
      for (const f of files) {
        const result = await tx.unsafe(sqlFile(f)).simple();
        // A multi-statement simple query yields one result per statement.
        const results = Array.isArray(result[0]) ? result as unknown as unknown[][] : [result];
        last = (results.at(-1) ?? []) as Record<string, unknown>[];
      }
      // Checked after the install, in its transaction: a schema of that name made by the
      // database's owner (before, or racing us) fails here, and nothing of ours is left in it.
      if (files.includes("install_database")) {
        const [t] = await tx.unsafe(sqlFile("schema_trust"), [files.includes("install_control")]);
        if (t?.state !== "installed") {
          throw new Error(
            `Cannot install in database '${database}': its postgres_monitor schema is not ` +
              `trusted (${t?.detail}); a superuser must drop it, then run install again`,
          );
        }
      }
      return last;
    });
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/**
 * Throws unless connected as a superuser; returns the session settings for the server's version
 * that connect.ts cannot send to every version (transaction_timeout, PostgreSQL 17+), so that a
 * database owner's ALTER DATABASE ... SET cannot end the install's transactions.
 */
async function requireSuperuser(admin: Sql): Promise<Record<string, string>> {
  const [row] = await admin.unsafe(sqlFile("connected_role"));
  if (!row?.rolsuper) {
    throw new Error(`'${row?.name}' is not a superuser: install and uninstall need one`);
  }
  return Number(row.version) >= 170000 ? { transaction_timeout: "0" } : {};
}

/**
 * Connects to the control database as the superuser, checks that it is one, and asks `databases`
 * which databases to act on; returns them with the session settings for this server's version.
 */
async function adminPlan(
  config: Config,
  opts: AdminOptions,
  databases: (admin: Sql) => Promise<string[]>,
): Promise<{ dbs: string[]; settings: Record<string, string> }> {
  const admin = adminConnect(config, opts, config.monitor.control_database);
  try {
    const settings = await requireSuperuser(admin);
    return { dbs: await databases(admin), settings };
  } finally {
    await admin.end({ timeout: 2 });
  }
}

/** Creates the monitoring role if missing and installs sql/ in every monitored database. */
export async function install(config: Config, opts: AdminOptions): Promise<void> {
  const m = config.monitor;
  const { dbs, settings } = await adminPlan(
    config,
    opts,
    (admin) => targetDatabases(config, admin, opts.template1 ?? true),
  );
  await runFile(config, opts, m.control_database, ["create_monitor_role"], settings);
  for (const db of dbs) {
    const files: SqlName[] = db === m.control_database
      ? ["install_database", "install_control"]
      : ["install_database"];
    opts.out(`installing in database '${db}'`);
    await runFile(config, opts, db, files, settings);
  }
  opts.out(`installed in ${dbs.length} database(s) for role '${m.user}'`);
}

/** Removes everything install created (and the role too with `dropRole`, if install made it). */
export async function uninstall(config: Config, opts: AdminOptions): Promise<void> {
  const m = config.monitor;
  // Every database, not only the monitored ones: the set may have changed since install.
  const { dbs, settings } = await adminPlan(
    config,
    opts,
    async (admin) => [...await listDatabases(admin), "template1"],
  );
  for (const db of dbs) {
    opts.out(`uninstalling from database '${db}'`);
    // Triggers in batches, each batch its own transaction (bounded lock count).
    for (;;) {
      const [row] = await runFile(config, opts, db, ["uninstall_triggers"], settings);
      if (!row || Number(row.dropped) === 0) break;
    }
    await runFile(config, opts, db, ["uninstall"], settings);
  }
  if (opts.dropRole) {
    await runFile(config, opts, m.control_database, ["drop_monitor_role"], settings);
  }
  opts.out(`uninstalled from ${dbs.length} database(s)`);
}
