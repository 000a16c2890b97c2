/** One problem found in a configuration file. */
export interface ConfigProblem {
  /** Path of the file the problem was found in. */
  file: string;
  /** Human-readable description, sentence case, no trailing period. */
  message: string;
  /** 1-based line of the offending text, when known. */
  line?: number;
  /** 1-based column of the offending text, when known. */
  column?: number;
  /** Entry the problem belongs to, e.g. "user_limits[2] (user 'bob')". */
  entry?: string;
}

/** Formats one problem as `file[:line:column]: [entry: ]message`. */
export function formatProblem(problem: ConfigProblem): string {
  let where = problem.file;
  if (problem.line !== undefined) {
    where += `:${problem.line}`;
    if (problem.column !== undefined) where += `:${problem.column}`;
  }
  const entry = problem.entry === undefined ? "" : `${problem.entry}: `;
  return `${where}: ${entry}${problem.message}`;
}

/**
 * Invalid or unreadable configuration. Carries every problem found (one per message line) so
 * an operator can fix a file in one pass; `file`, `line`, `column` and `entry` describe the
 * first one.
 */
export class ConfigError extends Error {
  /** File of the first problem. */
  readonly file: string;
  /** 1-based line of the first problem, when known. */
  readonly line?: number;
  /** 1-based column of the first problem, when known. */
  readonly column?: number;
  /** Entry of the first problem, when it belongs to one. */
  readonly entry?: string;
  /** All problems, in file order. */
  readonly problems: readonly ConfigProblem[];

  /** Builds an error from one or more problems (at least one is required). */
  constructor(problems: ConfigProblem | readonly ConfigProblem[], options?: ErrorOptions) {
    const list = Array.isArray(problems) ? [...problems] : [problems as ConfigProblem];
    const first = list[0];
    if (first === undefined) throw new TypeError("ConfigError needs at least one problem");
    super(list.map(formatProblem).join("\n"), options);
    this.name = "ConfigError";
    this.file = first.file;
    if (first.line !== undefined) this.line = first.line;
    if (first.column !== undefined) this.column = first.column;
    if (first.entry !== undefined) this.entry = first.entry;
    this.problems = list;
  }
}
