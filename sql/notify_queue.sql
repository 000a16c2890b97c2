-- How full the cluster's NOTIFY queue is (0 to 1), and the usage at or above which the installed
-- triggers stop notifying (sql/install_database.sql). Read from the control database.
SELECT pg_catalog.pg_notification_queue_usage()::float8 AS usage,
       postgres_monitor.notify_queue_limit()::float8 AS queue_limit
