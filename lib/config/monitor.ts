/**
 * Parses monitor_config.json: every key of the settings table ({@linkcode SETTINGS}), then the
 * checks that span keys.
 *
 * @module
 */
import { isObject, JsoncFile, reportUnknownKeys } from "./json.ts";
import { FieldError, FieldErrors, isHttpUrl } from "./fields.ts";
import { defaultMonitorConfig, type MonitorConfig, SETTING_KEYS, SETTINGS } from "./settings.ts";
import { typeName } from "./text.ts";

export { parseListenAddress } from "./fields.ts";
export {
  type Applies,
  DEFAULT_PASSWORD_FILE_NAME,
  defaultMonitorConfig,
  type Detection,
  DETECTION_MODES,
  LOG_LEVELS,
  type LogLevel,
  type MonitorConfig,
  RESTART_KEYS,
  type Setting,
  SETTING_KEYS,
  type SettingKey,
  SETTINGS,
} from "./settings.ts";
export { ALERT_EVENTS, type AlertEvent, type WebhookConfig } from "./webhooks.ts";

/** File name of the daemon settings file inside the config directory. */
export const MONITOR_FILE_NAME = "monitor_config.json";

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
  reportUnknownKeys(doc, [], root, SETTING_KEYS);
  const invalid = new Set<keyof MonitorConfig>();
  for (const key of SETTING_KEYS) {
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
    config[key] = SETTINGS[key].parse(root[key], key, configDir, config);
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
