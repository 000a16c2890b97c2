/**
 * Syslog through util-linux `logger`: one long-lived child fed line by line, each line carrying its
 * own priority (`--prio-prefix`), tag `postgres_realtime_monitor`, facility daemon. A slow or
 * missing syslog never blocks enforcement: lines are queued (bounded) and the child is respawned
 * if it dies.
 *
 * @module
 */

/** Syslog severities used here (RFC 5424 numbers). */
export const SEVERITY = { crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;

/** A severity name. */
export type Severity = keyof typeof SEVERITY;

const FACILITY_DAEMON = 3;

/** Options for {@linkcode Syslog}. */
export interface SyslogOptions {
  /** Syslog tag. @default {"postgres_realtime_monitor"} */
  tag?: string;
  /** Write to this unix socket instead of the system's (tests). @default {undefined} */
  socket?: string;
  /** Path of the `logger` program. @default {"logger"} */
  program?: string;
  /** Called when logger cannot be started or dies. */
  onError?: (message: string) => void;
  /** Lines kept while logger is unavailable; older ones are dropped. @default {1000} */
  maxQueue?: number;
}

/** A long-lived `logger` child. */
export class Syslog {
  #opts: Required<Omit<SyslogOptions, "socket">> & { socket?: string };
  #child?: Deno.ChildProcess;
  #writer?: WritableStreamDefaultWriter<Uint8Array>;
  #queue: string[] = [];
  #flushing = false;
  #closed = false;
  #respawnAt = 0;
  #enc = new TextEncoder();

  /** Creates the writer; the child starts on the first line. */
  constructor(options: SyslogOptions = {}) {
    this.#opts = {
      tag: options.tag ?? "postgres_realtime_monitor",
      socket: options.socket,
      program: options.program ?? "logger",
      onError: options.onError ?? (() => {}),
      maxQueue: options.maxQueue ?? 1000,
    };
  }

  /** Queues one message at a severity. Never throws, never waits. */
  send(severity: Severity, message: string) {
    if (this.#closed) return;
    const prio = FACILITY_DAEMON * 8 + SEVERITY[severity];
    // One message per line: newlines inside would split it into two syslog records.
    this.#queue.push(`<${prio}>${message.replace(/[\r\n]+/g, " ")}\n`);
    if (this.#queue.length > this.#opts.maxQueue) this.#queue.shift();
    void this.#flush();
  }

  #spawn(): boolean {
    if (Date.now() < this.#respawnAt) return false;
    const args = ["--prio-prefix", "-t", this.#opts.tag, "-p", "daemon.info"];
    if (this.#opts.socket) args.push("--socket-errors=on", "-u", this.#opts.socket);
    try {
      const child = new Deno.Command(this.#opts.program, {
        args,
        stdin: "piped",
        stdout: "null",
        stderr: "null",
      }).spawn();
      this.#child = child;
      this.#writer = child.stdin.getWriter();
      child.status.then((s) => {
        if (this.#child === child) {
          this.#child = undefined;
          this.#writer = undefined;
          if (!this.#closed) this.#opts.onError(`logger exited with code ${s.code}`);
        }
      });
      return true;
    } catch (err) {
      this.#respawnAt = Date.now() + 5000;
      this.#opts.onError(`cannot start logger: ${(err as Error).message}`);
      return false;
    }
  }

  async #flush() {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        if (!this.#writer && !this.#spawn()) return;
        const line = this.#queue[0]!;
        try {
          await this.#writer!.write(this.#enc.encode(line));
          this.#queue.shift();
        } catch {
          this.#child = undefined;
          this.#writer = undefined;
          this.#respawnAt = Date.now() + 1000;
          setTimeout(() => void this.#flush(), 1000);
          return;
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Flushes what can be flushed and ends the child. */
  async close() {
    await this.#flush();
    this.#closed = true;
    const child = this.#child;
    this.#child = undefined;
    try {
      await this.#writer?.close();
    } catch {
      // already gone
    }
    if (child) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([child.status, new Promise((r) => timer = setTimeout(r, 1000))]);
      clearTimeout(timer);
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      await child.status.catch(() => {});
    }
  }
}
