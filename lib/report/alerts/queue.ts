/**
 * The durable alert queue: an append-only JSON-lines journal (`<dir>/alerts.jsonl`), fsynced
 * after every batch and replayed on open. It holds the pending deliveries (one per alert and
 * endpoint, strictly first in first out per endpoint), an opaque high-water mark for the caller,
 * and the keys of the last finished deliveries so the same state change is never queued twice.
 *
 * Records, one JSON object per line:
 * - `{"t":"add","ep":"ops","ts":1700000000000,"alert":{...}}` a delivery of `alert` to endpoint
 *   `ep`, queued at `ts` (ms);
 * - `{"t":"done","ep":"ops","key":"event:12","outcome":"sent"}` that delivery finished
 *   (`"sent"` or `"dropped"`);
 * - `{"t":"mark","mark":1234}` the high-water mark.
 *
 * Replay applies records in order and is idempotent; an unreadable line (a torn last write after a
 * crash) is skipped. The journal is compacted (written to a temporary file, fsynced, renamed) on
 * open and whenever it grows past its size limit. It never contains endpoint URLs or secrets.
 *
 * Bounded: an endpoint that is down for days keeps at most `maxPending` deliveries. Past that the
 * oldest are dropped (finished as "dropped", counted by {@linkcode AlertQueue.overflowed}, logged
 * at most once a minute), except the one that may be in flight and, for each role, its newest
 * lock change (locked, unlocked, lock_released): whatever was dropped, the receiver ends up
 * knowing which roles are locked. The event log keeps every event. Replay applies the bound too.
 *
 * @module
 */

import { type Alert, isAlert } from "./alert.ts";
import { Fifo } from "./_fifo.ts";
import { errorMessage, Logger } from "../log.ts";

/** How a delivery ended. */
export type Outcome = "sent" | "dropped";

/** One alert to be delivered to one endpoint. */
export interface Delivery {
  /** Endpoint name. */
  readonly endpoint: string;
  /** The alert. */
  readonly alert: Alert;
  /** When it was queued, ms since the epoch. */
  readonly enqueuedAt: number;
}

