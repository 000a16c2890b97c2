/**
 * Running the daemon and its CLI as subprocesses, exactly as an operator would, for the tests,
 * the demo and the benchmark.
 *
 * @module
 */

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Options of {@linkcode waitFor}. */
export interface WaitOptions {
  /** Give up after this many ms. @default {10000} */
  timeout?: number;
  /** Poll interval, ms. @default {20} */
  interval?: number;
  /** What was awaited, for the error. */
  what?: string;
}

/** Polls `check` until it returns a truthy value; throws after the timeout. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeout = options.timeout ?? 10_000;
  const deadline = performance.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      throw new Error(
        `Timed out after ${timeout} ms waiting for ${options.what ?? "a condition"}` +
          (last ? `: ${(last as Error).message}` : ""),
      );
    }
    await new Promise((r) => setTimeout(r, options.interval ?? 20));
  }
}

/** One parsed log line of the daemon. */
export type LogLine = Record<string, unknown> & { msg: string; level: string };

/** A daemon subprocess started with exactly the computed permission flags. */
export class DaemonProcess {
  /** Parsed JSON log lines so far. */
  lines: LogLine[] = [];
  /** Non-JSON stderr lines (should stay empty). */
  raw: string[] = [];
  /** The exit code once the process has exited; undefined while it runs. */
  exitCode: number | undefined;
  #child: Deno.ChildProcess;
  #done: Promise<Deno.CommandStatus>;
  #reader: Promise<void>;

  /**
   * Spawns `main.ts run` (or another command) with flags and args; with `program`, runs that
   * executable (a built daemon, its permissions baked in) with `args` instead, ignoring `flags`.
   */
  constructor(
    flags: string[],
    args: string[],
    env: Record<string, string> = {},
    program?: string,
  ) {
    this.#child = new Deno.Command(program ?? Deno.execPath(), {
      args: program ? args : ["run", "--quiet", ...flags, MAIN, ...args],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env,
    }).spawn();
    this.#done = this.#child.status;
    this.#done.then((s) => this.exitCode = s.code);
    this.#reader = this.#read();
  }

  async #read() {
    const decoder = new TextDecoderStream();
    let buf = "";
    for await (const chunk of this.#child.stderr.pipeThrough(decoder)) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.lines.push(JSON.parse(line));
        } catch {
          this.raw.push(line);
        }
      }
    }
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Waits for a log line matching `pred`; returns it. */
  async waitForLog(
    pred: (l: LogLine) => boolean,
    options: WaitOptions = {},
  ): Promise<LogLine> {
    return await waitFor(() => this.lines.find(pred), {
      what: options.what ?? "a log line",
      ...options,
      timeout: options.timeout ?? 15_000,
    }).catch((err) => {
      throw new Error(`${err.message}\n--- daemon log ---\n${this.dump()}`);
    });
  }

  /** Waits for the daemon's "running" line (it has measured and started enforcing). */
  async waitRunning(timeout?: number): Promise<LogLine> {
    return await this.waitForLog((l) => l.msg === "running", {
      what: "the daemon to start",
      ...(timeout === undefined ? {} : { timeout }),
    });
  }

  /** Log lines with this message. */
  find(msg: string, role?: string): LogLine[] {
    return this.lines.filter((l) => l.msg === msg && (role === undefined || l.role === role));
  }

  /** All output, for failure messages. */
  dump(): string {
    return [...this.lines.map((l) => JSON.stringify(l)), ...this.raw].join("\n");
  }

  /** Sends a signal. */
  signal(sig: Deno.Signal) {
    try {
      this.#child.kill(sig);
    } catch {
      // already exited
    }
  }

  /** Waits for exit; returns the code. */
  async exited(): Promise<number> {
    const s = await this.#done;
    await this.#reader;
    return s.code;
  }

  /** SIGTERM and wait (SIGKILL after `timeoutMs`); returns the exit code. */
  async stop(timeoutMs = 8000): Promise<number> {
    this.signal("SIGTERM");
    const t = setTimeout(() => this.signal("SIGKILL"), timeoutMs);
    try {
      return await this.exited();
    } finally {
      clearTimeout(t);
    }
  }
}

/** Result of running the CLI once. */
export interface CliResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Runs `main.ts` with the given flags and args to completion. */
export async function runCli(
  flags: string[],
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, MAIN, ...args],
    stdin: "null",
    env,
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs `install` for a config directory as the superuser at `adminUrl` (template1 untouched). */
export async function installAs(
  flags: string[],
  configDir: string,
  adminUrl: string,
): Promise<CliResult> {
  const r = await runCli(flags, [
    "install",
    "--config-dir",
    configDir,
    "--admin-url",
    adminUrl,
    "--no-template1",
  ]);
  if (r.code !== 0) throw new Error(`install failed: ${r.stderr}${r.stdout}`);
  return r;
}
