-- Size on disk of a database the daemon cannot enter ($1, oid), through the control database
-- function from install_control.sql (pg_database_size itself needs CONNECT or pg_read_all_stats).
SELECT postgres_monitor.database_size($1::oid)::int8 AS bytes
