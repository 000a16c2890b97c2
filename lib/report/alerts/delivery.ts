/**
 * Alert delivery: one worker per endpoint takes the head of that endpoint's durable queue and
 * POSTs it until it is accepted (2xx) or refused for good (a 4xx other than 408 and 429).
 * Failures are retried with exponential backoff and full jitter (a longer Retry-After wins),
 * a circuit breaker per endpoint stops hammering one that is down, and Slack endpoints get at
 * most one message per `slackMinIntervalMs`. Callers only wait for the journal's fsync, never for
 * the network. Logs name endpoints, never their URLs, secrets or signatures.
 *
 * @module
 */

import { type Alert, isAlert, slackBody, webhookBody } from "./alert.ts";
import { AlertQueue, type Delivery } from "./queue.ts";
import { signWebhook } from "./signing.ts";
import { isHttpUrl } from "../../config/fields.ts";
import { isWebhookSecret } from "../../config/webhooks.ts";
import { errorMessage, type Logger } from "../log.ts";
import { VERSION } from "../../version.ts";
import { backoffMs } from "../../backoff.ts";

/** One place alerts are sent to. */
export interface Endpoint {
  /** Name shown in logs, metrics and the journal (never the URL); unique. */
  name: string;
  /** "slack" for a Slack incoming webhook, "webhook" for a Standard Webhooks receiver. */
  kind: "slack" | "webhook";
  /** Where to POST; a secret for Slack, so it is never logged. */
  url: string;
  /** Standard Webhooks signing secret ("whsec_<base64>"), null to send unsigned; webhooks only. */
  secret: string | null;
  /** Event names this endpoint receives; an empty list means every event. */
  events: readonly string[];
  /** Time limit of one request, including reading the response status, ms. */
  timeoutMs: number;
}

/** Options for {@linkcode AlertManager.open}. */
export interface AlertManagerOptions {
  /** Directory of the durable queue (created if missing). */
  dir: string;
  /** Called after each delivery is settled (sent or dropped), e.g. to share progress. */
  onSettled?: () => void;
  /** Where alerts go. */
  endpoints: Endpoint[];
  /** Logger for delivery problems. */
  log: Logger;
  /** First retry delay bound, ms; doubles per failed attempt. @default {1000} */
  retryBaseMs?: number;
  /** Largest retry delay bound, ms. @default {300000} */
  retryMaxMs?: number;
  /** Largest Retry-After honoured, ms (a longer one is cut to this). @default {3600000} */
  retryAfterMaxMs?: number;
  /** Consecutive failed attempts that open an endpoint's circuit. @default {5} */
  breakerFailures?: number;
  /** How long an open circuit waits before one probe, ms. @default {30000} */
  breakerCooldownMs?: number;
  /** Least time between the end of one request and the start of the next to Slack, ms. @default {1000} */
  slackMinIntervalMs?: number;
  /** Finished deliveries remembered for dedup. @default {10000} */
  maxFinished?: number;
  /** Pending deliveries kept per endpoint; the oldest beyond it are dropped. @default {10000} */
  maxPending?: number;
  /** Journal size that triggers compaction, bytes. @default {1048576} */
  compactBytes?: number;
  /** The fetch implementation (e.g. one bound to a custom HTTP client). @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Wall clock for webhook timestamps, Retry-After dates and queue times, ms. @default {Date.now} */
  now?: () => number;
}

/** Delivery counters of one endpoint since the manager was opened. */
export interface EndpointStats {
  /** Endpoint name. */
  endpoint: string;
  /** Deliveries waiting (including one in flight). */
  queued: number;
  /** Deliveries accepted with a 2xx. */
  sent: number;
  /** Attempts that failed and will be retried (408, 429, 5xx, no answer). */
  retried: number;
  /** Deliveries refused for good (other 4xx, 3xx) and dropped. */
  dropped: number;
  /** Deliveries dropped unsent because the endpoint's queue was full. */
  overflowed: number;
  /** Attempts that got no HTTP answer at all (network error or timeout); part of `retried`. */
  failed: number;
  /** The circuit breaker is open or half-open. */
  circuitOpen: boolean;
}

