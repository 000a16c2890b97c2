import assert from "node:assert/strict";
import { defaultMonitorConfig, type MonitorConfig } from "../../lib/config/monitor.ts";
import { ENV_VARS, permissionFlags } from "../../lib/permissions.ts";

const DIR = "/etc/postgres_monitor";

function config(extra: Partial<MonitorConfig> = {}): MonitorConfig {
  return { ...defaultMonitorConfig(DIR), ...extra };
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

Deno.test("permissionFlags() adds the sql and credentials directories when given", () => {
  const read = values(
    permissionFlags(config(), DIR, { sqlDir: "/opt/pgmon/sql", credentialsDir: "/run/creds/x" }),
    "read",
  );
  assert.ok(read.includes("/opt/pgmon/sql"));
  assert.ok(read.includes("/run/creds/x"));
  const without = values(permissionFlags(config(), DIR), "read");
  assert.ok(!without.includes("/opt/pgmon/sql"));
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
  ];
  for (const c of variants) {
    for (const flag of permissionFlags(c, DIR, { sqlDir: "/opt/sql" })) {
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
