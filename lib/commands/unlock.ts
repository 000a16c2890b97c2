/**
 * `unlock ROLE`: ends the daemon's lock on a role, after measuring it as the daemon does
 * (lib/measure/snapshot.ts). It does not need the daemon to be running; a running one is told.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { sqlFile } from "../db/sql_files.ts";
import { Enforcer } from "../enforce/enforcer.ts";
import { measureSnapshot, type Snapshot } from "../measure/snapshot.ts";
import { LOCKS_CHANGED } from "../watch/payload.ts";
import { EXIT } from "./exit.ts";
import { withTrustedControl } from "./control.ts";

/** Raised by {@linkcode unlock} when it refuses; the message says why. */
export class UnlockRefusedError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UnlockRefusedError";
  }
}

/**
 * Ends the daemon's lock on `role` (for `manual_unlock` roles, or any locked role). Refuses an
 * unknown or unlocked role, and a role still over its hard limit (the daemon would lock it again
 * at once): free space as an administrator or raise the limit and reload first.
 */
export async function unlock(
  config: Config,
  role: string,
  options: { actor: string },
): Promise<string> {
  return await withTrustedControl(config, async (control, target) => {
    const [found] = await control.unsafe(sqlFile("role_oid"), [role]);
    if (!found) throw new UnlockRefusedError(`Cannot unlock '${role}': no such role`);
    const oid = Number(found.oid);
    const refused = unlockRefusal(role, oid, await measureSnapshot(config, target, control));
    if (refused !== undefined) throw new UnlockRefusedError(refused);
    const result = await new Enforcer(control, { dryRun: false }).unlock(
      oid,
      options.actor,
      "manual unlock",
    );
    // Tell a running daemon at once (it would notice at the next sweep anyway).
    await control.unsafe(sqlFile("announce_locks"), [config.monitor.listen_channel, LOCKS_CHANGED]);
    return result;
  });
}

/**
 * Why `role` (oid `oid`) must not be unlocked on what `snapshot` measured, or undefined when it
 * may: it is not locked, its usage could not be measured completely, or it is still over its
 * hard limit (the daemon would lock it again at once).
 */
export function unlockRefusal(role: string, oid: number, snapshot: Snapshot): string | undefined {
  const { limits, charges, usage: usageOf, locks, busy, failed } = snapshot;
  if (!locks.has(oid)) return `Cannot unlock '${role}': it is not locked by this daemon`;
  // An unmeasured relation or database could hide usage: do not unlock on a partial view.
  // Busy relations of a group charged to the role hide its usage just as well.
  const busyHere = (charges.contributors.get(oid) ?? [oid]).reduce(
    (n, o) => n + (busy.get(o) ?? 0),
    0,
  );
  if (failed.length > 0 || busyHere > 0) {
    return `Cannot unlock '${role}' now: its usage could not be measured completely (` +
      [...failed, ...(busyHere > 0 ? [`${busyHere} table(s) locked exclusively`] : [])]
        .join("; ") +
      "); try again";
  }
  const limit = limits.get(oid);
  const usage = usageOf(oid);
  if (limit && usage > limit.limit.hard_limit) {
    return `Cannot unlock '${role}': usage ${usage} B is still over its hard limit ` +
      `${limit.limit.hard_limit} B and the daemon would lock it again; free space or raise ` +
      `the limit (and reload the daemon) first`;
  }
  return undefined;
}

/**
 * The `unlock ROLE` command: unlocks `role` as `actor` (who ran it), says what it did through
 * `out`, and returns the exit code; throws {@linkcode UnlockRefusedError} when it refuses.
 */
export async function unlockCommand(
  config: Config,
  role: string,
  options: { actor: string; out: (text: string) => void },
): Promise<number> {
  const result = await unlock(config, role, { actor: `unlock command (${options.actor})` });
  options.out(
    result === "unlocked"
      ? `Unlocked '${role}'`
      : `Released the lock on '${role}' (LOGIN was not restored: it was off before)`,
  );
  return EXIT.ok;
}
