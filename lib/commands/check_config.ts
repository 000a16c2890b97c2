/**
 * `check-config` and `permissions`: what a configuration needs of this process. `run` checks the
 * same before it starts ({@linkcode permissionProblem}).
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import {
  missingPermissions,
  permissionFlags,
  type PermissionOptions,
  requiredPermissions,
  SYSTEMD_PATHS,
} from "../permissions.ts";
import { EXIT, fail } from "./exit.ts";

/** The permissions this process needs at run time: the environment says where systemd put things. */
function runtimeOptions(pidFile: string | undefined): PermissionOptions {
  // Without env permission the variable counts as unset: the check then names that flag.
  const env = (variable: string) =>
    Deno.permissions.querySync({ name: "env", variable }).state === "granted"
      ? Deno.env.get(variable) || undefined
      : undefined;
  const notifySocket = env("NOTIFY_SOCKET");
  return {
    pidFile,
    credentialsDir: env("CREDENTIALS_DIRECTORY"),
    notifySocket: notifySocket?.startsWith("/") ? notifySocket : undefined,
  };
}

/**
 * An error message naming the permissions this process lacks for `config` (an executable
 * compiled for another configuration), or undefined when it has them all.
 */
export function permissionProblem(config: Config, pidFile: string | undefined): string | undefined {
  const missing = missingPermissions(
    requiredPermissions(config.monitor, config.dir, runtimeOptions(pidFile)),
  );
  if (missing.length === 0) return undefined;
  return [
    `This executable lacks permissions that the configuration in '${config.dir}' needs:`,
    ...missing.map((flag) => `  ${flag}`),
    `Rebuild it for this configuration: deno task compile --config-dir ${config.dir}`,
  ].join("\n");
}

/**
 * The `check-config` command: the configuration is valid (it loaded) and this process has the
 * permissions it needs; says so through `out` and returns the exit code.
 */
export function checkConfigCommand(
  config: Config,
  options: { pidFile: string | undefined; out: (text: string) => void },
): number {
  const groups = config.limits.filter((l) => l.member_of !== undefined).length;
  // Valid is not enough: this executable must also be allowed what the config needs.
  const problem = permissionProblem(config, options.pidFile);
  if (problem !== undefined) return fail(problem, EXIT.usage);
  options.out(
    `Configuration in '${config.dir}' is valid: ${
      config.limits.length - groups
    } user limit(s), ${groups} group limit(s)`,
  );
  return EXIT.ok;
}

/**
 * The `permissions` command: prints the Deno permission flags `config` needs (with `systemd`, for
 * the unit in systemd/) and returns the exit code.
 */
export function permissionsCommand(
  config: Config,
  options: { systemd: boolean; pidFile: string | undefined; out: (text: string) => void },
): number {
  const paths: PermissionOptions = options.systemd
    ? { ...SYSTEMD_PATHS, pidFile: options.pidFile ?? SYSTEMD_PATHS.pidFile }
    : { pidFile: options.pidFile };
  options.out(permissionFlags(config.monitor, config.dir, paths).join(" "));
  return EXIT.ok;
}
