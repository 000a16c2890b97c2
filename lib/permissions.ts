/**
 * The Deno permission flags the daemon needs for a configuration, derived in one place: read the
 * config directory, password file and webhook secret files, write the metrics directory, pid file
 * and state directory, connect only to the PostgreSQL endpoint, the alert endpoints and the
 * metrics listen address, run only `logger`, read only the environment variables it uses and the
 * host name. Never `-A`.
 *
 * @module
 */
import { type MonitorConfig, parseListenAddress } from "./config/monitor.ts";

/** Environment variables read by the daemon and by postgres.js. */
export const ENV_VARS = [
  "CREDENTIALS_DIRECTORY",
  // `unlock` records who ran it.
  "SUDO_USER",
  "USER",
  // postgres.js reads these even when every option is given explicitly.
  "PGAPPNAME",
  "PGPASSWORD",
  "PGTARGETSESSIONATTRS",
] as const;

/** `host:port` for a Deno net permission, IPv6 hosts in brackets. */
function hostPort(hostname: string, port: number): string {
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/** `host:port` of an http(s) URL, the port made explicit; undefined if it is not one. */
function urlHostPort(text: string): string | undefined {
  if (!URL.canParse(text)) return undefined;
  const url = new URL(text);
  const defaultPort = url.protocol === "https:" ? 443 : url.protocol === "http:" ? 80 : undefined;
  if (defaultPort === undefined || url.hostname === "") return undefined;
  // URL keeps the brackets of an IPv6 hostname.
  return `${url.hostname}:${url.port === "" ? defaultPort : url.port}`;
}

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
  const net = new Set<string>();
  if (config.host.startsWith("/")) {
    const socket = `${config.host}/.s.PGSQL.${config.port}`;
    net.add(`unix:${socket}`);
    read.add(socket);
    write.add(socket);
  } else {
    net.add(hostPort(config.host, config.port));
  }
  const alertUrls = config.webhooks.map((webhook) => webhook.url);
  if (config.slack_enabled) alertUrls.unshift(config.slack_webhook_url);
  for (const url of alertUrls) {
    const endpoint = urlHostPort(url);
    if (endpoint !== undefined) net.add(endpoint);
  }
  for (const webhook of config.webhooks) {
    if (webhook.secret_file !== null) read.add(webhook.secret_file);
  }
  if (config.metrics_listen !== null) {
    const { hostname, port } = parseListenAddress(config.metrics_listen);
    net.add(hostPort(hostname, port));
  }
  const flags = [
    `--allow-read=${[...read].join(",")}`,
    `--allow-write=${[...write].join(",")}`,
    `--allow-net=${[...net].join(",")}`,
    `--allow-env=${ENV_VARS.join(",")}`,
    // Alerts name the host they come from.
    "--allow-sys=hostname",
  ];
  if (config.syslog_enabled) flags.push("--allow-run=logger");
  return flags;
}
