-- The $1 oldest open transactions of client sessions in the cluster (never their query text):
-- one of them holds the NOTIFY queue's tail when it fills. Control database only.
SELECT t.pid, t.usename::text AS usename, t.datname::text AS datname, t.xact_start,
       t.xact_age_seconds, t.state, t.application_name
  FROM postgres_monitor.oldest_transactions($1::int) t
 ORDER BY t.xact_start, t.pid
