/**
 * One LISTEN connection per database, kept alive by us rather than by postgres.js (whose
 * `sql.listen` gives up silently if a re-listen fails while the server is down). Notifications
 * sent while disconnected are lost, so `onConnect` runs after every (re)connect and the caller
 * re-measures that database.
 *
 * @module
 */
import { connect, type ConnectionTarget, type Sql } from "../db/connect.ts";
import { errorMessage } from "../report/log.ts";
import { backoffMs } from "../backoff.ts";

type Timer = ReturnType<typeof setTimeout>;

/** Callbacks of a {@linkcode Listener}. */
export interface ListenerCallbacks {
  /** A notification on the channel. */
  onNotify: (payload: string) => void;
  /** LISTEN is active (first time or after a reconnect). */
  onConnect: () => void;
  /** The connection was lost or could not be made; `retryInMs` until the next attempt. */
  onDisconnect: (reason: string, retryInMs: number) => void;
}

/** A self-healing LISTEN connection to one database. */
export class Listener {
  #sql: Sql;
  #channel: string;
  #cb: ListenerCallbacks;
  #connected = false;
  #stopped = false;
  #attempt = 0;
  #timer?: Timer;
  #connecting = false;
  #ready = Promise.withResolvers<void>();

  /** Creates the listener; call {@linkcode start}. */
  constructor(
    target: ConnectionTarget,
    database: string,
    channel: string,
    callbacks: ListenerCallbacks,
  ) {
    this.#channel = channel;
    this.#cb = callbacks;
    this.#sql = connect(target, database, {
      max: 1,
      prepare: false,
      backoff: () => 0,
      applicationName: `${target.applicationName} listen`,
      onNotify: (channel, payload) => {
        if (channel === this.#channel) this.#cb.onNotify(payload);
      },
      onClose: () => {
        if (this.#stopped || !this.#connected) return;
        this.#connected = false;
        this.#schedule("connection closed");
      },
    });
  }

  /** Resolves when LISTEN is first active (or the listener is stopped). */
  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  /** True while LISTEN is active. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Connects and listens; retries with backoff (0.25 s doubling to 10 s) until stopped. */
  start() {
    void this.#connect();
  }

  #schedule(reason: string) {
    if (this.#stopped) return;
    const delay = this.#attempt === 0 ? 0 : backoffMs(this.#attempt - 1);
    this.#attempt++;
    this.#cb.onDisconnect(reason, delay);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }

  async #connect() {
    if (this.#stopped || this.#connecting) return;
    this.#connecting = true;
    try {
      await this.#sql`LISTEN ${this.#sql(this.#channel)}`;
      if (this.#stopped) return;
      this.#connected = true;
      this.#attempt = 0;
      this.#ready.resolve();
      this.#cb.onConnect();
    } catch (err) {
      this.#connected = false;
      this.#schedule(errorMessage(err));
    } finally {
      this.#connecting = false;
    }
  }

  /** Stops listening and closes the connection (waits at most `timeoutS` seconds). */
  async stop(timeoutS = 2) {
    this.#stopped = true;
    this.#ready.resolve();
    clearTimeout(this.#timer);
    this.#connected = false;
    await this.#sql.end({ timeout: timeoutS }).catch(() => {});
  }
}
