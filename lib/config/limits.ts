import { isObject, JsoncFile, type JsonPath, reportUnknownKeys } from "./json.ts";
import { formatBytes, parseSize, SizeError } from "./size.ts";
import { nameProblem, quote, typeName } from "./text.ts";

/** File name of the limits file inside the config directory. */
export const LIMITS_FILE_NAME = "user_limits.json";

/** One validated entry of user_limits.json. */
export interface LimitEntry {
  /** Exactly one of user / member_of is set. */
  user?: string;
  /** Group role: every member of it gets this limit. */
  member_of?: string;
  /** Bytes; crossing it triggers warnings. */
  soft_limit: number;
  /** Bytes; always greater than soft_limit. */
  hard_limit: number;
  /** Whether a blocked role stays blocked until an operator unlocks it. */
  manual_unlock: boolean;
  /** Seconds over the hard limit before blocking. */
  hard_grace_period: number;
  /** Seconds back under the limit before unlocking. */
  unlock_grace_period: number;
  /**
   * `member_of` entries only: one budget for the group (its own storage plus that of every member
   * this entry limits) instead of one per member; at the hard limit every member is locked.
   * Absent (not false) when not set.
   */
  shared?: boolean;
  /** Position in the file, for messages: "user_limits[3]". */
  index: number;
}

const TOP_KEYS = ["user_limits"] as const;
const ENTRY_KEYS = [
  "user",
  "member_of",
  "soft_limit",
  "hard_limit",
  "manual_unlock",
  "hard_grace_period",
  "unlock_grace_period",
  "shared",
] as const;

/** Label for messages, e.g. "user_limits[2] (user 'bob')" or "user_limits[0] (member_of 'devs')". */
export function describeEntry(entry: Pick<LimitEntry, "index" | "user" | "member_of">): string {
  const names: string[] = [];
  if (entry.user !== undefined) names.push(`user ${quote(entry.user)}`);
  if (entry.member_of !== undefined) names.push(`member_of ${quote(entry.member_of)}`);
  const base = `user_limits[${entry.index}]`;
  return names.length === 0 ? base : `${base} (${names.join(", ")})`;
}

/**
 * Parses and validates the text of user_limits.json (JSONC). `file` is only used in messages.
 *
 * @throws {ConfigError} listing every problem found (only the first one for syntax errors).
 */
export function parseLimits(text: string, file: string): LimitEntry[] {
  const doc = JsoncFile.parse(text, file);
  const root = doc.value;
  const entries: LimitEntry[] = [];
  if (!isObject(root)) {
    doc.report([], `Expected an object with a 'user_limits' array, got ${typeName(root)}`);
  } else {
    reportUnknownKeys(doc, [], root, TOP_KEYS);
    const list = root.user_limits;
    if (!Object.hasOwn(root, "user_limits")) {
      doc.report([], "Missing required key 'user_limits'");
    } else if (!Array.isArray(list)) {
      doc.report(["user_limits"], `Key 'user_limits' must be an array, got ${typeName(list)}`);
    } else {
      const named: EntryNames[] = [];
      list.forEach((value, index) => {
        const entry = parseEntry(doc, value, index);
        if (entry !== undefined) entries.push(entry);
        if (isObject(value)) named.push(entryNames(value, index));
      });
      // Checked on raw entries so a duplicate is reported even if the entry has other problems.
      reportDuplicates(doc, named, "user");
      reportDuplicates(doc, named, "member_of");
    }
  }
  doc.throwIfProblems();
  return entries;
}

