/**
 * `deno task test`: starts an ephemeral PostgreSQL (unless DATABASE_URL is set), runs the unit and
 * integration tests against it, stops it. PG_VERSION=14|15|16|17|18 picks the server version.
 *
 * @module
 */
import { startCluster } from "./ephemeral_pg.ts";

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
try {
  const status = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-env",
      "--allow-run",
      "--allow-sys",
      ...(extra.length > 0 ? extra : ["tests/"]),
    ],
    env,
    stdin: "null",
  }).spawn().status;
  code = status.code;
} finally {
  await cluster?.stop();
}
Deno.exit(code);
