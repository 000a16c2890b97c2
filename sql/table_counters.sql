-- "poll" detection: a signature per table of the given roles ($1, JSON array of oids) that changes
-- whenever its size may have: rows inserted, updated or deleted (counted once the writing backend
-- reports its statistics, within about a second of commit), a TRUNCATE or rewrite (new
-- relfilenode), a VACUUM that may have truncated it.
SELECT c.oid::int8 AS relid,
       pg_catalog.concat_ws(':', s.n_tup_ins + s.n_tup_upd + s.n_tup_del, c.relfilenode,
                 s.vacuum_count + s.autovacuum_count) AS signature,
       -- The notification cross-check (lib/watch/verify.ts): writes, and committed inserts.
       s.n_tup_ins + s.n_tup_upd + s.n_tup_del AS tuples,
       s.n_live_tup AS live
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'm')
   AND (c.relowner IN (SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid)
        -- pg_database_owner stands for this database's owner (see measure_owners.sql).
        OR (c.relowner = 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid
            AND (SELECT d.datdba FROM pg_catalog.pg_database d
                  WHERE d.datname = pg_catalog.current_database())
                IN (SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid)))
