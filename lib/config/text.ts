/**
 * Message-formatting helpers shared by the config parsers.
 *
 * @module
 */

/** Quotes a value in single quotes, escaping quotes, backslashes and control characters. */
export function quote(value: string): string {
  // Control characters are matched on purpose: a role name with a newline must not split a
  // one-problem-per-line message.
  // deno-lint-ignore no-control-regex
  const escaped = value.replace(/[\\'\u0000-\u001f\u007f]/g, (ch) => {
    switch (ch) {
      case "\\":
        return "\\\\";
      case "'":
        return "\\'";
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default:
        return `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;
    }
  });
  return `'${escaped}'`;
}

/** JSON-oriented type name for messages: "null", "array", "object", "string", ... */
export function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** Length of a string in UTF-8 bytes (PostgreSQL name limits are in bytes). */
export function utf8Length(value: string): number {
  return new TextEncoder().encode(value).length;
}

/**
 * Returns the candidate closest to `word` if it is at most `maxDistance` edits away (optimal
 * string alignment distance, so a swapped pair of letters counts as one edit).
 */
export function closestMatch(
  word: string,
  candidates: readonly string[],
  maxDistance = 2,
): string | undefined {
  let best: string | undefined;
  let bestDistance = maxDistance + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, at(i - 2, j - 2) + 1);
      }
      d[i * cols + j] = value;
    }
  }
  return at(a.length, b.length);
}

/** PostgreSQL identifiers (NAMEDATALEN - 1) are limited to this many bytes. */
export const MAX_NAME_BYTES = 63;

/**
 * Checks a role or database name as PostgreSQL would store it, without trimming or case folding.
 * Returns a message fragment such as "must not be empty", or undefined when the name is valid.
 */
export function nameProblem(name: string): string | undefined {
  if (name === "") return "must not be empty";
  // PostgreSQL text cannot hold NUL, so such a role can never exist.
  if (name.includes("\0")) return "must not contain a NUL character";
  const bytes = utf8Length(name);
  if (bytes > MAX_NAME_BYTES) {
    return `must be at most ${MAX_NAME_BYTES} bytes (PostgreSQL name limit), got ${bytes} bytes`;
  }
  return undefined;
}
