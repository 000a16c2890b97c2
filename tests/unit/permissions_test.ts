import assert from "node:assert/strict";
import {
  ALERT_EVENTS,
  defaultMonitorConfig,
  type MonitorConfig,
  type WebhookConfig,
} from "../../lib/config/monitor.ts";
import { ENV_VARS, permissionFlags } from "../../lib/permissions.ts";

const DIR = "/etc/postgres_monitor";

function config(extra: Partial<MonitorConfig> = {}): MonitorConfig {
  return { ...defaultMonitorConfig(DIR), ...extra };
}

/** A webhook to `url` with defaults for everything else. */
function webhook(url: string, extra: Partial<WebhookConfig> = {}): WebhookConfig {
  return {
    name: "hook",
    url,
    secret: null,
    secret_file: null,
    events: [...ALERT_EVENTS],
    timeout_ms: 10000,
    ...extra,
  };
}

/** The comma-separated values of one `--allow-NAME=...` flag; fails if it is absent. */
function values(flags: string[], name: string): string[] {
  const prefix = `--allow-${name}=`;
  const matching = flags.filter((f) => f.startsWith(prefix));
  assert.equal(matching.length, 1, `expected one ${prefix} flag in ${flags.join(" ")}`);
  return (matching[0] ?? "").slice(prefix.length).split(",");
}

Deno.test("permissionFlags() allows connecting only to host:port for a TCP host", () => {
  const flags = permissionFlags(config({ host: "db.example.com", port: 6432 }), DIR);
  assert.deepEqual(values(flags, "net"), ["db.example.com:6432"]);
});

Deno.test("permissionFlags() uses the default localhost:5432 endpoint", () => {
  assert.deepEqual(values(permissionFlags(config(), DIR), "net"), ["localhost:5432"]);
});

Deno.test("permissionFlags() brackets an IPv6 host", () => {
  const flags = permissionFlags(config({ host: "::1", port: 5433 }), DIR);
  assert.deepEqual(values(flags, "net"), ["[::1]:5433"]);
});

Deno.test("permissionFlags() does not bracket an IPv4 host", () => {
  const flags = permissionFlags(config({ host: "10.0.0.5" }), DIR);
  assert.deepEqual(values(flags, "net"), ["10.0.0.5:5432"]);
});

Deno.test("permissionFlags() allows the unix socket of a socket-directory host", () => {
  const flags = permissionFlags(config({ host: "/var/run/postgresql", port: 5433 }), DIR);
  const socket = "/var/run/postgresql/.s.PGSQL.5433";
  assert.deepEqual(values(flags, "net"), [`unix:${socket}`]);
  assert.ok(values(flags, "read").includes(socket));
  assert.ok(values(flags, "write").includes(socket));
});

Deno.test("permissionFlags() grants no socket path for a TCP host", () => {
  const flags = permissionFlags(config(), DIR);
  const paths = [...values(flags, "read"), ...values(flags, "write")];
  assert.ok(!paths.some((p) => p.includes(".s.PGSQL")), paths.join(","));
});

Deno.test("permissionFlags() reads the config directory, password file and pid file", () => {
  const c = config();
  const read = values(permissionFlags(c, DIR), "read");
  assert.ok(read.includes(DIR));
  assert.ok(read.includes(`${DIR}/monitor_user.passwd`));
  assert.ok(read.includes(c.pid_file));
});

Deno.test("permissionFlags() adds the credentials directory when given", () => {
  const read = values(permissionFlags(config(), DIR, { credentialsDir: "/run/creds/x" }), "read");
  assert.ok(read.includes("/run/creds/x"));
  const without = values(permissionFlags(config(), DIR), "read");
  assert.ok(!without.includes("/run/creds/x"));
});

Deno.test("permissionFlags() reads no sql/ directory: the SQL is embedded", () => {
  const read = values(permissionFlags(config(), DIR), "read");
  assert.ok(!read.some((p) => p.endsWith("/sql")), read.join(","));
});

Deno.test("permissionFlags() reads the state directory it writes (the alert journal)", () => {
  const c = config({ state_dir: "/var/lib/pgmon" });
  assert.ok(values(permissionFlags(c, DIR), "read").includes("/var/lib/pgmon"));
});

Deno.test("permissionFlags() writes a --pid-file override instead of the config's pid_file", () => {
  const c = config({ pid_file: "/var/run/legacy.pid" });
  const write = values(permissionFlags(c, DIR, { pidFile: "/run/pm/pm.pid" }), "write");
  assert.ok(write.includes("/run/pm/pm.pid"));
  assert.ok(!write.includes("/var/run/legacy.pid"));
});

