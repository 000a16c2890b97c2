/**
 * Which databases the daemon enters, and how. Every database is considered (all but templates
 * owned by a superuser), read from the shared catalogs on the control connection:
 * - one where no limited role owns anything (pg_shdepend) needs no connection: its usage is 0;
 * - one where a limited role owns objects (or listed in `databases`) is watched: LISTEN plus
 *   measuring pools, up to `max_watched_databases`; past that, measured at every sweep through
 *   one short-lived connection;
 * - one whose owner revoked CONNECT gets it back (postgres_monitor.grant_connect);
 * - one the daemon cannot enter (ALLOW_CONNECTIONS false, a CONNECTION LIMIT with no room left) is
 *   reported and judged from outside: its pg_database_size is charged to its owner when the
 *   owner is limited.
 *
 * Connections to PostgreSQL stay within 5 + 5 x W, W = watched databases (at most
 * max_watched_databases when `databases` is null, else the listed ones): the control pool (2),
 * the leader lock (1), the control LISTEN (1, only while the control database is not watched),
 * one short-lived sweep-only connection (1), and per watched database two pools of 2 and one
 * LISTEN (5). Idle databases cost nothing, however many a tenant creates.
 *
 * @module
 */
import type { Sql } from "../db/connect.ts";
import { sqlFile } from "../db/sql_files.ts";
import type { UsageCache } from "../measure/usage_cache.ts";
import { errorMessage, type Logger } from "../report/log.ts";

/** One database as sql/database_states.sql sees it. */
export interface DatabaseState {
  /** datname. */
  name: string;
  /** pg_database oid. */
  oid: number;
  /** Owner (datdba) oid and name. */
  owner: number;
  /** Owner's name. */
  ownerName: string;
  /** The owner is a limited role. */
  ownerLimited: boolean;
  /** A limited role owns objects in it. */
  active: boolean;
  /** datallowconn. */
  allowConnections: boolean;
  /** datconnlimit (-1 = none). */
  connectionLimit: number;
  /** The monitoring role has CONNECT on it. */
  canConnect: boolean;
  /** Sessions of other roles connected to it. */
  otherSessions: number;
}

/** Connections the daemon keeps to a watched database: two pools of 2 and one LISTEN. */
export const CONNECTIONS_PER_DATABASE = 5;

/** A database the daemon cannot enter, with what it is judged on. */
export interface Unreachable extends DatabaseState {
  /** Why nobody can connect. */
  reason: string;
  /** pg_database_size, read only when the owner is limited (it is charged to the owner). */
  bytes?: number;
}

/** What to do with each database (see {@linkcode planDatabases}). */
export interface DatabasePlan {
  /** LISTEN plus measuring pools. */
  watched: string[];
  /** Measured at every sweep through one short-lived connection (past the cap). */
  sweepOnly: string[];
  /** Nobody can connect: judged by size. */
  unreachable: Unreachable[];
  /** Reachable once the monitoring role has CONNECT again. */
  regrant: DatabaseState[];
  /** Databases where no limited role owns anything (no connection). */
  idle: number;
}

/** Options of {@linkcode planDatabases}. */
export interface PlanOptions {
  /** `databases` from the configuration: every listed one is watched, whatever the cap. */
  listed: readonly string[] | null;
  /** max_watched_databases. */
  cap: number;
  /** Databases watched now: they keep their connections before newcomers get any. */
  current: ReadonlySet<string>;
}

/** Reads every considered database (sql/database_states.sql) on the control connection. */
export async function databaseStates(
  control: Sql,
  owners: readonly number[],
  listed: readonly string[] | null,
): Promise<DatabaseState[]> {
  const rows = await control.unsafe(sqlFile("database_states"), [
    JSON.stringify(owners),
    listed === null ? null : JSON.stringify(listed),
  ]);
  return rows.map((r) => ({
    name: String(r.datname),
    oid: Number(r.oid),
    owner: Number(r.owner),
    ownerName: String(r.owner_name),
    ownerLimited: Boolean(r.owner_limited),
    active: Boolean(r.active),
    allowConnections: Boolean(r.allow_connections),
    connectionLimit: Number(r.connection_limit),
    canConnect: Boolean(r.can_connect),
    otherSessions: Number(r.other_sessions),
  }));
}

