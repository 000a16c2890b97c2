/**
 * The Deno permission flags the daemon needs for a configuration, derived in one place: read the
 * config directory and password file, write the metrics directory, pid file and state directory,
 * connect only to the PostgreSQL endpoint, run only `logger`, read only the environment variables
 * it uses. Never `-A`.
 *
 * @module
 */
import type { MonitorConfig } from "./config/monitor.ts";

/** Environment variables read by the daemon and by postgres.js. */
export const ENV_VARS = [
  "CREDENTIALS_DIRECTORY",
  "POSTGRES_MONITOR_SYSLOG_SOCKET",
  // `unlock` records who ran it.
  "SUDO_USER",
  "USER",
  // postgres.js reads these even when every option is given explicitly.
  "PGAPPNAME",
  "PGPASSWORD",
  "PGTARGETSESSIONATTRS",
] as const;

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** Options for {@linkcode permissionFlags}. */
export interface PermissionOptions {
  /** Extra directory to read (the `sql/` folder when not compiled in). */
  sqlDir?: string;
  /** `$CREDENTIALS_DIRECTORY` to allow reading. */
  credentialsDir?: string;
}

/** Deno flags (`--allow-...`) for running the daemon with this configuration. */
export function permissionFlags(
  config: MonitorConfig,
  configDir: string,
  options: PermissionOptions = {},
): string[] {
  const read = new Set<string>([configDir, config.password_file]);
  if (options.sqlDir) read.add(options.sqlDir);
  if (options.credentialsDir) read.add(options.credentialsDir);
  const write = new Set<string>([config.pid_file, config.state_dir]);
  if (config.prometheus_enabled) {
    // rename() of the temp file over the textfile needs read access as well as write.
    write.add(dirOf(config.metrics_file));
    read.add(dirOf(config.metrics_file));
  }
  read.add(config.pid_file);
  const net: string[] = [];
  if (config.host.startsWith("/")) {
    const socket = `${config.host}/.s.PGSQL.${config.port}`;
    net.push(`unix:${socket}`);
    read.add(socket);
    write.add(socket);
  } else {
    net.push(`${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.port}`);
  }
  const flags = [
    `--allow-read=${[...read].join(",")}`,
    `--allow-write=${[...write].join(",")}`,
    `--allow-net=${net.join(",")}`,
    `--allow-env=${ENV_VARS.join(",")}`,
  ];
  if (config.syslog_enabled) flags.push("--allow-run=logger");
  return flags;
}
