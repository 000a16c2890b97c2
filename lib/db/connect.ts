/**
 * Connections to PostgreSQL: one factory, so every connection carries the same settings
 * (application_name, timeouts, no environment fallbacks beyond the three postgres.js always reads).
 *
 * @module
 */
import postgres from "postgres";
import type { MonitorConfig } from "../config/monitor.ts";
import { denseResults } from "./dense_results.ts";
import { backoffMs } from "../backoff.ts";

/** A postgres.js client. */
export type Sql = postgres.Sql<Record<string, never>>;

/** Where and as whom to connect. */
export interface ConnectionTarget {
  /** Host name, IP address, or a unix-socket directory (starts with "/"). */
  host: string;
  /** TCP port (also names the unix socket file). */
  port: number;
  /** Login role. */
  user: string;
  /** Password, or undefined for trust/peer authentication. */
  password?: string;
  /** `application_name` reported in pg_stat_activity. */
  applicationName: string;
  /** Seconds to wait for a connection. */
  connectTimeout: number;
}

/** Options for {@linkcode connect}. */
export interface ConnectOptions {
  /** Pool size. @default {2} */
  max?: number;
  /** Called on every NOTICE/WARNING the server sends. */
  onNotice?: (notice: postgres.Notice) => void;
  /** Called when a pooled connection closes. */
  onClose?: (connectionId: number) => void;
  /** Session settings sent at connect, e.g. `{ lock_timeout: "200ms" }`. */
  settings?: Record<string, string>;
  /** `application_name` instead of the target's (the LISTEN and leader connections). */
  applicationName?: string;
  /** Prepared statements. @default {true} */
  prepare?: boolean;
  /** Seconds before reconnect attempt N. @default {0.1 * 2^N, at most 5} */
  backoff?: (attempt: number) => number;
  /** Called on every notification received (a LISTEN connection). */
  onNotify?: (channel: string, payload: string) => void;
}

/**
 * Session settings sent in the startup packet of EVERY connection. A startup parameter outranks
 * ALTER DATABASE ... SET (which the owner of a database, perhaps a tenant, may run) and
 * ALTER ROLE ... SET, so a tenant can neither slip its schemas into our search path nor make our
 * sessions read-only, time out, or print dates postgres.js cannot parse. search_path holds only
 * pg_catalog (and pg_temp last, which is never searched for functions or operators): the daemon's
 * SQL schema-qualifies every function call, and its operators (=, <>, ||, ...) rely on this path.
 * `settings` of a pool (lock_timeout, statement_timeout) override these defaults.
 */
export const SESSION_SETTINGS: Readonly<Record<string, string>> = {
  search_path: "pg_catalog, pg_temp",
  default_transaction_read_only: "off",
  default_transaction_isolation: "read committed",
  default_transaction_deferrable: "off",
  statement_timeout: "0",
  lock_timeout: "0",
  idle_in_transaction_session_timeout: "0",
  idle_session_timeout: "0",
  // postgres.js parses dates with new Date(), numbers and bytea from their default text forms.
  DateStyle: "ISO, MDY",
  IntervalStyle: "postgres",
  TimeZone: "UTC",
  extra_float_digits: "1",
  bytea_output: "hex",
  standard_conforming_strings: "on",
  row_security: "on",
  transform_null_equals: "off",
  array_nulls: "on",
  quote_all_identifiers: "off",
};

/**
 * postgres.js options with every default given explicitly: postgres.js falls back to a `PG*`
 * environment variable for each one left out, which would need (and leak) env permissions.
 */
function clientOptions(
  target: ConnectionTarget,
  database: string,
  options: ConnectOptions = {},
): postgres.Options<Record<string, never>> {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password ?? "",
    database,
    max: options.max ?? 2,
    connect_timeout: target.connectTimeout,
    idle_timeout: 0,
    max_lifetime: null,
    ssl: false,
    sslnegotiation: null,
    prepare: options.prepare ?? true,
    debug: false,
    fetch_types: false,
    keep_alive: 30,
    max_pipeline: 100,
    publications: "alltables",
    // postgres.js wants seconds: 0.1 s doubling to 5 s.
    backoff: options.backoff ??
      ((attempt: number) => backoffMs(attempt, { baseMs: 100, maxMs: 5000 }) / 1000),
    target_session_attrs: undefined,
    onnotice: options.onNotice ?? (() => {}),
    onclose: options.onClose,
    onnotify: options.onNotify,
    connection: {
      ...SESSION_SETTINGS,
      application_name: options.applicationName ?? target.applicationName,
      ...options.settings,
    },
    types: {
      // int8 and oid as JS numbers: sizes stay far below 2^53 bytes (8 PiB).
      int8: {
        to: 20,
        from: [20, 26],
        serialize: (x: number) => String(x),
        parse: (x: string) => Number(x),
      },
    },
  } as unknown as postgres.Options<Record<string, never>>;
}

/**
 * Opens a pool to one database. Connections are made lazily, on the first query. Results are
 * guarded by {@linkcode denseResults}.
 */
export function connect(
  target: ConnectionTarget,
  database: string,
  options: ConnectOptions = {},
): Sql {
  return denseResults(postgres(clientOptions(target, database, options))) as unknown as Sql;
}

/**
 * Reads the monitoring role's password: `$CREDENTIALS_DIRECTORY/monitor_user.passwd` (systemd
 * LoadCredential=) first, then `password_file`. A missing file means no password (peer or trust
 * authentication); an unreadable one is an error. Only the first line counts.
 */
export async function readPassword(config: MonitorConfig): Promise<string | undefined> {
  const credDir = Deno.env.get("CREDENTIALS_DIRECTORY");
  const candidates = credDir ? [`${credDir}/monitor_user.passwd`] : [];
  candidates.push(config.password_file);
  for (const file of candidates) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw new Error(`Cannot read password file '${file}': ${(err as Error).message}`);
    }
    const first = text.split(/\r?\n/)[0] ?? "";
    return first === "" ? undefined : first;
  }
  return undefined;
}

/** Builds the connection target from the configuration (and the password it names). */
export async function targetFromConfig(config: MonitorConfig): Promise<ConnectionTarget> {
  return {
    host: config.host,
    port: config.port,
    user: config.user,
    password: await readPassword(config),
    applicationName: config.application_name,
    connectTimeout: config.connect_timeout,
  };
}
