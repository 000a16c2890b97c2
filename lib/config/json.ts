import { type Node, parseTree, printParseErrorCode, visit } from "jsonc-parser";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import { closestMatch, quote } from "./text.ts";

/** Location of a value inside a document: object keys and array indexes from the root. */
export type JsonPath = readonly (string | number)[];

/** Where a problem should point: at the value (default) or at its object key. */
export type ProblemPart = "value" | "key";

/** Options for {@linkcode JsoncFile.report}. */
export interface ReportOptions {
  /** Entry label, e.g. "user_limits[2] (user 'bob')". */
  entry?: string;
  /** Point at the key instead of the value. */
  part?: ProblemPart;
}

const PARSE_OPTIONS = { allowTrailingComma: true, disallowComments: false } as const;

interface PendingProblem extends ConfigProblem {
  offset: number;
}

/**
 * A parsed JSONC file (comments and trailing commas allowed) that collects validation problems
 * with their line and column, so a whole file can be reported in one {@linkcode ConfigError}.
 */
export class JsoncFile {
  /** The parsed document as plain data. */
  readonly value: unknown;
  readonly #file: string;
  readonly #lineStarts: number[];
  readonly #nodes = new Map<string, Node>();
  readonly #problems: PendingProblem[] = [];

  private constructor(file: string, text: string, root: Node) {
    this.#file = file;
    this.#lineStarts = lineStarts(text);
    this.value = this.#toValue(root, []);
  }

  /**
   * Parses `text`; `file` is only used in messages.
   *
   * @throws {ConfigError} on the first syntax error, with its line and column.
   */
  static parse(text: string, file: string): JsoncFile {
    // Editors do not count a byte order mark as a column, so drop it before computing positions.
    const source = text.startsWith("\uFEFF") ? text.slice(1) : text;
    const syntax = firstSyntaxError(source);
    const root = syntax === undefined ? parseTree(source, [], PARSE_OPTIONS) : undefined;
    if (syntax !== undefined || root === undefined) {
      const offset = syntax?.offset ?? 0;
      const { line, column } = position(lineStarts(source), offset);
      throw new ConfigError({
        file,
        line,
        column,
        message: `Cannot parse JSON: ${syntax?.message ?? "expected a value"}`,
      });
    }
    return new JsoncFile(file, source, root);
  }

