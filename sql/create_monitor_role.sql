-- Creates the daemon's login role if it does not exist (name from postgres_monitor.install_role).
-- It gets no attributes beyond LOGIN: everything it may do is granted by install_database.sql and
-- install_control.sql. The comment lets `uninstall --drop-role` drop only a role install created.
DO $role$
DECLARE
  monitor text := pg_catalog.current_setting('postgres_monitor.install_role');
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = monitor) THEN
    EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN', monitor);
    EXECUTE pg_catalog.format(
      'COMMENT ON ROLE %I IS %L', monitor, 'created by postgres_realtime_monitor install');
    RAISE NOTICE 'created role %', monitor;
  END IF;
END
$role$;
