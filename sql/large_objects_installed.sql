-- Bytes of the large objects of the given owners ($1: JSON array of oids), per owner, where
-- postgres_monitor is installed (see postgres_monitor.large_object_bytes in install_database.sql).
SELECT b.owner::int8 AS owner, b.objects::int8 AS objects, b.bytes::int8 AS bytes
  FROM postgres_monitor.large_object_bytes(ARRAY(
         SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid)) AS b
