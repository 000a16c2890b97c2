-- Where relations that left a limited role's sweep view are now: $1 is a JSON array of
-- {"relid": oid, "old_nsp": oid}. A relation that no longer exists comes back with exists = false
-- (dropped: not tampering). Names only: nothing here is beyond what pg_class shows any role.
SELECT x.relid::int8 AS relid,
       c.oid IS NOT NULL AS exists,
       c.relowner::int8 AS owner,
       r.rolname::text AS owner_name,
       n.nspname::text AS schema,
       o.nspname::text AS old_schema,
       c.relname::text AS name
  FROM pg_catalog.jsonb_to_recordset($1::text::jsonb) AS x(relid oid, old_nsp oid)
  LEFT JOIN pg_catalog.pg_class c ON c.oid = x.relid
  LEFT JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_namespace o ON o.oid = x.old_nsp
