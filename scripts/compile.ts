/**
 * `deno task compile`: builds `postgres_realtime_monitor_daemon` with exactly the Deno permissions
 * that one configuration needs baked in (`lib/permissions.ts`), SQL embedded (it is imported as
 * text). The permissions come from `--config-dir` (default `/etc/postgres_monitor`; the defaults,
 * i.e. the documented production paths, where it has no monitor_config.json) plus the paths the
 * systemd unit gives the daemon (credentials, notify socket, pid file; `--no-systemd` leaves them
 * out).
 *
 * `deno compile` needs the `denort` runtime, which it downloads, or finds at `$DENORT_BIN`. Where
 * it cannot be had (no network to dl.deno.land, no DENORT_BIN), or with `--bundle`, the task
 * builds the closest thing instead, and says so: `deno bundle` makes one `.js` of the daemon and
 * its npm dependencies, and a launcher script runs it with a copy of this Deno runtime under the
 * same flags:
 *
 *     dist/postgres_realtime_monitor_daemon                  the executable (or the launcher)
 *     dist/postgres_realtime_monitor/daemon.js               bundle   } launcher mode only
 *     dist/postgres_realtime_monitor/deno                    runtime  }
 *
 * Usage: deno task compile [--config-dir DIR] [--output DIR] [--no-systemd] [--bundle]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { ConfigError } from "../lib/config/mod.ts";
import {
  defaultMonitorConfig,
  MONITOR_FILE_NAME,
  type MonitorConfig,
  parseMonitorConfig,
} from "../lib/config/monitor.ts";
import { permissionFlags, SYSTEMD_PATHS } from "../lib/permissions.ts";

/** Name of the executable, as the old daemon's. */
export const EXECUTABLE = "postgres_realtime_monitor_daemon";
/** Directory, next to the launcher, holding the bundle and the runtime (launcher mode). */
export const LIB_DIR = "postgres_realtime_monitor";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const MAIN = `${ROOT}/main.ts`;

/** How the executable was built. */
export type BuildMode = "compiled" | "bundle+launcher";

/** What {@linkcode build} produced. */
export interface BuildResult {
  /** `compiled` (one self-contained file) or `bundle+launcher`. */
  mode: BuildMode;
  /** Path of the executable. */
  executable: string;
  /** The permission flags baked in. */
  flags: string[];
  /** Why `deno compile` was not used, in launcher mode. */
  fallbackReason?: string;
}

/** Options of {@linkcode build}. */
export interface BuildOptions {
  /** Configuration directory whose monitor_config.json decides the permissions. */
  configDir: string;
  /** Output directory. */
  output: string;
  /** Add the systemd unit's paths (credentials, notify socket, --pid-file). @default {true} */
  systemd?: boolean;
  /** Skip `deno compile` and build the bundle and launcher. @default {false} */
  bundle?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** The monitor configuration in `dir`, or the defaults if it has none. */
async function monitorConfig(dir: string, log: (line: string) => void): Promise<MonitorConfig> {
  const file = `${dir}/${MONITOR_FILE_NAME}`;
  let text;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      log(`no ${file}: permissions for the default settings`);
      return defaultMonitorConfig(dir);
    }
    throw err;
  }
  return parseMonitorConfig(text, file, dir);
}

async function exec(cmd: string, args: string[]): Promise<{ ok: boolean; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "inherit",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { ok: out.success, stderr: new TextDecoder().decode(out.stderr) };
}

