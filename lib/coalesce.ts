/**
 * One run at a time of an async task, with the requests made during a run folded into one more
 * run after it: how the daemon sweeps, pumps alerts and publishes its alert cursor.
 *
 * @module
 */

/** Runs a task one at a time; calls made while it runs are folded into one more run. */
export class Coalesced {
  #task: () => Promise<void>;
  #stopped: () => boolean;
  #running?: Promise<void>;
  #again = false;

  /**
   * `task` is the work; `stopped`, checked before each extra run, ends the loop early (the daemon
   * stopping). A task that throws ends the loop and rejects every caller waiting on it.
   */
  constructor(task: () => Promise<void>, stopped: () => boolean = () => false) {
    this.#task = task;
    this.#stopped = stopped;
  }

  /**
   * Starts a run, or asks the run in progress for one more. Resolves once a run that started
   * after this call has finished (or the loop ended because `stopped` said so).
   */
  async run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return await this.#running;
    }
    this.#running = this.#loop();
    try {
      await this.#running;
    } finally {
      this.#running = undefined;
    }
  }

  /** Resolves when no run is in progress (at once if none is); never rejects. */
  async idle(): Promise<void> {
    await this.#running?.catch(() => {});
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      await this.#task();
    } while (this.#again && !this.#stopped());
  }
}
