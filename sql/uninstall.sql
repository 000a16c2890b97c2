-- Removes what install_database.sql and install_control.sql created in this database and nothing
-- else: notify triggers on user tables, the event triggers, the schema's own objects, the schema,
-- and the CONNECT grant to the daemon's role (postgres_monitor.install_role, if it exists).
-- The notify triggers were dropped beforehand by uninstall_triggers.sql, in batches.
DO $uninstall$
DECLARE
  monitor text := pg_catalog.current_setting('postgres_monitor.install_role', true);
BEGIN
  IF monitor IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = monitor)
  THEN
    EXECUTE pg_catalog.format('REVOKE CONNECT ON DATABASE %I FROM %I',
      pg_catalog.current_database(), monitor);
  END IF;
END
$uninstall$;
-- temp_file_limit role settings the daemon made and that nobody changed since: back to what the
-- role had before (control database only; a role that became protected keeps its setting).
DO $temp$
DECLARE
  r record;
BEGIN
  IF pg_catalog.to_regclass('postgres_monitor.temp_file_limit_set') IS NULL
     OR pg_catalog.to_regprocedure('postgres_monitor.set_temp_file_limit(oid, bigint)') IS NULL
  THEN
    RETURN;
  END IF;
  FOR r IN SELECT roleid FROM postgres_monitor.temp_file_limit_set LOOP
    BEGIN
      PERFORM postgres_monitor.set_temp_file_limit(r.roleid, NULL);
    EXCEPTION WHEN insufficient_privilege THEN
      NULL;
    END;
  END LOOP;
END
$temp$;
DROP EVENT TRIGGER IF EXISTS postgres_monitor_ddl_end;
DROP EVENT TRIGGER IF EXISTS postgres_monitor_sql_drop;
DROP EVENT TRIGGER IF EXISTS postgres_monitor_guard_ddl;
DROP EVENT TRIGGER IF EXISTS postgres_monitor_guard_drop;
DROP TABLE IF EXISTS postgres_monitor.alert_cursor;
DROP TABLE IF EXISTS postgres_monitor.temp_file_limit_set;
DROP TABLE IF EXISTS postgres_monitor.event_log;
DROP TABLE IF EXISTS postgres_monitor.role_lock;
DROP TABLE IF EXISTS postgres_monitor.watched_role;
DROP FUNCTION IF EXISTS postgres_monitor.leader_try();
DROP FUNCTION IF EXISTS postgres_monitor.temp_file_usage();
DROP FUNCTION IF EXISTS postgres_monitor.set_temp_file_limit(oid, bigint);
DROP FUNCTION IF EXISTS postgres_monitor.oldest_transactions(integer);
DROP FUNCTION IF EXISTS postgres_monitor.database_size(oid);
DROP FUNCTION IF EXISTS postgres_monitor.grant_connect(oid);
DROP FUNCTION IF EXISTS postgres_monitor.unlock_role(oid, text, text);
DROP FUNCTION IF EXISTS postgres_monitor.terminate_sessions(oid);
DROP FUNCTION IF EXISTS postgres_monitor.lock_role(oid, bigint, bigint, bigint, boolean, text);
DROP FUNCTION IF EXISTS postgres_monitor.protected_reason(oid);
DROP FUNCTION IF EXISTS postgres_monitor.forbid_change();
DROP FUNCTION IF EXISTS postgres_monitor.measure_relations(oid[]);
DROP FUNCTION IF EXISTS postgres_monitor.large_object_bytes(oid[]);
DROP FUNCTION IF EXISTS postgres_monitor.file_bytes(oid);
DROP FUNCTION IF EXISTS postgres_monitor.active_writes(oid[], interval);
DROP FUNCTION IF EXISTS postgres_monitor.creating_bytes(oid[], interval);
DROP FUNCTION IF EXISTS postgres_monitor.stop_writers(oid, jsonb);
DROP FUNCTION IF EXISTS postgres_monitor.sync_triggers(oid[], integer);
DROP FUNCTION IF EXISTS postgres_monitor.sync_triggers(oid[]);
DROP FUNCTION IF EXISTS postgres_monitor.on_sql_drop();
DROP FUNCTION IF EXISTS postgres_monitor.guard_notify_trigger();
DROP FUNCTION IF EXISTS postgres_monitor.on_ddl_end();
DROP FUNCTION IF EXISTS postgres_monitor.notify_catalog_text();
DROP FUNCTION IF EXISTS postgres_monitor.notify_write();
DROP FUNCTION IF EXISTS postgres_monitor.notify_queue_limit();
DROP FUNCTION IF EXISTS postgres_monitor.channel();
-- RESTRICT: if someone put their own objects in this schema, stop rather than drop them.
DROP SCHEMA IF EXISTS postgres_monitor RESTRICT;
