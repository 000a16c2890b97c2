-- Size of the given relations ($1: JSON array of oids from notifications or pg_locks). An index
-- oid (CREATE INDEX) resolves to its table. A relation that no longer exists comes back with
-- exists = false. This runs often under write load, so unlike measure_owners.sql it does not
-- read pg_locks (that takes every lock-manager partition): a relation under an
-- AccessExclusiveLock makes the statement fail after lock_timeout instead, and the daemon retries.
WITH wanted AS (
  SELECT DISTINCT coalesce(i.indrelid, w.relid) AS relid
    FROM (SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid) AS w (relid)
    LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = w.relid
)
SELECT w.relid::int8 AS relid,
       coalesce(c.relowner, 0)::int8 AS owner,
       c.oid IS NOT NULL AS exists,
       false AS busy,
       false AS by_files,
       CASE WHEN c.oid IS NULL THEN 0
            ELSE coalesce(pg_catalog.pg_total_relation_size(c.oid), 0)
       END::int8 AS bytes
  FROM wanted w
  LEFT JOIN pg_catalog.pg_class c ON c.oid = w.relid AND c.relkind IN ('r', 'm', 'S')
