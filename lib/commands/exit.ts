/**
 * The process exit codes of every command.
 *
 * @module
 */

/** Exit codes: 0 done, 1 failed, 2 bad usage or configuration. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Prints `message` on stderr and returns `code` (failure unless told), for `return fail(...)`. */
export function fail(message: string, code: number = EXIT.failure): number {
  console.error(message);
  return code;
}
