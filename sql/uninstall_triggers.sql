-- Drops up to 500 of the notify triggers that install_database.sql attached, in one transaction
-- (each DROP TRIGGER holds a lock until commit; 100k in one would exhaust the lock table).
-- `uninstall` runs it until it drops none. Returns how many it dropped.
DO $uninstall$
DECLARE
  t record;
  n integer := 0;
BEGIN
  FOR t IN
    SELECT n.nspname, c.relname
      FROM pg_catalog.pg_trigger g
      JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_catalog.pg_proc p ON p.oid = g.tgfoid
      JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
     WHERE pn.nspname = 'postgres_monitor' AND p.proname = 'notify_write'
     LIMIT 500
  LOOP
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS postgres_monitor_notify ON %I.%I',
      t.nspname, t.relname);
    n := n + 1;
  END LOOP;
  PERFORM pg_catalog.set_config('postgres_monitor.dropped', n::text, true);
END
$uninstall$;
SELECT pg_catalog.current_setting('postgres_monitor.dropped')::int AS dropped;
