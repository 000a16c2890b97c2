-- Event-log rows after a high-water mark ($1), oldest first, at most $2 (a page: EVENTS_PAGE_ROWS
-- of lib/report/outbox.ts), for alert delivery. The event log is the outbox: an alert exists for
-- exactly the rows here, whoever wrote them (daemon or `unlock`).
SELECT id::int8 AS id,
       at,
       roleid::int8 AS oid,
       rolname::text AS role,
       event,
       usage_bytes::int8 AS usage_bytes,
       soft_limit::int8 AS soft_limit,
       hard_limit::int8 AS hard_limit,
       actor,
       detail
  FROM postgres_monitor.event_log
 WHERE id > $1
 ORDER BY id
 LIMIT $2
