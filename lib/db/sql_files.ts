/**
 * SQL text lives in `sql/*.sql`, imported as text so that `deno compile` and `deno bundle` embed
 * it: the daemon reads no SQL from disk and needs no read permission for it.
 *
 * @module
 */
import activeWrites from "../../sql/active_writes.sql" with { type: "text" };
import alertCursorGet from "../../sql/alert_cursor_get.sql" with { type: "text" };
import alertCursorSet from "../../sql/alert_cursor_set.sql" with { type: "text" };
import announceLocks from "../../sql/announce_locks.sql" with { type: "text" };
import catalogText from "../../sql/catalog_text.sql" with { type: "text" };
import creatingBytes from "../../sql/creating_bytes.sql" with { type: "text" };
import databaseSize from "../../sql/database_size.sql" with { type: "text" };
import databaseStates from "../../sql/database_states.sql" with { type: "text" };
import createMonitorRole from "../../sql/create_monitor_role.sql" with { type: "text" };
import dropMonitorRole from "../../sql/drop_monitor_role.sql" with { type: "text" };
import eventsSince from "../../sql/events_since.sql" with { type: "text" };
import grantConnect from "../../sql/grant_connect.sql" with { type: "text" };
import installControl from "../../sql/install_control.sql" with { type: "text" };
import installDatabase from "../../sql/install_database.sql" with { type: "text" };
import largeObjectSignature from "../../sql/large_object_signature.sql" with { type: "text" };
import largeObjectsInstalled from "../../sql/large_objects_installed.sql" with { type: "text" };
import largeObjectsUninstalled from "../../sql/large_objects_uninstalled.sql" with {
  type: "text",
};
import lastEventId from "../../sql/last_event_id.sql" with { type: "text" };
import lastSoftWarnings from "../../sql/last_soft_warnings.sql" with { type: "text" };
import fileBytes from "../../sql/file_bytes.sql" with { type: "text" };
import leaderCheck from "../../sql/leader_check.sql" with { type: "text" };
import leaderTry from "../../sql/leader_try.sql" with { type: "text" };
import leaderWho from "../../sql/leader_who.sql" with { type: "text" };
import listDatabases from "../../sql/list_databases.sql" with { type: "text" };
import listRoles from "../../sql/list_roles.sql" with { type: "text" };
import loadLocks from "../../sql/load_locks.sql" with { type: "text" };
import measureOwners from "../../sql/measure_owners.sql" with { type: "text" };
import measureRelations from "../../sql/measure_relations.sql" with { type: "text" };
import notifyQueue from "../../sql/notify_queue.sql" with { type: "text" };
import oldestTransactions from "../../sql/oldest_transactions.sql" with { type: "text" };
import schemaTrust from "../../sql/schema_trust.sql" with { type: "text" };
import stopWriters from "../../sql/stop_writers.sql" with { type: "text" };
import measureRelationsInstalled from "../../sql/measure_relations_installed.sql" with {
  type: "text",
};
import relationMoves from "../../sql/relation_moves.sql" with { type: "text" };
import roleDatabases from "../../sql/role_databases.sql" with { type: "text" };
import roleGroups from "../../sql/role_groups.sql" with { type: "text" };
import syncTriggers from "../../sql/sync_triggers.sql" with { type: "text" };
import tableCounters from "../../sql/table_counters.sql" with { type: "text" };
import setTempFileLimit from "../../sql/set_temp_file_limit.sql" with { type: "text" };
import tempFileLimits from "../../sql/temp_file_limits.sql" with { type: "text" };
import tempFileUsage from "../../sql/temp_file_usage.sql" with { type: "text" };
import uninstall from "../../sql/uninstall.sql" with { type: "text" };
import uninstallTriggers from "../../sql/uninstall_triggers.sql" with { type: "text" };
import connectedRole from "../../sql/connected_role.sql" with { type: "text" };
import installSettings from "../../sql/install_settings.sql" with { type: "text" };
import lockRole from "../../sql/lock_role.sql" with { type: "text" };
import logEvent from "../../sql/log_event.sql" with { type: "text" };
import roleOid from "../../sql/role_oid.sql" with { type: "text" };
import terminateSessions from "../../sql/terminate_sessions.sql" with { type: "text" };
import unlockRole from "../../sql/unlock_role.sql" with { type: "text" };

const FILES = {
  active_writes: activeWrites,
  alert_cursor_get: alertCursorGet,
  alert_cursor_set: alertCursorSet,
  announce_locks: announceLocks,
  catalog_text: catalogText,
  create_monitor_role: createMonitorRole,
  creating_bytes: creatingBytes,
  database_size: databaseSize,
  database_states: databaseStates,
  drop_monitor_role: dropMonitorRole,
  events_since: eventsSince,
  grant_connect: grantConnect,
  install_control: installControl,
  install_database: installDatabase,
  large_object_signature: largeObjectSignature,
  large_objects_installed: largeObjectsInstalled,
  large_objects_uninstalled: largeObjectsUninstalled,
  last_event_id: lastEventId,
  last_soft_warnings: lastSoftWarnings,
  leader_check: leaderCheck,
  file_bytes: fileBytes,
  leader_try: leaderTry,
  leader_who: leaderWho,
  list_databases: listDatabases,
  list_roles: listRoles,
  load_locks: loadLocks,
  measure_owners: measureOwners,
  measure_relations: measureRelations,
  notify_queue: notifyQueue,
  oldest_transactions: oldestTransactions,
  schema_trust: schemaTrust,
  stop_writers: stopWriters,
  measure_relations_installed: measureRelationsInstalled,
  relation_moves: relationMoves,
  role_databases: roleDatabases,
  role_groups: roleGroups,
  set_temp_file_limit: setTempFileLimit,
  sync_triggers: syncTriggers,
  table_counters: tableCounters,
  temp_file_limits: tempFileLimits,
  temp_file_usage: tempFileUsage,
  uninstall: uninstall,
  uninstall_triggers: uninstallTriggers,
  connected_role: connectedRole,
  install_settings: installSettings,
  lock_role: lockRole,
  log_event: logEvent,
  role_oid: roleOid,
  terminate_sessions: terminateSessions,
  unlock_role: unlockRole,
} as const;

/** Name of a file in `sql/`, without `.sql`. */
export type SqlName = keyof typeof FILES;

/** Every embedded SQL file's name (the unit tests check it matches `sql/`). */
export const SQL_NAMES = Object.keys(FILES) as SqlName[];

/** Returns the text of `sql/<name>.sql`. */
export function sqlFile(name: SqlName): string {
  return FILES[name];
}
