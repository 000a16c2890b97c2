/**
 * Lock reconciliation: the lock rows in the control database against reality. It finishes
 * interrupted locks (terminates sessions that slipped in), forgets the locks of dropped roles, and
 * honours locks ended by hand (LOGIN restored, lock row deleted).
 *
 * @module
 */
import type { RoleState } from "../evaluate/evaluator.ts";
import type { EffectiveLimit } from "../evaluate/resolve.ts";
import type { Logger } from "../report/log.ts";
import type { Enforcer } from "./enforcer.ts";

/** What {@linkcode reconcileLocks} reads and updates. */
export interface ReconcileContext {
  /** Reads the lock table and carries out unlocks and terminations. */
  enforcer: Enforcer;
  /** Log sink. */
  log: Logger;
  /** The limited roles, for names in log lines. */
  limits: ReadonlyMap<number, EffectiveLimit>;
  /** Every role's state; updated in place. */
  states: Map<number, RoleState>;
  /** A role's state, created when missing. */
  state: (oid: number) => RoleState;
  /** Roles whose decisions are being carried out right now. */
  inflight: ReadonlySet<number>;
  /** Bumped whenever this daemon locks or unlocks a role. */
  lockVersion: ReadonlyMap<number, number>;
  /** Adds to an action counter (metrics). */
  count: (action: string, n?: number) => void;
}

/** Lock rows vs reality: finish interrupted locks, forget vanished roles, honour unlocks. */
export async function reconcileLocks(ctx: ReconcileContext): Promise<void> {
  const { enforcer, log } = ctx;
  // The snapshot may be older than a lock or unlock carried out meanwhile: such roles keep the
  // state their own decision gave them (the next sweep looks again).
  const versions = new Map(ctx.lockVersion);
  const locks = await enforcer.loadLocks();
  const stale = (oid: number) =>
    ctx.inflight.has(oid) || ctx.lockVersion.get(oid) !== versions.get(oid);
  const lockedOids = new Set<number>();
  for (const l of locks) {
    if (stale(l.oid)) {
      lockedOids.add(l.oid);
      continue;
    }
    if (!l.role_exists) {
      await enforcer.unlock(l.oid, null, "role was dropped");
      log.info("forgot the lock of a dropped role", { role: l.name });
      continue;
    }
    if (l.can_login) {
      // An administrator restored LOGIN by hand: that ends our lock. If the role is still
      // over its hard limit, evaluation locks it again.
      const r = await enforcer.unlock(l.oid, null, "LOGIN was restored outside the daemon");
      log.warn("lock ended outside the daemon (LOGIN restored by hand)", {
        role: l.name,
        result: r,
      });
      const s = ctx.state(l.oid);
      s.locked = false;
      s.lockedManual = false;
      continue;
    }
    lockedOids.add(l.oid);
    const s = ctx.state(l.oid);
    s.locked = true;
    s.lockedManual = l.manual_unlock;
    if (l.sessions > 0) {
      // A lock whose session termination was interrupted (or a session that slipped in).
      const n = await enforcer.terminate(l.oid);
      log.warn("terminated sessions of a locked role", { role: l.name, sessions: n });
      ctx.count("sessions_terminated", n);
    }
  }
  for (const [oid, s] of ctx.states) {
    if (s.locked && !lockedOids.has(oid) && !stale(oid)) {
      s.locked = false;
      s.lockedManual = false;
      s.belowHardSince = undefined;
      log.info("lock was released by hand", {
        role: ctx.limits.get(oid)?.role.name ?? String(oid),
      });
    }
  }
}
