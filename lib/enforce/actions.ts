/**
 * Carrying out decisions: events for warnings, locking (NOLOGIN, then sessions terminated, then
 * writers into the role's relations stopped) and unlocking, with their log and syslog lines and
 * counters; and stopping writers into a locked role's relations when they are seen writing.
 *
 * @module
 */
import type { Decision, RoleState } from "../evaluate/evaluator.ts";
import type { EffectiveLimit } from "../evaluate/resolve.ts";
import type { AlertPump } from "../report/alerts/pump.ts";
import { errorMessage, type Logger } from "../report/log.ts";
import type { StatusReport } from "../report/status.ts";
import type { Syslog } from "../report/syslog.ts";
import type { Sql } from "../db/connect.ts";
import type { Enforcer } from "./enforcer.ts";

/** What stopping writers reads of a watched database (lib/watch/database.ts has the rest). */
export interface WriterDatabase {
  /** Database name. */
  name: string;
  /** Pool to signal writers through. */
  sql: Sql;
  /** Whether postgres_monitor is installed there (needed to signal other roles' backends). */
  installed: boolean;
}
import { type StoppedWriter, WriterStopper } from "./writers.ts";

/** What carrying out decisions reads and calls. */
export interface ActionsContext {
  /** Locks, unlocks, terminates and records events. */
  enforcer: Enforcer;
  /** Log sink. */
  log: Logger;
  /** Syslog, when enabled. */
  syslog?: Syslog;
  /** Counters and the detection-lag histogram. */
  status: StatusReport;
  /** The alert pump (dry-run alerts, a pass after writers were stopped). */
  alerts?: AlertPump;
  /** Sends new event-log rows to the alert queue. */
  pumpAlerts: () => Promise<void>;
  /** The limited roles. */
  limits: () => ReadonlyMap<number, EffectiveLimit>;
  /** Every role's state. */
  states: ReadonlyMap<number, RoleState>;
  /** A role's state (created when missing). */
  state: (oid: number) => RoleState;
  /** Databases where a limited role owns something, when known. */
  owned: (oid: number) => Set<string> | undefined;
  /** The watched databases by name. */
  databases: () => ReadonlyMap<string, WriterDatabase>;
  /** Runs a task nobody awaits, logging what it throws. */
  detach: (task: string, promise: Promise<unknown>) => void;
}

/** The settings carrying out decisions uses (a reload may change them). */
export interface ActionsSettings {
  /** Say what would be done; lock, unlock and stop nothing. */
  dryRun: boolean;
}

/** Carries out decisions and stops writers into locked roles' relations. */
export class Actions {
  #ctx: ActionsContext;
  #log: Logger;
  #settings: ActionsSettings = { dryRun: false };
  /** Stops other roles' writes into locked roles' relations (lib/enforce/writers.ts). */
  #writers = new WriterStopper();
  /** Bumped whenever this daemon locks or unlocks a role; see lib/enforce/reconcile.ts. */
  #lockVersion = new Map<number, number>();

  /** Creates the stage; {@linkcode configure} gives it its settings. */
  constructor(ctx: ActionsContext) {
    this.#ctx = ctx;
    this.#log = ctx.log;
  }

  /** Applies the settings (at start and on reload). */
  configure(settings: ActionsSettings): void {
    this.#settings = settings;
  }

  /** How many times this daemon locked or unlocked each role. */
  get lockVersion(): ReadonlyMap<number, number> {
    return this.#lockVersion;
  }

