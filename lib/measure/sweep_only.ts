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
import type { LargeObjectBytes, LargeObjectTracker } from "./large_objects.ts";
import { measureCatalogText } from "./catalog_text.ts";
import { schemaTrust } from "./schema_trust.ts";
import type { RelationSize, UsageCache } from "./usage_cache.ts";

/**
 * Opens one connection to `database`, measures every relation of `owners` there and their
 * catalog text, closes it. Returns the sizes, the relations skipped because busy, the catalog
 * text per owner, and, given a tracker, the owners' large objects (undefined when unchanged since
 * the tracker's last look).
 */
export async function measureOnce(
  target: ConnectionTarget,
  database: string,
  owners: readonly number[],
  settings: Record<string, string>,
  largeObjects?: LargeObjectTracker,
): Promise<
  {
    sizes: RelationSize[];
    busy: Set<number>;
    text: Map<number, number>;
    largeObjects?: LargeObjectBytes;
  }
> {
  const sql = connect(target, database, { max: 1, prepare: false, settings });
  try {
    const { sizes, busy } = await measureOwners(sql, owners);
    const text = await measureCatalogText(sql, owners);
    const installed = largeObjects ? (await schemaTrust(sql, false)).state === "installed" : false;
    const lo = await largeObjects?.refresh(database, sql, owners, installed);
    return { sizes, busy: new Set(busy.keys()), text, largeObjects: lo };
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
    /** Measures large objects too, when their signature moved since its last look. */
    largeObjects?: LargeObjectTracker;
  },
): Promise<Set<number>> {
  const changed = new Set<number>();
  options.largeObjects?.retain(names);
  for (const name of names) {
    try {
      const { sizes, busy, text, largeObjects } = await measureOnce(
        target,
        name,
        options.owners,
        options.settings,
        options.largeObjects,
      );
      for (const oid of options.cache.replaceDatabase(name, sizes, busy)) changed.add(oid);
      if (largeObjects) {
        for (const oid of options.cache.setSource("large_objects", largeObjects, name)) {
          changed.add(oid);
        }
      }
      for (const oid of options.cache.setSource("catalog_text", text, name)) changed.add(oid);
    } catch (err) {
      options.log.error("cannot measure database", { database: name, error: errorMessage(err) });
    }
  }
  return changed;
}
