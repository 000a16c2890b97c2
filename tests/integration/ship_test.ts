/**
 * Shipping: `deno task compile` builds an executable that enforces with only its baked-in
 * permissions, and scripts/install.sh installs it into a throwaway root (--prefix), idempotently.
 */
import assert from "node:assert/strict";
import { build, type BuildResult, EXECUTABLE, LIB_DIR } from "../../scripts/compile.ts";
import { DaemonProcess, waitFor, withFixture } from "../_helpers.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { permissionFlags } from "../../lib/permissions.ts";
import { VERSION } from "../../lib/version.ts";

const INSTALL = new URL("../../scripts/install.sh", import.meta.url).pathname;
const IS_ROOT = Deno.uid() === 0;

async function run(cmd: string, args: string[]) {
  const o = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

Deno.test("deno task compile builds an executable that enforces with exactly its baked-in permissions", async () => {
  const elsewhere = await Deno.makeTempDir({ prefix: "pgmon_ship_" });
  const output = await Deno.makeTempDir({ prefix: "pgmon_dist_" });
  try {
    // As in production, the state and metrics directories are not under the config directory.
    await Deno.mkdir(`${elsewhere}/state`);
    await Deno.mkdir(`${elsewhere}/metrics`);
    await withFixture({
      monitor: {
        state_dir: `${elsewhere}/state`,
        metrics_file: `${elsewhere}/metrics/pgmon.prom`,
      },
    }, async (f) => {
      const role = await f.limitedRole("shipped");
      const lines: string[] = [];
      const result: BuildResult = await build({
        configDir: f.dir,
        output,
        systemd: false,
        log: (l) => lines.push(l),
      });
      const config = await loadConfig(f.dir);
      assert.deepEqual(result.flags, permissionFlags(config.monitor, config.dir));
      const exe = `${output}/${EXECUTABLE}`;
      assert.equal(result.executable, exe);
      if (result.mode === "bundle+launcher") {
        // The fallback says why, and the launcher passes every flag and nothing broader.
        assert.ok(result.fallbackReason, lines.join("\n"));
        const launcher = await Deno.readTextFile(exe);
        for (const flag of result.flags) assert.ok(launcher.includes(`'${flag}'`), flag);
        assert.doesNotMatch(launcher, /\s-A\s|--allow-all|--allow-(read|write|net|env|run|sys)'/);
        await Deno.stat(`${output}/${LIB_DIR}/daemon.js`);
      }
      const version = await run(exe, ["version"]);
      assert.equal(version.out.trim(), VERSION, version.err);
      const check = await run(exe, ["check-config", "--config-dir", f.dir]);
      assert.equal(check.code, 0, check.err);
      // A config directory outside the baked permissions is refused with a clear message.
      const other = await run(exe, ["check-config", "--config-dir", elsewhere]);
      assert.equal(other.code, 2);
      assert.match(other.err, /read access/);

      const d = f.adopt(new DaemonProcess([], ["run", "--config-dir", f.dir], {}, exe));
      try {
        await d.waitForLog((l) => l.msg === "running", { what: "the built daemon to start" });
        await f.overHard(role);
        await waitFor(async () => {
          const text = await Deno.readTextFile(`${elsewhere}/metrics/pgmon.prom`).catch(() => "");
          return text.includes(`postgres_monitor_role_locked{user="${role}"} 1`);
        }, { what: "the lock in the textfile" });
        const status = await run(exe, ["status", "--json", "--config-dir", f.dir]);
        assert.equal(status.code, 0, status.err);
        assert.equal(JSON.parse(status.out).rows[0].state, "locked");
      } finally {
        assert.equal(await d.stop(), 0, d.dump());
      }
      // Nothing the built daemon did needed a permission it lacked.
      assert.ok(!d.dump().includes("NotCapable"), d.dump());
    });
  } finally {
    await Deno.remove(elsewhere, { recursive: true });
    await Deno.remove(output, { recursive: true });
  }
});

/** A listing of every path under `root` with type, mode, owner and content size. */
async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      const s = await Deno.lstat(path);
      out.push(
        `${path.slice(root.length)} ${e.isDirectory ? "d" : "f"} ${
          (s.mode! & 0o7777).toString(8)
        } ${s.uid}:${s.gid} ${e.isDirectory ? "" : s.size} ${s.mtime?.getTime()}`,
      );
      if (e.isDirectory) await walk(path);
    }
  };
  await walk(root);
  return out.sort();
}

