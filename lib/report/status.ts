/**
 * What the daemon says about itself: action counters, the metrics text (for the textfile and the
 * HTTP listener), the textfile writes, health, the per-role snapshot and the one-line status.
 *
 * @module
 */
import { type RoleState, statusOf } from "../evaluate/evaluator.ts";
import type { EffectiveLimit } from "../evaluate/resolve.ts";
import { VERSION } from "../version.ts";
import type { Health } from "./http.ts";
import { errorMessage, type Logger } from "./log.ts";
import {
  type EndpointMetrics,
  Histogram,
  type MetricsSnapshot,
  renderMetrics,
  writeTextfile,
} from "./metrics.ts";

/** Where the figures come from: the stages that own them. */
export interface StatusSources {
  /** The limited roles. */
  limits(): ReadonlyMap<number, EffectiveLimit>;
  /** A limited role's charged usage, bytes. */
  usage(oid: number): number;
  /** A limited role's charged usage by kind of storage, bytes. */
  kinds(oid: number): Record<string, number>;
  /** A role's state (created when missing). */
  state(oid: number): RoleState;
  /** Watched databases and whether their LISTEN connection is up. */
  databases(): { name: string; up: boolean }[];
  /** The control database's LISTEN connection: undefined when there is none. */
  controlListenerUp(): boolean | undefined;
  /** How many considered databases are in each state, once known. */
  databaseStates(): MetricsSnapshot["databaseStates"];
  /** The NOTIFY queue at the last read. */
  notifyQueue(): MetricsSnapshot["notifyQueue"];
  /** Alert endpoints, when any is configured. */
  alerts(): EndpointMetrics[] | undefined;
}

/** The settings reporting uses (a reload may change them). */
export interface StatusSettings {
  /** Write the metrics textfile. */
  prometheusEnabled: boolean;
  /** Where. */
  metricsFile: string;
  /** Seconds between sweeps: health allows three of them. */
  sweepInterval: number;
  /** Said in the status line. */
  dryRun: boolean;
}

/** What {@linkcode StatusReport} is built from. */
export interface StatusReportOptions {
  /** Log sink. */
  log: Logger;
  /** True once the daemon stops: no write is scheduled after that. */
  stopped: () => boolean;
  /** Runs a task nobody awaits, logging what it throws. */
  detach: (task: string, promise: Promise<unknown>) => void;
  /** Where the figures come from. */
  sources: StatusSources;
}

/** Counters, metrics, health and status of the running daemon. */
export class StatusReport {
  /** Actions carried out, by name (metrics). */
  readonly counters: Record<string, number> = {};
  /** Notification-to-lock latency. */
  readonly lag: Histogram = new Histogram();
  #log: Logger;
  #stopped: () => boolean;
  #detach: (task: string, promise: Promise<unknown>) => void;
  #sources: StatusSources;
  #settings?: StatusSettings;
  #notifications = 0;
  #lastSweepSeconds = 0;
  #lastSweepAt = 0;
  #metricsTimer?: ReturnType<typeof setTimeout>;

  /** Creates the report; {@linkcode configure} before the first write. */
  constructor(options: StatusReportOptions) {
    this.#log = options.log;
    this.#stopped = options.stopped;
    this.#detach = options.detach;
    this.#sources = options.sources;
  }

  /** Applies the settings (at start and on reload). */
  configure(settings: StatusSettings): void {
    this.#settings = settings;
  }

  /** Adds `n` to an action counter. */
  count(action: string, n = 1): void {
    this.counters[action] = (this.counters[action] ?? 0) + n;
  }

  /** Counts one notification received. */
  notified(): void {
    this.#notifications++;
  }

  /** Records a finished sweep that took `seconds`. */
  sweepDone(seconds: number): void {
    this.#lastSweepSeconds = seconds;
    this.#lastSweepAt = Date.now() / 1000;
  }

  /** Writes the textfile soon, coalescing bursts of changes into one write. */
  scheduleMetrics(): void {
    if (this.#metricsTimer !== undefined || this.#stopped()) return;
    this.#metricsTimer = setTimeout(() => {
      this.#metricsTimer = undefined;
      this.#detach("write metrics", this.writeMetrics());
    }, 100);
  }

  /** The metrics text, for the textfile and the HTTP listener. */
  metricsText(): string {
    const s = this.#sources;
    return renderMetrics({
      roles: [...s.limits().values()].map((l) => ({
        role: l.role.name,
        usage: s.usage(l.role.oid),
        kinds: s.kinds(l.role.oid),
        soft: l.limit.soft_limit,
        hard: l.limit.hard_limit,
        locked: s.state(l.role.oid).locked,
      })),
      actions: this.counters,
      notifications: this.#notifications,
      lastSweepSeconds: this.#lastSweepSeconds,
      lastSweepTimestamp: this.#lastSweepAt,
      version: VERSION,
      databases: s.databases(),
      databaseStates: s.databaseStates(),
      detectionLag: this.lag,
      notifyQueue: s.notifyQueue(),
      alerts: s.alerts(),
    });
  }

  /** Writes the metrics textfile when enabled; a failure is logged. */
  async writeMetrics(): Promise<void> {
    const m = this.#settings;
    if (!m?.prometheusEnabled) return;
    try {
      await writeTextfile(m.metricsFile, this.metricsText());
    } catch (err) {
      this.#log.warn("cannot write metrics file", {
        file: m.metricsFile,
        error: errorMessage(err),
      });
    }
  }

  /** Healthy when every LISTEN connection is up and the last sweep ended recently. */
  health(): Health {
    const reasons: string[] = [];
    if (this.#sources.controlListenerUp() === false) {
      reasons.push("control database LISTEN connection is down");
    }
    for (const db of this.#sources.databases()) {
      if (!db.up) reasons.push(`LISTEN connection to '${db.name}' is down`);
    }
    const maxAge = Math.max(3 * (this.#settings?.sweepInterval ?? 0), 30);
    const age = Date.now() / 1000 - this.#lastSweepAt;
    if (this.#lastSweepAt === 0) reasons.push("no full sweep has completed yet");
    else if (age > maxAge) {
      reasons.push(`last full sweep ended ${Math.round(age)} s ago (limit ${maxAge} s)`);
    }
    return { ok: reasons.length === 0, reasons };
  }

  /** Usage and state of every limited role (for logs and tests). */
  snapshot(): { role: string; usage: number; status: string }[] {
    const s = this.#sources;
    return [...s.limits().values()].map((l) => {
      const usage = s.usage(l.role.oid);
      return { role: l.role.name, usage, status: statusOf(usage, l, s.state(l.role.oid)) };
    });
  }

  /** "enforcing 3 limited roles in 2 databases (dry run)". */
  statusLine(): string {
    const dry = this.#settings?.dryRun ? " (dry run)" : "";
    const roles = this.#sources.limits().size;
    return `enforcing ${roles} limited role(s) in ${this.#sources.databases().length} database(s)${dry}`;
  }

  /** Cancels a scheduled write (the daemon writes once more itself as it stops). */
  stop(): void {
    clearTimeout(this.#metricsTimer);
  }
}
