/**
 * Every monitor_config.json key, defined once: its validator, default, one line of documentation
 * and whether a reload (SIGHUP) applies it. The parser, the defaults, the type
 * {@linkcode MonitorConfig}, the daemon's restart list, the README table and the example config
 * (`deno run scripts/settings_table.ts`) all come from {@linkcode SETTINGS}.
 *
 * @module
 */
import {
  absolutePath,
  boolean,
  databaseListOrAll,
  type Field,
  listenAddress,
  listenChannel,
  MAX_TIMER_MS,
  nonEmpty,
  nullable,
  number,
  oneOf,
  pgName,
  resolvedPath,
  roleList,
  string,
} from "./fields.ts";
import { alertTimeout, DEFAULT_ALERT_TIMEOUT_MS, webhooks } from "./webhooks.ts";

/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** A log level accepted by `log_level`. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Values of `detection`. */
export const DETECTION_MODES = ["trigger", "poll"] as const;

/** How writes are detected. */
export type Detection = typeof DETECTION_MODES[number];

/** Name of the password file looked up in the config directory by default. */
export const DEFAULT_PASSWORD_FILE_NAME = "monitor_user.passwd";

/**
 * When a changed value takes effect: "reload" (a SIGHUP applies it) or "restart" (read once at
 * start: a SIGHUP logs a warning naming the key and keeps the running value).
 */
export type Applies = "reload" | "restart";

/** One row of the settings table. */
export interface Setting<T> {
  /** Validates the value found in the file (also run on `default`). */
  parse: Field<T>;
  /** Value when the key is absent; a relative path is resolved by `parse` like a set one. */
  default: NoInfer<T>;
  /** One line for the README table and the example config (Markdown code spans allowed). */
  doc: string;
  /** Whether a SIGHUP applies a change. */
  applies: Applies;
  /** Written as a key (not a comment) in the example config: a key most installs look at. */
  example?: boolean;
}

/** Infers `T` from the validator, so a default of the wrong type does not compile. */
function setting<T>(row: Setting<T>): Setting<T> {
  return row;
}

/** An integer number of milliseconds from `min`, at most the longest timer. */
function milliseconds(min: number): Field<number> {
  return number({
    integer: true,
    min,
    minInclusive: true,
    max: MAX_TIMER_MS,
    unit: "milliseconds",
  });
}

/**
 * The settings, in README order, which is also the parse order: `alert_timeout_ms` comes before
 * `webhooks` (it is their default timeout).
 */
