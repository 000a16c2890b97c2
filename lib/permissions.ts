/**
 * The Deno permissions the daemon needs for a configuration, derived in one place: read the
 * config directory, password file, credentials directory and webhook secret files; write the
 * metrics directory, pid file and state directory; connect only to the PostgreSQL endpoint, the
 * alert endpoints, the metrics listen address and systemd's notify socket; run only `logger`;
 * read only the environment variables it uses and the host name. Never `-A`.
 *
 * The same description yields the command-line flags ({@linkcode permissionFlags}), which
 * `deno task compile` bakes into the executable, and the startup check
 * ({@linkcode missingPermissions}) that tells an operator which flag a binary built for another
 * configuration lacks, before anything fails at night.
 *
 * @module
 */
import { type MonitorConfig, parseListenAddress } from "./config/monitor.ts";

/** Environment variables read by the daemon and by postgres.js. */
export const ENV_VARS = [
  "CREDENTIALS_DIRECTORY",
  // systemd's sd_notify protocol (Type=notify, WatchdogSec=).
  "NOTIFY_SOCKET",
  "WATCHDOG_USEC",
  "WATCHDOG_PID",
  // `unlock` records who ran it.
  "SUDO_USER",
  "USER",
  // postgres.js reads these even when every option is given explicitly.
  "PGAPPNAME",
  "PGPASSWORD",
  "PGTARGETSESSIONATTRS",
] as const;

/** Paths systemd gives the service in production (see `systemd/`). */
export const SYSTEMD_PATHS = {
  /** `$CREDENTIALS_DIRECTORY` for `LoadCredential=` in a unit named postgres_realtime_monitor. */
  credentialsDir: "/run/credentials/postgres_realtime_monitor.service",
  /** `$NOTIFY_SOCKET` of the system manager. */
  notifySocket: "/run/systemd/notify",
  /** `run --pid-file` in the unit: inside `RuntimeDirectory=postgres_monitor`. */
  pidFile: "/run/postgres_monitor/postgres_realtime_monitor.pid",
} as const;

/** Name of the socket the daemon binds in `state_dir` to send sd_notify datagrams from. */
export const NOTIFY_CLIENT_SOCKET = "sd_notify.sock";

/** Options for {@linkcode requiredPermissions}. */
export interface PermissionOptions {
  /** `$CREDENTIALS_DIRECTORY` to allow reading. */
  credentialsDir?: string;
  /** A `--pid-file` that overrides the config's `pid_file`. */
  pidFile?: string;
  /** `$NOTIFY_SOCKET` (a path) to allow sending readiness and watchdog messages to. */
  notifySocket?: string;
}

/** What the daemon may touch, one list per Deno permission; each list without duplicates. */
export interface Permissions {
  /** Paths to read. */
  read: string[];
  /** Paths to write. */
  write: string[];
  /** `host:port` and `unix:/path` endpoints. */
  net: string[];
  /** Environment variables. */
  env: string[];
  /** `Deno.*` system information kinds. */
  sys: string[];
  /** Programs to run. */
  run: string[];
  /** Unstable features the granted APIs need (`net` for the sd_notify datagram socket). */
  unstable: string[];
}

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

/** The permissions the daemon needs to run with this configuration. */
export function requiredPermissions(
  config: MonitorConfig,
  configDir: string,
  options: PermissionOptions = {},
): Permissions {
  const pidFile = options.pidFile ?? config.pid_file;
  // The alert journal is read back at start, so the state directory is read as well as written.
  const read = new Set<string>([configDir, config.password_file, pidFile, config.state_dir]);
  if (options.credentialsDir) read.add(options.credentialsDir);
  const write = new Set<string>([pidFile, config.state_dir]);
  if (config.prometheus_enabled) {
    // rename() of the temp file over the textfile needs read access as well as write.
    write.add(dirOf(config.metrics_file));
    read.add(dirOf(config.metrics_file));
  }
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
  const unstable: string[] = [];
  if (options.notifySocket) {
    // sd_notify: a datagram socket bound in the state directory sends to $NOTIFY_SOCKET.
    net.add(`unix:${config.state_dir}/${NOTIFY_CLIENT_SOCKET}`);
    net.add(`unix:${options.notifySocket}`);
    write.add(options.notifySocket);
    unstable.push("net");
  }
  return {
    read: [...read],
    write: [...write],
    net: [...net],
    env: [...ENV_VARS],
    // Alerts name the host they come from.
    sys: ["hostname"],
    run: config.syslog_enabled ? ["logger"] : [],
    unstable,
  };
}

/** Deno flags (`--allow-...`, and `--unstable-...` where needed) for these permissions. */
export function flagsOf(p: Permissions): string[] {
  const flags: string[] = [];
  for (const name of ["read", "write", "net", "env", "sys", "run"] as const) {
    if (p[name].length > 0) flags.push(`--allow-${name}=${p[name].join(",")}`);
  }
  for (const feature of p.unstable) flags.push(`--unstable-${feature}`);
  return flags;
}

/** Deno flags for running the daemon with this configuration. */
export function permissionFlags(
  config: MonitorConfig,
  configDir: string,
  options: PermissionOptions = {},
): string[] {
  return flagsOf(requiredPermissions(config, configDir, options));
}

/**
 * The flags, among `p`, that this process was not granted (empty when it has them all), each as
 * `--allow-NAME=VALUE`. Used at start so that a binary compiled for another configuration says
 * which permission it lacks instead of failing when it first needs it.
 */
export function missingPermissions(p: Permissions): string[] {
  const missing: string[] = [];
  const check = (descriptor: Deno.PermissionDescriptor, flag: string) => {
    if (Deno.permissions.querySync(descriptor).state !== "granted") missing.push(flag);
  };
  for (const path of p.read) check({ name: "read", path }, `--allow-read=${path}`);
  for (const path of p.write) check({ name: "write", path }, `--allow-write=${path}`);
  for (const host of p.net) check({ name: "net", host }, `--allow-net=${host}`);
  for (const variable of p.env) check({ name: "env", variable }, `--allow-env=${variable}`);
  for (const kind of p.sys) {
    check(
      { name: "sys", kind: kind as Deno.SysPermissionDescriptor["kind"] },
      `--allow-sys=${kind}`,
    );
  }
  for (const command of p.run) check({ name: "run", command }, `--allow-run=${command}`);
  return missing;
}
