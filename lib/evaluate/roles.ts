/**
 * Role evaluation: each limited role's state between evaluations, the set of roles to evaluate
 * again (dirty), the evaluation loop (decisions for one role in order, roles in parallel), the
 * completeness rule (never relax on a partial view), retries and the wake timer for grace periods.
 *
 * @module
 */
import { measuredWhereOwned } from "../measure/role_databases.ts";
import { affectedRoles, type ChargePlan } from "./charges.ts";
import { type Decision, evaluate, initialState, type RoleState } from "./evaluator.ts";
import type { EffectiveLimit } from "./resolve.ts";
import { keepUnsent } from "./unsent.ts";

/** Retry delay for a decision that could not be carried out. */
const RETRY_MS = 1000;

/** What role evaluation reads and calls. */
export interface RolesContext {
  /** The limited roles. */
  limits: () => ReadonlyMap<number, EffectiveLimit>;
  /** Whose storage is charged to which limited role. */
  charges: () => ChargePlan;
  /** A limited role's charged usage, bytes. */
  usage: (oid: number) => number;
  /** Databases where an owner owns something, when known. */
  owned: (oid: number) => Set<string> | undefined;
  /** Watched databases by name; measuredAt 0: not measured in full since (re)connect. */
  databases: () => ReadonlyMap<string, { measuredAt: number }>;
  /** Carries out one decision; false when it could not be (it is retried). */
  carryOut: (d: Decision, since?: number) => Promise<boolean>;
  /** Sends new event-log rows to the alert queue. */
  pumpAlerts: () => Promise<void>;
  /** Writes the metrics textfile soon. */
  scheduleMetrics: () => void;
  /** Runs a task nobody awaits, logging what it throws. */
  detach: (task: string, promise: Promise<unknown>) => void;
  /** True once the daemon stops. */
  stopped: () => boolean;
}

/** The settings role evaluation uses (a reload may change them). */
export interface RolesSettings {
  /** Least time between two soft-limit warnings of one role, ms. */
  softWarningIntervalMs: number;
}

/** Role states, the dirty set and the evaluation loop. */
export class Roles {
  /** Every role's state between evaluations. */
  readonly states: Map<number, RoleState> = new Map();
  /** Roles whose decisions are being carried out right now. */
  readonly inflight: Set<number> = new Set();
  #ctx: RolesContext;
  #settings: RolesSettings = { softWarningIntervalMs: 0 };
  #dirty = new Set<number>();
  /** Earliest notification time per dirty role, for the lag figures. */
  #notifyTimes = new Map<number, number>();
  #evaluating = false;
  /** Set once a sweep has loaded the lock table; evaluations wait for it. */
  #locksKnown = false;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #wakeTimer?: ReturnType<typeof setTimeout>;
  #wakeAt = Infinity;

  /** Creates the stage; {@linkcode configure} gives it its settings. */
  constructor(ctx: RolesContext) {
    this.#ctx = ctx;
  }

  /** Applies the settings (at start and on reload). */
  configure(settings: RolesSettings): void {
    this.#settings = settings;
  }

  /** A role's state, created when missing. */
  state(oid: number): RoleState {
    let s = this.states.get(oid);
    if (!s) this.states.set(oid, s = initialState());
    return s;
  }

  /** Marks a role (or an owner charged to roles) to be evaluated again. */
  touch(oid: number): void {
    this.#dirty.add(oid);
  }

