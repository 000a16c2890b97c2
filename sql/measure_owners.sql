-- Size of every relation owned by the given roles ($1) in this database: table, TOAST, indexes,
-- all forks (pg_total_relation_size), temporary tables included; of that, its indexes and its
-- TOAST table (with TOAST index), for the usage breakdown. A relation with an
-- AccessExclusiveLock granted or pending on it, on one of its indexes, its TOAST table or TOAST
-- index is not measured (pg_total_relation_size would wait behind it): it comes back with
-- busy = true and its name; where postgres_monitor is installed the daemon then charges it what
-- its files hold (file_bytes.sql), elsewhere it keeps its previous size.
-- A relation owned by pg_database_owner belongs to this database's owner (a tenant that owns a
-- database may SET ROLE to it, or give it its tables): it is measured and charged as the owner's.
WITH owners AS MATERIALIZED (
  SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid AS oid
), dbo AS (
  SELECT 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid AS oid, d.datdba
    FROM pg_catalog.pg_database d
   WHERE d.datname = pg_catalog.current_database() AND d.datdba IN (SELECT oid FROM owners)
), locked AS (
  SELECT DISTINCT l.relation
    FROM pg_catalog.pg_locks l
   WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
     AND l.database = (SELECT oid FROM pg_catalog.pg_database
                        WHERE datname = pg_catalog.current_database())
), busy AS (
  SELECT relation AS relid FROM locked
  UNION SELECT i.indrelid FROM locked l JOIN pg_catalog.pg_index i ON i.indexrelid = l.relation
  UNION SELECT t.oid FROM locked l JOIN pg_catalog.pg_class t ON t.reltoastrelid = l.relation
  UNION SELECT t.oid FROM locked l JOIN pg_catalog.pg_index i ON i.indexrelid = l.relation
          JOIN pg_catalog.pg_class t ON t.reltoastrelid = i.indrelid
)
SELECT c.oid::int8 AS relid,
       coalesce(o.datdba, c.relowner)::int8 AS owner,
       c.relnamespace::int8 AS nsp,
       b.relid IS NOT NULL AS busy,
       CASE WHEN b.relid IS NOT NULL
            THEN pg_catalog.format('%I.%I', n.nspname, c.relname) END AS name,
       CASE WHEN b.relid IS NOT NULL THEN 0
            ELSE coalesce(pg_catalog.pg_total_relation_size(c.oid), 0)
       END::int8 AS bytes,
       CASE WHEN b.relid IS NOT NULL THEN 0
            ELSE coalesce(pg_catalog.pg_indexes_size(c.oid), 0)
       END::int8 AS indexes,
       CASE WHEN b.relid IS NOT NULL OR c.reltoastrelid = 0 THEN 0
            ELSE coalesce(pg_catalog.pg_total_relation_size(c.reltoastrelid), 0)
       END::int8 AS toast
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN busy b ON b.relid = c.oid
  LEFT JOIN dbo o ON o.oid = c.relowner
 WHERE c.relkind IN ('r', 'm', 'S')
   AND (c.relowner IN (SELECT oid FROM owners) OR o.oid IS NOT NULL)
