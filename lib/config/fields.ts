/**
 * Validators of monitor_config.json values ({@linkcode Field}s) and the errors they throw. Each
 * message names the key and, where it is not a credential, the value found.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import type { JsonPath, ReportOptions } from "./json.ts";
import { nameProblem, quote, typeName } from "./text.ts";
/** Largest delay setTimeout honours; longer ones fire immediately. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const LISTEN_CHANNEL_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** A field value is invalid; `path` is relative to the field (e.g. [2] for databases[2]). */
export class FieldError extends Error {
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
export class FieldErrors extends Error {
  constructor(readonly errors: readonly FieldError[]) {
    super(errors.map((error) => error.message).join("\n"));
    this.name = "FieldErrors";
  }
}

/**
 * Validates one key's value and returns it (throws {@linkcode FieldError} or
 * {@linkcode FieldErrors}). `parsed` holds the settings parsed so far (in the order of the
 * settings table; later keys still hold their defaults).
 */
export type Field<T> = (
  value: unknown,
  key: string,
  configDir: string,
  parsed?: Readonly<Record<string, unknown>>,
) => T;

/** Accepts null as well as whatever `field` accepts. */
export function nullable<T>(field: Field<T>): Field<T | null> {
  return (value, key, configDir, parsed) =>
    value === null ? null : field(value, key, configDir, parsed);
}

/** A boolean. */
export const boolean: Field<boolean> = (value, key) => {
  if (typeof value !== "boolean") {
    throw new FieldError(`Key ${quote(key)} must be a boolean, got ${typeName(value)}`);
  }
  return value;
};

/** Any string. */
export const string: Field<string> = (value, key) => {
  if (typeof value !== "string") {
    throw new FieldError(`Key ${quote(key)} must be a string, got ${typeName(value)}`);
  }
  return value;
};

/** A string that is not empty. */
export const nonEmpty: Field<string> = (value, key, configDir) => {
  const text = string(value, key, configDir);
  if (text === "") throw new FieldError(`Key ${quote(key)} must not be empty`);
  return text;
};

/** A PostgreSQL name (role or database): not empty, not too long, no NUL. */
export const pgName: Field<string> = (value, key, configDir) => {
  const text = string(value, key, configDir);
  const problem = nameProblem(text);
  if (problem !== undefined) throw new FieldError(`Key ${quote(key)} ${problem}`);
  return text;
};

/** An absolute path. */
export const absolutePath: Field<string> = (value, key, configDir) => {
  const text = nonEmpty(value, key, configDir);
  if (!isAbsolute(text)) {
    throw new FieldError(`Key ${quote(key)} must be an absolute path, got ${quote(text)}`);
  }
  return text;
};

/** Bounds and unit of a number setting. */
export interface NumberRule {
  integer?: boolean;
  min: number;
  /** Whether `min` itself is allowed. */
  minInclusive: boolean;
  max?: number;
  /** Plural unit for messages, e.g. "seconds". */
  unit?: string;
}

/** A number within `rule`'s bounds. */
export function number(rule: NumberRule): Field<number> {
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

/** One of `choices`. */
export function oneOf<T extends string>(choices: readonly T[]): Field<T> {
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

/** A list of unique role names. */
export const roleList = uniqueNames("role name");
/** A list of unique database names. */
export const databaseList = uniqueNames("database name");

/** An absolute path; a relative one is resolved against the config directory. */
export const resolvedPath: Field<string> = (value, key, configDir) =>
  resolve(configDir, nonEmpty(value, key, configDir));

/** An http(s) URL; a credential, never echoed. */
export const httpUrl: Field<string> = (value, key, configDir) => {
  const text = string(value, key, configDir);
  // The URL is a credential (it embeds the webhook token), so no part of it is echoed.
  if (!isHttpUrl(text)) throw new FieldError(`Key ${quote(key)} must be an http or https URL`);
  return text;
};

/** A "host:port" address to listen on (see {@linkcode parseListenAddress}). */
export const listenAddress: Field<string> = (value, key, configDir) => {
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

/** A LISTEN/NOTIFY channel: a lower-case unquoted identifier. */
export const listenChannel: Field<string> = (value, key, configDir) => {
  const text = string(value, key, configDir);
  if (!LISTEN_CHANNEL_RE.test(text)) {
    throw new FieldError(
      `Key ${quote(key)} must match ${LISTEN_CHANNEL_RE.source} ` +
        `(lower-case unquoted identifier), got ${quote(text)}`,
    );
  }
  return text;
};

/** A non-empty list of unique database names, or null (every database). */
export const databaseListOrAll: Field<string[] | null> = (value, key, configDir) => {
  if (value === null) return null;
  if (Array.isArray(value) && value.length === 0) {
    // Almost certainly a mistake: the daemon would then measure nothing at all.
    throw new FieldError(
      `Key ${quote(key)} must not be empty, use null to monitor every database`,
    );
  }
  return databaseList(value, key, configDir);
};

/** Whether `text` is an http(s) URL with a host. */
export function isHttpUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
}