/**
 * Why the daemon cannot enter a database, or undefined: nobody may connect, or its CONNECTION
 * LIMIT (which binds every role but superusers) leaves no room for the daemon's connections
 * besides the other sessions there.
 */
export function unreachableReason(d: DatabaseState): string | undefined {
  if (!d.allowConnections) return "ALLOW_CONNECTIONS is false";
  if (d.connectionLimit === 0) return "CONNECTION LIMIT is 0";
  if (d.connectionLimit > 0 && d.otherSessions + CONNECTIONS_PER_DATABASE > d.connectionLimit) {
    return `CONNECTION LIMIT ${d.connectionLimit} leaves no room for the monitoring role`;
  }
  return undefined;
}

/** pg_database_size of a database the monitoring role cannot enter (sql/database_size.sql). */
export async function databaseSize(control: Sql, oid: number): Promise<number> {
  const [row] = await control.unsafe(sqlFile("database_size"), [oid]);
  return Number(row?.bytes ?? 0);
}

/** Decides which databases get connections; pure. */
export function planDatabases(
  states: readonly DatabaseState[],
  options: PlanOptions,
): DatabasePlan {
  const plan: DatabasePlan = { watched: [], sweepOnly: [], unreachable: [], regrant: [], idle: 0 };
  const candidates: DatabaseState[] = [];
  for (const d of states) {
    const listed = options.listed !== null;
    if (!listed && !d.active) {
      plan.idle++;
      continue;
    }
    const reason = unreachableReason(d);
    if (reason !== undefined) {
      plan.unreachable.push({ ...d, reason });
      continue;
    }
    if (!d.canConnect) plan.regrant.push(d);
    candidates.push(d);
  }
  if (options.listed !== null) {
    plan.watched = candidates.map((d) => d.name);
    return plan;
  }
  // Databases already watched first (no churn), then by name.
  const ordered = [
    ...candidates.filter((d) => options.current.has(d.name)),
    ...candidates.filter((d) => !options.current.has(d.name)),
  ];
  plan.watched = ordered.slice(0, options.cap).map((d) => d.name);
  plan.sweepOnly = ordered.slice(options.cap).map((d) => d.name);
  return plan;
}

/**
 * Makes usage follow the plan: a database where no limited role owns anything counts 0 (or is
 * gone); one nobody can enter counts its whole size (a pseudo-relation 0) for its limited owner,
 * otherwise what was last measured there stays. Returns the owners whose total changed.
 */
export function applyPlan(cache: UsageCache, plan: DatabasePlan): Set<number> {
  const changed = new Set<number>();
  const kept = new Set([
    ...plan.watched,
    ...plan.sweepOnly,
    ...plan.unreachable.map((u) => u.name),
  ]);
  for (const name of cache.databases()) {
    if (kept.has(name)) continue;
    for (const oid of cache.dropDatabase(name)) changed.add(oid);
  }
  for (const u of plan.unreachable) {
    if (u.bytes === undefined) continue;
    const whole = [{ relid: 0, owner: u.owner, bytes: u.bytes }];
    for (const oid of cache.replaceDatabase(u.name, whole)) changed.add(oid);
  }
  return changed;
}

/** Database counts by state and the unreachable databases, for the metrics. */
export function planMetrics(plan: DatabasePlan) {
  return {
    watched: plan.watched.length,
    sweep_only: plan.sweepOnly.length,
    unreachable: plan.unreachable.length,
    idle: plan.idle,
    unreachableDatabases: plan.unreachable.map((u) => ({ name: u.name, owner: u.ownerName })),
  };
}

/** A tampering report, recorded as a 'tamper' event. */
export interface TamperReport {
  /** Role the event is about (a limited owner), or null. */
  oid: number | null;
  /** Its name (the database owner). */
  role: string;
  /** What happened. */
  reason: string;
}

/** Options of {@linkcode DatabaseScope}. */
export interface DatabaseScopeOptions {
  /** Control database pool (the monitoring role). */
  control: Sql;
  /** Log sink. */
  log: Logger;
  /** Records a 'tamper' event (the daemon's event log); failures are the caller's to log. */
  onTamper: (report: TamperReport) => Promise<void>;
}

