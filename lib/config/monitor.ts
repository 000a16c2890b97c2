import { isAbsolute, join, resolve } from "node:path";
import {
  isObject,
  JsoncFile,
  type JsonPath,
  type ReportOptions,
  reportUnknownKeys,
  unknownKeyMessage,
} from "./json.ts";
import { nameProblem, quote, typeName } from "./text.ts";

/** File name of the daemon settings file inside the config directory. */
export const MONITOR_FILE_NAME = "monitor_config.json";

/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** Values of `detection`. */
export const DETECTION_MODES = ["trigger", "poll"] as const;

/** How writes are detected. */
export type Detection = typeof DETECTION_MODES[number];

/** A log level accepted by `log_level`. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Events an alert endpoint can subscribe to, in the order they usually happen. */
export const ALERT_EVENTS = [
  "soft_exceeded",
  "soft_cleared",
  "hard_exceeded",
  "locked",
  "sessions_terminated",
  "unlocked",
  "lock_released",
  "tamper",
  "writers_stopped",
] as const;

/** An event accepted in a webhook's `events`. */
export type AlertEvent = typeof ALERT_EVENTS[number];

/** One validated item of `webhooks`. */
export interface WebhookConfig {
  /**
   * Name used in logs, metrics and state; matches /^[a-z0-9_-]{1,40}$/, unique, not "slack".
   * @default "webhook<N>" (N is the 1-based position in `webhooks`)
   */
  name: string;
  /** http(s) URL the alerts are POSTed to. A credential: never logged. Required. */
  url: string;
  /**
   * Standard Webhooks signing secret: "whsec_" followed by the base64 of 24..64 bytes.
   * @default null
   */
  secret: string | null;
  /**
   * Absolute path of a file holding the signing secret (read at startup); relative values are
   * resolved against the config directory. Not together with `secret`.
   * @default null
   */
  secret_file: string | null;
  /**
   * Events sent to this endpoint, unique and not empty.
   * @default every event in {@linkcode ALERT_EVENTS}
   */
  events: AlertEvent[];
  /**
   * Timeout of one HTTP request in milliseconds, integer 100..120000.
   * @default the `alert_timeout_ms` setting
   */
  timeout_ms: number;
}

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
   * Timeout of one alert HTTP request (Slack and webhooks) in milliseconds, integer 100..120000.
   * @default 10000
   */
  alert_timeout_ms: number;
  /**
   * Delay before the first retry of a failed alert in milliseconds, integer >= 10; each further
   * retry doubles it (with jitter).
   * @default 1000
   */
  alert_retry_base_ms: number;
  /**
   * Longest delay between alert retries in milliseconds, integer >= alert_retry_base_ms.
   * @default 300000
   */
  alert_retry_max_ms: number;
  /**
   * Consecutive failures that open an alert endpoint's circuit, integer >= 1.
   * @default 5
   */
  circuit_breaker_failures: number;
  /**
   * Milliseconds an open circuit waits before trying its endpoint again, integer >= 10.
   * @default 30000
   */
  circuit_breaker_cooldown_ms: number;
  /**
   * Generic JSON webhooks that receive the same alerts as Slack.
   * @default []
   */
  webhooks: WebhookConfig[];
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
   * With `databases` null: most databases (where a limited role owns objects) that get a LISTEN
   * and measuring connections, integer >= 0; the rest are measured at every sweep through one
   * short-lived connection.
   * @default 10
   */
  max_watched_databases: number;
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
   * Address of the HTTP metrics endpoint as "host:port" ("127.0.0.1:9187", "localhost:9187",
   * "[::1]:9187"; the host is required); null turns the endpoint off.
   * @default null
   */
  metrics_listen: string | null;
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
   * @default 50
   */
  hot_interval_ms: number;
  /**
   * How writes are detected: "trigger" (statement triggers + LISTEN/NOTIFY) or "poll"
   * (no triggers at all: pg_stat_all_tables counters and pg_locks, every poll_interval_ms).
   * @default "trigger"
   */
  detection: Detection;
  /**
   * Milliseconds between looks at pg_locks for uncommitted writes (a runaway transaction is
   * seen before it commits); 0 turns it off. Integer.
   * @default 200
   */
  lock_poll_interval_ms: number;
  /**
   * Milliseconds between polls of the statistics counters in "poll" detection, integer >= 50.
   * @default 500
   */
  poll_interval_ms: number;
  /**
   * Milliseconds between cross-checks of the notifications in "trigger" detection: tables whose
   * statistics counters moved are re-measured, and one that grew without a notification is
   * reported as tampering; 0 turns it off. Integer.
   * @default 5000
   */
  verify_interval_ms: number;
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
   * Absolute path of the syslog unix socket; null uses the logger's system default (/dev/log).
   * @default null
   */
  syslog_socket: string | null;
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

