import { isAbsolute, join, resolve } from "node:path";
import { isObject, JsoncFile, type JsonPath, reportUnknownKeys } from "./json.ts";
import { nameProblem, quote, typeName } from "./text.ts";

/** File name of the daemon settings file inside the config directory. */
export const MONITOR_FILE_NAME = "monitor_config.json";

/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** A log level accepted by `log_level`. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Validated monitor_config.json. Every key is optional in the file. */
export interface MonitorConfig {
  /**
   * Send notifications to Slack.
   * @default false
   */
  slack_enabled: boolean;
  /**
   * Slack incoming-webhook URL; must be an http(s) URL when slack_enabled is true.
   * @default ""
   */
  slack_webhook_url: string;
  /**
   * Write Prometheus textfile-collector metrics to metrics_file.
   * @default true
   */
  prometheus_enabled: boolean;
  /**
   * PostgreSQL host; a value starting with "/" is a unix-socket directory.
   * @default "localhost"
   */
  host: string;
  /**
   * PostgreSQL port, 1..65535.
   * @default 5432
   */
  port: number;
  /**
   * Role the daemon connects as.
   * @default "monitor_user"
   */
  user: string;
  /**
   * Database used for role management and LISTEN.
   * @default "postgres"
   */
  control_database: string;
  /**
   * Absolute path of the file holding the password; relative values are resolved against the
   * config directory.
   * @default "<configDir>/monitor_user.passwd"
   */
  password_file: string;
  /**
   * Databases to measure; null means every database that accepts connections.
   * @default null
   */
  databases: string[] | null;
  /**
   * Roles never limited or blocked.
   * @default []
   */
  exempt_roles: string[];
  /**
   * Absolute path of the Prometheus textfile.
   * @default "/var/lib/prometheus/node-exporter/postgres_realtime_monitor.prom"
   */
  metrics_file: string;
  /**
   * Absolute path of the PID file.
   * @default "/var/run/postgres_realtime_monitor.pid"
   */
  pid_file: string;
  /**
   * Absolute path of the directory for persistent state.
   * @default "/var/lib/postgres_monitor"
   */
  state_dir: string;
  /**
   * Seconds between full measurements of every role, > 0.
   * @default 60
   */
  sweep_interval: number;
  /**
   * Seconds between repeated soft-limit warnings while a role stays over its soft limit, >= 0.
   * @default 3600
   */
  soft_warning_interval: number;
  /**
   * Milliseconds between re-measurements of recently written tables, integer >= 10.
   * @default 100
   */
  hot_interval_ms: number;
  /**
   * lock_timeout in milliseconds for measurement queries, integer >= 1.
   * @default 200
   */
  measure_lock_timeout_ms: number;
  /**
   * Seconds to wait for a PostgreSQL connection, > 0.
   * @default 10
   */
  connect_timeout: number;
  /**
   * Log what would be blocked or unlocked without changing any role.
   * @default false
   */
  dry_run: boolean;
  /**
   * Also log to syslog.
   * @default true
   */
  syslog_enabled: boolean;
  /**
   * Minimum level logged.
   * @default "info"
   */
  log_level: LogLevel;
  /**
   * Channel LISTENed on for immediate checks; matches /^[a-z_][a-z0-9_]{0,62}$/.
   * @default "storage_limit_check"
   */
  listen_channel: string;
  /**
   * application_name reported to PostgreSQL.
   * @default "postgres_realtime_monitor"
   */
  application_name: string;
}

/** Name of the password file looked up in the config directory by default. */
export const DEFAULT_PASSWORD_FILE_NAME = "monitor_user.passwd";

/** Returns the configuration used when monitor_config.json is absent or empty (`{}`). */
export function defaultMonitorConfig(configDir: string): MonitorConfig {
  return {
    slack_enabled: false,
    slack_webhook_url: "",
    prometheus_enabled: true,
    host: "localhost",
    port: 5432,
    user: "monitor_user",
    control_database: "postgres",
    password_file: join(configDir, DEFAULT_PASSWORD_FILE_NAME),
    databases: null,
    exempt_roles: [],
    metrics_file: "/var/lib/prometheus/node-exporter/postgres_realtime_monitor.prom",
    pid_file: "/var/run/postgres_realtime_monitor.pid",
    state_dir: "/var/lib/postgres_monitor",
    sweep_interval: 60,
    soft_warning_interval: 3600,
    hot_interval_ms: 100,
    measure_lock_timeout_ms: 200,
    connect_timeout: 10,
    dry_run: false,
    syslog_enabled: true,
    log_level: "info",
    listen_channel: "storage_limit_check",
    application_name: "postgres_realtime_monitor",
  };
}