  /** Marks `oid` dirty because of a change seen at `since` (ms), for the lag figures. */
  markDirty(oid: number, since: number): void {
    this.#dirty.add(oid);
    if (!this.#notifyTimes.has(oid)) this.#notifyTimes.set(oid, since);
  }

  /** Soft warnings found in the event log (at start): not repeated, and cleared when due. */
  restoreSoftWarnings(warned: ReadonlyMap<number, { event: string; at: Date }>): void {
    for (const [oid, w] of warned) {
      if (w.event !== "soft_exceeded") continue;
      const s = this.state(oid);
      s.overSoft = true;
      s.lastSoftWarningAt = w.at.getTime();
    }
  }

  /** The lock table has been read: evaluations may decide from now on. */
  locksLoaded(): void {
    this.#locksKnown = true;
  }

  /** Evaluates every dirty role; decisions for one role run in order, roles in parallel. */
  async run(): Promise<void> {
    // Until the first sweep has read which roles are locked, a role over its limit would be
    // locked (and logged, and alerted) a second time: its decision waits for that sweep.
    if (this.#evaluating || !this.#locksKnown) return;
    this.#evaluating = true;
    try {
      while (this.#dirty.size > 0 && !this.#ctx.stopped()) {
        this.#spreadDirty();
        const batch = [...this.#dirty].filter((oid) => !this.inflight.has(oid));
        for (const oid of batch) this.#dirty.delete(oid);
        if (batch.length === 0) break;
        await Promise.all(batch.map((oid) => this.#evaluateRole(oid)));
      }
    } finally {
      this.#evaluating = false;
    }
    this.#ctx.detach("send alerts", this.#ctx.pumpAlerts());
    this.#ctx.scheduleMetrics();
  }

  /**
   * A dirty owner makes every limited role charged for it dirty (a group's members, a shared
   * budget's members), with the earliest notification time for the lag figures.
   */
  #spreadDirty() {
    for (const oid of [...this.#dirty]) {
      const since = this.#notifyTimes.get(oid);
      for (const d of affectedRoles(this.#ctx.charges(), [oid])) {
        this.#dirty.add(d);
        if (since !== undefined && since < (this.#notifyTimes.get(d) ?? Infinity)) {
          this.#notifyTimes.set(d, since);
        }
      }
      if (!this.#ctx.limits().has(oid)) {
        this.#dirty.delete(oid);
        this.#notifyTimes.delete(oid);
      }
    }
  }

  /**
   * Every database where `oid`, or an owner charged to it, owns something is measured: its
   * usage is not a partial view.
   */
  #complete(oid: number): boolean {
    const measured = (name: string) => (this.#ctx.databases().get(name)?.measuredAt ?? 0) > 0;
    return (this.#ctx.charges().contributors.get(oid) ?? [oid]).every((o) =>
      measuredWhereOwned(this.#ctx.owned(o), this.#ctx.databases().keys(), measured)
    );
  }

  async #evaluateRole(oid: number) {
    const limit = this.#ctx.limits().get(oid);
    if (!limit) return;
    const since = this.#notifyTimes.get(oid);
    this.#notifyTimes.delete(oid);
    const usage = this.#ctx.usage(oid);
    const now = Date.now();
    const before = { ...this.state(oid) };
    const result = evaluate({
      usage,
      limit,
      state: this.state(oid),
      now,
      softWarningIntervalMs: this.#settings.softWarningIntervalMs,
    });
    // With a database unmeasured, usage may be low: never relax on a partial view.
    const partial = !this.#complete(oid);
    const decisions = result.decisions.filter((d) =>
      !(partial && (d.kind === "unlock" || d.kind === "soft_cleared"))
    );
    if (partial && decisions.length !== result.decisions.length) {
      result.state.belowHardSince = this.state(oid).belowHardSince;
      result.state.overSoft = this.state(oid).overSoft;
      result.state.softSilent = this.state(oid).softSilent;
    }
    this.states.set(oid, result.state);
    if (result.wakeAt !== undefined) this.#scheduleWake(result.wakeAt);
    if (decisions.length === 0) return;
    this.inflight.add(oid);
    try {
      for (const [i, d] of decisions.entries()) {
        const ok = await this.#ctx.carryOut(d, since);
        if (!ok) {
          // Not recorded: the state goes back for this decision and those after it, so the next
          // evaluation decides them again (a warning is retried, not lost).
          const unsent = decisions.slice(i).map((x) => x.kind);
          this.states.set(oid, keepUnsent(this.state(oid), before, unsent));
          // Applied or retried: evaluate the role again shortly; the evaluator repeats the
          // decision while the state it wants is not reached.
          const t = setTimeout(() => {
            this.#timers.delete(t);
            this.#dirty.add(oid);
            this.#ctx.detach("evaluate", this.run());
          }, RETRY_MS);
          this.#timers.add(t);
          break;
        }
      }
    } finally {
      this.inflight.delete(oid);
    }
  }

  /** Evaluates every limited role again at `at` (ms), unless an earlier wake is due. */
  #scheduleWake(at: number) {
    if (at >= this.#wakeAt) return;
    this.#wakeAt = at;
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = setTimeout(() => {
      this.#wakeAt = Infinity;
      for (const oid of this.#ctx.limits().keys()) this.#dirty.add(oid);
      this.#ctx.detach("evaluate", this.run());
    }, Math.max(0, at - Date.now()));
  }

  /** Cancels the wake and retry timers. */
  stop(): void {
    clearTimeout(this.#wakeTimer);
    for (const t of this.#timers) clearTimeout(t);
  }
}
