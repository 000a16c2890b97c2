/**
 * The sweep's measurements: each watched database measured in full (schema trust, trigger sync,
 * every relation of the measured owners, moves and busy relations reported, large objects,
 * catalog text), the sweep-only databases, shared catalog text, temporary files, and the
 * temp_file_limit settings of the limited roles. Catalog text is also measured on `c:text` hints.
 *
 * @module
 */
import type { MonitorConfig } from "../config/monitor.ts";
import type { ConnectionTarget, Sql } from "../db/connect.ts";
import type { Enforcer } from "../enforce/enforcer.ts";
import { TempFileLimits } from "../enforce/temp_file_limit.ts";
import type { LimitedRoles } from "../measure/limited_roles.ts";
import type { Roles } from "../evaluate/roles.ts";
import { busyReason, type BusyRelations } from "../measure/busy_relations.ts";
import {
  type BusyRelation,
  measureOwners,
  type Placement,
  relationMoves,
  syncTriggers,
  tableCounters,
  tupleCounters,
} from "../measure/catalog.ts";
import { measureCatalogText } from "../measure/catalog_text.ts";
import { LargeObjectTracker } from "../measure/large_objects.ts";
import { schemaTrust } from "../measure/schema_trust.ts";
import { measureSweepOnly } from "../measure/sweep_only.ts";
import { onlyOwners, readTempFiles } from "../measure/temp_files.ts";
import type { UsageCache } from "../measure/usage_cache.ts";
import { errorMessage, type Logger } from "../report/log.ts";
import type { StatusReport } from "../report/status.ts";
import type { Database } from "./database.ts";
import { SpacedRuns } from "./spaced.ts";

/**
 * Least time between two catalog-text measurements of one database caused by `c:text` hints (and
 * at least ten times the last one's duration: hints cost at most a tenth of a server CPU).
 */
const CATALOG_TEXT_SPACING_MS = 1000;

/** What the sweep's measurements read and call. */
export interface SweepContext {
  /** Log sink. */
  log: Logger;
  /** The control database (shared text, temporary files, role settings). */
  control: Sql;
  /** How to connect (sweep-only databases). */
  target: ConnectionTarget;
  /** Records tamper events. */
  enforcer: Enforcer;
  /** Usage per owner and source. */
  cache: UsageCache;
  /** Relations whose measurement waits behind a lock. */
  busy: BusyRelations;
  /** Limits, charges and ownership. */
  limited: LimitedRoles;
  /** Marks roles dirty and evaluates them. */
  roles: Roles;
  /** Action counters. */
  status: StatusReport;
  /** The watched databases by name. */
  databases: () => ReadonlyMap<string, Database>;
  /** True once the daemon stops. */
  stopped: () => boolean;
}

/** The settings the sweep's measurements use (a reload may change them). */
export type SweepSettings =
  & Pick<
    MonitorConfig,
    "detection" | "verify_interval_ms" | "measure_lock_timeout_ms" | "sweep_interval"
  >
  & {
    /** A dry run attaches no triggers and sets no temp_file_limit. */
    dryRun: boolean;
  };

/** Full measurements of the sweep, and catalog text on hints. */
export class Sweep {
  #ctx: SweepContext;
  #log: Logger;
  #settings!: SweepSettings;
  /** Catalog text on `c:text` hints: at most one measurement per second per database. */
  #textRuns = new SpacedRuns(CATALOG_TEXT_SPACING_MS, (name) => this.#measureTextHinted(name));
  /** Catalog-text measurements started, and per database the latest one applied (none older). */
  #textSeq = 0;
  #textApplied = new Map<string, number>();
  #tempLimits: TempFileLimits;
  /** Large objects: per watched database, and per sweep-only database. */
  #largeObjects = new LargeObjectTracker();
  #sweepOnlyLargeObjects = new LargeObjectTracker();

  /** Creates the stage; {@linkcode configure} gives it its settings. */
  constructor(ctx: SweepContext) {
    this.#ctx = ctx;
    this.#log = ctx.log;
    this.#tempLimits = new TempFileLimits(ctx.control, ctx.log);
  }

  /** Applies the settings (at start and on reload). */
  configure(settings: SweepSettings): void {
    this.#settings = settings;
  }

  /** A `c:text` hint for database `name`: its catalog text is measured soon (spaced). */
  requestText(name: string): void {
    this.#textRuns.request(name);
  }

