-- Tables of the given roles ($1, JSON array of oids) that an open transaction is writing to right
-- now (a granted RowExclusiveLock held by another backend). NOTIFY only speaks at commit; this is
-- how a runaway INSERT ... SELECT is seen, measured and stopped before it commits.
SELECT DISTINCT c.oid::int8 AS relid
  FROM pg_catalog.pg_locks l
  JOIN pg_catalog.pg_class c ON c.oid = l.relation
 WHERE l.locktype = 'relation'
   AND l.mode = 'RowExclusiveLock'
   AND l.granted
   AND l.pid <> pg_catalog.pg_backend_pid()
   AND l.database = (SELECT oid FROM pg_catalog.pg_database
                      WHERE datname = pg_catalog.current_database())
   AND c.relkind IN ('r', 'm')
   AND c.relowner = ANY (ARRAY(SELECT jsonb_array_elements_text($1::text::jsonb)::oid))
