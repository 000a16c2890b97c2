-- Size of the given relations ($1: oids from notifications). An index oid (CREATE INDEX) resolves
-- to its table. A relation that no longer exists comes back with exists = false; one under an
-- AccessExclusiveLock with busy = true and no size (same rule as measure_owners.sql).
WITH wanted AS (
  SELECT DISTINCT coalesce(i.indrelid, w.relid) AS relid
    FROM (SELECT jsonb_array_elements_text($1::text::jsonb)::oid) AS w (relid)
    LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = w.relid
), busy AS (
  SELECT DISTINCT l.relation
    FROM pg_catalog.pg_locks l
   WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
     AND l.relation IN (SELECT relid FROM wanted)
     AND l.database = (SELECT oid FROM pg_catalog.pg_database
                        WHERE datname = pg_catalog.current_database())
)
SELECT w.relid::int8 AS relid,
       coalesce(c.relowner, 0)::int8 AS owner,
       c.oid IS NOT NULL AS exists,
       b.relation IS NOT NULL AS busy,
       CASE WHEN c.oid IS NULL OR b.relation IS NOT NULL THEN 0
            ELSE coalesce(pg_catalog.pg_total_relation_size(c.oid), 0)
       END::int8 AS bytes
  FROM wanted w
  LEFT JOIN pg_catalog.pg_class c ON c.oid = w.relid AND c.relkind IN ('r', 'm', 'S')
  LEFT JOIN busy b ON b.relation = w.relid
