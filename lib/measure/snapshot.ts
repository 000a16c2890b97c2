/**
 * One measuring snapshot of the cluster, as the daemon measures it: the limits in force, every
 * limited role's usage (what it owns plus what is charged to it), the daemon's locks, and what
 * could not be measured. The one-shot commands `status` and `unlock` use it; the daemon's own
 * measuring could use it too.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { connect, type ConnectionTarget, type Sql } from "../db/connect.ts";
import { Enforcer, type LockRow } from "../enforce/enforcer.ts";
import { type EffectiveLimit, resolveLimits } from "../evaluate/resolve.ts";
import { chargedUsage, type ChargePlan, planCharges } from "../evaluate/charges.ts";
import { applyPlan, databaseSize, databaseStates, planDatabases } from "../watch/databases.ts";
import { listRoles, measureOwners } from "./catalog.ts";
import { roleGroups } from "./role_groups.ts";
import { schemaTrust } from "./schema_trust.ts";
import { onlyOwners, readTempFiles } from "./temp_files.ts";
import { measureLargeObjects } from "./large_objects.ts";
import { measureCatalogText } from "./catalog_text.ts";
import { UsageCache } from "./usage_cache.ts";

/** What {@linkcode measureSnapshot} found. */
export interface Snapshot {
  /** The limit in force for each limited role, by oid. */
  limits: Map<number, EffectiveLimit>;
  /** Which groups' storage is charged to which limited roles. */
  charges: ChargePlan;
  /** A limited role's usage: what it owns plus what is charged to it. */
  usage: (oid: number) => number;
  /** Usage by owner, database and kind. */
  cache: UsageCache;
  /** The daemon's locks, by role oid. */
  locks: Map<number, LockRow>;
  /** Configured roles that do not exist in the cluster. */
  missing: string[];
  /** What could not be measured, one line each ("<database>: <error>"). */
  failed: string[];
  /** Owners with relations that could not be measured (busy), and how many. */
  busy: Map<number, number>;
}

/** How many databases are measured at once, however many there are. */
const PARALLEL_DATABASES = 4;

/**
 * Measures every limited role once, as the daemon does, over `control` (a connection to the
 * control database) and one short-lived connection per monitored database.
 */
export async function measureSnapshot(
  config: Config,
  target: ConnectionTarget,
  control: Sql,
): Promise<Snapshot> {
  const entries = config.limits;
  const users = entries.flatMap((e) => (e.user !== undefined ? [e.user] : []));
  const groups = entries.flatMap((e) => (e.member_of !== undefined ? [e.member_of] : []));
  const roles = await listRoles(control, users, groups);
  const { limits, missing } = resolveLimits(entries, roles, config.monitor.exempt_roles);
  const cache = new UsageCache();
  // As the daemon does: groups without a limit of their own are measured and charged to members.
  const groupRows = await roleGroups(control, [...limits.keys()]);
  const charges = planCharges(limits, groupRows, config.monitor.exempt_roles);
  const owners = charges.owners;
  const failed: string[] = [];
  const busyOwners = new Map<number, number>();
  // As the daemon sees them (lib/watch/databases.ts): databases where no limited role owns
  // anything are not entered; one nobody can enter counts its size for its limited owner.
  const listed = config.monitor.databases;
  const plan = planDatabases(await databaseStates(control, owners, listed), {
    listed,
    cap: Infinity,
    current: new Set(),
  });
  const measureOne = async (name: string) => {
    const sql = connect(target, name, { max: 1, settings: { lock_timeout: "1s" } });
    try {
      const { sizes, busy } = await measureOwners(sql, owners);
      cache.replaceDatabase(name, sizes);
      // As the daemon does: large objects by their pages where postgres_monitor is installed.
      const installed = (await schemaTrust(sql, false)).state === "installed";
      cache.setSource("large_objects", await measureLargeObjects(sql, owners, installed), name);
      cache.setSource("catalog_text", await measureCatalogText(sql, owners), name);
      for (const { owner } of busy.values()) {
        busyOwners.set(owner, (busyOwners.get(owner) ?? 0) + 1);
      }
    } catch (err) {
      failed.push(`${name}: ${(err as Error).message}`);
    } finally {
      await sql.end({ timeout: 2 });
    }
  };
  for (let i = 0; i < plan.watched.length; i += PARALLEL_DATABASES) {
    await Promise.all(plan.watched.slice(i, i + PARALLEL_DATABASES).map(measureOne));
  }
  for (const u of plan.unreachable) {
    if (!u.ownerLimited) {
      failed.push(`${u.name}: cannot be entered (${u.reason})`);
      continue;
    }
    try {
      u.bytes = await databaseSize(control, u.oid);
    } catch (err) {
      failed.push(`${u.name}: ${(err as Error).message}`);
    }
  }
  applyPlan(cache, plan);
  // Live temporary files, cluster-wide, as the daemon charges them (lib/measure/temp_files.ts).
  try {
    cache.setSource("temp_files", onlyOwners(await readTempFiles(control), owners));
  } catch (err) {
    failed.push(`temporary files: ${(err as Error).message}`);
  }
  // The shared catalogs' text (comments on databases and roles, role settings), once.
  try {
    cache.setSource("catalog_text", await measureCatalogText(control, owners, true));
  } catch (err) {
    failed.push(`shared catalogs: ${(err as Error).message}`);
  }
  const lockRows = await new Enforcer(control, { dryRun: false }).loadLocks();
  const locks = new Map(lockRows.map((l) => [l.oid, l]));
  const usage = (oid: number) => chargedUsage(charges, oid, (o) => cache.usage(o));
  return { limits, charges, usage, cache, locks, missing, failed, busy: busyOwners };
}