  /**
   * Carries out one decision: the event first, then the lock or unlock, log and syslog lines,
   * counters. Returns false (logged) when it could not be carried out or recorded.
   */
  async carryOut(d: Decision, since?: number): Promise<boolean> {
    const base = {
      role: d.role,
      usage_bytes: d.usage,
      soft_limit: d.soft,
      hard_limit: d.hard,
      dry_run: this.#settings.dryRun || undefined,
    };
    const state = this.#ctx.state(d.oid);
    try {
      switch (d.kind) {
        // The event first: a warning that cannot be recorded is retried, and said once.
        case "soft_exceeded":
          await this.#ctx.enforcer.logEvent(d);
          this.#log.warn("soft limit exceeded", base);
          this.#ctx.syslog?.send(
            "warning",
            `User '${d.role}' exceeded soft limit: usage ${d.usage} bytes, soft limit ${d.soft} bytes`,
          );
          break;
        case "soft_cleared":
          await this.#ctx.enforcer.logEvent(d);
          this.#log.info("back under soft limit", base);
          this.#ctx.syslog?.send(
            "info",
            `User '${d.role}' is back under soft limit: usage ${d.usage} bytes`,
          );
          break;
        case "hard_exceeded":
          await this.#ctx.enforcer.logEvent(d);
          this.#log.warn("hard limit exceeded", {
            ...base,
            grace_s: this.#ctx.limits().get(d.oid)?.limit.hard_grace_period,
          });
          break;
        case "lock": {
          const r = await this.#ctx.enforcer.lock(d);
          this.#lockVersion.set(d.oid, (this.#lockVersion.get(d.oid) ?? 0) + 1);
          state.locked = true;
          state.lockedManual = d.manualUnlock;
          state.overHardSince = undefined;
          const lagMs = since === undefined ? undefined : Date.now() - since;
          if (lagMs !== undefined && !this.#settings.dryRun) {
            this.#ctx.status.lag.observe(lagMs / 1000);
          }
          this.#log.error(this.#settings.dryRun ? "dry run: would lock role" : "role locked", {
            ...base,
            result: r.result,
            sessions_terminated: r.sessions,
            manual_unlock: d.manualUnlock,
            nologin_ms: Math.round(r.nologinMs),
            terminated_ms: Math.round(r.terminatedMs),
            lag_ms: lagMs,
          });
          this.#ctx.syslog?.send(
            "crit",
            `${
              this.#settings.dryRun ? "DRY RUN: would lock" : "Locked"
            } user '${d.role}': usage ${d.usage} bytes exceeds hard limit ${d.hard} bytes; ${r.sessions} session(s) terminated${
              d.manualUnlock ? "; manual unlock required" : ""
            }`,
          );
          this.#ctx.status.count("lock");
          if (r.sessions > 0) this.#ctx.status.count("sessions_terminated", r.sessions);
          if (!this.#settings.dryRun) await this.#stopWriters(d.oid, this.#ctx.owned(d.oid), true);
          break;
        }
        case "unlock": {
          const r = await this.#ctx.enforcer.unlock(d.oid, null, d.reason);
          this.#writers.forget(d.oid);
          this.#lockVersion.set(d.oid, (this.#lockVersion.get(d.oid) ?? 0) + 1);
          state.locked = false;
          state.lockedManual = false;
          state.belowHardSince = undefined;
          this.#log.info(this.#settings.dryRun ? "dry run: would unlock role" : "role unlocked", {
            ...base,
            result: r,
          });
          this.#ctx.syslog?.send(
            "info",
            `${
              this.#settings.dryRun ? "DRY RUN: would unlock" : "Unlocked"
            } user '${d.role}': usage ${d.usage} bytes is under hard limit ${d.hard} bytes`,
          );
          break;
        }
      }
      if (d.kind !== "lock") this.#ctx.status.count(d.kind);
      if (this.#settings.dryRun) await this.#ctx.alerts?.dryRunAlert(d);
      return true;
    } catch (err) {
      this.#log.error("cannot carry out decision, will retry", {
        ...base,
        decision: d.kind,
        error: errorMessage(err),
      });
      return false;
    }
  }

  /**
   * Relations of these owners were just measured in `db` because they were seen written (a
   * notification, the hot set, the pg_locks watch, the counter check): for each owner that is
   * locked, stop whoever writes into its relations there (throttled per database and role).
   */
  writtenWhileLocked(db: WriterDatabase, owners: Iterable<number>) {
    if (this.#settings.dryRun || !db.installed) return;
    for (const oid of new Set(owners)) {
      if (this.#ctx.states.get(oid)?.locked) {
        this.#ctx.detach("stop writers", this.#stopWriters(oid, [db.name], false));
      }
    }
  }

  /**
   * Cancels the statements of sessions writing into relations of locked role `oid` in `dbNames`
   * (every connected database when undefined), whoever they belong to; logs each session and
   * records one `writers_stopped` event per database. Needs postgres_monitor in the database:
   * elsewhere the monitoring role may not signal other roles' backends. Never throws.
   */
  async #stopWriters(oid: number, dbNames: Iterable<string> | undefined, force: boolean) {
    const role = this.#ctx.limits().get(oid)?.role.name ?? String(oid);
    const dbs = [...(dbNames ?? this.#ctx.databases().keys())]
      .map((name) => this.#ctx.databases().get(name))
      .filter((db): db is WriterDatabase => db !== undefined && db.installed);
    await Promise.all(dbs.map(async (db) => {
      let rows: StoppedWriter[] | undefined;
      try {
        rows = await this.#writers.stop(db.sql, db.name, oid, { force });
      } catch (err) {
        this.#log.warn("cannot stop writers into a locked role's relations", {
          role,
          database: db.name,
          error: errorMessage(err),
        });
        return;
      }
      const stopped = (rows ?? []).filter((w) => w.action !== "gone");
      if (stopped.length === 0) return;
      for (const w of stopped) {
        this.#log.error("stopped a session writing into a locked role's relations", {
          role,
          database: db.name,
          writer: w.role,
          pid: w.pid,
          action: w.action,
          state: w.state,
          relations: w.relations,
        });
      }
      this.#ctx.status.count("writers_stopped", stopped.length);
      const list = stopped.map((w) => `pid ${w.pid} (${w.role}, ${w.action}, on ${w.relations})`);
      const reason = `${stopped.length} session(s) writing into relations of locked role ` +
        `${role} in database ${db.name} stopped: ${list.join("; ")}`;
      this.#ctx.syslog?.send("crit", reason);
      await this.#ctx.enforcer.logEvent({ kind: "writers_stopped", oid, role, reason })
        .catch((err) =>
          this.#log.warn("cannot record stopped writers", { error: errorMessage(err) })
        );
      this.#ctx.detach("send alerts", this.#ctx.pumpAlerts());
    }));
  }
}
