-- Advances the shared alert cursor to $1 (never backwards); $2 names the daemon.
INSERT INTO postgres_monitor.alert_cursor AS c (delivered_through, updated_by)
VALUES ($1::int8, $2::text)
ON CONFLICT (singleton) DO UPDATE
  SET delivered_through = GREATEST(c.delivered_through, excluded.delivered_through),
      updated_at = pg_catalog.now(),
      updated_by = excluded.updated_by
