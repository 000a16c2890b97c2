-- Whether the postgres_monitor schema of the connected database is the one `install` made, judged
-- by OWNER, never by name: a tenant who owns a database (CREATEDB) can create a schema and
-- functions of that name, and calling them would run its code as the monitoring role.
-- $1: true in the control database, whose tables and functions are required too.
--   installed  the schema and every object in it belong to superusers, no other role may CREATE
--              in it, and every object the daemon uses exists
--   untrusted  some object in the schema (or the schema) belongs to a non-superuser, or a
--              non-superuser (or PUBLIC) may CREATE in it: the daemon never calls into it
--   absent     no schema, or a trusted schema without some object the daemon uses
-- Reads only pg_catalog; `owners` names the untrusted owners and grantees.
WITH nsp AS (
  SELECT n.oid, n.nspowner, n.nspacl
    FROM pg_catalog.pg_namespace n
   WHERE n.nspname = 'postgres_monitor'
),
objects (kind, name, owner) AS (
  SELECT 'schema', 'postgres_monitor', nsp.nspowner FROM nsp
  UNION ALL
  SELECT 'relation', c.oid::regclass::text, c.relowner
    FROM pg_catalog.pg_class c JOIN nsp ON c.relnamespace = nsp.oid
  UNION ALL
  SELECT 'function', p.oid::regprocedure::text, p.proowner
    FROM pg_catalog.pg_proc p JOIN nsp ON p.pronamespace = nsp.oid
  UNION ALL
  SELECT 'type', t.oid::regtype::text, t.typowner
    FROM pg_catalog.pg_type t JOIN nsp ON t.typnamespace = nsp.oid
  UNION ALL
  SELECT 'operator', o.oid::regoperator::text, o.oprowner
    FROM pg_catalog.pg_operator o JOIN nsp ON o.oprnamespace = nsp.oid
  UNION ALL
  SELECT 'collation', c.collname::text, c.collowner
    FROM pg_catalog.pg_collation c JOIN nsp ON c.collnamespace = nsp.oid
  UNION ALL
  SELECT 'conversion', c.conname::text, c.conowner
    FROM pg_catalog.pg_conversion c JOIN nsp ON c.connamespace = nsp.oid
  UNION ALL
  SELECT 'operator class', c.opcname::text, c.opcowner
    FROM pg_catalog.pg_opclass c JOIN nsp ON c.opcnamespace = nsp.oid
  UNION ALL
  SELECT 'operator family', f.opfname::text, f.opfowner
    FROM pg_catalog.pg_opfamily f JOIN nsp ON f.opfnamespace = nsp.oid
  UNION ALL
  SELECT 'text search configuration', c.cfgname::text, c.cfgowner
    FROM pg_catalog.pg_ts_config c JOIN nsp ON c.cfgnamespace = nsp.oid
  UNION ALL
  SELECT 'text search dictionary', d.dictname::text, d.dictowner
    FROM pg_catalog.pg_ts_dict d JOIN nsp ON d.dictnamespace = nsp.oid
  UNION ALL
  SELECT 'statistics object', s.stxname::text, s.stxowner
    FROM pg_catalog.pg_statistic_ext s JOIN nsp ON s.stxnamespace = nsp.oid
),
bad_owner AS (
  SELECT o.kind, o.name, coalesce(r.rolname::text, o.owner::text) AS who
    FROM objects o
    LEFT JOIN pg_catalog.pg_roles r ON r.oid = o.owner
   WHERE NOT coalesce(r.rolsuper, false)
),
bad_create AS (
  SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE r.rolname::text END AS who
    FROM nsp
   CROSS JOIN LATERAL pg_catalog.aclexplode(nsp.nspacl) a
    LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
   WHERE a.privilege_type = 'CREATE' AND NOT coalesce(r.rolsuper, false)
),
required (kind, name, control) AS (
  VALUES ('function', 'postgres_monitor.sync_triggers(pg_catalog.oid[], pg_catalog.int4)', false),
         ('function', 'postgres_monitor.active_writes(pg_catalog.oid[], pg_catalog.interval)',
          false),
         ('function', 'postgres_monitor.creating_bytes(pg_catalog.oid[], pg_catalog.interval)',
          false),
         ('function', 'postgres_monitor.stop_writers(pg_catalog.oid, pg_catalog.jsonb)',
          false),
         ('function', 'postgres_monitor.large_object_bytes(pg_catalog.oid[])', false),
         ('relation', 'postgres_monitor.role_lock', true),
         ('relation', 'postgres_monitor.event_log', true),
         ('relation', 'postgres_monitor.alert_cursor', true),
         ('function', 'postgres_monitor.lock_role(pg_catalog.oid, pg_catalog.int8, pg_catalog.int8,'
                      ' pg_catalog.int8, pg_catalog.bool, pg_catalog.text)', true),
         ('function', 'postgres_monitor.terminate_sessions(pg_catalog.oid)', true),
         ('function', 'postgres_monitor.unlock_role(pg_catalog.oid, pg_catalog.text,'
                      ' pg_catalog.text)', true),
         ('relation', 'postgres_monitor.temp_file_limit_set', true),
         ('function', 'postgres_monitor.temp_file_usage()', true),
         ('function', 'postgres_monitor.set_temp_file_limit(pg_catalog.oid, pg_catalog.int8)', true)
),
missing AS (
  SELECT q.kind, q.name
    FROM required q
   WHERE (NOT q.control OR $1::bool)
     AND CASE q.kind WHEN 'function' THEN pg_catalog.to_regprocedure(q.name) IS NULL
                     ELSE pg_catalog.to_regclass(q.name) IS NULL END
)
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM nsp) THEN 'absent'
            WHEN EXISTS (SELECT 1 FROM bad_owner) OR EXISTS (SELECT 1 FROM bad_create)
              THEN 'untrusted'
            WHEN EXISTS (SELECT 1 FROM missing) THEN 'absent'
            ELSE 'installed' END AS state,
       pg_catalog.concat_ws('; ',
         (SELECT pg_catalog.string_agg(pg_catalog.format('%s %s is owned by non-superuser %I',
                                                         b.kind, b.name, b.who), '; ')
            FROM bad_owner b),
         (SELECT pg_catalog.string_agg(pg_catalog.format('%s may CREATE in schema postgres_monitor',
                                                         b.who), '; ')
            FROM bad_create b),
         (SELECT pg_catalog.string_agg(pg_catalog.format('%s %s is missing', m.kind, m.name), '; ')
            FROM missing m)) AS detail,
       coalesce((SELECT pg_catalog.jsonb_agg(DISTINCT x.who)
                   FROM (SELECT who FROM bad_owner UNION SELECT who FROM bad_create) x),
                '[]'::jsonb) AS owners
