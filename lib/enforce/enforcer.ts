/**
 * Carries out decisions against the control database through the SECURITY DEFINER functions of
 * sql/install_control.sql: lock (NOLOGIN, committed first), then terminate sessions, unlock, and
 * the append-only event log. In dry run it changes nothing and says what it would have done.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";
import type { Decision } from "../evaluate/evaluator.ts";

/** A lock held by this daemon (sql/load_locks.sql). */
export interface LockRow {
  /** Role oid. */
  oid: number;
  /** Role name when locked. */
  name: string;
  /** When locked. */
  locked_at: Date;
  /** Why. */
  reason: string;
  /** Usage when locked. */
  usage_bytes: number;
  /** Needs `unlock ROLE`. */
  manual_unlock: boolean;
  /** rolcanlogin before the lock. */
  prior_canlogin: boolean;
  /** The role still exists. */
  role_exists: boolean;
  /** rolcanlogin now. */
  can_login: boolean;
  /** Live client sessions of the role. */
  sessions: number;
}

/** Result of {@linkcode Enforcer.lock}. */
export interface LockResult {
  /** 'locked', 'already_locked' or 'dry_run'. */
  result: string;
  /** Sessions terminated. */
  sessions: number;
  /** ms from the start of the call to NOLOGIN committed. */
  nologinMs: number;
  /** ms from the start of the call to sessions terminated. */
  terminatedMs: number;
}

/** Lock, unlock and event-log operations. */
export class Enforcer {
  #sql: Sql;
  #dryRun: boolean;

  /** Creates an enforcer on a control-database pool. */
  constructor(sql: Sql, options: { dryRun: boolean }) {
    this.#sql = sql;
    this.#dryRun = options.dryRun;
  }

  /** True when nothing is changed. */
  get dryRun(): boolean {
    return this.#dryRun;
  }

  /** Switches dry run on or off (on reload). */
  set dryRun(value: boolean) {
    this.#dryRun = value;
  }

  /** NOLOGIN (one transaction, committed), then terminate the role's sessions (another). */
  async lock(d: Decision): Promise<LockResult> {
    const t0 = performance.now();
    if (this.#dryRun) return { result: "dry_run", sessions: 0, nologinMs: 0, terminatedMs: 0 };
    const [row] = await this.#sql.unsafe(
      sqlFile("lock_role"),
      [d.oid, d.usage, d.soft, d.hard, d.manualUnlock, d.reason],
    );
    const nologinMs = performance.now() - t0;
    const sessions = await this.terminate(d.oid);
    return {
      result: String(row?.result),
      sessions,
      nologinMs,
      terminatedMs: performance.now() - t0,
    };
  }

  /** Terminates the client sessions of a locked role; returns how many. */
  async terminate(oid: number): Promise<number> {
    if (this.#dryRun) return 0;
    const [row] = await this.#sql.unsafe(sqlFile("terminate_sessions"), [oid]);
    return Number(row?.n ?? 0);
  }

  /**
   * Ends a lock: 'unlocked', 'released' (LOGIN left alone) or 'not_locked'. `actor` goes to the
   * event log; null records the connected role (the daemon's own actions).
   */
  async unlock(oid: number, actor: string | null, reason: string): Promise<string> {
    if (this.#dryRun) return "dry_run";
    const [row] = await this.#sql.unsafe(sqlFile("unlock_role"), [oid, actor, reason]);
    return String(row?.result);
  }

  /** Appends a soft_exceeded / soft_cleared / hard_exceeded / tamper event. */
  async logEvent(
    d: Decision | {
      kind: string;
      oid: number | null;
      role: string;
      usage?: number;
      soft?: number;
      hard?: number;
      reason: string;
    },
  ): Promise<void> {
    if (this.#dryRun) return;
    await this.#sql.unsafe(
      sqlFile("log_event"),
      [d.oid, d.role, d.kind, d.usage ?? null, d.soft ?? null, d.hard ?? null, d.reason],
    );
  }

  /** The locks this daemon holds. */
  async loadLocks(): Promise<LockRow[]> {
    return await this.#sql.unsafe(sqlFile("load_locks")) as unknown as LockRow[];
  }

  /** The latest soft-limit event per role: warned (with time) or cleared. */
  async loadSoftWarnings(): Promise<Map<number, { event: string; at: Date }>> {
    const rows = await this.#sql.unsafe(sqlFile("last_soft_warnings"));
    const map = new Map<number, { event: string; at: Date }>();
    for (const r of rows) map.set(Number(r.oid), { event: String(r.event), at: r.at as Date });
    return map;
  }
}
