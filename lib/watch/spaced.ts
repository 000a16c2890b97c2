/**
 * Runs of a task per key (a database), spaced: what the `c:text` catalog-text hint triggers. A
 * hint is not a fact and anyone may send it, so however many arrive, each key costs at most one
 * run per `spacingMs`, and never more than 1/`dutyFactor` of the time (a run that took 900 ms, as
 * the catalog-text query does at 100,000 relations, is not started again for 9 s). A hint that
 * arrives during a run or inside the spacing is not lost but folded into one more run at the end
 * of the spacing (the DDL it announces may have committed after the run read the catalog).
 *
 * @module
 */

interface Slot {
  /** When the last run started (performance.now()), -Infinity if never. */
  startedAt: number;
  running: boolean;
  /** How long the last run took (ms). */
  lastMs: number;
  /** A request arrived that the last run started may not cover. */
  again: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

/** At most one run per key per `spacingMs`; requests in between fold into one trailing run. */
export class SpacedRuns {
  #slots = new Map<string, Slot>();
  #spacingMs: number;
  #dutyFactor: number;
  #task: (key: string) => Promise<void>;
  #stopped = false;
  #runs = 0;

  /**
   * `task` must not throw (errors are its own to log). Two starts are at least `spacingMs` apart,
   * and at least `dutyFactor` times the last run's duration.
   */
  constructor(spacingMs: number, task: (key: string) => Promise<void>, dutyFactor = 10) {
    this.#spacingMs = spacingMs;
    this.#dutyFactor = dutyFactor;
    this.#task = task;
  }

  /** How many runs have started (for the metrics and the tests). */
  get runs(): number {
    return this.#runs;
  }

  /** Asks for a run for `key`: now if the spacing allows, else one at the end of the spacing. */
  request(key: string): void {
    if (this.#stopped) return;
    let slot = this.#slots.get(key);
    if (!slot) {
      this.#slots.set(
        key,
        slot = { startedAt: -Infinity, running: false, lastMs: 0, again: false },
      );
    }
    if (slot.running || slot.timer !== undefined) {
      slot.again = true;
      return;
    }
    const spacing = Math.max(this.#spacingMs, slot.lastMs * this.#dutyFactor);
    const wait = slot.startedAt + spacing - performance.now();
    if (wait <= 0) {
      this.#start(key, slot);
      return;
    }
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.#start(key, slot);
    }, wait);
  }

  #start(key: string, slot: Slot): void {
    if (this.#stopped) return;
    slot.running = true;
    slot.again = false;
    slot.startedAt = performance.now();
    this.#runs++;
    this.#task(key).catch(() => {}).finally(() => {
      slot.running = false;
      slot.lastMs = performance.now() - slot.startedAt;
      if (slot.again && !this.#stopped) {
        slot.again = false;
        this.request(key);
      }
    });
  }

  /** Forgets a key (its database is no longer watched); a pending run is cancelled. */
  forget(key: string): void {
    const slot = this.#slots.get(key);
    if (slot?.timer !== undefined) clearTimeout(slot.timer);
    this.#slots.delete(key);
  }

  /** Cancels every pending run; no new one starts. */
  stop(): void {
    this.#stopped = true;
    for (const slot of this.#slots.values()) if (slot.timer !== undefined) clearTimeout(slot.timer);
    this.#slots.clear();
  }
}