/** Single-quotes `s` for sh. */
function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The launcher: runs the bundle with the runtime next to it (or `deno` on PATH), same flags. */
function launcher(flags: string[]): string {
  return `#!/bin/sh
# ${EXECUTABLE} launcher, written by \`deno task compile\` because \`deno compile\` could not get
# its runtime (denort). It runs the bundled daemon with the permission flags below, computed
# for one configuration by lib/permissions.ts, and nothing more: never -A.
set -eu
here=$(dirname "$(readlink -f "$0")")
for lib in "$here/${LIB_DIR}" "$here/../lib/${LIB_DIR}"; do
  [ -f "$lib/daemon.js" ] && break
done
if [ ! -f "$lib/daemon.js" ]; then
  echo "${EXECUTABLE}: daemon.js not found in $here/${LIB_DIR} or $here/../lib/${LIB_DIR}" >&2
  exit 1
fi
deno="$lib/deno"
[ -x "$deno" ] || deno=$(command -v deno) || {
  echo "${EXECUTABLE}: no Deno runtime at $lib/deno nor on PATH" >&2
  exit 1
}
export DENO_NO_UPDATE_CHECK=1
exec "$deno" run --quiet --no-config --no-lock --no-remote --no-prompt --cached-only \\
  ${flags.map(shQuote).join(" \\\n  ")} \\
  "$lib/daemon.js" "$@"
`;
}

/** Builds the executable; see the module documentation. */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const log = options.log ?? (() => {});
  const configDir = resolve(options.configDir);
  const output = resolve(options.output);
  const config = await monitorConfig(configDir, log);
  const flags = permissionFlags(
    config,
    configDir,
    options.systemd ?? true ? { ...SYSTEMD_PATHS } : {},
  );
  log(`permissions for ${configDir}: ${flags.join(" ")}`);
  await Deno.mkdir(output, { recursive: true });
  const executable = `${output}/${EXECUTABLE}`;
  const lib = `${output}/${LIB_DIR}`;
  // A previous build of the other kind must not linger.
  await Deno.remove(executable).catch(() => {});
  await Deno.remove(lib, { recursive: true }).catch(() => {});

  let fallbackReason = "--bundle was given";
  if (!options.bundle) {
    const denort = Deno.env.get("DENORT_BIN");
    log(`deno compile${denort ? ` (DENORT_BIN=${denort})` : ""}`);
    const r = await exec(Deno.execPath(), [
      "compile",
      "--quiet",
      "--no-prompt",
      ...flags,
      "--output",
      executable,
      MAIN,
    ]);
    if (r.ok) return { mode: "compiled", executable, flags };
    const lines = r.stderr.trim().split("\n").filter((l) => !/^\s*\d+: <unknown>$/.test(l));
    const cause = lines.find((l) => /denort|dl\.deno\.land/.test(l)) ?? lines.at(-1) ?? "";
    fallbackReason = `deno compile failed: ${cause.trim()}`;
    log(fallbackReason);
    log("building the bundle and launcher instead");
  }
  await Deno.mkdir(lib, { recursive: true });
  const bundled = await exec(Deno.execPath(), [
    "bundle",
    "--quiet",
    "--output",
    `${lib}/daemon.js`,
    MAIN,
  ]);
  if (!bundled.ok) throw new Error(`deno bundle failed:\n${bundled.stderr}`);
  await Deno.copyFile(Deno.execPath(), `${lib}/deno`);
  await Deno.chmod(`${lib}/deno`, 0o755);
  await Deno.writeTextFile(executable, launcher(flags), { mode: 0o755 });
  await Deno.chmod(executable, 0o755);
  return { mode: "bundle+launcher", executable, flags, fallbackReason };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "config-dir": { type: "string", default: "/etc/postgres_monitor" },
      output: { type: "string", default: `${ROOT}/dist` },
      "no-systemd": { type: "boolean", default: false },
      bundle: { type: "boolean", default: false },
    },
  });
  try {
    const result = await build({
      configDir: values["config-dir"],
      output: values.output,
      systemd: !values["no-systemd"],
      bundle: values.bundle,
      log: (line) => console.log(`compile: ${line}`),
    });
    if (result.mode === "compiled") {
      console.log(`compile: built ${result.executable} (self-contained, flags baked in)`);
    } else {
      console.log(
        `compile: built ${result.executable}, a launcher for ${values.output}/${LIB_DIR}/daemon.js` +
          ` run by the Deno runtime copied next to it, with the same flags` +
          ` (${result.fallbackReason}; set DENORT_BIN to a denort ${Deno.version.deno} to get` +
          ` one self-contained file)`,
      );
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      Deno.exit(2);
    }
    console.error(`compile: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