/** Largest delay setTimeout honours; longer ones fire immediately. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const LISTEN_CHANNEL_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** A field value is invalid; `path` is relative to the field (e.g. [2] for databases[2]). */
class FieldError extends Error {
  constructor(message: string, readonly path: JsonPath = []) {
    super(message);
    this.name = "FieldError";
  }
}

type Field<T> = (value: unknown, key: string, configDir: string) => T;

const boolean: Field<boolean> = (value, key) => {
  if (typeof value !== "boolean") {
    throw new FieldError(`Key ${quote(key)} must be a boolean, got ${typeName(value)}`);
  }
  return value;
};

const string: Field<string> = (value, key) => {
  if (typeof value !== "string") {
    throw new FieldError(`Key ${quote(key)} must be a string, got ${typeName(value)}`);
  }
  return value;
};

const nonEmpty: Field<string> = (value, key, configDir) => {
  const text = string(value, key, configDir);
  if (text === "") throw new FieldError(`Key ${quote(key)} must not be empty`);
  return text;
};

const pgName: Field<string> = (value, key, configDir) => {
  const text = string(value, key, configDir);
  const problem = nameProblem(text);
  if (problem !== undefined) throw new FieldError(`Key ${quote(key)} ${problem}`);
  return text;
};

const absolutePath: Field<string> = (value, key, configDir) => {
  const text = nonEmpty(value, key, configDir);
  if (!isAbsolute(text)) {
    throw new FieldError(`Key ${quote(key)} must be an absolute path, got ${quote(text)}`);
  }
  return text;
};

interface NumberRule {
  integer?: boolean;
  min: number;
  /** Whether `min` itself is allowed. */
  minInclusive: boolean;
  max?: number;
  /** Plural unit for messages, e.g. "seconds". */
  unit?: string;
}

function number(rule: NumberRule): Field<number> {
  return (value, key) => {
    const kind = rule.integer ? "a whole number" : "a number";
    const what = rule.unit === undefined ? kind : `${kind} of ${rule.unit}`;
    const unit = rule.unit === undefined ? "" : ` ${rule.unit}`;
    if (typeof value !== "number") {
      throw new FieldError(`Key ${quote(key)} must be ${what}, got ${typeName(value)}`);
    }
    if (rule.integer && !Number.isInteger(value)) {
      throw new FieldError(`Key ${quote(key)} must be ${what}, got ${value}`);
    }
    const tooSmall = rule.minInclusive ? value < rule.min : value <= rule.min;
    if (tooSmall || !Number.isFinite(value)) {
      const bound = rule.minInclusive ? `at least ${rule.min}` : `greater than ${rule.min}`;
      throw new FieldError(`Key ${quote(key)} must be ${bound}${unit}, got ${value}`);
    }
    if (rule.max !== undefined && value > rule.max) {
      throw new FieldError(`Key ${quote(key)} must be at most ${rule.max}${unit}, got ${value}`);
    }
    return value;
  };
}

function oneOf<T extends string>(choices: readonly T[]): Field<T> {
  return (value, key, configDir) => {
    const text = string(value, key, configDir);
    const choice = choices.find((c) => c === text);
    if (choice === undefined) {
      const list = choices.map(quote).join(", ");
      throw new FieldError(`Key ${quote(key)} must be one of ${list}, got ${quote(text)}`);
    }
    return choice;
  };
}

function uniqueNames(kind: string): Field<string[]> {
  return (value, key) => {
    if (!Array.isArray(value)) {
      throw new FieldError(
        `Key ${quote(key)} must be an array of ${kind}s, got ${typeName(value)}`,
      );
    }
    const seen = new Set<string>();
    return value.map((item: unknown, index) => {
      if (typeof item !== "string") {
        throw new FieldError(
          `Item ${key}[${index}] must be a string (${kind}), got ${typeName(item)}`,
          [index],
        );
      }
      const problem = nameProblem(item);
      if (problem !== undefined) {
        throw new FieldError(`Item ${key}[${index}] ${problem}`, [index]);
      }
      if (seen.has(item)) {
        throw new FieldError(`Item ${key}[${index}] repeats ${kind} ${quote(item)}`, [index]);
      }
      seen.add(item);
      return item;
    });
  };
}

