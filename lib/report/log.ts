/**
 * Structured logs: one JSON object per line on stderr (journald keeps them as they are).
 *
 * @module
 */

/** Severity, lowest first. */
export type Level = "debug" | "info" | "warn" | "error";

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Extra fields of a log line. Never put secrets here. */
export type Fields = Record<string, unknown>;

/** A JSON-lines logger. */
export class Logger {
  #min: number;
  #write: (line: string) => void;

  /** Creates a logger writing lines at or above `level` (to stderr unless `write` is given). */
  constructor(level: Level = "info", write?: (line: string) => void) {
    this.#min = ORDER[level];
    const enc = new TextEncoder();
    this.#write = write ?? ((line) => {
      try {
        Deno.stderr.writeSync(enc.encode(line + "\n"));
      } catch {
        // stderr closed: nothing sensible to do.
      }
    });
  }

  /** Changes the minimum level (on reload). */
  setLevel(level: Level) {
    this.#min = ORDER[level];
  }

  /** Writes one line if `level` is enabled. */
  log(level: Level, msg: string, fields: Fields = {}) {
    if (ORDER[level] < this.#min) return;
    this.#write(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }, replacer));
  }

  /** Debug line. */
  debug(msg: string, fields?: Fields) {
    this.log("debug", msg, fields);
  }
  /** Info line. */
  info(msg: string, fields?: Fields) {
    this.log("info", msg, fields);
  }
  /** Warning line. */
  warn(msg: string, fields?: Fields) {
    this.log("warn", msg, fields);
  }
  /** Error line. */
  error(msg: string, fields?: Fields) {
    this.log("error", msg, fields);
  }
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? value.message : `${value.message} (${code})`;
  }
  if (typeof value === "bigint") return Number(value);
  return value;
}

/** Message of an unknown thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" && !err.message.includes(code)
      ? `${err.message} (${code})`
      : err.message;
  }
  return String(err);
}
