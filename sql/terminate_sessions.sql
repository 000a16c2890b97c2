-- Ends the client sessions of a role the daemon locked ($1, oid) through
-- postgres_monitor.terminate_sessions (sql/install_control.sql); returns how many.
SELECT postgres_monitor.terminate_sessions($1) AS n
