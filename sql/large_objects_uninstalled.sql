-- Large objects where postgres_monitor is not installed (a tenant's database made from
-- template0): the monitoring role cannot read pg_largeobject there, so the whole of it and of
-- pg_largeobject_metadata (pg_total_relation_size, readable by anyone: dead rows, free space and
-- other roles' objects included) is charged to the given owners ($1: JSON array of oids) who own
-- large objects here, split by their number of objects, rounded up. Strict by design: the
-- database's owner can always read its own objects' sizes by installing postgres_monitor.
-- pg_database_owner stands for this database's owner (see measure_owners.sql).
WITH given AS (
  SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid AS oid
), dba AS (
  SELECT d.datdba FROM pg_catalog.pg_database d
   WHERE d.datname = pg_catalog.current_database()
), o AS MATERIALIZED (
  SELECT oid FROM given
  UNION
  SELECT 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid WHERE (SELECT datdba FROM dba) IN (SELECT oid FROM given)
), m AS (
  SELECT CASE WHEN lm.lomowner = 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid
              THEN (SELECT datdba FROM dba) ELSE lm.lomowner END AS owner,
         pg_catalog.count(*) AS objects
    FROM pg_catalog.pg_largeobject_metadata lm JOIN o ON o.oid = lm.lomowner
   GROUP BY 1
), t AS (
  SELECT pg_catalog.sum(m.objects) AS objects,
         pg_catalog.pg_total_relation_size('pg_catalog.pg_largeobject'::pg_catalog.regclass)
         OPERATOR(pg_catalog.+) pg_catalog.pg_total_relation_size(
           'pg_catalog.pg_largeobject_metadata'::pg_catalog.regclass) AS bytes
    FROM m
)
SELECT m.owner::int8 AS owner, m.objects::int8 AS objects,
       pg_catalog.ceil(t.bytes::numeric OPERATOR(pg_catalog.*) m.objects
                       OPERATOR(pg_catalog./) t.objects)::int8 AS bytes
  FROM m CROSS JOIN t
