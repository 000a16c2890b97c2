-- Gives the monitoring role CONNECT on a database ($1, oid) whose owner revoked it (control
-- database function from install_control.sql; it grants to SESSION_USER only).
SELECT postgres_monitor.grant_connect($1::oid) AS granted
