/**
 * Seeded mutations of JSON/JSONC texts for fuzzing the config parser: byte-level edits (cut,
 * insert, duplicate) and structural ones (a value replaced by another of any type, a key removed
 * or added). Deterministic for a seed, so a failure names a case that can be replayed.
 */

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  '"',
  "/",
  "*",
  "//",
  "/*",
  "\n",
  "0",
  "-",
  "1e309",
  "9",
  " ",
  "\\",
  "\u0000",
  "é",
  "null",
  "true",
  "\ufeff",
  "'",
  "NaN",
  "\ud800",
];

/** A random JSON value of any type, including the awkward ones. */
function randomValue(r: () => number): unknown {
  const pick = Math.floor(r() * 14);
  switch (pick) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return Math.floor((r() - 0.5) * 1e6);
    case 3:
      return r() * 1e20;
    case 4:
      return -1;
    case 5:
      return 0;
    case 6:
      return Number.MAX_SAFE_INTEGER + 2;
    case 7:
      return "";
    case 8:
      return ["1GB", "-5MB", "1.5 GiB", "ten", "9999999PB", "0x10", " 2 GB "][Math.floor(r() * 7)];
    case 9:
      return `x${"é\"\\%' ".repeat(Math.floor(r() * 3))}`;
    case 10:
      return [];
    case 11:
      return [randomValue(r)];
    case 12:
      return {};
    default:
      return { [String(Math.floor(r() * 100))]: randomValue(r) };
  }
}

/** Every path (keys and indices) to a value inside `v`. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  }
  return out;
}

function structural(base: unknown, r: () => number): string {
  const doc = structuredClone(base) as Record<string, unknown>;
  const all = paths(doc).filter((p) => p.length > 0);
  const path = all[Math.floor(r() * all.length)] ?? [];
  let parent: Record<string | number, unknown> = doc as Record<string, unknown>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const key = path.at(-1)!;
  const what = r();
  if (what < 0.6) parent[key] = randomValue(r);
  else if (what < 0.8 && !Array.isArray(parent)) delete parent[key];
  else parent[`${String(key)}_x`] = randomValue(r);
  return JSON.stringify(doc, null, r() < 0.5 ? 2 : undefined);
}

function textual(text: string, r: () => number): string {
  let t = text;
  const edits = 1 + Math.floor(r() * 3);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(r() * (t.length + 1));
    const what = r();
    if (what < 0.35) t = t.slice(0, at) + t.slice(at + 1 + Math.floor(r() * 8));
    else if (what < 0.8) t = t.slice(0, at) + TOKENS[Math.floor(r() * TOKENS.length)] + t.slice(at);
    else t = t.slice(0, at) + t.slice(at, at + Math.floor(r() * 20)).repeat(2) + t.slice(at + 20);
  }
  return t;
}

/** The `n`-th mutation of `base` (a JSON-compatible value) for this seed. */
export function mutate(base: unknown, seed: number): string {
  const r = prng(seed);
  const text = JSON.stringify(base, null, 2);
  return r() < 0.5 ? structural(base, r) : textual(r() < 0.3 ? `// c\n${text}` : text, r);
}
