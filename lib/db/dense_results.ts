/**
 * A guard against a postgres.js bug that returns wrong rows (porsager/postgres#1119 and #1181,
 * open in 3.4.9, the newest release).
 *
 * postgres.js counts a query's rows in a per-connection counter that it resets only when a query
 * completes. When a query fails after the server has already sent some rows (here: a
 * `lock_timeout` inside `pg_total_relation_size` on a table after the first), the counter keeps
 * its value, and the next query on that connection resolves, without error, with that many
 * leading holes: `[ <2 empty items>, row, row, row ]`. Code reading `rows[0]` gets `undefined`; the
 * daemon once died of it under an `ACCESS EXCLUSIVE` lock on PostgreSQL 14.
 *
 * {@linkcode denseResults} wraps a client so every query it makes resolves with the holes
 * removed. The rows themselves are right (they are stored after the holes, in order), and
 * `count` is right, so removing the holes restores the exact result.
 *
 * @module
 */

/** A postgres.js query: a Promise whose settling functions are own properties set per query. */
interface PendingQuery extends Promise<unknown> {
  resolve: (value: unknown) => void;
}

function isPendingQuery(value: unknown): value is PendingQuery {
  return value instanceof Promise &&
    typeof (value as Partial<PendingQuery>).resolve === "function";
}

/** Removes leading holes from one result, in place. */
function compactRows(rows: unknown[]): void {
  // The bug only ever leaves holes before the first real row.
  if (rows.length === 0 || 0 in rows) return;
  let w = 0;
  for (let i = 0; i < rows.length; i++) if (i in rows) rows[w++] = rows[i];
  rows.length = w;
}

/**
 * Removes the holes from what a query resolves with: one result (an Array subclass with a `count`
 * property), or an array of them for a multi-statement query. Anything else is returned as is.
 */
function compactResult<T>(value: T): T {
  if (!Array.isArray(value)) return value;
  if ("count" in value) compactRows(value);
  else {
    for (const r of value) if (Array.isArray(r) && "count" in r) compactRows(r);
  }
  return value;
}

function guard<T>(value: T): T {
  if (isPendingQuery(value)) {
    // postgres.js settles a query by calling its own `resolve` property, read when the result
    // arrives; the query is only sent after this returns, so the replacement is always in time.
    const resolve = value.resolve;
    value.resolve = (result: unknown) => resolve(compactResult(result));
  }
  return value;
}

/**
 * Wraps a postgres.js client (`postgres(...)`) so that every query made through it, as a tagged
 * template or with `unsafe()`, resolves without holes. Helper calls such as `sql(identifier)` and
 * every other property pass through unchanged. `begin()` needs no guard: a transaction starts with
 * BEGIN and ends with COMMIT or ROLLBACK, each of which resets the counter, and a failed statement
 * inside one makes every later one fail. `reserve()` is not guarded and must not be used: it also
 * hangs on a cold pool with `fetch_types: false` (porsager/postgres#751).
 */
export function denseResults<T extends object>(sql: T): T {
  return new Proxy(sql, {
    apply(target, thisArg, args) {
      return guard(Reflect.apply(target as (...a: unknown[]) => unknown, thisArg, args));
    },
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      if (prop === "unsafe") {
        return (...args: unknown[]) => guard(value.apply(target, args));
      }
      return value;
    },
  });
}