  /** Records a problem about the value at `path`. */
  report(path: JsonPath, message: string, options: ReportOptions = {}): void {
    let node = this.#nodes.get(pathKey(path));
    if (options.part === "key" && node?.parent?.type === "property") {
      node = node.parent.children?.[0] ?? node;
    }
    const offset = node?.offset ?? 0;
    const problem: PendingProblem = { file: this.#file, message, offset };
    if (node !== undefined) Object.assign(problem, position(this.#lineStarts, offset));
    if (options.entry !== undefined) problem.entry = options.entry;
    this.#problems.push(problem);
  }

  /** Number of problems reported so far. */
  get problemCount(): number {
    return this.#problems.length;
  }

  /**
   * Throws every reported problem, in file order, as one error.
   *
   * @throws {ConfigError} if any problem was reported.
   */
  throwIfProblems(): void {
    if (this.#problems.length === 0) return;
    const sorted = [...this.#problems].sort((a, b) => a.offset - b.offset);
    throw new ConfigError(sorted.map(({ offset: _offset, ...problem }) => problem));
  }

  #toValue(node: Node, path: JsonPath): unknown {
    this.#nodes.set(pathKey(path), node);
    switch (node.type) {
      case "object": {
        const result: Record<string, unknown> = {};
        for (const property of node.children ?? []) {
          const [keyNode, valueNode] = property.children ?? [];
          if (keyNode === undefined || valueNode === undefined) continue;
          const key = String(keyNode.value);
          const childPath = [...path, key];
          if (Object.hasOwn(result, key)) {
            this.#nodes.set(pathKey(childPath), valueNode);
            this.report(childPath, `Duplicate key ${quote(key)}`, { part: "key" });
          }
          // defineProperty, not assignment: a "__proto__" key must become a plain (unknown) key.
          Object.defineProperty(result, key, {
            value: this.#toValue(valueNode, childPath),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return result;
      }
      case "array":
        return (node.children ?? []).map((child, index) => this.#toValue(child, [...path, index]));
      default:
        return node.value;
    }
  }
}

/** Whether `value` is a JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reports every key of `object` (found at `path`) that is not in `known`, with a suggestion. */
export function reportUnknownKeys(
  doc: JsoncFile,
  path: JsonPath,
  object: Record<string, unknown>,
  known: readonly string[],
  entry?: string,
): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    doc.report([...path, key], unknownKeyMessage(key, known), {
      part: "key",
      ...(entry === undefined ? {} : { entry }),
    });
  }
}

/** "Unknown key 'x'", with a did-you-mean suggestion from `known` when one is close. */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const suggestion = closestMatch(key, known);
  const hint = suggestion === undefined ? "" : `, did you mean ${quote(suggestion)}?`;
  return `Unknown key ${quote(key)}${hint}`;
}

function pathKey(path: JsonPath): string {
  return JSON.stringify(path);
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\n" || (ch === "\r" && text[i + 1] !== "\n")) starts.push(i + 1);
  }
  return starts;
}

function position(starts: readonly number[], offset: number): { line: number; column: number } {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if ((starts[mid] ?? 0) <= offset) low = mid;
    else high = mid - 1;
  }
  return { line: low + 1, column: offset - (starts[low] ?? 0) + 1 };
}

interface SyntaxProblem {
  offset: number;
  message: string;
}

/** Runs the tolerant parser and keeps the first error: later ones are usually fallout. */
function firstSyntaxError(text: string): SyntaxProblem | undefined {
  const stack: ("object" | "array")[] = [];
  let found: SyntaxProblem | undefined;
  visit(text, {
    onObjectBegin: () => void stack.push("object"),
    onObjectEnd: () => void stack.pop(),
    onArrayBegin: () => void stack.push("array"),
    onArrayEnd: () => void stack.pop(),
    onError: (code, offset, length) => {
      if (found !== undefined) return;
      const context = stack.at(-1);
      found = { offset, message: describeSyntaxError(text, code, offset, length, context) };
    },
  }, PARSE_OPTIONS);
  return found;
}

function describeSyntaxError(
  text: string,
  code: number,
  offset: number,
  length: number,
  context: "object" | "array" | undefined,
): string {
  const closer = context === "array" ? "']'" : "'}'";
  const token = text.slice(offset, offset + Math.max(length, 1));
  const atEnd = offset >= text.length ? "unexpected end of file, " : "";
  switch (printParseErrorCode(code)) {
    case "InvalidSymbol":
      return `unexpected character ${quote(token)}`;
    case "InvalidNumberFormat":
      return `invalid number ${quote(token)}`;
    case "PropertyNameExpected":
      return `${atEnd}expected a property name in double quotes`;
    case "ValueExpected":
      return `${atEnd}expected a value`;
    case "ColonExpected":
      return `${atEnd}expected ':'`;
    case "CommaExpected":
      return `${atEnd}expected ',' or ${closer}`;
    // The parser has already left the container when it reports these, so `context` is stale.
    case "CloseBraceExpected":
      return `${atEnd}expected ',' or '}'`;
    case "CloseBracketExpected":
      return `${atEnd}expected ',' or ']'`;
    case "EndOfFileExpected":
      return "unexpected content after the end of the document";
    case "InvalidCommentToken":
      return "invalid comment";
    case "UnexpectedEndOfComment":
      return "unterminated comment";
    case "UnexpectedEndOfString":
      return "unterminated string";
    case "UnexpectedEndOfNumber":
      return "unterminated number";
    case "InvalidUnicode":
      return "invalid unicode escape sequence";
    case "InvalidEscapeCharacter":
      return "invalid escape sequence in string";
    case "InvalidCharacter":
      return "control character in string (escape it)";
    default:
      return "syntax error";
  }
}
