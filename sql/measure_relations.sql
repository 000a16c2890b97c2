-- Size of the given relations ($1: JSON array of oids from notifications or pg_locks). An index
-- oid (CREATE INDEX) resolves to its table. A relation that no longer exists comes back with
-- exists = false. This runs often under write load, so unlike measure_owners.sql it does not
-- read pg_locks (that takes every lock-manager partition): a relation under an
-- AccessExclusiveLock makes the statement fail after lock_timeout instead, and the daemon retries.
-- A partitioned table stands for every partition under it: a write through the parent fires the
-- parent's statement trigger only, and the parent itself has no storage. The partitions are found
-- in pg_inherits, which takes no lock (pg_partition_tree would lock each one).
WITH RECURSIVE named AS (
  SELECT DISTINCT coalesce(i.indrelid, w.relid) AS relid
    FROM (SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid) AS w (relid)
    LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = w.relid
), tree (relid) AS (
  SELECT n.relid
    FROM named n
    JOIN pg_catalog.pg_class p ON p.oid = n.relid AND p.relkind = 'p'
  UNION
  SELECT h.inhrelid FROM tree t JOIN pg_catalog.pg_inherits h ON h.inhparent = t.relid
), wanted AS (
  SELECT relid FROM named
  UNION
  SELECT relid FROM tree
)
SELECT w.relid::int8 AS relid,
       -- pg_database_owner stands for this database's owner (see measure_owners.sql).
       CASE WHEN c.relowner = 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid
            THEN (SELECT d.datdba FROM pg_catalog.pg_database d
                   WHERE d.datname = pg_catalog.current_database())
            ELSE coalesce(c.relowner, 0)
       END::int8 AS owner,
       c.oid IS NOT NULL AS exists,
       false AS busy,
       false AS by_files,
       CASE WHEN c.oid IS NULL THEN 0
            ELSE coalesce(pg_catalog.pg_total_relation_size(c.oid), 0)
       END::int8 AS bytes,
       CASE WHEN c.oid IS NULL THEN 0
            ELSE coalesce(pg_catalog.pg_indexes_size(c.oid), 0)
       END::int8 AS indexes,
       CASE WHEN c.oid IS NULL OR c.reltoastrelid = 0 THEN 0
            ELSE coalesce(pg_catalog.pg_total_relation_size(c.reltoastrelid), 0)
       END::int8 AS toast
  FROM wanted w
  LEFT JOIN pg_catalog.pg_class c ON c.oid = w.relid AND c.relkind IN ('r', 'm', 'S')
