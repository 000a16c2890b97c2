/// <reference lib="deno.unstable" />
/**
 * systemd's sd_notify protocol, spoken directly: datagrams of `KEY=value` lines to the unix socket
 * named by `$NOTIFY_SOCKET`. The daemon reports READY=1 (unit `Type=notify`), a one-line STATUS=,
 * RELOADING=1 and STOPPING=1, and pings WATCHDOG=1 every half `$WATCHDOG_USEC` from its event loop,
 * so a daemon whose loop is stuck is restarted by systemd (`WatchdogSec=`).
 *
 * Deno can only send a unix datagram from a bound socket (`Deno.listenDatagram`, behind
 * `--unstable-net`), so the daemon binds `<state_dir>/sd_notify.sock` to send from. An abstract
 * `$NOTIFY_SOCKET` (`@…`, used by containers and user managers) cannot be reached from Deno; it is
 * reported once and ignored.
 *
 * @module
 */
import { NOTIFY_CLIENT_SOCKET } from "./permissions.ts";

/** Where the notifier reports its own trouble. */
export type NotifyErrorSink = (message: string) => void;

/** Sends sd_notify messages to `$NOTIFY_SOCKET`; every method is a no-op when there is none. */
export class SdNotify {
  #target: string;
  #bindPath: string;
  #conn: Deno.DatagramConn | undefined;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #onError: NotifyErrorSink;
  #failed = false;
  #encoder = new TextEncoder();

  private constructor(target: string, bindPath: string, onError: NotifyErrorSink) {
    this.#target = target;
    this.#bindPath = bindPath;
    this.#onError = onError;
  }

  /**
   * The notifier for this process: undefined when `$NOTIFY_SOCKET` is unset (not started by
   * systemd with `Type=notify`) or cannot be used (reported through `onError`).
   */
  static fromEnv(stateDir: string, onError: NotifyErrorSink): SdNotify | undefined {
    const target = Deno.env.get("NOTIFY_SOCKET");
    if (!target) return undefined;
    if (!target.startsWith("/")) {
      onError(`NOTIFY_SOCKET '${target}' is not a path (abstract sockets are unsupported)`);
      return undefined;
    }
    if (typeof Deno.listenDatagram !== "function") {
      onError("NOTIFY_SOCKET is set but this build lacks --unstable-net: cannot notify systemd");
      return undefined;
    }
    return new SdNotify(target, `${stateDir}/${NOTIFY_CLIENT_SOCKET}`, onError);
  }

  /** The watchdog interval systemd asked for, in ms, if it asked this process. */
  static watchdogMs(): number | undefined {
    const usec = Number(Deno.env.get("WATCHDOG_USEC"));
    const pid = Deno.env.get("WATCHDOG_PID");
    if (!Number.isFinite(usec) || usec <= 0) return undefined;
    if (pid !== undefined && pid !== "" && Number(pid) !== Deno.pid) return undefined;
    return usec / 1000;
  }

  /** Sends `fields` as one datagram; failures are reported once and otherwise ignored. */
  async send(fields: Record<string, string>): Promise<void> {
    const text = Object.entries(fields)
      // A newline would start a new assignment: STATUS= is one line.
      .map(([key, value]) => `${key}=${value.replaceAll("\n", " ")}`)
      .join("\n");
    try {
      if (this.#conn === undefined) {
        await Deno.remove(this.#bindPath).catch(() => {});
        this.#conn = Deno.listenDatagram({ path: this.#bindPath, transport: "unixpacket" });
      }
      await this.#conn.send(this.#encoder.encode(text), {
        path: this.#target,
        transport: "unixpacket",
      });
      this.#failed = false;
    } catch (err) {
      if (!this.#failed) {
        this.#onError(`cannot notify systemd at '${this.#target}': ${(err as Error).message}`);
      }
      this.#failed = true;
    }
  }

  /** READY=1 with a status line; starts the watchdog pings if systemd asked for them. */
  async ready(status: string): Promise<void> {
    await this.send({ READY: "1", STATUS: status });
    const ms = SdNotify.watchdogMs();
    if (ms !== undefined && this.#watchdog === undefined) {
      const timer = setInterval(() => void this.send({ WATCHDOG: "1" }), Math.max(ms / 2, 50));
      Deno.unrefTimer(timer);
      this.#watchdog = timer;
      await this.send({ WATCHDOG: "1" });
    }
  }

  /** STATUS=, shown by `systemctl status`. */
  async status(status: string): Promise<void> {
    await this.send({ STATUS: status });
  }

  /** RELOADING=1 … then {@linkcode ready} again when the reload is done. */
  async reloading(): Promise<void> {
    await this.send({ RELOADING: "1" });
  }

  /** STOPPING=1; stops the watchdog pings. */
  async stopping(): Promise<void> {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    await this.send({ STOPPING: "1", STATUS: "stopping" });
  }

  /** Closes and removes the bound socket. */
  close(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    if (this.#conn !== undefined) {
      this.#conn.close();
      this.#conn = undefined;
      try {
        Deno.removeSync(this.#bindPath);
      } catch {
        // Already gone.
      }
    }
  }
}