const DEFAULT_ALERT_TIMEOUT_MS = 10000;

/** Returns the configuration used when monitor_config.json is absent or empty (`{}`). */
export function defaultMonitorConfig(configDir: string): MonitorConfig {
  return {
    slack_enabled: false,
    slack_webhook_url: "",
    alert_timeout_ms: DEFAULT_ALERT_TIMEOUT_MS,
    alert_retry_base_ms: 1000,
    alert_retry_max_ms: 300000,
    circuit_breaker_failures: 5,
    circuit_breaker_cooldown_ms: 30000,
    webhooks: [],
    prometheus_enabled: true,
    host: "localhost",
    port: 5432,
    user: "monitor_user",
    control_database: "postgres",
    password_file: join(configDir, DEFAULT_PASSWORD_FILE_NAME),
    databases: null,
    max_watched_databases: 10,
    exempt_roles: [],
    metrics_file: "/var/lib/prometheus/node-exporter/postgres_realtime_monitor.prom",
    metrics_listen: null,
    pid_file: "/var/run/postgres_realtime_monitor.pid",
    state_dir: "/var/lib/postgres_monitor",
    sweep_interval: 60,
    soft_warning_interval: 3600,
    hot_interval_ms: 50,
    detection: "trigger",
    lock_poll_interval_ms: 200,
    poll_interval_ms: 500,
    verify_interval_ms: 5000,
    measure_lock_timeout_ms: 200,
    connect_timeout: 10,
    dry_run: false,
    syslog_enabled: true,
    syslog_socket: null,
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
  constructor(
    message: string,
    readonly path: JsonPath = [],
    readonly options: ReportOptions = {},
  ) {
    super(message);
    this.name = "FieldError";
  }
}

/** Several independent problems in one field (e.g. in different webhooks), each reported. */
class FieldErrors extends Error {
  constructor(readonly errors: readonly FieldError[]) {
    super(errors.map((error) => error.message).join("\n"));
    this.name = "FieldErrors";
  }
}

/**
 * Validates one key's value. `parsed` holds the settings parsed so far (in {@linkcode FIELDS}
 * order; later keys still hold their defaults).
 */
type Field<T> = (
  value: unknown,
  key: string,
  configDir: string,
  parsed?: Readonly<MonitorConfig>,
) => T;

/** Accepts null as well as whatever `field` accepts. */
function nullable<T>(field: Field<T>): Field<T | null> {
  return (value, key, configDir, parsed) =>
    value === null ? null : field(value, key, configDir, parsed);
}

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

/** An absolute path; a relative one is resolved against the config directory. */
const resolvedPath: Field<string> = (value, key, configDir) =>
  resolve(configDir, nonEmpty(value, key, configDir));

const httpUrl: Field<string> = (value, key, configDir) => {
  const text = string(value, key, configDir);
  // The URL is a credential (it embeds the webhook token), so no part of it is echoed.
  if (!isHttpUrl(text)) throw new FieldError(`Key ${quote(key)} must be an http or https URL`);
  return text;
};

const listenAddress: Field<string> = (value, key, configDir) => {
  const text = string(value, key, configDir);
  const address = splitListenAddress(text);
  if (typeof address === "string") {
    throw new FieldError(`Key ${quote(key)} ${address}, got ${quote(text)}`);
  }
  return text;
};

/** Example addresses for messages. */
const LISTEN_EXAMPLES = "e.g. '127.0.0.1:9187', 'localhost:9187' or '[::1]:9187'";

/**
 * Splits "host:port" ("127.0.0.1:9187", "localhost:9187", "[::1]:9187"); the host is required.
 * Returns a message fragment such as "must end in ':port'" when the address is invalid.
 */
function splitListenAddress(text: string): { hostname: string; port: number } | string {
  const colon = text.lastIndexOf(":");
  if (colon < 0) return `must be 'host:port' (${LISTEN_EXAMPLES})`;
  const host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  const port = Number(portText);
  if (!/^[0-9]{1,5}$/.test(portText) || port < 1 || port > 65535) {
    return `must end in ':port' with a port of 1..65535 (${LISTEN_EXAMPLES})`;
  }
  if (host === "") {
    return `must name the address to listen on before the port (${LISTEN_EXAMPLES})`;
  }
  if (host.startsWith("[") && host.endsWith("]")) {
    const hostname = host.slice(1, -1);
    if (!hostname.includes(":") || !URL.canParse(`http://[${hostname}]/`)) {
      return "must hold an IPv6 address between the brackets";
    }
    return { hostname, port };
  }
  if (host.includes(":")) return "must put an IPv6 address in brackets, e.g. '[::1]:9187'";
  if (!/^[A-Za-z0-9._-]+$/.test(host)) {
    return `must name a host name or IP address before the port (${LISTEN_EXAMPLES})`;
  }
  return { hostname: host, port };
}

/**
 * Parses a `metrics_listen` value, "host:port" with the host required: "127.0.0.1:9187",
 * "localhost:9187" or "[::1]:9187" (`hostname` is returned without the brackets).
 *
 * @throws {TypeError} if the address is invalid (anything parseMonitorConfig() rejects).
 */
export function parseListenAddress(s: string): { hostname: string; port: number } {
  const address = splitListenAddress(s);
  if (typeof address === "string") {
    throw new TypeError(`Listen address ${quote(s)} ${address}`);
  }
  return address;
}

const ALERT_TIMEOUT_MS = number({
  integer: true,
  min: 100,
  minInclusive: true,
  max: 120000,
  unit: "milliseconds",
});

const WEBHOOK_KEYS = ["name", "url", "secret", "secret_file", "events", "timeout_ms"] as const;
const WEBHOOK_NAME_RE = /^[a-z0-9_-]{1,40}$/;
/** Names taken by built-in endpoints. */
const RESERVED_WEBHOOK_NAMES: readonly string[] = ["slack"];
const WEBHOOK_SECRET_PREFIX = "whsec_";

const webhookName: Field<string> = (value, key, configDir) => {
  const text = string(value, key, configDir);
  // Not echoed: a misplaced URL or secret must not end up in logs.
  if (!WEBHOOK_NAME_RE.test(text)) {
    throw new FieldError(`Key ${quote(key)} must match ${WEBHOOK_NAME_RE.source}`);
  }
  if (RESERVED_WEBHOOK_NAMES.includes(text)) {
    throw new FieldError(`Key ${quote(key)} must not be ${quote(text)} (reserved)`);
  }
  return text;
};

const webhookSecret: Field<string> = (value, key) => {
  if (typeof value !== "string") {
    throw new FieldError(`Key ${quote(key)} must be a string, got ${typeName(value)}`);
  }
  if (!isWebhookSecret(value)) {
    // The secret is a credential, so it is never echoed.
    throw new FieldError(
      `Key ${quote(key)} must be ${quote(WEBHOOK_SECRET_PREFIX)} followed by the base64 of ` +
        "24 to 64 bytes",
    );
  }
  return value;
};

/** Whether `text` is a Standard Webhooks secret: "whsec_" + padded base64 of 24..64 bytes. */
function isWebhookSecret(text: string): boolean {
  if (!text.startsWith(WEBHOOK_SECRET_PREFIX)) return false;
  const base64 = text.slice(WEBHOOK_SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) return false;
  let bytes: number;
  try {
    bytes = atob(base64).length;
  } catch {
    return false;
  }
  return bytes >= 24 && bytes <= 64;
}

const eventList: Field<AlertEvent[]> = (value, key) => {
  if (!Array.isArray(value)) {
    throw new FieldError(
      `Key ${quote(key)} must be an array of event names, got ${typeName(value)}`,
    );
  }
  if (value.length === 0) {
    throw new FieldError(`Key ${quote(key)} must not be empty, leave it out to send every event`);
  }
  const seen = new Set<AlertEvent>();
  return value.map((item: unknown, index) => {
    if (typeof item !== "string") {
      throw new FieldError(
        `Item ${key}[${index}] must be a string (event name), got ${typeName(item)}`,
        [index],
      );
    }
    const event = ALERT_EVENTS.find((e) => e === item);
    if (event === undefined) {
      const list = ALERT_EVENTS.map(quote).join(", ");
      const message = `Item ${key}[${index}] must be one of ${list}, got ${quote(item)}`;
      throw new FieldError(message, [index]);
    }
    if (seen.has(event)) {
      throw new FieldError(`Item ${key}[${index}] repeats event ${quote(event)}`, [index]);
    }
    seen.add(event);
    return event;
  });
};

/** Label for messages, e.g. "webhooks[1] (name 'ops')"; only a valid name is shown. */
function describeWebhook(item: Record<string, unknown>, index: number): string {
  const name = item.name;
  const base = `webhooks[${index}]`;
  if (typeof name !== "string" || !WEBHOOK_NAME_RE.test(name)) return base;
  return `${base} (name ${quote(name)})`;
}

/** The name a raw webhook item ends up with, or undefined if its `name` is invalid. */
function webhookNameOf(item: Record<string, unknown>, index: number): string | undefined {
  if (!Object.hasOwn(item, "name")) return `webhook${index + 1}`;
  const name = item.name;
  return typeof name === "string" && WEBHOOK_NAME_RE.test(name) ? name : undefined;
}

const webhooks: Field<WebhookConfig[]> = (value, key, configDir, parsed) => {
  if (!Array.isArray(value)) {
    throw new FieldError(`Key ${quote(key)} must be an array of objects, got ${typeName(value)}`);
  }
  const errors: FieldError[] = [];
  const result: WebhookConfig[] = [];
  const timeout = parsed?.alert_timeout_ms ?? DEFAULT_ALERT_TIMEOUT_MS;
  const firstWithName = new Map<string, number>();
  value.forEach((item: unknown, index) => {
    const webhook = parseWebhook(item, index, configDir, timeout, errors);
    if (webhook !== undefined) result.push(webhook);
    if (!isObject(item)) return;
    // Checked on raw items so a duplicate is reported even if the item has other problems.
    const name = webhookNameOf(item, index);
    if (name === undefined) return;
    const first = firstWithName.get(name);
    if (first === undefined) {
      firstWithName.set(name, index);
      return;
    }
    const entry = describeWebhook(item, index);
    if (Object.hasOwn(item, "name")) {
      const message = `Duplicate name ${quote(name)}, already used by webhooks[${first}]`;
      errors.push(new FieldError(message, [index, "name"], { entry }));
    } else {
      const message = `Default name ${quote(name)} is already used by webhooks[${first}], ` +
        "set 'name'";
      errors.push(new FieldError(message, [index], { entry }));
    }
  });
  if (errors.length > 0) throw new FieldErrors(errors);
  return result;
};

/** Validates one webhook item, adding its problems to `errors` (paths relative to `webhooks`). */
function parseWebhook(
  item: unknown,
  index: number,
  configDir: string,
  defaultTimeout: number,
  errors: FieldError[],
): WebhookConfig | undefined {
  if (!isObject(item)) {
    errors.push(
      new FieldError(`Entry must be an object, got ${typeName(item)}`, [index], {
        entry: `webhooks[${index}]`,
      }),
    );
    return undefined;
  }
  const entry = describeWebhook(item, index);
  const before = errors.length;
  const report = (path: JsonPath, message: string, part: "key" | "value" = "value") => {
    errors.push(new FieldError(message, [index, ...path], { entry, part }));
  };
  const has = (key: string) => Object.hasOwn(item, key);
  // Present and not null.
  const set = (key: string) => has(key) && item[key] !== null;

  for (const key of Object.keys(item)) {
    if (!(WEBHOOK_KEYS as readonly string[]).includes(key)) {
      report([key], unknownKeyMessage(key, WEBHOOK_KEYS), "key");
    }
  }
  const field = <T>(key: typeof WEBHOOK_KEYS[number], validate: Field<T>, fallback: T): T => {
    if (!has(key)) return fallback;
    try {
      return validate(item[key], key, configDir);
    } catch (error) {
      if (!(error instanceof FieldError)) throw error;
      report([key, ...error.path], error.message, error.options.part);
      return fallback;
    }
  };

  const name = field("name", webhookName, `webhook${index + 1}`);
  if (!has("url")) report([], "Missing required key 'url'");
  const url = field("url", httpUrl, "");
  const secret = field("secret", nullable(webhookSecret), null);
  const secretFile = field("secret_file", nullable(resolvedPath), null);
  if (set("secret") && set("secret_file")) {
    report(["secret_file"], "Set only one of 'secret' and 'secret_file'", "key");
  }
  const events = field("events", eventList, [...ALERT_EVENTS]);
  const timeout = field("timeout_ms", ALERT_TIMEOUT_MS, defaultTimeout);

  if (errors.length > before) return undefined;
  return { name, url, secret, secret_file: secretFile, events, timeout_ms: timeout };
}

const FIELDS: { readonly [K in keyof MonitorConfig]: Field<MonitorConfig[K]> } = {
  slack_enabled: boolean,
  slack_webhook_url: string,
  alert_timeout_ms: ALERT_TIMEOUT_MS,
  alert_retry_base_ms: number({
    integer: true,
    min: 10,
    minInclusive: true,
    max: MAX_TIMER_MS,
    unit: "milliseconds",
  }),
  alert_retry_max_ms: number({
    integer: true,
    min: 10,
    minInclusive: true,
    max: MAX_TIMER_MS,
    unit: "milliseconds",
  }),
  circuit_breaker_failures: number({ integer: true, min: 1, minInclusive: true }),
  circuit_breaker_cooldown_ms: number({
    integer: true,
    min: 10,
    minInclusive: true,
    max: MAX_TIMER_MS,
    unit: "milliseconds",
  }),
  // After alert_timeout_ms: it is the webhooks' default timeout.
  webhooks,
  prometheus_enabled: boolean,
  host: nonEmpty,
  port: number({ integer: true, min: 1, minInclusive: true, max: 65535 }),
  user: pgName,
  control_database: pgName,
  password_file: resolvedPath,
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
  max_watched_databases: number({ integer: true, min: 0, minInclusive: true, max: 10_000 }),
  exempt_roles: roleList,
  metrics_file: absolutePath,
  metrics_listen: nullable(listenAddress),
  pid_file: absolutePath,
  state_dir: absolutePath,
  sweep_interval: number({
    min: 0,
    minInclusive: false,
    max: MAX_TIMER_MS / 1000,
    unit: "seconds",
  }),
  soft_warning_interval: number({ min: 0, minInclusive: true, unit: "seconds" }),
  detection: oneOf(DETECTION_MODES),
  lock_poll_interval_ms: number({
    integer: true,
    min: 0,
    minInclusive: true,
    max: MAX_TIMER_MS,
    unit: "milliseconds",
  }),
  poll_interval_ms: number({
    integer: true,
    min: 50,
    minInclusive: true,
    max: MAX_TIMER_MS,
    unit: "milliseconds",
  }),
  verify_interval_ms: number({
    integer: true,
    min: 0,
    minInclusive: true,
    max: MAX_TIMER_MS,
    unit: "milliseconds",
  }),
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
  syslog_socket: nullable(absolutePath),
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
  const invalid = new Set<keyof MonitorConfig>();
  for (const key of KEYS) {
    if (Object.hasOwn(root, key) && !setField(doc, config, root, key, configDir)) invalid.add(key);
  }
  const retryKeysValid = !invalid.has("alert_retry_base_ms") && !invalid.has("alert_retry_max_ms");
  if (retryKeysValid && config.alert_retry_max_ms < config.alert_retry_base_ms) {
    const at = Object.hasOwn(root, "alert_retry_max_ms")
      ? "alert_retry_max_ms"
      : "alert_retry_base_ms";
    doc.report(
      [at],
      `Key 'alert_retry_max_ms' (${config.alert_retry_max_ms} milliseconds) must be at least ` +
        `'alert_retry_base_ms' (${config.alert_retry_base_ms} milliseconds)`,
    );
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

/** Validates and stores one key, reporting its problems; returns whether it was valid. */
function setField<K extends keyof MonitorConfig>(
  doc: JsoncFile,
  config: MonitorConfig,
  root: Record<string, unknown>,
  key: K,
  configDir: string,
): boolean {
  try {
    config[key] = FIELDS[key](root[key], key, configDir, config);
    return true;
  } catch (error) {
    const errors = error instanceof FieldErrors
      ? error.errors
      : error instanceof FieldError
      ? [error]
      : undefined;
    if (errors === undefined) throw error;
    for (const e of errors) doc.report([key, ...e.path], e.message, e.options);
    return false;
  }
}

function isHttpUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
}