Deno.test("install.sh installs into a throwaway root, idempotently; --dry-run changes nothing; --uninstall removes it", async () => {
  const output = await Deno.makeTempDir({ prefix: "pgmon_dist_" });
  const root = await Deno.makeTempDir({ prefix: "pgmon_root_" });
  try {
    await build({ configDir: "/nonexistent", output, bundle: true });
    const hostPasswd = await Deno.readTextFile("/etc/passwd");

    const dry = await run(INSTALL, ["--from", output, "--prefix", root, "--dry-run"]);
    assert.equal(dry.code, 0, dry.err);
    assert.match(dry.out, /would run: useradd --prefix/);
    assert.deepEqual(await tree(root), [], "dry run changed nothing");

    const first = await run(INSTALL, ["--from", output, "--prefix", root]);
    assert.equal(first.code, 0, first.out + first.err);
    // Every step is printed, and the SQL step is named.
    assert.match(first.out, /==> file .*\/usr\/local\/bin\/postgres_realtime_monitor_daemon/);
    assert.match(first.out, /postgres_realtime_monitor_daemon install --admin-url/);
    const mode = async (p: string) => ((await Deno.stat(`${root}${p}`)).mode! & 0o7777).toString(8);
    assert.equal(await mode("/usr/local/bin/postgres_realtime_monitor_daemon"), "755");
    assert.equal(await mode("/etc/systemd/system/postgres_realtime_monitor.service"), "644");
    assert.equal(await mode("/etc/postgres_monitor"), "750");
    assert.equal(await mode("/etc/postgres_monitor/monitor_config.json"), "640");
    assert.equal(await mode("/etc/postgres_monitor/monitor_user.passwd"), "600");
    assert.equal(await mode("/var/lib/postgres_monitor"), "750");
    await Deno.stat(`${root}/usr/local/lib/postgres_realtime_monitor/daemon.js`);
    if (IS_ROOT) {
      // The account exists in the throwaway root only, and owns the state directory.
      const passwd = await Deno.readTextFile(`${root}/etc/passwd`);
      const entry = passwd.split("\n").find((l) => l.startsWith("postgres_monitor:"));
      assert.ok(entry, passwd);
      assert.match(entry, /:\/usr\/sbin\/nologin$/);
      assert.equal(hostPasswd, await Deno.readTextFile("/etc/passwd"));
      const [uid, gid] = entry.split(":").slice(2, 4).map(Number);
      const state = await Deno.stat(`${root}/var/lib/postgres_monitor`);
      assert.deepEqual([state.uid, state.gid], [uid, gid]);
      const conf = await Deno.stat(`${root}/etc/postgres_monitor/monitor_config.json`);
      assert.deepEqual([conf.uid, conf.gid], [0, gid]);
    }
    // The installed example configuration is valid for the installed executable's permissions
    // only once it sits at /etc/postgres_monitor; here, check that it parses.
    await loadConfig(`${root}/etc/postgres_monitor`);

    // An operator's edits survive a second run, which changes nothing at all.
    const limits = `${root}/etc/postgres_monitor/user_limits.json`;
    await Deno.writeTextFile(limits, '{"user_limits": []}\n');
    const before = await tree(root);
    const second = await run(INSTALL, ["--from", output, "--prefix", root]);
    assert.equal(second.code, 0, second.err);
    assert.doesNotMatch(second.out, /\$ /, "the second run ran no command");
    assert.deepEqual(await tree(root), before);
    assert.equal(await Deno.readTextFile(limits), '{"user_limits": []}\n');

    const un = await run(INSTALL, ["--prefix", root, "--uninstall"]);
    assert.equal(un.code, 0, un.err);
    await assert.rejects(Deno.stat(`${root}/usr/local/bin/postgres_realtime_monitor_daemon`));
    await assert.rejects(Deno.stat(`${root}/usr/local/lib/postgres_realtime_monitor`));
    await assert.rejects(Deno.stat(`${root}/etc/systemd/system/postgres_realtime_monitor.service`));
    await Deno.stat(limits);
    const again = await run(INSTALL, ["--prefix", root, "--uninstall"]);
    assert.equal(again.code, 0, again.err);
    assert.doesNotMatch(again.out, /\$ /);

    const purge = await run(INSTALL, ["--prefix", root, "--uninstall", "--purge"]);
    assert.equal(purge.code, 0, purge.err);
    await assert.rejects(Deno.stat(`${root}/etc/postgres_monitor`));
    await assert.rejects(Deno.stat(`${root}/var/lib/postgres_monitor`));
    if (IS_ROOT) {
      const passwd = await Deno.readTextFile(`${root}/etc/passwd`);
      assert.ok(!passwd.includes("postgres_monitor:"), passwd);
    }
  } finally {
    await Deno.remove(output, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("install.sh refuses unknown arguments and a missing build, changing nothing", async () => {
  const root = await Deno.makeTempDir({ prefix: "pgmon_root_" });
  try {
    const bad = await run(INSTALL, ["--frobnicate"]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown argument '--frobnicate'/);
    const missing = await run(INSTALL, ["--from", `${root}/nothing`, "--prefix", root]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /run 'deno task compile' first/);
    assert.deepEqual(await tree(root), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
