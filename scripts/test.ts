/**
 * `deno task test`: starts an ephemeral PostgreSQL (unless DATABASE_URL is set), runs the unit and
 * integration tests against it, stops it. PG_VERSION=14|15|16|17|18 picks the server version.
 *
 * @module
 */
import { startCluster } from "../tests/support/cluster.ts";

const extra = Deno.args;
const env: Record<string, string> = {};
let cluster;
if (!Deno.env.get("DATABASE_URL")) {
  cluster = await startCluster({ log: (l) => console.log(`[pg] ${l}`) });
  env.DATABASE_URL = cluster.url;
  env.PGMON_TEST_PG_BIN = cluster.binDir;
  env.PGMON_TEST_PG_DATA = cluster.dataDir;
}
let code = 1;
let summary = "";
try {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-env",
      "--allow-run",
      "--allow-sys",
      // The systemd tests listen on a unix datagram socket as $NOTIFY_SOCKET.
      "--unstable-net",
      ...(extra.length > 0 ? extra : ["tests/"]),
    ],
    env,
    stdin: "null",
    stdout: "piped",
  }).spawn();
  // Pass the output through, and keep deno test's closing counts for one plain summary line.
  const decoder = new TextDecoder();
  let tail = "";
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4000);
  }
  // deno-lint-ignore no-control-regex
  const plain = tail.replace(/\x1b\[[0-9;]*m/g, "");
  // "N passed (M steps) | K failed" when a test has steps.
  const m = [...plain.matchAll(/(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g)].at(-1);
  if (m) summary = `tests: ${m[1]} passed, ${m[2]} failed`;
  code = (await child.status).code;
} finally {
  await cluster?.stop();
}
if (summary) console.log(summary);
Deno.exit(code);