/** The journal cannot be opened or used; the message names the directory, nothing secret. */
export class AlertQueueError extends Error {
  /** Builds the error; `message` is sentence case without a trailing period. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AlertQueueError";
  }
}

/** Options for {@linkcode AlertQueue.open}. */
export interface AlertQueueOptions {
  /** Finished deliveries whose keys are remembered for dedup. @default {10000} */
  maxFinished?: number;
  /** Pending deliveries kept per endpoint; the oldest beyond it are dropped. @default {10000} */
  maxPending?: number;
  /** Compact once the journal is larger than this and twice its compacted size. @default {1048576} */
  compactBytes?: number;
  /** Where journal errors go. @default {new Logger()} */
  log?: Logger;
  /** Clock for queue times, ms since the epoch. @default {Date.now} */
  now?: () => number;
}

/** File name of the journal inside the queue directory. */
export const JOURNAL_FILE = "alerts.jsonl";

type JournalRecord =
  | { t: "add"; ep: string; ts: number; alert: Alert }
  | { t: "done"; ep: string; key: string; outcome: Outcome }
  | { t: "mark"; mark: number };

interface Entry {
  delivery: Delivery;
  // False until its record was written (or failed to be), so nothing is sent before add() returns.
  ready: boolean;
  gone: boolean;
  // From a key "event:<id>": the event log id, which orders the shared cursor.
  eventId: number | undefined;
}

// The pending deliveries of one endpoint.
interface Lane {
  all: Fifo<Entry>;
  // The entries with an event id, in queue order.
  events: Fifo<Entry>;
  // Ids came in increasing order (the pump reads the event log in order), so the first is the
  // least; an exception (a lower mark after a takeover) makes oldestEventId() scan until empty.
  lastEventId: number;
  unordered: boolean;
  // Per role, its newest pending lock change: kept when the lane overflows.
  lockChange: Map<string, Entry>;
}

// Events that change whether a role may log in: the receiver must learn the last one of each role.
const LOCK_CHANGES = new Set(["locked", "unlocked", "lock_released"]);

/** The event log id of an alert key "event:<id>", or undefined for other keys. */
export function eventIdOf(key: string): number | undefined {
  const m = /^event:(\d+)$/.exec(key);
  return m ? Number(m[1]) : undefined;
}

const enc = new TextEncoder();

// NUL cannot occur in an endpoint name, so the pair is unambiguous.
const pairKey = (endpoint: string, key: string) => `${endpoint}\u0000${key}`;

function parseRecord(line: string): JournalRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const r = v as Record<string, unknown>;
  if (r.t === "add" && typeof r.ep === "string" && typeof r.ts === "number" && isAlert(r.alert)) {
    return { t: "add", ep: r.ep, ts: r.ts, alert: r.alert };
  }
  if (
    r.t === "done" && typeof r.ep === "string" && typeof r.key === "string" &&
    (r.outcome === "sent" || r.outcome === "dropped")
  ) {
    return { t: "done", ep: r.ep, key: r.key, outcome: r.outcome };
  }
  if (r.t === "mark" && typeof r.mark === "number" && Number.isFinite(r.mark)) {
    return { t: "mark", mark: r.mark };
  }
  return null;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array) {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

/** The journal-backed queue. Not safe for two processes on one directory (the pidfile is). */
export class AlertQueue {
  #dir: string;
  #path: string;
  #tmp: string;
  #maxFinished: number;
  #maxPending: number;
  #compactBytes: number;
  #log: Logger;
  #now: () => number;
  #file: Deno.FsFile | null = null;
  #pending = new Map<string, Entry>();
  #lanes = new Map<string, Lane>();
  #overflowed = new Map<string, number>();
  #overflowLoggedAt = new Map<string, number>();
  #finished = new Map<string, Outcome>();
  #mark: number | undefined;
  #size = 0;
  #compactedSize = 0;
  #dirty = false;
  #wantCompact = false;
  #buf: string[] = [];
  #waiters: (() => void)[] = [];
  #flushing: Promise<void> | null = null;
  #closed = false;

  private constructor(dir: string, options: AlertQueueOptions) {
    this.#dir = dir;
    this.#path = `${dir}/${JOURNAL_FILE}`;
    this.#tmp = `${dir}/${JOURNAL_FILE}.tmp`;
    this.#maxFinished = options.maxFinished ?? 10_000;
    this.#maxPending = options.maxPending ?? 10_000;
    this.#compactBytes = options.compactBytes ?? 1024 * 1024;
    this.#log = options.log ?? new Logger();
    this.#now = options.now ?? Date.now;
  }

  /**
   * Opens (creating if needed) the queue in `dir`, replays its journal and compacts it.
   *
   * @throws {AlertQueueError} when the directory or journal cannot be read or written.
   */
  static async open(dir: string, options: AlertQueueOptions = {}): Promise<AlertQueue> {
    const q = new AlertQueue(dir, options);
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      let text = "";
      try {
        text = await Deno.readTextFile(q.#path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      q.#replay(text);
      await q.#rewrite(q.#serialize());
    } catch (err) {
      q.#file?.close();
      throw new AlertQueueError(
        `Cannot open the alert journal in ${dir}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    return q;
  }

  /** Path of the journal file. */
  get path(): string {
    return this.#path;
  }

  /**
   * Queues deliveries, skipping any whose (endpoint, alert key) is already pending or finished,
   * and sets the mark when given, all in one fsynced append. Resolves with the deliveries added
   * once they are on disk; if the journal cannot be written the error is logged and they are kept
   * in memory.
   *
   * @throws {AlertQueueError} after {@linkcode AlertQueue.close}.
   * @throws {RangeError} when `mark` is not a finite number.
   */
  async add(
    items: readonly { endpoint: string; alert: Alert }[],
    mark?: number,
  ): Promise<Delivery[]> {
    if (this.#closed) throw new AlertQueueError("The alert queue is closed");
    if (mark !== undefined && !Number.isFinite(mark)) {
      throw new RangeError("Alert queue mark must be a finite number");
    }
    const records: JournalRecord[] = [];
    const entries: Entry[] = [];
    const ts = this.#now();
    for (const { endpoint, alert } of items) {
      const rec: JournalRecord = { t: "add", ep: endpoint, ts, alert: structuredClone(alert) };
      const entry = this.#apply(rec, false);
      if (entry) {
        records.push(rec);
        entries.push(entry);
      }
    }
    for (const ep of new Set(entries.map((e) => e.delivery.endpoint))) {
      records.push(...this.#trim(ep));
    }
    if (mark !== undefined && mark !== this.#mark) {
      const rec: JournalRecord = { t: "mark", mark };
      this.#apply(rec, true);
      records.push(rec);
    }
    if (records.length > 0) await this.#write(records);
    const kept = entries.filter((e) => !e.gone);
    for (const e of kept) e.ready = true;
    return kept.map((e) => e.delivery);
  }

  /** Records that a pending delivery finished. Never throws; journal errors are logged. */
  async finish(delivery: Delivery, outcome: Outcome): Promise<void> {
    if (this.#closed) return;
    const rec: JournalRecord = {
      t: "done",
      ep: delivery.endpoint,
      key: delivery.alert.key,
      outcome,
    };
    if (!this.#pending.has(pairKey(rec.ep, rec.key))) return;
    this.#apply(rec, true);
    await this.#write([rec]);
  }

  /** The oldest pending delivery of `endpoint` that is on disk, if any. */
  head(endpoint: string): Delivery | undefined {
    const e = this.#lanes.get(endpoint)?.all.first();
    return e?.ready ? e.delivery : undefined;
  }

  /** Number of pending deliveries of `endpoint`, or of all endpoints. */
  size(endpoint?: string): number {
    return endpoint === undefined ? this.#pending.size : this.#lanes.get(endpoint)?.all.size ?? 0;
  }

  /** Pending deliveries in queue order (of `endpoint`, or of all endpoints). */
  pending(endpoint?: string): Delivery[] {
    const entries = endpoint === undefined
      ? [...this.#pending.values()]
      : [...this.#lanes.get(endpoint)?.all ?? []];
    return entries.map((e) => e.delivery);
  }

  /** Names of endpoints with pending deliveries. */
  endpoints(): string[] {
    return [...this.#lanes.keys()];
  }

  /** The least event id among the pending deliveries of `endpoint` (keys "event:<id>"). */
  oldestEventId(endpoint: string): number | undefined {
    const lane = this.#lanes.get(endpoint);
    if (!lane) return undefined;
    if (!lane.unordered) return lane.events.first()?.eventId;
    let least: number | undefined;
    for (const e of lane.events) if (least === undefined || e.eventId! < least) least = e.eventId;
    return least;
  }

  /** Deliveries of `endpoint` dropped because its queue was full, since the queue was opened. */
  overflowed(endpoint: string): number {
    return this.#overflowed.get(endpoint) ?? 0;
  }

  /** Whether the delivery of `key` to `endpoint` is pending, was sent or dropped, or unknown. */
  status(endpoint: string, key: string): "pending" | Outcome | undefined {
    const k = pairKey(endpoint, key);
    return this.#pending.has(k) ? "pending" : this.#finished.get(k);
  }

  /** The high-water mark last set, if any. */
  getMark(): number | undefined {
    return this.#mark;
  }

  /**
   * Sets the high-water mark durably (same guarantees as {@linkcode AlertQueue.add}).
   *
   * @throws {RangeError} when `mark` is not a finite number.
   */
  async setMark(mark: number): Promise<void> {
    await this.add([], mark);
  }

  /** Rewrites the journal now, keeping only pending deliveries, the mark and the dedup keys. */
  async compact(): Promise<void> {
    if (this.#closed) return;
    this.#wantCompact = true;
    await this.#write([]);
  }

  /** Writes what is buffered and closes the journal; pending deliveries stay in it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#flushing;
    this.#file?.close();
    this.#file = null;
  }

  // Applies one record to the in-memory state; returns the new entry for an "add" that was new.
  #apply(rec: JournalRecord, ready: boolean): Entry | undefined {
    if (rec.t === "mark") {
      this.#mark = rec.mark;
      return undefined;
    }
    if (rec.t === "add") {
      const k = pairKey(rec.ep, rec.alert.key);
      if (this.#pending.has(k) || this.#finished.has(k)) return undefined;
      const entry: Entry = {
        delivery: { endpoint: rec.ep, alert: rec.alert, enqueuedAt: rec.ts },
        ready,
        gone: false,
        eventId: eventIdOf(rec.alert.key),
      };
      this.#pending.set(k, entry);
      this.#push(rec.ep, entry);
      return entry;
    }
    const k = pairKey(rec.ep, rec.key);
    const entry = this.#pending.get(k);
    if (entry) {
      this.#pending.delete(k);
      this.#remove(rec.ep, entry);
    }
    // Re-inserting moves the key to the newest end, so eviction drops the oldest finished.
    this.#finished.delete(k);
    this.#finished.set(k, rec.outcome);
    for (const old of this.#finished.keys()) {
      if (this.#finished.size <= this.#maxFinished) break;
      this.#finished.delete(old);
    }
    return undefined;
  }

  #push(endpoint: string, entry: Entry) {
    let lane = this.#lanes.get(endpoint);
    if (!lane) {
      lane = {
        all: new Fifo(),
        events: new Fifo(),
        lastEventId: -Infinity,
        unordered: false,
        lockChange: new Map(),
      };
      this.#lanes.set(endpoint, lane);
    }
    lane.all.push(entry);
    const id = entry.eventId;
    if (id !== undefined) {
      lane.events.push(entry);
      if (id < lane.lastEventId) lane.unordered = true;
      lane.lastEventId = id;
    }
    if (LOCK_CHANGES.has(entry.delivery.alert.event)) {
      lane.lockChange.set(entry.delivery.alert.role, entry);
    }
  }

  #remove(endpoint: string, entry: Entry) {
    const lane = this.#lanes.get(endpoint);
    if (!lane || entry.gone) return;
    lane.all.remove(entry);
    if (entry.eventId !== undefined) lane.events.remove(entry);
    const role = entry.delivery.alert.role;
    if (lane.lockChange.get(role) === entry) lane.lockChange.delete(role);
    if (lane.all.size === 0) this.#lanes.delete(endpoint);
  }

  // Drops the oldest deliveries of `endpoint` beyond the bound; returns their journal records.
  #trim(endpoint: string): JournalRecord[] {
    const lane = this.#lanes.get(endpoint);
    const over = (lane?.all.size ?? 0) - this.#maxPending;
    if (!lane || over <= 0) return [];
    const victims: Entry[] = [];
    const head = lane.all.first();
    const kept = (e: Entry) => lane.lockChange.get(e.delivery.alert.role) === e;
    // Oldest first, never the head (it may be in flight), lock changes only when nothing else is.
    for (const e of lane.all) {
      if (victims.length === over) break;
      if (e !== head && !kept(e)) victims.push(e);
    }
    for (const e of lane.all) {
      if (victims.length === over) break;
      if (e !== head && kept(e)) victims.push(e);
    }
    const records: JournalRecord[] = victims.map((e) => ({
      t: "done",
      ep: endpoint,
      key: e.delivery.alert.key,
      outcome: "dropped",
    }));
    for (const r of records) this.#apply(r, true);
    this.#overflowed.set(endpoint, this.overflowed(endpoint) + victims.length);
    const now = this.#now();
    if (now - (this.#overflowLoggedAt.get(endpoint) ?? -Infinity) >= 60_000) {
      this.#overflowLoggedAt.set(endpoint, now);
      this.#log.warn("alert queue full: oldest deliveries dropped (lock changes kept)", {
        endpoint,
        max_pending: this.#maxPending,
        dropped_total: this.overflowed(endpoint),
      });
    }
    return records;
  }

  #replay(text: string) {
    const lines = text.split("\n");
    const last = lines.length - 1;
    let bad = 0;
    let torn = false;
    lines.forEach((line, i) => {
      if (line.trim() === "") return;
      const rec = parseRecord(line);
      if (rec) this.#apply(rec, true);
      else if (i === last) torn = true;
      else bad++;
    });
    // A journal written with a larger bound (or none) is cut down to this one.
    for (const ep of [...this.#lanes.keys()]) this.#trim(ep);
    if (torn) this.#log.info("alert journal: ignored a torn last line", { path: this.#path });
    if (bad > 0) {
      this.#log.warn("alert journal: skipped unreadable lines", { path: this.#path, lines: bad });
    }
  }

  #serialize(): string {
    const out: string[] = [];
    if (this.#mark !== undefined) out.push(JSON.stringify({ t: "mark", mark: this.#mark }));
    for (const [k, outcome] of this.#finished) {
      const i = k.indexOf("\u0000");
      out.push(JSON.stringify({ t: "done", ep: k.slice(0, i), key: k.slice(i + 1), outcome }));
    }
    for (const { delivery: d } of this.#pending.values()) {
      out.push(JSON.stringify({ t: "add", ep: d.endpoint, ts: d.enqueuedAt, alert: d.alert }));
    }
    return out.map((l) => l + "\n").join("");
  }

  #write(records: JournalRecord[]): Promise<void> {
    for (const r of records) this.#buf.push(JSON.stringify(r) + "\n");
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#flushing ??= this.#flushLoop();
    return done;
  }

  // Group commit: everything submitted while one batch is being written goes into the next.
  async #flushLoop() {
    await Promise.resolve();
    try {
      while (this.#buf.length > 0 || this.#waiters.length > 0) {
        const bytes = enc.encode(this.#buf.join(""));
        const waiters = this.#waiters;
        this.#buf = [];
        this.#waiters = [];
        const limit = Math.max(this.#compactBytes, 2 * this.#compactedSize);
        const rewrite = this.#wantCompact || this.#dirty || this.#file === null ||
          this.#size + bytes.length > limit;
        this.#wantCompact = false;
        // Serialized right after taking the batch: the state then equals file + batch exactly.
        const snapshot = rewrite ? this.#serialize() : null;
        try {
          if (snapshot !== null) await this.#rewrite(snapshot);
          else await this.#append(bytes);
          if (this.#dirty) this.#log.info("alert journal is writable again", { path: this.#path });
          this.#dirty = false;
        } catch (err) {
          // A partial append may have left a torn line: the next write rewrites the whole file.
          this.#dirty = true;
          this.#log.error("cannot write the alert journal; alerts are kept in memory only", {
            path: this.#path,
            error: errorMessage(err),
          });
        }
        for (const w of waiters) w();
      }
    } finally {
      this.#flushing = null;
    }
  }

  async #append(bytes: Uint8Array) {
    if (this.#file === null) throw new AlertQueueError("The alert journal is not open");
    if (bytes.length === 0) return;
    await writeAll(this.#file, bytes);
    await this.#file.sync();
    this.#size += bytes.length;
  }

  async #rewrite(text: string) {
    const bytes = enc.encode(text);
    const tmp = await Deno.open(this.#tmp, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    try {
      await writeAll(tmp, bytes);
      await tmp.sync();
    } finally {
      tmp.close();
    }
    await Deno.rename(this.#tmp, this.#path);
    await this.#syncDir();
    // The old handle still points at the replaced file.
    this.#file?.close();
    this.#file = null;
    this.#file = await Deno.open(this.#path, { append: true, mode: 0o600 });
    this.#size = bytes.length;
    this.#compactedSize = bytes.length;
  }

  // Makes the rename itself durable; some file systems cannot fsync a directory, which is fine.
  async #syncDir() {
    let dir: Deno.FsFile | undefined;
    try {
      dir = await Deno.open(this.#dir, { read: true });
      await dir.sync();
    } catch {
      // best effort
    } finally {
      dir?.close();
    }
  }
}
