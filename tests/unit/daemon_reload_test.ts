import assert from "node:assert/strict";
import { Daemon } from "../../lib/daemon.ts";
import { Logger } from "../../lib/report/log.ts";

Deno.test("Daemon.reload() before start() has finished only remembers the SIGHUP", async () => {
  const dir = await Deno.makeTempDir({ prefix: "daemon_reload_" });
  try {
    await Deno.writeTextFile(`${dir}/user_limits.json`, '{"user_limits": []}');
    await Deno.writeTextFile(
      `${dir}/monitor_config.json`,
      JSON.stringify({ syslog_enabled: false, state_dir: dir, metrics_file: `${dir}/m.prom` }),
    );
    const lines: Record<string, unknown>[] = [];
    const d = new Daemon(dir, { log: new Logger("debug", (l) => lines.push(JSON.parse(l))) });
    // Before the fix this rejected (no configuration, no enforcer yet): an unhandled rejection
    // in main.ts's SIGHUP handler ended the process.
    assert.equal(await d.reload(), false);
    assert.ok(lines.some((l) => l.msg === "reload requested while starting: applied once running"));
    await d.stop(1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
