-- Cancels or terminates the sessions writing into relations of a locked role in the connected
-- database (postgres_monitor.stop_writers, sql/install_database.sql). $1 owner oid, $2 JSON array
-- of {"pid", "xact_us"}: transactions cancelled before and to terminate if still writing.
-- One row per session signalled.
SELECT w.pid::int8 AS pid,
       w.usename::text AS usename,
       pg_catalog.array_to_string(w.relations, ', ') AS relations,
       w.xact_us::text AS xact_us,
       w.state::text AS state,
       w.action::text AS action
  FROM postgres_monitor.stop_writers($1::oid, $2::text::jsonb) AS w
