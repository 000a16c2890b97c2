/**
 * Large objects (`lo_from_bytea`, `lo_import`, `lowrite`, `lo_put`) live in the per-database
 * catalog `pg_largeobject`, not in any relation a tenant owns, and fire no trigger. They are
 * charged to their owner (`pg_largeobject_metadata.lomowner`) as the kind `large_objects`.
 *
 * Reading their sizes means reading their pages, so it is done only when a cheap per-database
 * change signature (sql/large_object_signature.sql: the two catalogs' files and statistics
 * counters) has moved since the last measurement: an unchanged database costs one catalog
 * query, whatever it holds.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";

/** What one large-object measurement charged, per owner role oid (bytes). */
export type LargeObjectBytes = Map<number, number>;

/** The change signature of the connected database's large objects (one short catalog query). */
export async function largeObjectSignature(sql: Pick<Sql, "unsafe">): Promise<string> {
  const [row] = await sql.unsafe(sqlFile("large_object_signature"));
  return String(row?.sig ?? "");
}

/**
 * Bytes held by the large objects of `owners` in the connected database, per owner. Where
 * postgres_monitor is installed, their stored pages (postgres_monitor.large_object_bytes);
 * elsewhere the whole of pg_largeobject and its metadata, split among the owners by count
 * (sql/large_objects_uninstalled.sql).
 */
export async function measureLargeObjects(
  sql: Pick<Sql, "unsafe">,
  owners: readonly number[],
  installed: boolean,
): Promise<LargeObjectBytes> {
  const out: LargeObjectBytes = new Map();
  if (owners.length === 0) return out;
  const name = installed ? "large_objects_installed" : "large_objects_uninstalled";
  for (const r of await sql.unsafe(sqlFile(name), [JSON.stringify(owners)])) {
    const bytes = Number(r.bytes);
    if (bytes > 0) out.set(Number(r.owner), bytes);
  }
  return out;
}

/**
 * Per database, the signature at the last measurement, so that a database whose large objects
 * did not change is not read again. Measurements of one database run one at a time: an older
 * one never overwrites a newer one.
 */
export class LargeObjectTracker {
  #seen = new Map<string, string>();
  #chain = new Map<string, Promise<unknown>>();

  /**
   * Measures the large objects of `owners` in database `db` if its signature (or the owners, or
   * whether postgres_monitor is installed) changed since the last measurement, or if `force`.
   * Returns the new per-owner bytes, or undefined when nothing changed. On failure the database
   * is forgotten (the next call measures) and the error is thrown.
   */
  refresh(
    db: string,
    sql: Pick<Sql, "unsafe">,
    owners: readonly number[],
    installed: boolean,
    force = false,
  ): Promise<LargeObjectBytes | undefined> {
    const prev = this.#chain.get(db) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(async () => {
      // Read before measuring: a change during the measurement moves it again next time.
      const who = [...owners].sort((a, b) => a - b).join(",");
      const sig = `${installed ? "i" : "u"} ${who} ${await largeObjectSignature(sql)}`;
      if (!force && this.#seen.get(db) === sig) return undefined;
      this.#seen.delete(db);
      const bytes = await measureLargeObjects(sql, owners, installed);
      this.#seen.set(db, sig);
      return bytes;
    });
    this.#chain.set(db, next);
    next.catch(() => {}).finally(() => {
      if (this.#chain.get(db) === next) this.#chain.delete(db);
    });
    return next;
  }

  /** Forgets a database: its next refresh measures. */
  forget(db: string): void {
    this.#seen.delete(db);
  }

  /** Forgets every database not in `keep`. */
  retain(keep: Iterable<string>): void {
    const names = new Set(keep);
    for (const db of [...this.#seen.keys()]) if (!names.has(db)) this.#seen.delete(db);
  }
}