const roleList = uniqueNames("role name");
const databaseList = uniqueNames("database name");

const FIELDS: { readonly [K in keyof MonitorConfig]: Field<MonitorConfig[K]> } = {
  slack_enabled: boolean,
  slack_webhook_url: string,
  prometheus_enabled: boolean,
  host: nonEmpty,
  port: number({ integer: true, min: 1, minInclusive: true, max: 65535 }),
  user: pgName,
  control_database: pgName,
  password_file: (value, key, configDir) => resolve(configDir, nonEmpty(value, key, configDir)),
  databases: (value, key, configDir) => {
    if (value === null) return null;
    if (Array.isArray(value) && value.length === 0) {
      // Almost certainly a mistake: the daemon would then measure nothing at all.
      throw new FieldError(
        `Key ${quote(key)} must not be empty, use null to monitor every database`,
      );
    }
    return databaseList(value, key, configDir);
  },
  exempt_roles: roleList,
  metrics_file: absolutePath,
  pid_file: absolutePath,
  state_dir: absolutePath,
  sweep_interval: number({
    min: 0,
    minInclusive: false,
    max: MAX_TIMER_MS / 1000,
    unit: "seconds",
  }),
  soft_warning_interval: number({ min: 0, minInclusive: true, unit: "seconds" }),
  hot_interval_ms: number({
    integer: true,
    min: 10,
    minInclusive: true,
    max: MAX_TIMER_MS,
    unit: "milliseconds",
  }),
  measure_lock_timeout_ms: number({
    integer: true,
    min: 1,
    minInclusive: true,
    max: MAX_TIMER_MS,
    unit: "milliseconds",
  }),
  connect_timeout: number({
    min: 0,
    minInclusive: false,
    max: MAX_TIMER_MS / 1000,
    unit: "seconds",
  }),
  dry_run: boolean,
  syslog_enabled: boolean,
  log_level: oneOf(LOG_LEVELS),
  listen_channel: (value, key, configDir) => {
    const text = string(value, key, configDir);
    if (!LISTEN_CHANNEL_RE.test(text)) {
      throw new FieldError(
        `Key ${quote(key)} must match ${LISTEN_CHANNEL_RE.source} ` +
          `(lower-case unquoted identifier), got ${quote(text)}`,
      );
    }
    return text;
  },
  application_name: string,
};

const KEYS = Object.keys(FIELDS) as (keyof MonitorConfig)[];

/**
 * Parses and validates the text of monitor_config.json (JSONC). `file` is only used in
 * messages; `configDir` is where a relative `password_file` is resolved.
 *
 * @throws {ConfigError} listing every problem found (only the first one for syntax errors).
 */
export function parseMonitorConfig(text: string, file: string, configDir: string): MonitorConfig {
  const doc = JsoncFile.parse(text, file);
  const root = doc.value;
  const config = defaultMonitorConfig(configDir);
  if (!isObject(root)) {
    doc.report([], `Expected an object, got ${typeName(root)}`);
    doc.throwIfProblems();
    return config;
  }
  reportUnknownKeys(doc, [], root, KEYS);
  for (const key of KEYS) {
    if (Object.hasOwn(root, key)) setField(doc, config, root, key, configDir);
  }
  // A non-string URL has already been reported as such.
  const urlIsString = typeof (root.slack_webhook_url ?? "") === "string";
  if (config.slack_enabled && urlIsString && !isHttpUrl(config.slack_webhook_url)) {
    const at = Object.hasOwn(root, "slack_webhook_url") ? "slack_webhook_url" : "slack_enabled";
    // The URL is a secret (it embeds the webhook token), so it is not echoed into logs.
    doc.report(
      [at],
      "Key 'slack_webhook_url' must be an http(s) URL when 'slack_enabled' is true",
    );
  }
  doc.throwIfProblems();
  return config;
}

function setField<K extends keyof MonitorConfig>(
  doc: JsoncFile,
  config: MonitorConfig,
  root: Record<string, unknown>,
  key: K,
  configDir: string,
): void {
  try {
    config[key] = FIELDS[key](root[key], key, configDir);
  } catch (error) {
    if (!(error instanceof FieldError)) throw error;
    doc.report([key, ...error.path], error.message);
  }
}

function isHttpUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
}