Deno.test("permissionFlags() lets the daemon reach $NOTIFY_SOCKET only when given", () => {
  const c = config({ state_dir: "/var/lib/pgmon" });
  const on = permissionFlags(c, DIR, { notifySocket: "/run/systemd/notify" });
  assert.ok(values(on, "write").includes("/run/systemd/notify"));
  assert.ok(values(on, "net").includes("unix:/var/lib/pgmon/sd_notify.sock"));
  assert.ok(values(on, "net").includes("unix:/run/systemd/notify"));
  assert.ok(on.includes("--unstable-net"));
  const off = permissionFlags(c, DIR);
  assert.ok(!off.includes("--unstable-net"));
  assert.ok(!values(off, "write").includes("/run/systemd/notify"));
});

Deno.test("permissionFlags() writes the pid file, state dir and metrics directory", () => {
  const c = config({
    metrics_file: "/var/lib/node_exporter/pgmon.prom",
    pid_file: "/run/pgmon.pid",
    state_dir: "/var/lib/pgmon",
  });
  const write = values(permissionFlags(c, DIR), "write");
  assert.deepEqual(
    [...write].sort(),
    ["/run/pgmon.pid", "/var/lib/node_exporter", "/var/lib/pgmon"].sort(),
  );
});

Deno.test("permissionFlags() does not write the metrics directory when prometheus is off", () => {
  const c = config({ prometheus_enabled: false, metrics_file: "/var/lib/node_exporter/p.prom" });
  const write = values(permissionFlags(c, DIR), "write");
  assert.ok(!write.includes("/var/lib/node_exporter"));
});

Deno.test({
  name: "permissionFlags() lets the daemon read the metrics directory so the rename succeeds",
  fn() {
    const c = config({ metrics_file: "/var/lib/node_exporter/pgmon.prom" });
    const read = values(permissionFlags(c, DIR), "read");
    assert.ok(read.includes("/var/lib/node_exporter"), read.join(","));
  },
});

Deno.test("permissionFlags() allows running logger only when syslog is enabled", () => {
  const on = permissionFlags(config({ syslog_enabled: true }), DIR);
  const off = permissionFlags(config({ syslog_enabled: false }), DIR);
  assert.deepEqual(values(on, "run"), ["logger"]);
  assert.ok(!off.some((f) => f.startsWith("--allow-run")), off.join(" "));
});

Deno.test("permissionFlags() allows only the environment variables the daemon reads", () => {
  assert.deepEqual(values(permissionFlags(config(), DIR), "env"), [...ENV_VARS]);
});

Deno.test("permissionFlags() never grants blanket permissions", () => {
  const variants = [
    config(),
    config({ host: "/var/run/postgresql", syslog_enabled: false, prometheus_enabled: false }),
    config({ host: "::1" }),
    config({
      slack_enabled: true,
      slack_webhook_url: "https://hooks.slack.com/services/T0/B0/x",
      webhooks: [webhook("http://[::1]:8080/h", { secret_file: "/run/creds/h" })],
      metrics_listen: "[::1]:9187",
    }),
  ];
  for (const c of variants) {
    for (const flag of permissionFlags(c, DIR, { notifySocket: "/run/systemd/notify" })) {
      if (flag === "--unstable-net") continue;
      assert.ok(flag !== "-A" && !flag.startsWith("--allow-all"), flag);
      assert.ok(!flag.startsWith("-A"), flag);
      assert.match(flag, /^--allow-[a-z]+=[^,=\s]+(,[^,=\s]+)*$/, "flag without a value");
      assert.ok(!flag.split("=", 2)[1]?.split(",").includes(""), `empty entry in ${flag}`);
    }
  }
});

Deno.test("permissionFlags() lists each path only once", () => {
  const c = config({ state_dir: "/run", pid_file: "/run/pgmon.pid", metrics_file: "/run/x.prom" });
  const write = values(permissionFlags(c, DIR), "write");
  assert.equal(new Set(write).size, write.length);
  assert.deepEqual([...write].sort(), ["/run", "/run/pgmon.pid"]);
});

Deno.test("permissionFlags() writes / for a metrics file at the filesystem root", () => {
  const write = values(permissionFlags(config({ metrics_file: "/m.prom" }), DIR), "write");
  assert.ok(write.includes("/"));
});

