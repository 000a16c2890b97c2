-- measure_relations.sql for a database where postgres_monitor is installed: one relation at a
-- time (postgres_monitor.measure_relations), a locked one charged what its files hold (busy).
SELECT relid::int8 AS relid, owner::int8 AS owner, present AS exists, busy, busy AS by_files,
       bytes::int8 AS bytes, indexes::int8 AS indexes, toast::int8 AS toast
  FROM postgres_monitor.measure_relations(
         ARRAY(SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid))
