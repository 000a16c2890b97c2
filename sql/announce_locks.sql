-- Tells a running daemon that the lock table changed (after `unlock`; $2 is LOCKS_CHANGED of
-- lib/watch/payload.ts). It would see the change at
-- its next sweep anyway: nothing is queued while the NOTIFY queue is filling up, so the command
-- never fails at COMMIT on a queue that a tenant pins (sql/install_database.sql).
SELECT pg_catalog.pg_notify($1, $2)
 WHERE pg_catalog.pg_notification_queue_usage() < postgres_monitor.notify_queue_limit()
