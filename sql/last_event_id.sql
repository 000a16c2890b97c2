-- The newest event-log id (0 when empty): where alert delivery starts on a first run.
SELECT coalesce(pg_catalog.max(id), 0)::int8 AS id FROM postgres_monitor.event_log
