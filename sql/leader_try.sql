-- Tries to become the leading daemon: a session-level advisory lock in the control database,
-- held for as long as this connection lives. Keys: 0x706d6f6e ('pmon'), 1.
SELECT pg_catalog.pg_try_advisory_lock(1886220142, 1) AS leader
