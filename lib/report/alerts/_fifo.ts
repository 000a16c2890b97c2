/**
 * A first-in first-out list that removes any item in amortised constant time: removed items are
 * marked and skipped, and the array is compacted once most of it is marked. Used by the alert
 * queue, where deliveries finish in order but can also be dropped from the middle.
 *
 * @module
 */

/**
 * An item of a {@linkcode Fifo}: `gone` is set once it is removed. One item may be in several
 * lists: it is then removed from each (the flag is shared, each list keeps its own count).
 */
export interface FifoItem {
  /** Removed; set by {@linkcode Fifo.remove}, never cleared. */
  gone: boolean;
}

/** Insertion-ordered items; `first()` and `remove()` are amortised O(1). */
export class Fifo<T extends FifoItem> {
  #items: T[] = [];
  #head = 0;
  #live = 0;

  /** Number of items not removed. */
  get size(): number {
    return this.#live;
  }

  /** Appends an item. */
  push(item: T): void {
    this.#items.push(item);
    this.#live++;
  }

  /** Marks `item` removed; call it once per list that holds the item. */
  remove(item: T): void {
    item.gone = true;
    this.#live--;
    this.#skipGone();
    const dead = this.#items.length - this.#head - this.#live;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    } else if (dead > 1024 && dead > this.#live) {
      this.#items = this.#items.slice(this.#head).filter((x) => !x.gone);
      this.#head = 0;
    }
  }

  /** The oldest item not removed. */
  first(): T | undefined {
    this.#skipGone();
    return this.#items[this.#head];
  }

  /** Items not removed, oldest first. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i]!;
      if (!item.gone) yield item;
    }
  }

  #skipGone() {
    while (this.#head < this.#items.length && this.#items[this.#head]!.gone) this.#head++;
  }
}