Deno.test("permissionFlags() allows the Slack host only when Slack is enabled", () => {
  const slack = { slack_webhook_url: "https://hooks.slack.com/services/T0/B0/secret" };
  const on = permissionFlags(config({ ...slack, slack_enabled: true }), DIR);
  assert.deepEqual(values(on, "net"), ["localhost:5432", "hooks.slack.com:443"]);
  const off = permissionFlags(config({ ...slack, slack_enabled: false }), DIR);
  assert.deepEqual(values(off, "net"), ["localhost:5432"]);
});

Deno.test("permissionFlags() never puts a webhook URL's path or credentials in a flag", () => {
  const c = config({
    slack_enabled: true,
    slack_webhook_url: "https://hooks.slack.com/services/T0/B0/slacktoken",
    webhooks: [webhook("https://user:hunter2@alerts.example/hook/webhooktoken?k=querytoken")],
  });
  const flags = permissionFlags(c, DIR).join(" ");
  for (const secret of ["slacktoken", "hunter2", "user:", "webhooktoken", "querytoken", "/T0"]) {
    assert.ok(!flags.includes(secret), `${secret} in ${flags}`);
  }
  assert.deepEqual(values(permissionFlags(c, DIR), "net"), [
    "localhost:5432",
    "hooks.slack.com:443",
    "alerts.example:443",
  ]);
});

Deno.test("permissionFlags() allows each webhook host with an explicit port", () => {
  const c = config({
    webhooks: [
      webhook("https://a.example/x"),
      webhook("http://b.example/y"),
      webhook("http://c.example:8080/z"),
      webhook("https://[2001:db8::1]:8443/v6"),
      webhook("HTTPS://D.Example:443/upper"),
    ],
  });
  assert.deepEqual(values(permissionFlags(c, DIR), "net"), [
    "localhost:5432",
    "a.example:443",
    "b.example:80",
    "c.example:8080",
    "[2001:db8::1]:8443",
    "d.example:443",
  ]);
});

Deno.test("permissionFlags() lists each network endpoint only once", () => {
  const c = config({
    host: "hooks.slack.com",
    port: 443,
    slack_enabled: true,
    slack_webhook_url: "https://hooks.slack.com/services/T0/B0/x",
    webhooks: [
      webhook("https://hooks.slack.com/other"),
      webhook("https://a.example/1"),
      webhook("https://a.example:443/2"),
      webhook("http://a.example/3"),
    ],
    metrics_listen: "a.example:80",
  });
  assert.deepEqual(values(permissionFlags(c, DIR), "net"), [
    "hooks.slack.com:443",
    "a.example:443",
    "a.example:80",
  ]);
});

Deno.test("permissionFlags() allows listening on metrics_listen", () => {
  const net = (metrics_listen: string | null) =>
    values(permissionFlags(config({ metrics_listen }), DIR), "net");
  assert.deepEqual(net(null), ["localhost:5432"]);
  assert.deepEqual(net("127.0.0.1:9187"), ["localhost:5432", "127.0.0.1:9187"]);
  assert.deepEqual(net("localhost:9187"), ["localhost:5432", "localhost:9187"]);
  assert.deepEqual(net("[::1]:9187"), ["localhost:5432", "[::1]:9187"]);
  assert.deepEqual(net("0.0.0.0:9100"), ["localhost:5432", "0.0.0.0:9100"]);
  const socketHost = permissionFlags(
    config({ host: "/var/run/postgresql", metrics_listen: "[::]:9187" }),
    DIR,
  );
  assert.deepEqual(values(socketHost, "net"), [
    "unix:/var/run/postgresql/.s.PGSQL.5432",
    "[::]:9187",
  ]);
});

Deno.test("permissionFlags() reads webhook secret files", () => {
  const c = config({
    webhooks: [
      webhook("https://a.example", { secret_file: "/run/creds/a.secret" }),
      webhook("https://b.example", { secret: "whsec_x" }),
      webhook("https://c.example", { secret_file: "/run/creds/a.secret" }),
    ],
  });
  const read = values(permissionFlags(c, DIR), "read");
  assert.equal(read.filter((p) => p === "/run/creds/a.secret").length, 1);
  assert.ok(!read.some((p) => p.includes("whsec")), read.join(","));
  assert.equal(new Set(read).size, read.length);
});

Deno.test("permissionFlags() always allows reading the host name, and nothing else of sys", () => {
  for (const c of [config(), config({ syslog_enabled: false, prometheus_enabled: false })]) {
    assert.deepEqual(values(permissionFlags(c, DIR), "sys"), ["hostname"]);
  }
});
