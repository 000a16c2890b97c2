/**
 * Measuring a database without keeping a connection to it: past `max_watched_databases`, a
 * database where limited roles own objects is measured at every sweep through one short-lived
 * connection, so however many databases a tenant fills, the daemon's connection count is bounded.
 *
 * @module
 */
import { connect, type ConnectionTarget } from "../db/connect.ts";
import { errorMessage, type Logger } from "../report/log.ts";
import { measureOwners } from "./catalog.ts";
import { measureCatalogText } from "./catalog_text.ts";
import type { RelationSize, UsageCache } from "./usage_cache.ts";

/**
 * Opens one connection to `database`, measures every relation of `owners` there and their
 * catalog text, closes it. Returns the sizes, the relations skipped because busy, and the catalog
 * text per owner.
 */
export async function measureOnce(
  target: ConnectionTarget,
  database: string,
  owners: readonly number[],
  settings: Record<string, string>,
): Promise<{ sizes: RelationSize[]; busy: Set<number>; text: Map<number, number> }> {
  const sql = connect(target, database, { max: 1, prepare: false, settings });
  try {
    const { sizes, busy } = await measureOwners(sql, owners);
    const text = await measureCatalogText(sql, owners);
    return { sizes, busy: new Set(busy.keys()), text };
  } finally {
    await sql.end({ timeout: 2 }).catch(() => {});
  }
}

/**
 * Measures each database of `names` in turn (one connection open at a time) into `cache`;
 * one that fails is logged and keeps its last sizes. Returns the owners whose total changed.
 */
export async function measureSweepOnly(
  target: ConnectionTarget,
  names: readonly string[],
  options: {
    owners: readonly number[];
    settings: Record<string, string>;
    cache: UsageCache;
    log: Logger;
  },
): Promise<Set<number>> {
  const changed = new Set<number>();
  for (const name of names) {
    try {
      const { sizes, busy, text } = await measureOnce(
        target,
        name,
        options.owners,
        options.settings,
      );
      for (const oid of options.cache.replaceDatabase(name, sizes, busy)) changed.add(oid);
      for (const oid of options.cache.setSource("catalog_text", text, name)) changed.add(oid);
    } catch (err) {
      options.log.error("cannot measure database", { database: name, error: errorMessage(err) });
    }
  }
  return changed;
}
