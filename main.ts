/**
 * postgres_realtime_monitor_daemon: per-role storage limits for PostgreSQL.
 *
 * This file only parses arguments and wires modules together; see lib/ for the work.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./lib/config/mod.ts";
import { install, uninstall } from "./lib/commands/admin.ts";
import { EXIT, fail } from "./lib/commands/exit.ts";
import { checkConfigCommand, permissionsCommand } from "./lib/commands/check_config.ts";
import { runDaemon } from "./lib/commands/run.ts";
import { statusCommand } from "./lib/commands/status.ts";
import { unlockCommand, UnlockRefusedError } from "./lib/commands/unlock.ts";
import { errorMessage } from "./lib/report/log.ts";
import { VERSION } from "./lib/version.ts";

const DEFAULT_CONFIG_DIR = "/etc/postgres_monitor";

const USAGE = `postgres_realtime_monitor_daemon ${VERSION}: per-role storage limits for PostgreSQL

Usage: postgres_realtime_monitor_daemon [COMMAND] [OPTIONS]

Commands:
  run                 Run the daemon (default)
  install             Create the monitoring role and install sql/ in every monitored database
                      (as a superuser: --admin-user NAME [default postgres] or --admin-url URL;
                      --no-template1 to leave template1 alone)
  uninstall           Remove everything install created (--drop-role also drops the role if
                      install created it)
  status [--json]     Usage, limits and state of every limited role
  unlock ROLE         End the daemon's lock on ROLE (for manual_unlock roles)
  check-config        Validate the configuration files, and that this process has the
                      permissions they need; exit 0 (valid) or 2 (invalid)
  permissions         Print the Deno permission flags this configuration needs (--systemd:
                      for the unit in systemd/, with its credentials, notify socket and pid file)
  version             Print the version

Options:
  --config-dir DIR    Configuration directory (default ${DEFAULT_CONFIG_DIR})
  --dry-run           Decide and report, change nothing (run)
  --pid-file PATH     Use PATH instead of the config's pid_file (run; the systemd unit sets it)
  -h, --help          This help
`;

function print(text: string) {
  console.log(text);
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        "config-dir": { type: "string", default: DEFAULT_CONFIG_DIR },
        "dry-run": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        "admin-user": { type: "string" },
        "admin-url": { type: "string" },
        "no-template1": { type: "boolean", default: false },
        "drop-role": { type: "boolean", default: false },
        "pid-file": { type: "string" },
        systemd: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    return fail(`${errorMessage(err)}\n\n${USAGE}`, EXIT.usage);
  }
  const { values, positionals } = parsed;
  const [command = "run", ...rest] = positionals;
  if (values.help || command === "help") {
    print(USAGE);
    return EXIT.ok;
  }
  const configDir = values["config-dir"];
  const needsNoArgs = ["run", "install", "uninstall", "status", "check-config", "permissions"];
  if (needsNoArgs.includes(command) && rest.length > 0) {
    return fail(`Unexpected argument '${rest[0]}' for '${command}'`, EXIT.usage);
  }
  const load = async () => await loadConfig(configDir);

  try {
    switch (command) {
      case "version":
        print(VERSION);
        return EXIT.ok;
      case "run":
        return await runDaemon(configDir, values["dry-run"], values["pid-file"]);
      case "check-config":
        return checkConfigCommand(await load(), { pidFile: values["pid-file"], out: print });
      case "permissions":
        return permissionsCommand(await load(), {
          systemd: values.systemd,
          pidFile: values["pid-file"],
          out: print,
        });
      case "install":
      case "uninstall": {
        const config = await load();
        const opts = {
          url: values["admin-url"],
          user: values["admin-user"],
          template1: !values["no-template1"],
          dropRole: values["drop-role"],
          out: print,
        };
        await (command === "install" ? install(config, opts) : uninstall(config, opts));
        return EXIT.ok;
      }
      case "status":
        return await statusCommand(await load(), { json: values.json, out: print });
      case "unlock": {
        if (rest.length !== 1) return fail("Usage: unlock ROLE", EXIT.usage);
        const config = await load();
        const actor = Deno.env.get("SUDO_USER") ?? Deno.env.get("USER") ?? "unknown";
        return await unlockCommand(config, rest[0]!, { actor, out: print });
      }
      default:
        return fail(`Unknown command '${command}'\n\n${USAGE}`, EXIT.usage);
    }
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, EXIT.usage);
    if (err instanceof UnlockRefusedError) return fail(err.message, EXIT.failure);
    return fail(`Error: ${errorMessage(err)}`, EXIT.failure);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
