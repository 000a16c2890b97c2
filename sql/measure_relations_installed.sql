-- measure_relations.sql for a database where postgres_monitor is installed: one relation at a
-- time (postgres_monitor.measure_relations), a locked one charged what its files hold (busy).
-- pg_database_owner stands for this database's owner (see measure_owners.sql).
SELECT relid::int8 AS relid,
       CASE WHEN owner = 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid
            THEN (SELECT d.datdba FROM pg_catalog.pg_database d
                   WHERE d.datname = pg_catalog.current_database())
            ELSE owner
       END::int8 AS owner, present AS exists, busy, busy AS by_files,
       bytes::int8 AS bytes, indexes::int8 AS indexes, toast::int8 AS toast
  FROM postgres_monitor.measure_relations(
         ARRAY(SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid))
