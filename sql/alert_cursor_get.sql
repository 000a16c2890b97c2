-- Where the leading daemon's alert delivery has got to (no row: no daemon has delivered yet).
SELECT delivered_through::int8 AS id FROM postgres_monitor.alert_cursor
