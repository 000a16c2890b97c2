/**
 * The command line and the process lifecycle: bad configuration, pid lock, signals, reload.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config/mod.ts";
import { permissionFlags } from "../../lib/permissions.ts";
import { DaemonProcess, fill, runCli, waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;

/** Bad user_limits.json texts, and what the message must name. */
const BAD_LIMITS: [string, string, RegExp][] = [
  ["malformed JSON", '{"user_limits": [\n  {"user": "a",, }\n]}', /user_limits\.json:2:\d+/],
  [
    "unknown key",
    '{"user_limits": [{"user": "a", "soft_limt": 1, "hard_limit": 2}]}',
    /soft_limt.*did you mean 'soft_limit'/s,
  ],
  [
    "wrong type",
    '{"user_limits": [{"user": "a", "soft_limit": true, "hard_limit": 2}]}',
    /user_limits\[0\] \(user 'a'\).*soft_limit/s,
  ],
  [
    "hard <= soft",
    '{"user_limits": [{"user": "a", "soft_limit": 5, "hard_limit": 5}]}',
    /user_limits\[0\] \(user 'a'\).*hard_limit/s,
  ],
  [
    "negative size",
    '{"user_limits": [{"user": "a", "soft_limit": -1, "hard_limit": 5}]}',
    /soft_limit/,
  ],
  [
    "duplicate user",
    '{"user_limits": [{"user": "a", "soft_limit": 1, "hard_limit": 2}, {"user": "a", "soft_limit": 1, "hard_limit": 2}]}',
    /user_limits\[1\].*Duplicate user 'a'/s,
  ],
  ["missing user_limits", '{"limits": []}', /user_limits/],
];

