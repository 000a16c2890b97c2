-- Appends one soft_exceeded / soft_cleared / hard_exceeded / tamper row to the event log (the
-- alert outbox, see events_since.sql). $1 role oid (or NULL), $2 role name, $3 event, $4 usage,
-- $5 soft and $6 hard limit (bytes, or NULL), $7 reason (detail.reason).
INSERT INTO postgres_monitor.event_log
  (roleid, rolname, event, usage_bytes, soft_limit, hard_limit, detail)
VALUES ($1, $2, $3, $4, $5, $6, pg_catalog.jsonb_build_object('reason', $7::text))
