/**
 * Exponential backoff: how long to wait before the next try after failures. One rule for every
 * connection that retries (the leader election, LISTEN, the control database, measurements and
 * alert deliveries): the first wait is `baseMs`, each failure doubles it, never past `maxMs`.
 *
 * @module
 */

/** Options of {@linkcode backoffMs}. */
export interface BackoffOptions {
  /**
   * The first wait, ms.
   * @default {250}
   */
  baseMs?: number;
  /**
   * The longest wait, ms.
   * @default {10000}
   */
  maxMs?: number;
}

/** The 0.25 s to 10 s that the daemon's connections use. */
export const BACKOFF_DEFAULTS: Required<BackoffOptions> = { baseMs: 250, maxMs: 10_000 };

/**
 * The wait before retry number `retry` (0 for the first retry): `baseMs * 2 ** retry`, at most
 * `maxMs`. Any `retry` is safe (a huge one gives `maxMs`, a negative one `baseMs`).
 */
export function backoffMs(retry: number, options: BackoffOptions = {}): number {
  const { baseMs, maxMs } = { ...BACKOFF_DEFAULTS, ...options };
  // 2 ** 40 times any sane base is past any sane cap; bounding it keeps 0 * Infinity out.
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, retry), 40));
}
