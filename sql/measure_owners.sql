-- Size of every relation owned by the given roles ($1) in this database: table, TOAST, indexes,
-- all forks (pg_total_relation_size), temporary tables included. A relation with a granted or
-- pending AccessExclusiveLock is not measured (it would wait behind ALTER TABLE, VACUUM FULL):
-- it comes back with busy = true and keeps its previous size until a later measurement.
WITH busy AS (
  SELECT l.relation
    FROM pg_catalog.pg_locks l
   WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
     AND l.database = (SELECT oid FROM pg_catalog.pg_database
                        WHERE datname = pg_catalog.current_database())
)
SELECT c.oid::int8 AS relid,
       c.relowner::int8 AS owner,
       c.relnamespace::int8 AS nsp,
       b.relation IS NOT NULL AS busy,
       CASE WHEN b.relation IS NOT NULL THEN 0
            ELSE coalesce(pg_catalog.pg_total_relation_size(c.oid), 0)
       END::int8 AS bytes
  FROM pg_catalog.pg_class c
  LEFT JOIN (SELECT DISTINCT relation FROM busy) b ON b.relation = c.oid
 WHERE c.relkind IN ('r', 'm', 'S')
   AND c.relowner IN (SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid)
