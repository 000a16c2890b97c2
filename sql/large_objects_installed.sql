-- Bytes of the large objects of the given owners ($1: JSON array of oids), per owner, where
-- postgres_monitor is installed (see postgres_monitor.large_object_bytes in install_database.sql).
-- pg_database_owner stands for this database's owner (see measure_owners.sql).
WITH given AS (
  SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid AS oid
), dba AS (
  SELECT d.datdba FROM pg_catalog.pg_database d
   WHERE d.datname = pg_catalog.current_database()
)
SELECT CASE WHEN b.owner = 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid
            THEN (SELECT datdba FROM dba) ELSE b.owner END::int8 AS owner,
       pg_catalog.sum(b.objects)::int8 AS objects, pg_catalog.sum(b.bytes)::int8 AS bytes
  FROM postgres_monitor.large_object_bytes(ARRAY(
         SELECT oid FROM given
         UNION
         SELECT 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid WHERE (SELECT datdba FROM dba) IN (SELECT oid FROM given))) AS b
 GROUP BY 1
