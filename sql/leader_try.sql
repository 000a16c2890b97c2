-- Tries to become the leading daemon: a session-level advisory lock in the control database,
-- held for as long as this connection lives, taken by postgres_monitor.leader_try()
-- (sql/install_control.sql), which also ends a session of any other role squatting on it.
SELECT postgres_monitor.leader_try() AS leader
