-- Whether this session (still) holds the leader lock of leader_try.sql.
SELECT EXISTS (
  SELECT 1 FROM pg_catalog.pg_locks
   WHERE locktype = 'advisory' AND classid = 1886220142 AND objid = 1 AND objsubid = 2
     AND granted AND pid = pg_catalog.pg_backend_pid()
) AS leader