const ROWS = {
  host: setting({
    parse: nonEmpty,
    default: "localhost",
    doc: "PostgreSQL host; a value starting with `/` is a unix-socket directory",
    applies: "restart",
    example: true,
  }),
  port: setting({
    parse: number({ integer: true, min: 1, minInclusive: true, max: 65535 }),
    default: 5432,
    doc: "port, 1..65535 (also names the socket file)",
    applies: "restart",
    example: true,
  }),
  user: setting({
    parse: pgName,
    default: "monitor_user",
    doc: "the daemon's login role (unprivileged, see below)",
    applies: "restart",
    example: true,
  }),
  control_database: setting({
    parse: pgName,
    default: "postgres",
    doc: "where the state tables and lock functions live",
    applies: "restart",
    example: true,
  }),
  password_file: setting({
    parse: resolvedPath,
    default: DEFAULT_PASSWORD_FILE_NAME,
    doc: "first line is the password; relative to the config directory; a missing file means " +
      "no password (peer/trust); `$CREDENTIALS_DIRECTORY/monitor_user.passwd` (systemd " +
      "`LoadCredential=`) is read first",
    applies: "restart",
  }),
  databases: setting({
    parse: databaseListOrAll,
    default: null,
    doc: "databases to monitor; `null` = every database but templates owned by a superuser, " +
      "re-listed at every sweep (and every 2 s for which are in use)",
    applies: "reload",
    example: true,
  }),
  max_watched_databases: setting({
    parse: number({ integer: true, min: 0, minInclusive: true, max: 10_000 }),
    default: 10,
    doc: "with `databases` `null`: most databases (where a limited role owns objects) that get " +
      "LISTEN + measuring connections; the rest are measured by sweeps only",
    applies: "reload",
  }),
  exempt_roles: setting({
    parse: roleList,
    default: [],
    doc: "roles never locked (reported only)",
    applies: "reload",
    example: true,
  }),
  dry_run: setting({
    parse: boolean,
    default: false,
    doc: "decide and report, change nothing (also `--dry-run`)",
    applies: "reload",
  }),
  sweep_interval: setting({
    parse: number({ min: 0, minInclusive: false, max: MAX_TIMER_MS / 1000, unit: "seconds" }),
    default: 60,
    doc: "seconds between full sweeps",
    applies: "reload",
    example: true,
  }),
  soft_warning_interval: setting({
    parse: number({ min: 0, minInclusive: true, unit: "seconds" }),
    default: 3600,
    doc: "seconds between repeated soft warnings for one role",
    applies: "reload",
  }),
  detection: setting({
    parse: oneOf(DETECTION_MODES),
    default: "trigger",
    doc: "`trigger` (statement triggers + LISTEN/NOTIFY) or `poll` (no triggers: statistics " +
      "counters)",
    applies: "reload",
  }),
  lock_poll_interval_ms: setting({
    parse: milliseconds(0),
    default: 200,
    doc: "how often open transactions' writes are looked for in `pg_locks` (runaway " +
      "transactions); `0` = off",
    applies: "reload",
  }),
  poll_interval_ms: setting({
    parse: milliseconds(50),
    default: 500,
    doc: "how often `poll` detection reads the counters",
    applies: "reload",
  }),
  verify_interval_ms: setting({
    parse: milliseconds(0),
    default: 5000,
    doc: "`trigger` detection: how often the statistics counters are cross-checked against " +
      "notifications (writes unseen by the trigger); `0` = off",
    applies: "reload",
  }),
  hot_interval_ms: setting({
    parse: milliseconds(10),
    default: 50,
    doc: "re-measure cadence of recently written tables",
    applies: "reload",
  }),
  measure_lock_timeout_ms: setting({
    parse: milliseconds(1),
    default: 200,
    // Set on the measuring connections when they open, which is once per database.
    doc: "`lock_timeout` of measuring connections",
    applies: "restart",
  }),
  connect_timeout: setting({
    parse: number({ min: 0, minInclusive: false, max: MAX_TIMER_MS / 1000, unit: "seconds" }),
    default: 10,
    doc: "seconds to wait for a connection",
    applies: "restart",
  }),
  listen_channel: setting({
    parse: listenChannel,
    default: "storage_limit_check",
    doc: "LISTEN/NOTIFY channel (`[a-z_][a-z0-9_]*`)",
    applies: "restart",
  }),
  application_name: setting({
    parse: string,
    default: "postgres_realtime_monitor",
    doc: "shown in `pg_stat_activity`; also names this daemon in the leader election",
    applies: "restart",
  }),
  prometheus_enabled: setting({
    parse: boolean,
    default: true,
    doc: "write the metrics textfile",
    applies: "reload",
  }),
  metrics_file: setting({
    parse: absolutePath,
    default: "/var/lib/prometheus/node-exporter/postgres_realtime_monitor.prom",
    doc: "textfile for node_exporter",
    applies: "reload",
    example: true,
  }),
  pid_file: setting({
    parse: absolutePath,
    default: "/var/run/postgres_realtime_monitor.pid",
    doc: "held with an exclusive flock while running",
    applies: "restart",
  }),
  state_dir: setting({
    parse: absolutePath,
    default: "/var/lib/postgres_monitor",
    doc: "the daemon's writable state directory",
    applies: "restart",
    example: true,
  }),
  syslog_enabled: setting({
    parse: boolean,
    default: true,
    doc: "send soft/hard/unlock events to syslog via `logger`",
    applies: "restart",
    example: true,
  }),
  log_level: setting({
    parse: oneOf(LOG_LEVELS),
    default: "info",
    doc: "`debug`, `info`, `warn`, `error` (JSON lines on stderr)",
    applies: "reload",
  }),
  syslog_socket: setting({
    parse: nullable(absolutePath),
    default: null,
    doc: "unix socket `logger` writes to; `null` = the system's (`/dev/log`)",
    applies: "restart",
  }),
  metrics_listen: setting({
    parse: nullable(listenAddress),
    default: null,
    doc: "`host:port` for the HTTP listener serving `/metrics` and `/healthz`, e.g. " +
      "`127.0.0.1:9187`; `null` = off",
    applies: "restart",
  }),
  slack_enabled: setting({
    parse: boolean,
    default: false,
    doc: "send alerts to a Slack incoming webhook (as in the old daemon)",
    applies: "restart",
    example: true,
  }),
  slack_webhook_url: setting({
    parse: string,
    default: "",
    doc: "the Slack incoming-webhook URL, http(s) when `slack_enabled`; a secret, never logged",
    applies: "restart",
  }),
  alert_timeout_ms: setting({
    parse: alertTimeout,
    default: DEFAULT_ALERT_TIMEOUT_MS,
    doc: "time limit of one delivery attempt, 100..120000",
    applies: "restart",
  }),
  webhooks: setting({
    parse: webhooks,
    default: [],
    doc: "generic JSON webhooks, see below",
    applies: "restart",
  }),
  alert_retry_base_ms: setting({
    parse: milliseconds(10),
    default: 1000,
    doc: "delay before the first retry of an alert; exponential backoff with full jitter",
    applies: "restart",
  }),
  alert_retry_max_ms: setting({
    parse: milliseconds(10),
    default: 300000,
    doc: "longest delay between retries, at least `alert_retry_base_ms`",
    applies: "restart",
  }),
  circuit_breaker_failures: setting({
    parse: number({ integer: true, min: 1, minInclusive: true }),
    default: 5,
    doc: "consecutive failures that open an endpoint's circuit",
    applies: "restart",
  }),
  circuit_breaker_cooldown_ms: setting({
    parse: milliseconds(10),
    default: 30000,
    doc: "how long an open circuit waits before one probe",
    applies: "restart",
  }),
};

/** A setting's name. */
export type SettingKey = keyof typeof ROWS;

/** Validated monitor_config.json: every key of {@linkcode SETTINGS}, defaults filled in. */
export type MonitorConfig = {
  -readonly [K in SettingKey]: typeof ROWS[K] extends Setting<infer T> ? T : never;
};

/** The settings table: one row per monitor_config.json key, in README and parse order. */
export const SETTINGS: { readonly [K in SettingKey]: Setting<MonitorConfig[K]> } = ROWS;

/** Every setting's name, in table (and parse) order. */
export const SETTING_KEYS: readonly SettingKey[] = Object.keys(SETTINGS) as SettingKey[];

/** Settings a SIGHUP does not apply: a change is logged (one warning per key) and kept for later. */
export const RESTART_KEYS: readonly SettingKey[] = SETTING_KEYS.filter((key) =>
  SETTINGS[key].applies === "restart"
);

/** Returns the configuration used when monitor_config.json is absent or empty (`{}`). */
export function defaultMonitorConfig(configDir: string): MonitorConfig {
  const config: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const row = SETTINGS[key];
    // Validated like a value from the file: a relative path is resolved, and a bad default fails.
    config[key] = row.parse(structuredClone(row.default), key, configDir, config);
  }
  return config as MonitorConfig;
}
