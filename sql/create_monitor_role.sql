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
  -- The daemon sends its session settings at connect (lib/db/connect.ts), which outranks any
  -- ALTER DATABASE ... SET by a database's owner. transaction_timeout (PostgreSQL 17+) cannot be
  -- sent that way to older servers, so it is pinned here: a role setting outranks ALTER DATABASE.
  IF pg_catalog.current_setting('server_version_num')::int >= 170000 THEN
    EXECUTE pg_catalog.format('ALTER ROLE %I SET transaction_timeout = 0', monitor);
  END IF;
END
$role$;
