/**
 * `deno task test:matrix [VERSION ...]`: the whole suite once per supported PostgreSQL major
 * version (default: every one in {@linkcode PG_PACKAGES}, 14 to 18), each against its own
 * ephemeral cluster, one after another. Prints one line per version and exits non-zero if any
 * version failed.
 *
 * @module
 */
import { PG_PACKAGES } from "../tests/support/cluster.ts";

const versions = Deno.args.length > 0 ? Deno.args : Object.keys(PG_PACKAGES);
for (const v of versions) {
  if (!(v in PG_PACKAGES)) {
    console.error(
      `Unsupported version '${v}': expected some of ${Object.keys(PG_PACKAGES).join(" ")}`,
    );
    Deno.exit(2);
  }
}
const env = { ...Deno.env.toObject(), PG_VERSION: "" };
delete (env as Record<string, string>).DATABASE_URL;
const results: { version: string; code: number; summary: string; seconds: number }[] = [];
for (const version of versions) {
  console.log(`\n=== PostgreSQL ${version} (${PG_PACKAGES[version]}) ===`);
  const started = performance.now();
  // The README's own command, with the version chosen: same flags, same summary line.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "test"],
    cwd: new URL("..", import.meta.url).pathname,
    env: { ...env, PG_VERSION: version },
    clearEnv: true,
    stdout: "piped",
    stdin: "null",
  }).spawn();
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-400);
  }
  const { code } = await child.status;
  const summary = tail.match(/tests: \d+ passed, \d+ failed/)?.[0] ?? "no summary";
  results.push({ version, code, summary, seconds: (performance.now() - started) / 1000 });
}
console.log("\n=== matrix ===");
for (const r of results) {
  console.log(
    `PostgreSQL ${r.version}: ${r.code === 0 ? "ok    " : "FAILED"} ${r.summary} (${
      r.seconds.toFixed(0)
    } s)`,
  );
}
Deno.exit(results.every((r) => r.code === 0) ? 0 : 1);