function parseEntry(doc: JsoncFile, value: unknown, index: number): LimitEntry | undefined {
  const path: JsonPath = ["user_limits", index];
  if (!isObject(value)) {
    doc.report(path, `Entry must be an object, got ${typeName(value)}`, {
      entry: `user_limits[${index}]`,
    });
    return undefined;
  }
  const label = describeEntry(entryNames(value, index));
  let valid = true;
  const report = (key: string | undefined, message: string, part: "key" | "value" = "value") => {
    valid = false;
    doc.report(key === undefined ? path : [...path, key], message, { entry: label, part });
  };
  const has = (key: string) => Object.hasOwn(value, key);

  const unknownBefore = doc.problemCount;
  reportUnknownKeys(doc, path, value, ENTRY_KEYS, label);
  if (doc.problemCount > unknownBefore) valid = false;

  const name = (key: "user" | "member_of"): string | undefined => {
    if (!has(key)) return undefined;
    const raw = value[key];
    if (typeof raw !== "string") {
      report(key, `Key ${quote(key)} must be a string, got ${typeName(raw)}`);
      return undefined;
    }
    const problem = nameProblem(raw);
    if (problem !== undefined) report(key, `Key ${quote(key)} ${problem}`);
    return raw;
  };
  const user = name("user");
  const memberOf = name("member_of");
  if (has("user") && has("member_of")) {
    report("member_of", "Set only one of 'user' and 'member_of'", "key");
  } else if (!has("user") && !has("member_of")) {
    report(undefined, "Missing key 'user' or 'member_of' (exactly one is required)");
  }

  const size = (key: "soft_limit" | "hard_limit"): number | undefined => {
    if (!has(key)) {
      report(undefined, `Missing required key ${quote(key)}`);
      return undefined;
    }
    try {
      return parseSize(value[key]);
    } catch (error) {
      if (!(error instanceof SizeError)) throw error;
      report(key, `Invalid ${quote(key)}: ${lowerFirst(error.message)}`);
      return undefined;
    }
  };
  const soft = size("soft_limit");
  const hard = size("hard_limit");
  if (soft !== undefined && hard !== undefined && hard <= soft) {
    report(
      "hard_limit",
      `'hard_limit' (${describeBytes(hard)}) must be greater than 'soft_limit' ` +
        `(${describeBytes(soft)})`,
    );
  }

  let manualUnlock = false;
  if (has("manual_unlock")) {
    const raw = value.manual_unlock;
    if (typeof raw === "boolean") manualUnlock = raw;
    else report("manual_unlock", `Key 'manual_unlock' must be a boolean, got ${typeName(raw)}`);
  }

  const seconds = (key: "hard_grace_period" | "unlock_grace_period"): number => {
    if (!has(key)) return 0;
    const raw = value[key];
    if (typeof raw !== "number") {
      report(key, `Key ${quote(key)} must be a number of seconds, got ${typeName(raw)}`);
    } else if (!Number.isFinite(raw) || raw < 0) {
      report(key, `Key ${quote(key)} must be a non-negative number of seconds, got ${raw}`);
    } else {
      return raw;
    }
    return 0;
  };
  let shared = false;
  if (has("shared")) {
    const raw = value.shared;
    if (typeof raw !== "boolean") {
      report("shared", `Key 'shared' must be a boolean, got ${typeName(raw)}`);
    } else if (raw && !has("member_of")) {
      report(
        "shared",
        "Key 'shared' applies to 'member_of' entries only (one budget for a group's members)",
        "key",
      );
    } else shared = raw;
  }

  const hardGrace = seconds("hard_grace_period");
  const unlockGrace = seconds("unlock_grace_period");

  if (!valid || soft === undefined || hard === undefined) return undefined;
  return {
    ...(user !== undefined ? { user } : {}),
    ...(memberOf !== undefined ? { member_of: memberOf } : {}),
    soft_limit: soft,
    hard_limit: hard,
    manual_unlock: manualUnlock,
    hard_grace_period: hardGrace,
    unlock_grace_period: unlockGrace,
    ...(shared ? { shared: true } : {}),
    index,
  };
}

type EntryNames = Pick<LimitEntry, "index" | "user" | "member_of">;

/** Names of a raw entry; invalid ones are kept too since they still locate the entry best. */
function entryNames(value: Record<string, unknown>, index: number): EntryNames {
  return {
    index,
    ...(typeof value.user === "string" ? { user: value.user } : {}),
    ...(typeof value.member_of === "string" ? { member_of: value.member_of } : {}),
  };
}

function reportDuplicates(
  doc: JsoncFile,
  entries: readonly EntryNames[],
  key: "user" | "member_of",
): void {
  const seen = new Map<string, EntryNames>();
  for (const entry of entries) {
    const name = entry[key];
    if (name === undefined) continue;
    const first = seen.get(name);
    if (first === undefined) {
      seen.set(name, entry);
      continue;
    }
    doc.report(
      ["user_limits", entry.index, key],
      `Duplicate ${key} ${quote(name)}, already limited by user_limits[${first.index}]`,
      { entry: describeEntry(entry) },
    );
  }
}

function describeBytes(bytes: number): string {
  const human = formatBytes(bytes);
  return bytes < 1024 ? human : `${human} = ${bytes} bytes`;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