  /** A database is no longer watched: forget what is kept about it. */
  forgetDatabase(name: string): void {
    this.#largeObjects.forget(name);
    this.#textRuns.forget(name);
  }

  /** Databases past max_watched_databases, one short-lived connection at a time. */
  async measureSweepOnly(names: string[], owners: number[]): Promise<void> {
    const settings = {
      lock_timeout: `${this.#settings.measure_lock_timeout_ms}ms`,
      statement_timeout: "300s",
    };
    const opts = {
      owners,
      settings,
      cache: this.#ctx.cache,
      log: this.#log,
      largeObjects: this.#sweepOnlyLargeObjects,
    };
    for (const oid of await measureSweepOnly(this.#ctx.target, names, opts)) {
      this.#ctx.roles.touch(oid);
    }
  }

  /**
   * Full measurement of one watched database: schema trust, trigger sync, every relation of
   * `owners`, moves, large objects, busy relations and catalog text. Never throws.
   */
  async measureDatabase(db: Database, owners: number[]): Promise<void> {
    const force = db.measuredAt === 0;
    try {
      let tsync = performance.now();
      let syncMs = 0;
      let syncChanges = 0;
      // Only a schema install made (owned by superusers) is ever called: see schema_trust.sql.
      const trust = await schemaTrust(db.sql, false);
      const installed = trust.state === "installed";
      db.installed = installed;
      // Said once per change (and at the first look), not at every sweep.
      if (trust.state !== db.trust) {
        db.trust = trust.state;
        if (trust.state === "untrusted") {
          const fields = { database: db.name, owners: trust.owners, detail: trust.detail };
          this.#log.error("untrusted postgres_monitor schema: never called, sweeps only", fields);
          await this.#ctx.enforcer.logEvent({
            kind: "tamper",
            oid: null,
            role: trust.owners[0] ?? "(unknown)",
            reason: `untrusted postgres_monitor schema in database ${db.name}: ${trust.detail}`,
          }).catch((err) =>
            this.#log.warn("cannot record tampering", { error: errorMessage(err) })
          );
        } else if (!installed) {
          this.#log.warn(
            "postgres_monitor is not installed in this database: measured by sweeps only",
            { database: db.name, hint: "run 'install' as a superuser", detail: trust.detail },
          );
        }
      }
      // Trigger maintenance and the two halves of the measurement run at once, on the sweep
      // connections (one CPU each on the server), so 100k relations take about half as long.
      const sync = installed && !this.#settings.dryRun
        ? (async () => {
          tsync = performance.now();
          // In "poll" detection no table carries a trigger: syncing to no owners removes them all.
          const changes = await syncTriggers(
            db.sweepSql,
            this.#settings.detection === "poll" ? [] : owners,
          );
          syncChanges = changes.length;
          for (const c of changes) {
            const fields = { database: db.name, table: c.relation, action: c.action };
            if (c.action === "busy" || c.action === "error") {
              this.#log.warn("could not attach notify trigger", { ...fields, error: c.detail });
            } else if (
              c.action === "detached" ||
              (c.action === "attached" && this.#ctx.cache.ownerOf(db.name, c.relid) === undefined)
            ) {
              this.#log.debug("notify trigger " + c.action, fields);
            } else {
              // Re-enabled, replaced, or re-attached to a table we already knew: someone removed it.
              this.#log.warn("notify trigger was tampered with and has been restored", {
                ...fields,
                fault: c.detail,
              });
              const owner = this.#ctx.cache.ownerOf(db.name, c.relid);
              const role = owner === undefined ? undefined : this.#ctx.limited.nameOf(owner);
              await this.#ctx.enforcer.logEvent({
                kind: "tamper",
                oid: owner ?? null,
                role: role ?? "(unknown)",
                reason: `notify trigger ${c.action} on ${c.relation} in database ${db.name}` +
                  (c.detail ? ` (${c.detail})` : ""),
              }).catch((err) =>
                this.#log.warn("cannot record tampering", { error: errorMessage(err) })
              );
            }
          }
          syncMs = Math.round(performance.now() - tsync);
        })()
        : Promise.resolve();
      sync.catch(() => {}); // awaited below; no unhandled rejection meanwhile
      // "poll" detection compares counters with the ones read just before this measurement.
      if (this.#settings.detection === "poll") {
        db.counters = await tableCounters(db.sweepSql, owners);
      } else if (this.#settings.verify_interval_ms > 0) {
        db.verify.baseline(await tupleCounters(db.sweepSql, owners), Date.now());
      }
      const tm = performance.now();
      const halves = [owners.filter((_, i) => i % 2 === 0), owners.filter((_, i) => i % 2 === 1)];
      const [, first, second] = await Promise.all([
        sync,
        measureOwners(db.sweepSql, halves[0]!, installed),
        measureOwners(db.sweepSql, halves[1]!, installed),
      ]);
      const sizes = [...first.sizes, ...second.sizes];
      const busy = new Map([...first.busy, ...second.busy]);
      const placed = new Map([...first.placed, ...second.placed]);
      if (db.placed !== undefined && installed) await this.#reportMoves(db, db.placed, placed);
      db.placed = placed;
      this.#log.debug("measured database", {
        database: db.name,
        relations: sizes.length,
        ms: Math.round(performance.now() - tm),
        sync_ms: syncMs,
        sync_changes: syncChanges,
      });
      // Busy relations not charged by their files (no postgres_monitor here) keep their size.
      const keep = new Set([...busy].filter(([, b]) => !b.byFiles).map(([relid]) => relid));
      for (const oid of this.#ctx.cache.replaceDatabase(db.name, sizes, keep)) {
        this.#ctx.roles.touch(oid);
      }
      await this.measureLargeObjects(db, db.sweepSql, owners, force, Date.now());
      for (const relid of busy.keys()) db.hot.touch(relid, Date.now());
      await this.#reportBusy(db, busy);
      await this.#measureText(db, db.sweepSql, owners);
      db.measuredAt = Date.now();
      const stale = performance.now() - 10_000;
      for (const [relid, t] of db.measuredRel) if (t < stale) db.measuredRel.delete(relid);
    } catch (err) {
      db.measuredAt = 0;
      this.#log.error("cannot measure database", { database: db.name, error: errorMessage(err) });
    }
  }

  /**
   * Large objects of `owners` in `db`, measured only if the database's signature moved (or
   * `force`): charged as kind "large_objects", and owners whose total changed are re-evaluated.
   */
  async measureLargeObjects(
    db: Database,
    sql: Sql,
    owners: number[],
    force: boolean,
    since: number,
  ): Promise<void> {
    const t = performance.now();
    const bytes = await this.#largeObjects.refresh(db.name, sql, owners, db.installed, force);
    if (bytes === undefined || !this.#ctx.databases().has(db.name)) return;
    const changed = this.#ctx.cache.setSource("large_objects", bytes, db.name);
    for (const oid of changed) this.#ctx.roles.markDirty(oid, since);
    this.#log.debug("measured large objects", {
      database: db.name,
      owners: bytes.size,
      roles_changed: changed.size,
      ms: Math.round(performance.now() - t),
    });
  }

  /**
   * A relation kept busy (an ACCESS EXCLUSIVE lock held or queued on it, its indexes or TOAST)
   * for longer than a sweep interval is reported once per episode: a warning and a "tamper" event.
   */
  async #reportBusy(db: Database, busy: Map<number, BusyRelation>) {
    const minMs = this.#settings.sweep_interval * 1000;
    for (const b of this.#ctx.busy.sweep(db.name, busy, Date.now(), minMs)) {
      const role = this.#ctx.limited.nameOf(b.owner) ?? String(b.owner);
      const reason = busyReason(b, db.name);
      this.#log.warn("relation cannot be measured: lock held or queued", {
        database: db.name,
        table: b.name,
        role,
        busy_s: Math.round(b.busyMs / 1000),
        by_files: b.byFiles,
      });
      await this.#ctx.enforcer.logEvent({ kind: "tamper", oid: b.owner, role, reason })
        .catch((err) => this.#log.warn("cannot record tampering", { error: errorMessage(err) }));
    }
  }

  /**
   * Tampering by moving data: a limited role's relation that changed owner (given to a role it
   * is a member of, perhaps one without a limit) or schema since the previous full sweep. Each is
   * logged and recorded as a "tamper" event (alerted) naming the table, the roles and schemas.
   */
  async #reportMoves(db: Database, before: Map<number, Placement>, now: Map<number, Placement>) {
    const suspects: { relid: number; old_nsp: number }[] = [];
    for (const [relid, was] of before) {
      const is = now.get(relid);
      if (is === undefined || is.owner !== was.owner || is.nsp !== was.nsp) {
        suspects.push({ relid, old_nsp: was.nsp });
      }
    }
    if (suspects.length === 0) return;
    const roleName = (oid: number) => this.#ctx.limited.nameOf(oid);
    for (const m of await relationMoves(db.sweepSql, suspects)) {
      if (!m.exists) continue; // dropped
      const was = before.get(m.relid)!;
      const former = roleName(was.owner) ?? String(was.owner);
      const changes: string[] = [];
      if (m.owner !== was.owner) changes.push(`owner changed from ${former} to ${m.ownerName}`);
      if (m.schema !== m.oldSchema) {
        changes.push(`moved from schema ${m.oldSchema} to ${m.schema}`);
      }
      if (changes.length === 0) continue;
      const table = `${m.schema}.${m.name}`;
      const reason = `table ${table} in database ${db.name}: ${changes.join(", ")}`;
      this.#log.warn("limited role's table changed owner or schema", {
        database: db.name,
        table,
        role: former,
        changes,
      });
      await this.#ctx.enforcer.logEvent({ kind: "tamper", oid: was.owner, role: former, reason })
        .catch((err) => this.#log.warn("cannot record tampering", { error: errorMessage(err) }));
    }
  }

  /**
   * Catalog text of one database (sql/catalog_text.sql) into the cache, kind `catalog_text`.
   * A failure keeps the previous figures (never relax on a partial view); a measurement that
   * started before the one last applied is dropped, so a slow sweep cannot undo a newer hint's.
   */
  async #measureText(db: Database, sql: Sql, owners: number[], since = Date.now()) {
    const seq = ++this.#textSeq;
    try {
      const perOwner = await measureCatalogText(sql, owners);
      if (
        seq < (this.#textApplied.get(db.name) ?? 0) || this.#ctx.databases().get(db.name) !== db
      ) return;
      this.#textApplied.set(db.name, seq);
      for (const oid of this.#ctx.cache.setSource("catalog_text", perOwner, db.name)) {
        this.#ctx.roles.markDirty(oid, since);
      }
    } catch (err) {
      this.#log.warn("cannot measure catalog text", {
        database: db.name,
        error: errorMessage(err),
      });
    }
  }

  /** A `c:text` hint (spaced by #textRuns): measure that database's catalog text, evaluate. */
  async #measureTextHinted(name: string) {
    const db = this.#ctx.databases().get(name);
    if (!db || this.#ctx.stopped()) return;
    this.#ctx.status.count("catalog_text_measurements");
    const t0 = performance.now();
    await this.#measureText(db, db.sql, this.#ctx.limited.owners());
    this.#log.debug("catalog text measured on a hint", {
      database: name,
      ms: Math.round(performance.now() - t0),
    });
    await this.#ctx.roles.run();
  }

  /** Shared catalogs' text (comments on databases and roles, role settings), once per sweep. */
  async measureSharedText(owners: number[]): Promise<void> {
    try {
      const perOwner = await measureCatalogText(this.#ctx.control, owners, true);
      for (const oid of this.#ctx.cache.setSource("catalog_text", perOwner)) {
        this.#ctx.roles.touch(oid);
      }
    } catch (err) {
      this.#log.warn("cannot measure shared catalog text", { error: errorMessage(err) });
    }
  }

  /**
   * Temporary files (lib/measure/temp_files.ts): one cluster-wide query in the control database,
   * charged to each session's login role. Returns the owners whose usage changed.
   */
  async measureTempFiles(): Promise<Set<number>> {
    let perOwner: Map<number, number>;
    try {
      perOwner = onlyOwners(
        await readTempFiles(this.#ctx.control),
        this.#ctx.limited.limits.keys(),
      );
    } catch (err) {
      this.#log.debug("cannot read temporary files", { error: errorMessage(err) });
      return new Set();
    }
    const changed = this.#ctx.cache.setSource("temp_files", perOwner);
    for (const oid of changed) this.#ctx.roles.touch(oid);
    return changed;
  }

  /** temp_file_limit role settings for the limited roles (lib/enforce/temp_file_limit.ts). */
  async applyTempFileLimits(): Promise<void> {
    await this.#tempLimits.apply(this.#ctx.limited.limits, this.#settings.dryRun);
  }

  /** Stops the catalog-text hint runs. */
  stop(): void {
    this.#textRuns.stop();
  }
}
