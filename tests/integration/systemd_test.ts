/// <reference lib="deno.unstable" />
/**
 * Running under systemd: the sd_notify conversation over a real unix datagram socket standing in
 * for $NOTIFY_SOCKET, the permission self-check, and the unit file as systemd-analyze sees it.
 */
import assert from "node:assert/strict";
import { runCli, waitFor, withFixture } from "../_helpers.ts";

const UNIT = new URL("../../systemd/postgres_realtime_monitor.service", import.meta.url).pathname;
const BINARY = "/usr/local/bin/postgres_realtime_monitor_daemon";

/** Collects sd_notify datagrams sent to a socket in `dir`. */
class NotifyListener {
  readonly path: string;
  /** Each datagram as its KEY=value pairs. */
  messages: Record<string, string>[] = [];
  #conn: Deno.DatagramConn;
  #loop: Promise<void>;

  constructor(dir: string) {
    this.path = `${dir}/notify.sock`;
    this.#conn = Deno.listenDatagram({ path: this.path, transport: "unixpacket" });
    this.#loop = this.#read();
  }

  async #read() {
    try {
      for await (const [data] of this.#conn) {
        const fields: Record<string, string> = {};
        for (const line of new TextDecoder().decode(data).split("\n")) {
          const i = line.indexOf("=");
          fields[line.slice(0, i)] = line.slice(i + 1);
        }
        this.messages.push(fields);
      }
    } catch {
      // closed
    }
  }

  /** Index of the first message at or after `from` that has `key` (optionally = `value`). */
  async next(key: string, value?: string, from = 0): Promise<number> {
    return await waitFor(() => {
      const i = this.messages.findIndex((m, j) =>
        j >= from && key in m && (value === undefined || m[key] === value)
      );
      return i >= 0 ? i + 1 : undefined;
    }, { what: `${key}${value === undefined ? "" : `=${value}`} on the notify socket` }) - 1;
  }

  async close() {
    this.#conn.close();
    await this.#loop;
  }
}

Deno.test("under Type=notify the daemon reports READY, STATUS, WATCHDOG pings, RELOADING and STOPPING", async () => {
  await withFixture({}, async (f) => {
    await f.limitedRole("notified");
    const listener = new NotifyListener(f.dir);
    try {
      const d = await f.startDaemon([], true, {
        env: { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: "200000" },
        permissions: { notifySocket: listener.path },
      });
      const ready = await listener.next("READY", "1").catch((err) => {
        throw new Error(`${err.message}\n${d.dump()}`);
      });
      assert.match(listener.messages[ready]!.STATUS ?? "", /connecting to PostgreSQL/);
      const enforcing = await listener.next("STATUS", undefined, ready + 1);
      assert.match(listener.messages[enforcing]!.STATUS!, /^enforcing 1 limited role\(s\) in 1/);
      // WatchdogSec=0.2 s: a ping every 100 ms.
      const first = await listener.next("WATCHDOG", "1");
      await listener.next("WATCHDOG", "1", (await listener.next("WATCHDOG", "1", first + 1)) + 1);
      d.signal("SIGHUP");
      const reloading = await listener.next("RELOADING", "1");
      await listener.next("READY", "1", reloading + 1);
      assert.equal(await d.stop(), 0);
      await listener.next("STOPPING", "1");
      assert.deepEqual(d.find("systemd notification"), [], "no notification failed");
      // The client socket it bound to send from is removed on exit.
      await assert.rejects(Deno.stat(`${f.dir}/state/sd_notify.sock`), Deno.errors.NotFound);
    } finally {
      await listener.close();
    }
  });
});

Deno.test("a daemon lacking a permission its configuration needs exits 2 naming the flag, having done nothing", async () => {
  await withFixture({}, async (f) => {
    await f.limitedRole("perm");
    // Flags for the configuration as it is, then a webhook added: a binary built before the change.
    const flags = await f.flags();
    await f.writeConfig(undefined, {
      ...f.monitor,
      webhooks: [{ url: "http://127.0.0.1:9/hook" }],
    });
    const r = await runCli(flags, ["run", "--config-dir", f.dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /lacks permissions .*\n {2}--allow-net=127\.0\.0\.1:9\n/);
    assert.match(r.stderr, /deno task compile --config-dir /);
    await assert.rejects(Deno.stat(`${f.dir}/daemon.pid`), Deno.errors.NotFound);
  });
});

/** Whether systemd-analyze is installed (the unit checks are skipped, and say so, if not). */
const analyze = await new Deno.Command("systemd-analyze", { args: ["--version"], stdout: "null" })
  .output().then((o) => o.success).catch(() => false);

/** The unit with its ExecStart binary pointed at an executable stub in `dir`. */
async function unitWithStub(dir: string): Promise<string> {
  const stub = `${dir}/postgres_realtime_monitor_daemon`;
  await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  const unit = `${dir}/postgres_realtime_monitor.service`;
  await Deno.writeTextFile(unit, (await Deno.readTextFile(UNIT)).replaceAll(BINARY, stub));
  return unit;
}

async function run(cmd: string, args: string[]) {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

Deno.test({
  name: "systemd-analyze verify accepts the unit without a warning",
  ignore: !analyze,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const r = await run("systemd-analyze", ["verify", await unitWithStub(dir)]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.err.trim(), "");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "systemd-analyze security rates the unit's exposure at 2.0 or less",
  ignore: !analyze,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const r = await run("systemd-analyze", [
        "security",
        "--offline=yes",
        await unitWithStub(dir),
      ]);
      const m = r.out.match(/Overall exposure level for .*: (\d+\.\d+)/);
      assert.ok(m, r.out + r.err);
      assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the unit has the hardening and lifecycle settings the daemon relies on", async () => {
  const text = await Deno.readTextFile(UNIT);
  const settings = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = line.match(/^([A-Za-z]+)=(.*)$/);
    if (m) settings.set(m[1]!, [...settings.get(m[1]!) ?? [], m[2]!]);
  }
  const one = (key: string) => settings.get(key)?.at(-1);
  assert.equal(one("Type"), "notify");
  assert.ok(one("WatchdogSec"));
  assert.equal(one("User"), "postgres_monitor");
  assert.equal(one("CapabilityBoundingSet"), "");
  assert.equal(one("ProtectSystem"), "strict");
  assert.equal(one("RestrictAddressFamilies"), "AF_UNIX AF_INET AF_INET6");
  assert.equal(one("SystemCallFilter"), "@system-service");
  assert.equal(one("Restart"), "on-failure");
  assert.match(one("LoadCredential") ?? "", /^monitor_user\.passwd:/);
  for (const key of ["MemoryMax", "CPUQuota", "TasksMax", "StateDirectory", "ReadWritePaths"]) {
    assert.ok(one(key), key);
  }
  for (const key of ["NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectControlGroups"]) {
    assert.equal(one(key), "yes", key);
  }
  // V8's JIT needs writable and executable pages.
  assert.ok(!settings.has("MemoryDenyWriteExecute"));
  // The pid file named on ExecStart is inside RuntimeDirectory=.
  assert.match(one("ExecStart") ?? "", new RegExp(`--pid-file /run/${one("RuntimeDirectory")}/`));
});
