import { quote, typeName } from "./text.ts";

/** A value that is not a valid size; the message is suitable for showing to an operator. */
export class SizeError extends Error {
  /** Builds the error; `message` is sentence case without a trailing period. */
  constructor(message: string) {
    super(message);
    this.name = "SizeError";
  }
}

const KIB = 1024n;

/** Unit multipliers, keyed by lower-case unit. 1024-based like PostgreSQL's pg_size_bytes(). */
const UNITS: ReadonlyMap<string, bigint> = new Map([
  ["b", 1n],
  ["bytes", 1n],
  ["kb", KIB],
  ["kib", KIB],
  ["mb", KIB ** 2n],
  ["mib", KIB ** 2n],
  ["gb", KIB ** 3n],
  ["gib", KIB ** 3n],
  ["tb", KIB ** 4n],
  ["tib", KIB ** 4n],
  ["pb", KIB ** 5n],
  ["pib", KIB ** 5n],
]);

const SIZE_RE = /^\s*([+-]?)(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*$/;

/**
 * Parses a size in bytes: a non-negative safe integer, or a string such as "500MB", "2 GB",
 * "1.5GiB", "10kB" or "123". Units (case-insensitive) are B, kB, MB, GB, TB, PB and their
 * KiB..PiB spellings, all 1024-based as in PostgreSQL; fractional results are rounded down.
 *
 * @throws {SizeError} when the value is not a valid size.
 */
export function parseSize(value: unknown): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new SizeError(`Size must be finite, got ${value}`);
    if (value < 0) throw new SizeError(`Size must not be negative, got ${value}`);
    if (!Number.isInteger(value)) {
      throw new SizeError(`Size in bytes must be a whole number, got ${value}`);
    }
    if (!Number.isSafeInteger(value)) throw new SizeError(`Size is too large, got ${value}`);
    return value;
  }
  if (typeof value !== "string") {
    throw new SizeError(`Size must be a number or a string, got ${typeName(value)}`);
  }
  const match = SIZE_RE.exec(value);
  if (match === null) {
    throw new SizeError(`Invalid size ${quote(value)}, expected e.g. '500MB', '1.5GiB' or '123'`);
  }
  const [, sign = "", number = "", unit = ""] = match;
  const multiplier = UNITS.get(unit === "" ? "b" : unit.toLowerCase());
  if (multiplier === undefined) {
    throw new SizeError(
      `Invalid size ${quote(value)}: unknown unit ${quote(unit)}, ` +
        `expected one of B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB`,
    );
  }
  const [whole = "", fraction = ""] = number.split(".");
  // Exact decimal arithmetic, so "0.1TB" or "1.1kB" cannot be off by one through float error.
  const scale = 10n ** BigInt(fraction.length);
  const scaled = BigInt(whole + fraction) * multiplier;
  if (sign === "-" && scaled !== 0n) {
    throw new SizeError(`Size must not be negative, got ${quote(value)}`);
  }
  if (multiplier === 1n && scaled % scale !== 0n) {
    // Consistent with the numeric form: a byte count has no fraction to round away.
    throw new SizeError(`Size in bytes must be a whole number, got ${quote(value)}`);
  }
  const bytes = scaled / scale;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new SizeError(`Size ${quote(value)} is too large`);
  }
  return Number(bytes);
}

const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"] as const;

/**
 * Formats a byte count for humans with 1024-based units and at most one decimal,
 * e.g. 1572864 => "1.5 MiB", 512 => "512 B", 10737418240 => "10 GiB".
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return `${bytes} B`;
  const sign = bytes < 0 ? "-" : "";
  let value = Math.abs(bytes);
  let unit = 0;
  // Compare the rounded value so 1048575 bytes prints as "1 MiB", not "1024 KiB".
  while (unit < BINARY_UNITS.length - 1 && Math.round(value * 10) / 10 >= 1024) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 ? String(Math.round(value)) : value.toFixed(1).replace(/\.0$/, "");
  return `${sign}${text} ${BINARY_UNITS[unit]}`;
}
