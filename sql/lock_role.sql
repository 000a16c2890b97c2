-- Locks a role over its hard limit through postgres_monitor.lock_role (sql/install_control.sql):
-- NOLOGIN, committed before its sessions are terminated (terminate_sessions.sql). $1 role oid,
-- $2 usage, $3 soft and $4 hard limit (bytes), $5 manual_unlock, $6 reason. Returns 'locked' or
-- 'already_locked'.
SELECT postgres_monitor.lock_role($1, $2, $3, $4, $5, $6) AS result
