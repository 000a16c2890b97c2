/**
 * Relations waiting to be measured in one database, bounded. Relations the daemon already knows
 * as a limited role's (from a sweep or an earlier measurement) are always kept: there are only as
 * many as those roles own. Unknown oids (a new table, or one a tenant made up and notified) are
 * kept up to a bound, so a flood of notifications costs bounded memory and bounded queries; what
 * does not fit is refused and the caller falls back to measuring the whole database.
 *
 * @module
 */

/** Known relations first, then at most `maxUnknown` others. */
export class PendingRelations {
  #known = new Set<number>();
  #unknown = new Set<number>();
  #maxUnknown: number;

  /** A set that holds at most `maxUnknown` relations not known as a limited role's. */
  constructor(maxUnknown: number) {
    this.#maxUnknown = maxUnknown;
  }

  /** Adds a relation; false when it is unknown and the unknown part is full (not added). */
  add(relid: number, known: boolean): boolean {
    if (known) {
      this.#unknown.delete(relid);
      this.#known.add(relid);
      return true;
    }
    if (this.#known.has(relid) || this.#unknown.has(relid)) return true;
    if (this.#unknown.size >= this.#maxUnknown) return false;
    this.#unknown.add(relid);
    return true;
  }

  /** Removes a relation. */
  delete(relid: number): void {
    this.#known.delete(relid);
    this.#unknown.delete(relid);
  }

  /** True when `relid` is waiting and not known as a limited role's. */
  isUnknown(relid: number): boolean {
    return this.#unknown.has(relid);
  }

  /** How many relations wait. */
  get size(): number {
    return this.#known.size + this.#unknown.size;
  }

  /** Known relations first, then unknown ones, each in insertion order. */
  *[Symbol.iterator](): IterableIterator<number> {
    yield* this.#known;
    yield* this.#unknown;
  }
}