/** Invalid endpoint or option; the message names the endpoint, never its URL or secret. */
export class AlertConfigError extends Error {
  /** Builds the error; `message` is sentence case without a trailing period. */
  constructor(message: string) {
    super(message);
    this.name = "AlertConfigError";
  }
}

/** {@linkcode AlertManager.enqueue} after {@linkcode AlertManager.close}. */
export class AlertManagerClosedError extends Error {
  /** Builds the error. */
  constructor() {
    super("The alert manager is closed");
    this.name = "AlertManagerClosedError";
  }
}

/**
 * Delay asked for by a Retry-After header value (delta seconds or an HTTP date), ms; undefined
 * when absent or unreadable.
 */
export function parseRetryAfter(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Date.parse is lenient ("-5" is a year): an HTTP date always spells a day or month name.
  const at = /[a-z]{3}/i.test(v) ? Date.parse(v) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The `webhook-id` of an alert at an endpoint: the same on every retry and after restarts. */
export async function webhookId(endpoint: string, key: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`${endpoint}\n${key}`),
  );
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `msg_${hex.slice(0, 32)}`;
}

type Result =
  | { kind: "ok"; status: number }
  | { kind: "retry"; status?: number; error?: string; retryAfterMs?: number }
  | { kind: "drop"; status: number; reason?: string }
  | { kind: "aborted" };

interface Worker {
  ep: Endpoint;
  sent: number;
  retried: number;
  dropped: number;
  failed: number;
  // Failed attempts of the current head (drives the backoff).
  attempts: number;
  // Failed attempts in a row across deliveries (drives the breaker).
  consecutive: number;
  // Monotonic times (performance.now), so a wall-clock step cannot stall or rush deliveries.
  retryAt: number;
  openUntil: number;
  lastEnd: number;
  wake: () => void;
  done: Promise<void>;
}

// Fetch errors quote the URL, and a Slack URL is a credential: strip URLs and secrets from them.
function redact(text: string, ep: Endpoint): string {
  let out = text;
  for (const s of [ep.url, ep.secret]) if (s) out = out.replaceAll(s, "<redacted>");
  return out.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s)'"]*/gi, "<url>");
}