for (const [name, text, pattern] of BAD_LIMITS) {
  Deno.test(`check-config and run reject a limits file with ${name}: exit 2, file named, nothing changed`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/user_limits.json`, text);
      await Deno.writeTextFile(
        `${dir}/monitor_config.json`,
        JSON.stringify({ pid_file: `${dir}/pid`, host: "127.0.0.1", port: 1 }),
      );
      const flags = [`--allow-read=${dir}`, `--allow-write=${dir}`];
      const check = await runCli(flags, ["check-config", "--config-dir", dir]);
      assert.equal(check.code, 2, check.stderr);
      assert.match(check.stderr, new RegExp(`${dir}/user_limits\\.json`));
      assert.match(check.stderr, pattern);
      // `run` validates before anything else: no pid file, no connection attempt (no net flag).
      const run = await runCli(flags, ["run", "--config-dir", dir]);
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stderr, check.stderr);
      await assert.rejects(Deno.stat(`${dir}/pid`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("check-config rejects a bad monitor_config.json and accepts a valid pair", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let flags = [`--allow-read=${dir}`];
    await Deno.writeTextFile(
      `${dir}/user_limits.json`,
      '{"user_limits": [{"member_of": "tenants", "soft_limit": "1GB", "hard_limit": "2GB"}]}',
    );
    await Deno.writeTextFile(`${dir}/monitor_config.json`, '{"port": "5432", "sweep_intervl": 5}');
    const bad = await runCli(flags, ["check-config", "--config-dir", dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /monitor_config\.json/);
    assert.match(bad.stderr, /port/);
    assert.match(bad.stderr, /sweep_intervl.*did you mean 'sweep_interval'/s);
    await Deno.writeTextFile(`${dir}/monitor_config.json`, "// defaults\n{}\n");
    // Valid, but this process may not connect, write the state directory, …: exit 2, flags named.
    const lacking = await runCli(flags, ["check-config", "--config-dir", dir]);
    assert.equal(lacking.code, 2, lacking.stderr);
    assert.match(lacking.stderr, /lacks permissions[^]*--allow-net=localhost:5432/);
    flags = permissionFlags((await loadConfig(dir)).monitor, dir);
    const good = await runCli(flags, ["check-config", "--config-dir", dir]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /valid: 0 user limit\(s\), 1 group limit\(s\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unknown commands and arguments exit 2 with usage", async () => {
  const r = await runCli([], ["frobnicate"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown command 'frobnicate'/);
  const s = await runCli([], ["status", "extra"]);
  assert.equal(s.code, 2);
});

Deno.test("a second daemon on the same pid file refuses to start; SIGTERM stops within 5 s", async () => {
  await withFixture({}, async (f) => {
    const first = await f.startDaemon();
    const second = await f.startDaemon([], false);
    assert.equal(await second.exited(), 1);
    assert.ok(second.find("cannot start").some((l) => /another instance/.test(String(l.error))));
    const t0 = performance.now();
    assert.equal(await first.stop(5000), 0);
    assert.ok(performance.now() - t0 < 5000);
    assert.ok(first.find("stopped").length === 1);
  });
});

Deno.test("SIGHUP applies a valid new configuration and keeps the old one when the new is broken", async () => {
  await withFixture({}, async (f) => {
    const role = await f.createRole(`hup_${f.id}`, "LOGIN", { schema: true });
    await f.writeConfig([{ user: role, soft_limit: 10 * MiB, hard_limit: 20 * MiB }]);

    const d = await f.startDaemon();
    const sql = f.as(role);
    await sql.unsafe("CREATE TABLE t (x text)");
    await fill(sql, "t", 3072);

    await Deno.writeTextFile(`${f.dir}/user_limits.json`, '{"user_limits": [ broken');
    d.signal("SIGHUP");
    const failed = await d.waitForLog((l) => l.msg.startsWith("reload failed"));
    assert.match(String(failed.error), /user_limits\.json:1:\d+/);
    assert.equal(await f.canLogin(role), true);

    // A valid file with a lower limit takes effect on the next SIGHUP.
    await f.writeConfig([{ user: role, soft_limit: 1 * MiB, hard_limit: 2 * MiB }]);
    d.signal("SIGHUP");
    await d.waitForLog((l) => l.msg === "configuration reloaded");
    await f.waitLocked(role);
  });
});

Deno.test("SIGHUP that changes restart-only settings warns once per key, naming it", async () => {
  await withFixture({}, async (f) => {
    const d = await f.startDaemon();
    const monitor = f.monitor;
    await f.writeConfig(undefined, {
      ...monitor,
      // Read once at start (connections, listeners): a reload cannot apply them.
      measure_lock_timeout_ms: 321,
      connect_timeout: 7,
      application_name: "renamed_monitor",
      // Applied by a reload: no warning.
      sweep_interval: 45,
    });
    const before = d.lines.length;
    d.signal("SIGHUP");
    await d.waitForLog((l) => l.msg === "configuration reloaded");
    const warned = d.lines.slice(before)
      .filter((l) => l.msg === "setting changed: takes effect only after a restart")
      .map((l) => String(l.key));
    assert.deepEqual(warned.sort(), [
      "application_name",
      "connect_timeout",
      "measure_lock_timeout_ms",
    ]);
    // The running values were kept, so the same file reloaded again warns again, once per key.
    const again = d.lines.length;
    d.signal("SIGHUP");
    await waitFor(
      () => d.lines.slice(again).some((l) => l.msg === "configuration reloaded"),
      { what: "the second reload" },
    );
    const second = d.lines.slice(again)
      .filter((l) => l.msg === "setting changed: takes effect only after a restart")
      .map((l) => String(l.key));
    assert.deepEqual(second.sort(), [
      "application_name",
      "connect_timeout",
      "measure_lock_timeout_ms",
    ]);
  });
});

Deno.test("with PostgreSQL unreachable the daemon waits and logs, and SIGTERM still stops it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close(); // nothing listens there now
    await Deno.writeTextFile(`${dir}/user_limits.json`, '{"user_limits": []}');
    await Deno.writeTextFile(
      `${dir}/monitor_config.json`,
      JSON.stringify({
        host: "127.0.0.1",
        port,
        pid_file: `${dir}/pid`,
        state_dir: dir,
        metrics_file: `${dir}/m.prom`,
        syslog_enabled: false,
      }),
    );
    const config = await loadConfig(dir);
    const d = new DaemonProcess(
      permissionFlags(config.monitor, config.dir),
      ["run", "--config-dir", dir],
    );
    try {
      const first = await d.waitForLog((l) => l.msg === "control database unavailable");
      assert.match(String(first.error), /ECONNREFUSED|refused|connect/i);
      await waitFor(() => d.find("control database unavailable").length >= 2, {
        what: "a retry with backoff",
      });
      const t0 = performance.now();
      assert.equal(await d.stop(5000), 0, d.dump());
      assert.ok(performance.now() - t0 < 5000);
    } finally {
      d.signal("SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
