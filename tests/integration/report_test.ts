/**
 * What operators see, from real processes: syslog lines through a real `logger` into a socket we
 * listen on, the metrics textfile and HTTP listener (checked by promtool when installed).
 */
import assert from "node:assert/strict";
import { waitFor, withFixture } from "../_helpers.ts";

const MiB = 1024 * 1024;

function which(cmd: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${cmd}`).isFile) return true;
    } catch {
      // not here
    }
  }
  return false;
}

const HAS_PROMTOOL = which("promtool");

/** A unix stream socket collecting syslog lines, as a syslog daemon would receive them. */
function syslogSink(path: string) {
  const lines: string[] = [];
  const listener = Deno.listen({ transport: "unix", path });
  const conns: Deno.Conn[] = [];
  const done = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        let buf = "";
        for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) {
          buf += chunk;
          let i;
          while ((i = buf.indexOf("\n")) >= 0) {
            lines.push(buf.slice(0, i));
            buf = buf.slice(i + 1);
          }
        }
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    lines,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await done;
    },
  };
}

/** Parses "<PRI>Mon DD HH:MM:SS tag: message". */
function parseSyslog(line: string) {
  const m = /^<(\d+)>(.*?) (\S+?)(?:\[\d+\])?: (.*)$/.exec(line);
  assert.ok(m, `not a syslog line: ${line}`);
  const pri = Number(m[1]);
  return { facility: pri >> 3, severity: pri & 7, tag: m[3], message: m[4] ?? "" };
}

Deno.test("syslog gets a warning for the soft limit, crit for the lock, info for the unlock", async () => {
  const dir = await Deno.makeTempDir();
  const sink = syslogSink(`${dir}/syslog.sock`);
  try {
    await withFixture({
      monitor: { syslog_enabled: true, syslog_socket: `${dir}/syslog.sock` },
    }, async (f) => {
      const role = await f.limitedRole("sys");
      await f.startDaemon();
      await f.crossEverything(role);
      await waitFor(() => sink.lines.length >= 4, { what: "four syslog lines" });
      const got = sink.lines.map(parseSyslog).filter((l) => l.message.includes(role));
      const tag = "postgres_realtime_monitor";
      // facility 3 = daemon; severities 4 = warning, 2 = crit, 6 = info.
      assert.deepEqual(
        got.map((l) => [l.facility, l.severity, l.tag]),
        [[3, 4, tag], [3, 2, tag], [3, 6, tag], [3, 6, tag]],
        sink.lines.join("\n"),
      );
      assert.match(got[0]!.message, /exceeded soft limit/);
      assert.match(got[1]!.message, /^Locked user .* session\(s\) terminated/);
      assert.match(got[2]!.message, /back under soft limit/);
      assert.match(got[3]!.message, /^Unlocked user/);
    });
  } finally {
    await sink.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing syslog socket never blocks enforcement", async () => {
  await withFixture({
    monitor: { syslog_enabled: true, syslog_socket: "/nonexistent/syslog.sock" },
  }, async (f) => {
    const role = await f.limitedRole("nosys");
    const d = await f.startDaemon();
    await f.overHard(role);
    await d.waitForLog((l) => l.msg === "syslog unavailable");
  });
});

Deno.test("the metrics textfile and /metrics carry the same families; /healthz follows LISTEN", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await withFixture({
    monitor: { metrics_listen: `127.0.0.1:${port}` },
    extraDatabases: 1,
  }, async (f) => {
    const role = await f.limitedRole("met");
    const d = await f.startDaemon();
    await f.overHard(role);
    await d.waitForLog((l) => l.msg === "role locked");

    const base = `http://127.0.0.1:${port}`;
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const file = await waitFor(async () => {
      const t = await Deno.readTextFile(`${f.dir}/metrics/postgres_realtime_monitor.prom`);
      return t.includes(`postgres_monitor_role_locked{user="${role}"} 1`) ? t : "";
    });
    const families = (t: string) =>
      t.split("\n").filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]);
    assert.deepEqual(families(text), families(file));
    for (
      const needle of [
        `postgres_user_storage_usage_bytes{user="${role}"}`,
        `postgres_monitor_hard_limit_bytes{user="${role}"} ${2 * MiB}`,
        `postgres_monitor_role_locked{user="${role}"} 1`,
        `postgres_monitor_database_up{database="${f.extraDbs[0]}"} 1`,
        `postgres_monitor_actions_total{action="lock"} 1`,
        "postgres_monitor_detection_lag_seconds_count 1",
        'postgres_monitor_build_info{version="',
      ]
    ) assert.ok(text.includes(needle), `${needle} missing in\n${text}`);
    assert.equal((await fetch(`${base}/nope`)).status, 404);

    if (HAS_PROMTOOL) {
      for (const input of [text, file]) {
        const p = new Deno.Command("promtool", {
          args: ["check", "metrics"],
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const w = p.stdin.getWriter();
        await w.write(new TextEncoder().encode(input));
        await w.close();
        const out = await p.output();
        const msg = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 0, msg);
      }
    } else {
      console.log("  promtool not installed: 'promtool check metrics' skipped");
    }

    // A database that refuses connections: its LISTEN stays down, /healthz says so.
    const other = f.extraDbs[0]!;
    await f.exec("ALTER DATABASE %I ALLOW_CONNECTIONS false", [other]);
    await f.admin.unsafe(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
      [other],
    );
    const down = await waitFor(async () => {
      const r = await fetch(`${base}/healthz`);
      const body = await r.json();
      return r.status === 503 ? body : undefined;
    }, { what: "/healthz to answer 503" });
    assert.equal(down.status, "unhealthy");
    assert.ok(
      down.reasons.some((r: string) => r.includes(`LISTEN connection to '${other}' is down`)),
      JSON.stringify(down),
    );
    await f.exec("ALTER DATABASE %I ALLOW_CONNECTIONS true", [other]);
    await waitFor(async () => (await fetch(`${base}/healthz`)).status === 200, {
      what: "/healthz back to 200 after the reconnect",
      timeout: 20_000,
    });
  });
});
