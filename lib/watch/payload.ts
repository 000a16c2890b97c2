/**
 * The NOTIFY payload protocol, named once. Any role may NOTIFY on the daemon's channel (its name is
 * readable in pg_proc), so a payload is a hint, never a fact: it may make the daemon look at a
 * relation sooner, never make it believe less. A "dropped" relation is dropped when the catalog
 * says so; the payload only asks for that look.
 *
 * The channel is `listen_channel`: `install` bakes it into postgres_monitor.channel() and the notify
 * trigger (sql/install_settings.sql, sql/install_database.sql), and `unlock` passes it to
 * sql/announce_locks.sql; no SQL file spells a channel. Each payload below is written once in SQL
 * at most (`c:locks` never: `unlock` passes {@linkcode LOCKS_CHANGED}), and
 * tests/unit/sql_protocol_test.ts fails when sql/ sends anything these constants do not spell.
 *
 * Payloads (sent by sql/install_database.sql and `unlock`):
 * - `<oid>`: a statement wrote to this table (notify trigger), or DDL made or rewrote it.
 * - `d:<oid>`: this table or materialized view was dropped (sql_drop event trigger).
 * - `c:locks`: an administrator changed a lock (`unlock`); only the control database's is heeded.
 * - `c:text`: DDL that may change catalog text (COMMENT, CREATE FUNCTION, CREATE VIEW, ALTER ...)
 *   ran in this database: measure its catalog text again (at most once a second per database).
 *
 * @module
 */

/** Payload prefix of a dropped relation. */
export const DROPPED_PREFIX = "d:";
/** Payload that announces a lock change made outside the daemon. */
export const LOCKS_CHANGED = "c:locks";
/** Payload that announces DDL which may have changed catalog text in the notifying database. */
export const CATALOG_TEXT_CHANGED = "c:text";

/** What a payload asks the daemon to do. */
export type Hint =
  /** Measure this relation again (the catalog decides whether it still exists). */
  | { kind: "relation"; relid: number }
  /** Re-read the lock table. */
  | { kind: "locks" }
  /** Measure this database's catalog text again (spaced: anyone may send it). */
  | { kind: "catalog_text" }
  /** Nothing: malformed, or not one of ours. */
  | { kind: "ignored" };

/** The largest oid PostgreSQL has (oids are unsigned 32-bit). */
const MAX_OID = 4294967295;

/** A canonical decimal oid: no sign, exponent, hex, spaces or leading zeros. */
const OID_TEXT = /^[1-9][0-9]{0,9}$/;

/** Parses an oid written as PostgreSQL's `oid::text` does, or returns undefined. */
export function parseOid(text: string): number | undefined {
  if (!OID_TEXT.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_OID ? n : undefined;
}

/** Reads one payload. A `d:<oid>` is only a reason to look again, like `<oid>`. */
export function parsePayload(payload: string): Hint {
  if (payload === LOCKS_CHANGED) return { kind: "locks" };
  if (payload === CATALOG_TEXT_CHANGED) return { kind: "catalog_text" };
  const text = payload.startsWith(DROPPED_PREFIX) ? payload.slice(DROPPED_PREFIX.length) : payload;
  const relid = parseOid(text);
  return relid === undefined ? { kind: "ignored" } : { kind: "relation", relid };
}
