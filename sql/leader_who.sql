-- Which daemon leads: the session holding the leader lock ($1, $2: its key, LEADER_LOCK_KEY of
-- lib/leader.ts), as the monitoring role sees it.
SELECT a.pid, a.application_name::text AS name, a.client_addr::text AS addr, a.backend_start
  FROM pg_catalog.pg_locks l
  JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 2
   AND l.granted
   AND l.database = (SELECT oid FROM pg_catalog.pg_database
                      WHERE datname = pg_catalog.current_database())
