-- Ends the daemon's lock on a role ($1, oid) through postgres_monitor.unlock_role
-- (sql/install_control.sql): 'unlocked', 'released' (LOGIN left alone) or 'not_locked'. $2 is the
-- actor for the event log (NULL: the connected role, the daemon itself), $3 the reason.
SELECT postgres_monitor.unlock_role($1, $2, $3) AS result
