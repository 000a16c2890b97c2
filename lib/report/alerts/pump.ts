/**
 * The alert pump: hands every new event-log row to the durable alert queue (the event log is the
 * outbox, see lib/report/outbox.ts) and publishes how far delivery got (the shared cursor), so a
 * standby that takes over neither repeats nor skips alerts.
 *
 * @module
 */
import { Coalesced } from "../../coalesce.ts";
import type { MonitorConfig } from "../../config/monitor.ts";
import type { Sql } from "../../db/connect.ts";
import { sqlFile } from "../../db/sql_files.ts";
import type { Decision } from "../../evaluate/evaluator.ts";
import { errorMessage, type Logger } from "../log.ts";
import {
  alertFromEvent,
  endpointsFromConfig,
  EVENTS_PAGE_ROWS,
  eventsSince,
  lastEventId,
} from "../outbox.ts";
import { AlertManager, type EndpointStats } from "./delivery.ts";

/** What {@linkcode AlertPump} is built from. */
export interface AlertPumpOptions {
  /** The control database (event log, shared cursor). */
  control: Sql;
  /** Log sink. */
  log: Logger;
  /** Who this daemon is, recorded with the shared alert cursor. */
  leaderName: string;
  /** True once the daemon stops: no new pass starts after that. */
  stopped: () => boolean;
  /** Runs a task nobody awaits, logging what it throws. */
  detach: (task: string, promise: Promise<unknown>) => void;
}

/** The settings the pump uses that a reload may change. */
export interface AlertPumpSettings {
  /** Dry run writes no event log: nothing to pump, alerts are queued directly. */
  dryRun: boolean;
}

/** Event log -> alert queue, and the shared delivery cursor. */
export class AlertPump {
  #control: Sql;
  #log: Logger;
  #leaderName: string;
  #stopped: () => boolean;
  #detach: (task: string, promise: Promise<unknown>) => void;
  #dryRun = false;
  #alerts?: AlertManager;
  #host = "unknown";
  #sharedThrough = -1;
  #cursorShare: Coalesced;
  #pumps: Coalesced;

  /** Creates a pump with no endpoints; {@linkcode open} opens the queue when any is configured. */
  constructor(options: AlertPumpOptions) {
    this.#control = options.control;
    this.#log = options.log;
    this.#leaderName = options.leaderName;
    this.#stopped = options.stopped;
    this.#detach = options.detach;
    this.#cursorShare = new Coalesced(() => this.#shareCursorOnce(), this.#stopped);
    this.#pumps = new Coalesced(() => this.#pumpOnce(), this.#stopped);
  }

  /** Applies the settings a reload may change. */
  configure(settings: AlertPumpSettings): void {
    this.#dryRun = settings.dryRun;
  }

  /** Opens the durable alert queue when any endpoint is configured. */
  async open(m: MonitorConfig): Promise<void> {
    const endpoints = await endpointsFromConfig(m);
    if (endpoints.length === 0) return;
    try {
      this.#host = Deno.hostname();
    } catch {
      // --allow-sys=hostname missing: alerts say "unknown"
    }
    this.#alerts = await AlertManager.open({
      dir: m.state_dir,
      endpoints,
      log: this.#log,
      onSettled: () => this.#detach("share alert cursor", this.#shareCursor()),
      retryBaseMs: m.alert_retry_base_ms,
      retryMaxMs: m.alert_retry_max_ms,
      breakerFailures: m.circuit_breaker_failures,
      breakerCooldownMs: m.circuit_breaker_cooldown_ms,
    });
    // Taking over from another daemon: move the mark to where its deliveries got to; the first
    // pump reads on from there and the queue skips what this daemon already has. First run ever:
    // alert from now on, not for the whole history.
    const shared = await this.#readCursor();
    if (shared !== undefined) {
      await this.#alerts.enqueue([], shared);
    } else if (this.#alerts.mark() === undefined) {
      await this.#alerts.enqueue([], await lastEventId(this.#control));
    }
    this.#log.info("alerts enabled", {
      endpoints: endpoints.map((e) => e.name),
      from_event: this.#alerts.mark(),
    });
  }

  /** The shared alert cursor, or undefined (none yet, or an install that predates it). */
  async #readCursor(): Promise<number | undefined> {
    try {
      const [row] = await this.#control.unsafe(sqlFile("alert_cursor_get"));
      return row === undefined ? undefined : Number(row.id);
    } catch (err) {
      this.#log.warn("no shared alert cursor; run 'install' again to add it", {
        error: errorMessage(err),
      });
      return undefined;
    }
  }

  /** Publishes how far alert delivery has got, for a standby that takes over (coalesced). */
  #shareCursor(): Promise<void> {
    return this.#cursorShare.run();
  }

  async #shareCursorOnce(): Promise<void> {
    const through = this.#alerts?.deliveredThrough();
    if (through === undefined || through <= this.#sharedThrough || this.#stopped()) return;
    try {
      await this.#control.unsafe(sqlFile("alert_cursor_set"), [through, this.#leaderName]);
      this.#sharedThrough = through;
    } catch (err) {
      this.#log.warn("cannot share the alert cursor", { error: errorMessage(err) });
    }
  }

  /** Hands every new event-log row to the alert queue (coalesced; never throws). */
  async pump(): Promise<void> {
    if (!this.#alerts || this.#dryRun) return;
    await this.#pumps.run();
  }

  async #pumpOnce(): Promise<void> {
    const alerts = this.#alerts;
    if (!alerts) return;
    try {
      for (;;) {
        const rows = await eventsSince(this.#control, alerts.mark() ?? 0);
        if (rows.length === 0) break;
        await alerts.enqueue(
          rows.map((r) => alertFromEvent(r, this.#host)),
          rows[rows.length - 1]!.id,
        );
        this.#detach("share alert cursor", this.#shareCursor());
        if (rows.length < EVENTS_PAGE_ROWS) break;
      }
    } catch (err) {
      this.#log.warn("cannot read the event log for alerts; will retry", {
        error: errorMessage(err),
      });
    }
  }

  /** Dry run writes no event log: alerts are queued directly, marked as dry run. */
  async dryRunAlert(d: Decision): Promise<void> {
    const event = d.kind === "lock" ? "locked" : d.kind === "unlock" ? "unlocked" : d.kind;
    await this.#alerts?.enqueue([{
      key: `dry:${event}:${d.oid}:${Date.now()}`,
      event,
      role: d.role,
      usage_bytes: d.usage,
      soft_limit_bytes: d.soft,
      hard_limit_bytes: d.hard,
      at: new Date().toISOString(),
      host: this.#host,
      actor: null,
      detail: { reason: d.reason },
      dry_run: true,
    }]);
  }

  /** Per-endpoint delivery figures, or undefined when no endpoint is configured. */
  stats(): EndpointStats[] | undefined {
    return this.#alerts?.stats();
  }

  /** Closes the alert queue (deliveries in flight end with it). */
  async close(): Promise<void> {
    await this.#alerts?.close().catch(() => {});
  }
}
