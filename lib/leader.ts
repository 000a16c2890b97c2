/**
 * Leader election between daemons pointed at one cluster (two hosts, one active): a session-level
 * PostgreSQL advisory lock in the control database, taken on a dedicated connection and held for
 * as long as that connection lives. Exactly one daemon holds it and enforces; the others retry
 * every second and take over when the leader dies (its session ends, the lock is released) or is
 * cut off (its session is terminated or its connection drops: it notices within a second and
 * stops enforcing).
 *
 * @module
 */
import { connect, type ConnectionTarget, type Sql } from "./db/connect.ts";
import { sqlFile } from "./db/sql_files.ts";
import { errorMessage } from "./report/log.ts";
import { backoffMs } from "./backoff.ts";

/**
 * The leader lock's key, named once: `pg_try_advisory_lock(classid, objid)`, which pg_locks shows
 * as locktype 'advisory' with this classid and objid and objsubid 2 (the two-key form). 1886220142
 * is 0x706d6f6e, 'pmon'. sql/leader_check.sql and sql/leader_who.sql take it as parameters;
 * postgres_monitor.leader_try() (sql/install_control.sql) must hold it as a constant, and
 * tests/unit/sql_protocol_test.ts fails when it, or any other spelling, differs from this one.
 */
export const LEADER_LOCK_KEY = { classid: 1886220142, objid: 1 } as const;

/** The parameters of sql/leader_check.sql and sql/leader_who.sql: the leader lock's key. */
export const LEADER_LOCK_PARAMS = [LEADER_LOCK_KEY.classid, LEADER_LOCK_KEY.objid];

/** How often a standby tries for the lock and a leader checks it still holds it. */
export const LEADER_CHECK_MS = 1000;

/** Callbacks of {@linkcode Leadership}. */
export interface LeadershipCallbacks {
  /** This daemon now holds the lock. */
  onElected: () => void;
  /** This daemon lost the lock (connection lost or session terminated). */
  onLost: (reason: string) => void;
  /** A check answered, and another daemon holds the lock. */
  onStandby?: () => void;
  /** A check failed while not leading (e.g. PostgreSQL down); retried after `retryMs`. */
  onError?: (reason: string, retryMs: number) => void;
}

/** The application_name of the leader connection: who leads, visible in `status`. */
export function leaderName(applicationName: string, host: string, pid: number): string {
  // application_name is cut at 63 bytes by the server.
  return `${applicationName} leader ${host} ${pid}`.slice(0, 63);
}

/** Holds, or waits for, the leader lock. */
export class Leadership {
  #sql: Sql;
  #cb: LeadershipCallbacks;
  #leader = false;
  #stopped = false;
  #timer?: ReturnType<typeof setTimeout>;
  #checking = false;
  #failures = 0;

  /** Creates the election; call {@linkcode start}. */
  constructor(
    target: ConnectionTarget,
    database: string,
    name: string,
    callbacks: LeadershipCallbacks,
  ) {
    this.#cb = callbacks;
    // idle_timeout 0 and no max_lifetime (connect's defaults) keep the session, and so the lock,
    // for as long as the daemon runs: a session that closes while leading means it was lost.
    this.#sql = connect(target, database, {
      max: 1,
      prepare: false,
      applicationName: name,
      onClose: () => {
        if (this.#leader) this.#lose("leader connection closed");
      },
    });
  }

  /** True while this daemon holds the lock. */
  get leader(): boolean {
    return this.#leader;
  }

  /** Starts trying (and, once leading, checking) every {@linkcode LEADER_CHECK_MS}. */
  start() {
    void this.#check();
  }

  #lose(reason: string) {
    if (!this.#leader) return;
    this.#leader = false;
    this.#cb.onLost(reason);
  }

  async #check() {
    if (this.#stopped || this.#checking) return;
    this.#checking = true;
    let delay = LEADER_CHECK_MS;
    try {
      const [row] = this.#leader
        ? await this.#sql.unsafe(sqlFile("leader_check"), LEADER_LOCK_PARAMS)
        : await this.#sql.unsafe(sqlFile("leader_try"));
      const holds = Boolean(row?.leader);
      if (holds && !this.#leader && !this.#stopped) {
        this.#leader = true;
        this.#cb.onElected();
      } else if (!holds && this.#leader) {
        this.#lose("leader lock no longer held");
      } else if (!holds) {
        this.#cb.onStandby?.();
      }
      this.#failures = 0;
    } catch (err) {
      if (this.#leader) {
        this.#lose(errorMessage(err));
      } else {
        // PostgreSQL unreachable: back off from 0.25 s to 10 s, as the other connections do.
        delay = backoffMs(this.#failures++);
        this.#cb.onError?.(errorMessage(err), delay);
      }
    } finally {
      this.#checking = false;
      if (!this.#stopped) this.#timer = setTimeout(() => void this.#check(), delay);
    }
  }

  /** Stops checking and closes the connection, which releases the lock. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#leader = false;
    await this.#sql.end({ timeout: 1 }).catch(() => {});
  }
}
