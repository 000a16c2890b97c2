/**
 * Configuration loading: user_limits.json (per-role storage limits) and monitor_config.json
 * (daemon settings), both JSONC.
 *
 * @module
 */
import { resolve } from "node:path";
import { ConfigError } from "./errors.ts";
import { type LimitEntry, LIMITS_FILE_NAME, parseLimits } from "./limits.ts";
import {
  defaultMonitorConfig,
  MONITOR_FILE_NAME,
  type MonitorConfig,
  parseMonitorConfig,
} from "./monitor.ts";

export { ConfigError, type ConfigProblem, formatProblem } from "./errors.ts";
export { describeEntry, type LimitEntry, LIMITS_FILE_NAME, parseLimits } from "./limits.ts";
export {
  ALERT_EVENTS,
  type AlertEvent,
  DEFAULT_PASSWORD_FILE_NAME,
  defaultMonitorConfig,
  LOG_LEVELS,
  type LogLevel,
  MONITOR_FILE_NAME,
  type MonitorConfig,
  parseListenAddress,
  parseMonitorConfig,
  type WebhookConfig,
} from "./monitor.ts";
export { formatBytes, parseSize, SizeError } from "./size.ts";

/** Everything loaded from a config directory. */
export interface Config {
  /** Validated limit entries, in file order. */
  limits: LimitEntry[];
  /** Daemon settings, defaults filled in. */
  monitor: MonitorConfig;
  /** Absolute config directory. */
  dir: string;
  /** Absolute paths of the files read (monitor may not exist). */
  files: { limits: string; monitor: string };
}

/**
 * Reads and validates user_limits.json (required) and monitor_config.json (optional: all
 * defaults when absent) from `configDir`.
 *
 * @throws {ConfigError} listing the problems of both files, if any.
 */
export async function loadConfig(configDir: string): Promise<Config> {
  const dir = resolve(configDir);
  const files = {
    limits: resolve(dir, LIMITS_FILE_NAME),
    monitor: resolve(dir, MONITOR_FILE_NAME),
  };
  const problems: ConfigError[] = [];
  // Collects a ConfigError instead of throwing, so both files are always checked.
  const collect = async <T>(step: () => T | Promise<T>): Promise<T | undefined> => {
    try {
      return await step();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(error);
      return undefined;
    }
  };

  const limitsText = await collect(() => readText(files.limits, true));
  const limits = limitsText === undefined
    ? undefined
    : await collect(() => parseLimits(limitsText, files.limits));
  const monitorText = await collect(() => readText(files.monitor, false));
  const monitor = monitorText === undefined
    ? defaultMonitorConfig(dir)
    : await collect(() => parseMonitorConfig(monitorText, files.monitor, dir));

  if (problems.length > 0 || limits === undefined || monitor === undefined) {
    throw new ConfigError(problems.flatMap((error) => error.problems));
  }
  return { limits, monitor, dir, files };
}

/** Returns the file's text, or undefined if it is optional and does not exist. */
async function readText(file: string, required: boolean): Promise<string | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      if (!required) return undefined;
      throw new ConfigError({ file, message: "File not found" }, { cause: error });
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError({ file, message: `Cannot read file: ${reason}` }, { cause: error });
  }
  try {
    // Fatal decoding: a silently substituted U+FFFD would change role names.
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new ConfigError({ file, message: "File is not valid UTF-8" }, { cause: error });
  }
}
