/**
 * The hot set of one watched database: relations seen changing stay "hot" for HOT_WINDOW_MS and
 * are measured again every hot_interval_ms meanwhile, which catches writes that fell inside a
 * trigger's throttle window. Time is passed in, so it is tested without waiting.
 *
 * @module
 */

/** How long a notified relation stays "hot" (re-measured every hot_interval_ms) after a change. */
export const HOT_WINDOW_MS = 2000;

/** Relation oid -> time (ms) until which it stays hot. */
export class HotSet {
  #until = new Map<number, number>();

  /** Keeps `relid` hot for HOT_WINDOW_MS from `now` (ms). */
  touch(relid: number, now: number): void {
    this.#until.set(relid, now + HOT_WINDOW_MS);
  }

  /** The relations still hot at `now` (ms); the ones whose window has passed are forgotten. */
  live(now: number): number[] {
    const live: number[] = [];
    for (const [relid, until] of this.#until) {
      if (until < now) this.#until.delete(relid);
      else live.push(relid);
    }
    return live;
  }

  /** How many relations are remembered (hot, or expired and not yet forgotten by live()). */
  get size(): number {
    return this.#until.size;
  }
}
