-- Tables of the given roles ($1, JSON array of oids) that an open transaction at least $2 seconds
-- old is writing to now (postgres_monitor.active_writes). Tables owned by pg_database_owner are
-- this database's owner's (see measure_owners.sql).
WITH owners AS (
  SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid AS oid
)
SELECT relid::int8 AS relid
  FROM postgres_monitor.active_writes(
         ARRAY(SELECT o.oid FROM owners o
               UNION
               SELECT 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid
                 FROM pg_catalog.pg_database d
                WHERE d.datname = pg_catalog.current_database()
                  AND d.datdba IN (SELECT o.oid FROM owners o)),
         pg_catalog.make_interval(secs => $2))
