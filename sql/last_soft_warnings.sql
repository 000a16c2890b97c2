-- The latest soft-limit event per role, so a restart neither repeats a warning nor forgets one.
SELECT DISTINCT ON (roleid) roleid::int8 AS oid, event, at
  FROM postgres_monitor.event_log
 WHERE event IN ('soft_exceeded', 'soft_cleared')
   AND roleid IS NOT NULL
 ORDER BY roleid, at DESC, id DESC
