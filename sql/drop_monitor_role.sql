-- Drops the daemon's role if, and only if, `install` created it (see create_monitor_role.sql).
DO $role$
DECLARE
  monitor text := pg_catalog.current_setting('postgres_monitor.install_role');
BEGIN
  IF EXISTS (
    SELECT 1 FROM pg_catalog.pg_roles r
     WHERE r.rolname = monitor
       AND pg_catalog.shobj_description(r.oid, 'pg_authid')
           = 'created by postgres_realtime_monitor install') THEN
    EXECUTE pg_catalog.format('DROP ROLE %I', monitor);
    RAISE NOTICE 'dropped role %', monitor;
  END IF;
END
$role$;
