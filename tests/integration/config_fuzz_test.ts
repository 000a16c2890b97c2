/**
 * The config parser fuzzed through the real entry points: `check-config` in a subprocess, and
 * SIGHUP to a running daemon. Exit 0 or 2 with a message, never a crash; a reload either applies
 * a whole valid config or keeps the running one, and enforcement goes on.
 */
import assert from "node:assert/strict";
import { mutate } from "../_fuzz.ts";
import { runCli, waitFor, withFixture } from "../_helpers.ts";

Deno.test("check-config on 25 mutated configurations exits 0 or 2 with a message, never crashes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const flags = [`--allow-read=${dir}`, `--allow-env`, `--allow-net`, `--allow-write=${dir}`];
    const limits = { user_limits: [{ user: "a", soft_limit: "1MB", hard_limit: "2MB" }] };
    const monitor = { host: "127.0.0.1", pid_file: `${dir}/pid`, state_dir: dir, port: 5432 };
    const codes = new Map<number, number>();
    for (let seed = 1; seed <= 25; seed++) {
      await Deno.writeTextFile(`${dir}/user_limits.json`, mutate(limits, seed));
      await Deno.writeTextFile(`${dir}/monitor_config.json`, mutate(monitor, 1000 + seed));
      const r = await runCli([...flags, "--allow-sys", "--allow-run"], [
        "check-config",
        "--config-dir",
        dir,
      ]);
      codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      assert.ok(r.code === 0 || r.code === 2, `seed ${seed}: exit ${r.code}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /Uncaught|TypeError|RangeError| {4}at /, `seed ${seed}`);
      if (r.code === 2) assert.match(r.stderr, /\.json/, `seed ${seed}: names the file`);
    }
    assert.ok((codes.get(2) ?? 0) > 0, "some were rejected");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGHUP with 12 mutated configurations never stops or half-configures the daemon", async () => {
  await withFixture({}, async (f) => {
    const role = await f.limitedRole("fuzzhup");
    const d = await f.startDaemon();
    const good = {
      limits: await Deno.readTextFile(`${f.dir}/user_limits.json`),
      monitor: await Deno.readTextFile(`${f.dir}/monitor_config.json`),
    };
    const base = JSON.parse(good.limits);
    for (let seed = 1; seed <= 12; seed++) {
      const before = d.lines.length;
      await Deno.writeTextFile(`${f.dir}/user_limits.json`, mutate(base, seed));
      d.signal("SIGHUP");
      const outcome = await waitFor(
        () =>
          d.lines.slice(before).find((l) =>
            l.msg === "configuration reloaded" || l.msg.startsWith("reload failed")
          ),
        { what: `the reload of mutation ${seed}` },
      );
      assert.equal(d.exitCode, undefined, `seed ${seed}: still running after ${outcome.msg}`);
    }
    // Back to the good files: the role is limited and enforced as before.
    await Deno.writeTextFile(`${f.dir}/user_limits.json`, good.limits);
    const before = d.lines.length;
    d.signal("SIGHUP");
    await waitFor(() => d.lines.slice(before).some((l) => l.msg === "configuration reloaded"), {
      what: "the good reload",
    });
    await f.overHard(role);
    assert.ok(!(await f.canLogin(role)));
  });
});
