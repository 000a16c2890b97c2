-- Makes the notify trigger present on exactly the tables of the given roles ($1, JSON array of
-- oids) in this database, at most $2 changes per call (postgres_monitor.sync_triggers). Tables
-- owned by pg_database_owner are this database's owner's (see measure_owners.sql).
WITH owners AS (
  SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid AS oid
)
SELECT relid::int8 AS relid, relation, action, detail
  FROM postgres_monitor.sync_triggers(
         ARRAY(SELECT o.oid FROM owners o
               UNION
               SELECT 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid
                 FROM pg_catalog.pg_database d
                WHERE d.datname = pg_catalog.current_database()
                  AND d.datdba IN (SELECT o.oid FROM owners o)),
         $2)
