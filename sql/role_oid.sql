-- The oid of the role named $1 (no row: no such role), for `unlock`.
SELECT oid::int8 AS oid FROM pg_catalog.pg_roles WHERE rolname = $1