/**
 * Lists and plans databases, gives CONNECT back where an owner revoked it, and reports each
 * unreachable database once per episode (error log and one 'tamper' event naming it and its owner).
 */
export class DatabaseScope {
  #control: Sql;
  #log: Logger;
  #onTamper: (report: TamperReport) => Promise<void>;
  /** Unreachable database name -> reason, as last reported. */
  #reported = new Map<string, string>();
  #last?: DatabasePlan;

  /** Creates the scope; nothing runs until {@linkcode refresh}. */
  constructor(options: DatabaseScopeOptions) {
    this.#control = options.control;
    this.#log = options.log;
    this.#onTamper = options.onTamper;
  }

  /** The last plan, for metrics. */
  get last(): DatabasePlan | undefined {
    return this.#last;
  }

  /**
   * Lists and plans; gives back CONNECT where it was revoked; reads the size of unreachable
   * databases whose owner is limited; reports episodes that start or end.
   */
  async refresh(owners: readonly number[], options: PlanOptions): Promise<DatabasePlan> {
    const plan = planDatabases(
      await databaseStates(this.#control, owners, options.listed),
      options,
    );
    for (const d of plan.regrant) {
      await this.#regrant(d).catch((err) =>
        this.#log.error("cannot grant CONNECT back; run 'install' again", {
          database: d.name,
          error: errorMessage(err),
        })
      );
    }
    for (const u of plan.unreachable) {
      if (u.ownerLimited) {
        try {
          u.bytes = await databaseSize(this.#control, u.oid);
        } catch (err) {
          // Left out of the plan's charges: what was last measured there stays.
          this.#log.error("cannot read the size of a database; run 'install' again", {
            database: u.name,
            error: errorMessage(err),
          });
        }
      }
      if (this.#reported.get(u.name) === u.reason) continue;
      this.#reported.set(u.name, u.reason);
      const reason = `database ${u.name} (owner ${u.ownerName}) cannot be entered: ${u.reason}; ` +
        (u.ownerLimited
          ? `its size (${u.bytes} bytes) is charged to its owner`
          : "what limited roles own there keeps its last measured size");
      this.#log.error("database cannot be measured from inside", {
        database: u.name,
        owner: u.ownerName,
        reason: u.reason,
        charged_bytes: u.bytes,
      });
      await this.#onTamper({ oid: u.ownerLimited ? u.owner : null, role: u.ownerName, reason })
        .catch((err) => this.#log.warn("cannot record tampering", { error: errorMessage(err) }));
    }
    const unreachable = new Set(plan.unreachable.map((u) => u.name));
    for (const name of [...this.#reported.keys()]) {
      if (unreachable.has(name)) continue;
      this.#reported.delete(name);
      this.#log.info("database can be entered again", { database: name });
    }
    this.#last = plan;
    return plan;
  }

  /**
   * Cheap check (one catalog query) between sweeps: true when the plan differs from the last
   * one (a database became active, idle, unreachable, or lost our CONNECT).
   */
  async changed(owners: readonly number[], options: PlanOptions): Promise<boolean> {
    const last = this.#last;
    if (last === undefined) return true;
    const plan = planDatabases(
      await databaseStates(this.#control, owners, options.listed),
      options,
    );
    const key = (p: DatabasePlan) =>
      JSON.stringify([
        [...p.watched].sort(),
        [...p.sweepOnly].sort(),
        p.unreachable.map((u) => `${u.name}:${u.reason}`).sort(),
      ]);
    return plan.regrant.length > 0 || key(plan) !== key(last);
  }

  async #regrant(d: DatabaseState) {
    const [row] = await this.#control.unsafe(sqlFile("grant_connect"), [d.oid]);
    if (!row?.granted) return;
    const reason =
      `CONNECT on database ${d.name} (owner ${d.ownerName}) was revoked from the monitoring role; granted again`;
    this.#log.warn("CONNECT was revoked from the monitoring role; granted again", {
      database: d.name,
      owner: d.ownerName,
    });
    await this.#onTamper({ oid: d.ownerLimited ? d.owner : null, role: d.ownerName, reason })
      .catch((err) => this.#log.warn("cannot record tampering", { error: errorMessage(err) }));
  }
}
