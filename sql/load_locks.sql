-- The locks this daemon holds, with the role's current login flag and live sessions. Only
-- usesysid is visible to the monitoring role in other roles' pg_stat_activity rows (backend_type
-- is NULL there), so every backend of the role counts.
SELECT l.roleid::int8 AS oid,
       l.rolname::text AS name,
       l.locked_at,
       l.reason,
       l.usage_bytes::int8 AS usage_bytes,
       l.manual_unlock,
       l.prior_canlogin,
       r.oid IS NOT NULL AS role_exists,
       coalesce(r.rolcanlogin, false) AS can_login,
       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity a
         WHERE a.usesysid = l.roleid)::int AS sessions
  FROM postgres_monitor.role_lock l
  LEFT JOIN pg_catalog.pg_roles r ON r.oid = l.roleid