// Only Slack-style codes ("invalid_payload") are logged: other bodies could echo the request.
async function errorCode(res: Response): Promise<string | undefined> {
  if (!res.body) return undefined;
  const reader = res.body.getReader();
  let text = "";
  try {
    const dec = new TextDecoder();
    while (text.length < 80) {
      const { done, value } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
  } catch {
    // body not readable: no code
  } finally {
    await reader.cancel().catch(() => {});
  }
  const t = text.trim();
  return /^[a-z0-9_]{1,64}$/.test(t) ? t : undefined;
}

/** Queues alerts durably and delivers them to every endpoint in the background. */
export class AlertManager {
  #queue: AlertQueue;
  #log: Logger;
  #workers: Worker[] = [];
  #fetch: typeof fetch;
  #now: () => number;
  #retryBaseMs: number;
  #retryMaxMs: number;
  #retryAfterMaxMs: number;
  #breakerFailures: number;
  #breakerCooldownMs: number;
  #slackMinIntervalMs: number;
  #abort = new AbortController();
  #onSettled: () => void;
  #closed = false;
  #closing: Promise<void> | null = null;
  #changed: { promise: Promise<void>; resolve: () => void } = Promise.withResolvers();

  private constructor(queue: AlertQueue, opts: AlertManagerOptions) {
    this.#queue = queue;
    this.#log = opts.log;
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#now = opts.now ?? Date.now;
    this.#retryBaseMs = opts.retryBaseMs ?? 1000;
    this.#retryMaxMs = opts.retryMaxMs ?? 300_000;
    this.#retryAfterMaxMs = opts.retryAfterMaxMs ?? 3_600_000;
    this.#breakerFailures = opts.breakerFailures ?? 5;
    this.#breakerCooldownMs = opts.breakerCooldownMs ?? 30_000;
    this.#slackMinIntervalMs = opts.slackMinIntervalMs ?? 1000;
    this.#onSettled = opts.onSettled ?? (() => {});
  }

  /**
   * Validates the endpoints, opens and replays the queue in `opts.dir` and starts one worker per
   * endpoint, which at once delivers what was pending.
   *
   * @throws {AlertConfigError} for an invalid endpoint or option.
   * @throws {AlertQueueError} when the journal cannot be opened.
   */
  static async open(opts: AlertManagerOptions): Promise<AlertManager> {
    validate(opts);
    const queue = await AlertQueue.open(opts.dir, {
      log: opts.log,
      now: opts.now,
      maxFinished: opts.maxFinished,
      maxPending: opts.maxPending,
      compactBytes: opts.compactBytes,
    });
    const m = new AlertManager(queue, opts);
    const names = new Set(opts.endpoints.map((e) => e.name));
    for (const name of queue.endpoints()) {
      if (!names.has(name)) {
        // Kept, not dropped: the endpoint may come back with the next configuration.
        m.#log.warn("alert deliveries pending for an endpoint that is not configured", {
          endpoint: name,
          pending: queue.size(name),
        });
      }
    }
    for (const ep of opts.endpoints) m.#start({ ...ep, events: [...ep.events] });
    return m;
  }

  /**
   * Durably queues one delivery per alert and matching endpoint, skipping (endpoint, key) pairs
   * already queued or finished, and sets the mark in the same fsynced append when given. Resolves
   * with the number of deliveries added; never waits for the network.
   *
   * @throws {AlertManagerClosedError} after {@linkcode AlertManager.close}.
   * @throws {TypeError} when an alert is malformed (nothing is queued then).
   */
  async enqueue(alerts: readonly Alert[], mark?: number): Promise<number> {
    if (this.#closed) throw new AlertManagerClosedError();
    for (const a of alerts) if (!isAlert(a)) throw new TypeError("Malformed alert");
    const items: { endpoint: string; alert: Alert }[] = [];
    for (const alert of alerts) {
      for (const w of this.#workers) {
        if (w.ep.events.length === 0 || w.ep.events.includes(alert.event)) {
          items.push({ endpoint: w.ep.name, alert });
        }
      }
    }
    const added = await this.#queue.add(items, mark);
    const touched = new Set(added.map((d) => d.endpoint));
    for (const w of this.#workers) if (touched.has(w.ep.name)) w.wake();
    if (added.length > 0) this.#notify();
    return added.length;
  }

  /** The high-water mark last stored with {@linkcode AlertManager.enqueue}. */
  mark(): number | undefined {
    return this.#queue.getMark();
  }

  /**
   * The event id up to which every configured endpoint has settled its deliveries: one less than
   * the oldest event still pending anywhere, or the mark when nothing is pending. Alerts carry
   * their event id in the key `event:<id>`; other keys do not hold the cursor back.
   */
  deliveredThrough(): number | undefined {
    let oldest = Infinity;
    for (const w of this.#workers) {
      oldest = Math.min(oldest, this.#queue.oldestEventId(w.ep.name) ?? Infinity);
    }
    return oldest === Infinity ? this.#queue.getMark() : oldest - 1;
  }

  /** Counters per configured endpoint, for metrics. */
  stats(): EndpointStats[] {
    return this.#workers.map((w) => ({
      endpoint: w.ep.name,
      queued: this.#queue.size(w.ep.name),
      sent: w.sent,
      retried: w.retried,
      dropped: w.dropped,
      overflowed: this.#queue.overflowed(w.ep.name),
      failed: w.failed,
      circuitOpen: w.consecutive >= this.#breakerFailures,
    }));
  }

  /** Resolves true once no configured endpoint has anything queued, false after `timeoutMs`. */
  async idle(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.#workers.every((w) => this.#queue.size(w.ep.name) === 0)) return true;
      const left = deadline - performance.now();
      if (left <= 0 || this.#closed) return false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#changed.promise,
        new Promise((r) => timer = setTimeout(r, left)),
      ]);
      clearTimeout(timer);
    }
  }

  /** Stops the workers (aborting requests in flight) and closes the journal; pending stays queued. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      this.#abort.abort();
      for (const w of this.#workers) w.wake();
      await Promise.all(this.#workers.map((w) => w.done));
      await this.#queue.close();
      this.#notify();
    })();
    return this.#closing;
  }

  #notify() {
    const old = this.#changed;
    this.#changed = Promise.withResolvers();
    old.resolve();
  }

  #start(ep: Endpoint) {
    const w: Worker = {
      ep,
      sent: 0,
      retried: 0,
      dropped: 0,
      failed: 0,
      attempts: 0,
      consecutive: 0,
      retryAt: 0,
      openUntil: 0,
      lastEnd: -Infinity,
      wake: () => {},
      done: Promise.resolve(),
    };
    this.#workers.push(w);
    w.done = this.#run(w);
  }

  // Sleeps until `ms` passed or the worker is woken (new work, close).
  #sleep(w: Worker, ms: number): Promise<void> {
    return new Promise((resolve) => {
      // Beyond 2^31-1 ms setTimeout fires at once; waking early only means checking again.
      const timer = Number.isFinite(ms)
        ? setTimeout(done, Math.min(Math.max(0, ms), 2 ** 31 - 1))
        : undefined;
      function done() {
        clearTimeout(timer);
        w.wake = () => {};
        resolve();
      }
      w.wake = done;
    });
  }

  async #run(w: Worker) {
    while (!this.#closed) {
      try {
        const d = this.#queue.head(w.ep.name);
        if (!d) {
          await this.#sleep(w, Infinity);
          continue;
        }
        const now = performance.now();
        let at = w.retryAt;
        if (w.consecutive >= this.#breakerFailures) at = Math.max(at, w.openUntil);
        if (w.ep.kind === "slack") at = Math.max(at, w.lastEnd + this.#slackMinIntervalMs);
        if (at > now) {
          await this.#sleep(w, at - now);
          continue;
        }
        const result = await this.#attempt(w, d);
        w.lastEnd = performance.now();
        if (result.kind === "aborted") break;
        await this.#settle(w, d, result);
      } catch (err) {
        // A bug must not end deliveries for good: log it and try again after a pause.
        this.#log.error("alert worker error", { endpoint: w.ep.name, error: errorMessage(err) });
        w.retryAt = performance.now() + this.#retryMaxMs;
      }
    }
  }

  async #settle(w: Worker, d: Delivery, r: Exclude<Result, { kind: "aborted" }>) {
    const fields = { endpoint: w.ep.name, key: d.alert.key, event: d.alert.event };
    if (r.kind === "ok" || r.kind === "drop") {
      if (w.consecutive >= this.#breakerFailures) {
        this.#log.info("alert endpoint circuit closed", { endpoint: w.ep.name });
      }
      w.attempts = 0;
      w.consecutive = 0;
      w.retryAt = 0;
      if (r.kind === "ok") {
        w.sent++;
        this.#log.debug("alert sent", { ...fields, status: r.status });
      } else {
        w.dropped++;
        this.#log.error("alert dropped: endpoint refused it", {
          ...fields,
          status: r.status,
          ...(r.reason ? { reason: r.reason } : {}),
        });
      }
      await this.#queue.finish(d, r.kind === "ok" ? "sent" : "dropped");
      this.#notify();
      this.#onSettled();
      return;
    }
    w.retried++;
    if (r.status === undefined) w.failed++;
    w.attempts++;
    w.consecutive++;
    const now = performance.now();
    const bound = backoffMs(w.attempts - 1, { baseMs: this.#retryBaseMs, maxMs: this.#retryMaxMs });
    let delay = Math.random() * bound;
    if (r.retryAfterMs !== undefined) {
      delay = Math.max(delay, Math.min(r.retryAfterMs, this.#retryAfterMaxMs));
    }
    w.retryAt = now + delay;
    const opened = w.consecutive >= this.#breakerFailures;
    if (opened) w.openUntil = now + this.#breakerCooldownMs;
    this.#log.warn("alert delivery failed, will retry", {
      ...fields,
      ...(r.status !== undefined ? { status: r.status } : { error: r.error }),
      attempt: w.attempts,
      retry_in_ms: Math.round(Math.max(delay, opened ? this.#breakerCooldownMs : 0)),
    });
    if (w.consecutive === this.#breakerFailures) {
      this.#log.warn("alert endpoint circuit open", {
        endpoint: w.ep.name,
        failures: w.consecutive,
        cooldown_ms: this.#breakerCooldownMs,
      });
    }
  }

  async #attempt(w: Worker, d: Delivery): Promise<Result> {
    const ep = w.ep;
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": `postgres_realtime_monitor/${VERSION}`,
    };
    let body: string;
    if (ep.kind === "slack") {
      body = JSON.stringify(slackBody(d.alert));
    } else {
      body = JSON.stringify(webhookBody(d.alert));
      const id = await webhookId(ep.name, d.alert.key);
      const ts = Math.floor(this.#now() / 1000);
      headers["webhook-id"] = id;
      headers["webhook-timestamp"] = String(ts);
      if (ep.secret !== null) {
        headers["webhook-signature"] = await signWebhook(ep.secret, id, ts, body);
      }
    }
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, ep.timeoutMs);
    const onClose = () => ctl.abort();
    this.#abort.signal.addEventListener("abort", onClose);
    try {
      if (this.#closed) return { kind: "aborted" };
      const res = await this.#fetch(ep.url, {
        method: "POST",
        headers,
        body,
        signal: ctl.signal,
        // A redirect would resend the alert elsewhere; treat it as a configuration error instead.
        redirect: "manual",
      });
      const s = res.status;
      if (s >= 200 && s < 300) {
        await res.body?.cancel().catch(() => {});
        return { kind: "ok", status: s };
      }
      if (s === 408 || s === 429 || s >= 500) {
        const retryAfterMs = s === 429 || s === 503
          ? parseRetryAfter(res.headers.get("retry-after"), this.#now())
          : undefined;
        await res.body?.cancel().catch(() => {});
        return { kind: "retry", status: s, retryAfterMs };
      }
      return { kind: "drop", status: s, reason: await errorCode(res) };
    } catch (err) {
      if (this.#closed) return { kind: "aborted" };
      if (timedOut) return { kind: "retry", error: `timed out after ${ep.timeoutMs} ms` };
      return { kind: "retry", error: redact(errorMessage(err), ep) };
    } finally {
      clearTimeout(timer);
      this.#abort.signal.removeEventListener("abort", onClose);
    }
  }
}

function validate(opts: AlertManagerOptions) {
  const names = new Set<string>();
  for (const ep of opts.endpoints) {
    const name = typeof ep.name === "string" ? ep.name : "";
    if (name === "" || name.includes("\u0000")) {
      throw new AlertConfigError("Alert endpoint name must be a non-empty string");
    }
    if (names.has(name)) throw new AlertConfigError(`Duplicate alert endpoint name '${name}'`);
    names.add(name);
    if (ep.kind !== "slack" && ep.kind !== "webhook") {
      throw new AlertConfigError(`Alert endpoint '${name}': kind must be 'slack' or 'webhook'`);
    }
    // The configuration's rules (lib/config/), so that a `secret_file` meets the same ones as a
    // `secret`; neither the URL nor the secret is echoed.
    if (typeof ep.url !== "string" || !isHttpUrl(ep.url)) {
      throw new AlertConfigError(`Alert endpoint '${name}': url must be an http(s) URL`);
    }
    if (ep.secret !== null && !isWebhookSecret(ep.secret)) {
      throw new AlertConfigError(
        `Alert endpoint '${name}': secret must be 'whsec_' followed by the base64 of 24 to 64 bytes`,
      );
    }
    if (!Array.isArray(ep.events) || !ep.events.every((e) => typeof e === "string")) {
      throw new AlertConfigError(`Alert endpoint '${name}': events must be a list of names`);
    }
    if (!(Number.isFinite(ep.timeoutMs) && ep.timeoutMs > 0)) {
      throw new AlertConfigError(`Alert endpoint '${name}': timeoutMs must be positive`);
    }
  }
  const positive: [string, number | undefined][] = [
    ["retryBaseMs", opts.retryBaseMs],
    ["retryMaxMs", opts.retryMaxMs],
    ["retryAfterMaxMs", opts.retryAfterMaxMs],
    ["breakerFailures", opts.breakerFailures],
    ["maxFinished", opts.maxFinished],
    ["maxPending", opts.maxPending],
    ["compactBytes", opts.compactBytes],
  ];
  const nonNegative: [string, number | undefined][] = [
    ["breakerCooldownMs", opts.breakerCooldownMs],
    ["slackMinIntervalMs", opts.slackMinIntervalMs],
  ];
  for (const [k, v] of positive) {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
      throw new AlertConfigError(`Alert option ${k} must be positive`);
    }
  }
  for (const [k, v] of nonNegative) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
      throw new AlertConfigError(`Alert option ${k} must not be negative`);
    }
  }
}
