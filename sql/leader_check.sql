-- Whether this session (still) holds the leader lock of leader_try.sql; $1, $2: its key
-- (LEADER_LOCK_KEY of lib/leader.ts).
SELECT EXISTS (
  SELECT 1 FROM pg_catalog.pg_locks
   WHERE locktype = 'advisory' AND classid = $1::oid AND objid = $2::oid AND objsubid = 2
     AND granted AND pid = pg_catalog.pg_backend_pid()
) AS leader
