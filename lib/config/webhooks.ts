/**
 * The `webhooks` setting: generic JSON alert endpoints, each validated on its own so that every
 * problem of every item is reported at once. URLs and secrets are credentials: never echoed.
 *
 * @module
 */
import { isObject, type JsonPath, unknownKeyMessage } from "./json.ts";
import { quote, typeName } from "./text.ts";
import {
  type Field,
  FieldError,
  FieldErrors,
  httpUrl,
  nullable,
  number,
  resolvedPath,
  string,
} from "./fields.ts";

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

/** Default of `alert_timeout_ms`, and of a webhook's `timeout_ms` without parsed settings. */
export const DEFAULT_ALERT_TIMEOUT_MS = 10000;

/** Timeout of one alert HTTP request in milliseconds: `alert_timeout_ms`, `timeout_ms`. */
export const alertTimeout: Field<number> = number({
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

/**
 * Whether `text` is a Standard Webhooks secret: "whsec_" + padded base64 of 24..64 bytes. The one
 * rule for a configured `secret` and for what the alert queue is given (a `secret_file` too).
 */
export function isWebhookSecret(text: string): boolean {
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

/** The `webhooks` list; a webhook's default timeout is the parsed `alert_timeout_ms`. */
export const webhooks: Field<WebhookConfig[]> = (value, key, configDir, parsed) => {
  if (!Array.isArray(value)) {
    throw new FieldError(`Key ${quote(key)} must be an array of objects, got ${typeName(value)}`);
  }
  const errors: FieldError[] = [];
  const result: WebhookConfig[] = [];
  const parsedTimeout = parsed?.alert_timeout_ms;
  const timeout = typeof parsedTimeout === "number" ? parsedTimeout : DEFAULT_ALERT_TIMEOUT_MS;
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
  const timeout = field("timeout_ms", alertTimeout, defaultTimeout);

  if (errors.length > before) return undefined;
  return { name, url, secret, secret_file: secretFile, events, timeout_ms: timeout };
}
