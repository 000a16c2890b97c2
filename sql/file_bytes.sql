-- What the files of the given relations ($1: JSON array of oids) hold on disk, read by
-- postgres_monitor.file_bytes (sql/install_database.sql) without taking a lock: the sweep charges
-- this to the relations measure_owners.sql found busy, in a database where it is installed.
SELECT r.relid::int8 AS relid, postgres_monitor.file_bytes(r.relid)::int8 AS bytes
  FROM (SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid) AS r (relid)
