-- Every database the daemon considers (run on the control database as the monitoring role): all
-- databases except templates owned by a superuser (template0, template1), or only the listed
-- ones ($2, a JSON array, or NULL for all). For each: its owner, whether a limited role ($1, a JSON
-- array of oids) owns anything in it (pg_shdepend is a shared catalog: readable from here without
-- connecting), whether the monitoring role could connect to it, and how many sessions of other
-- roles it has (against its CONNECTION LIMIT).
WITH owners AS (
  SELECT jsonb_array_elements_text($1::text::jsonb)::oid AS oid
), others AS (
  SELECT a.datid, count(*)::int4 AS n
    FROM pg_catalog.pg_stat_activity a
   WHERE a.usename IS DISTINCT FROM current_user AND a.datid IS NOT NULL
   GROUP BY a.datid
), listed AS (
  SELECT jsonb_array_elements_text($2::text::jsonb) AS datname
)
SELECT d.datname,
       d.oid::int8 AS oid,
       d.datdba::int8 AS owner,
       coalesce(r.rolname, d.datdba::text) AS owner_name,
       d.datdba IN (SELECT o.oid FROM owners o) AS owner_limited,
       -- A database a limited role owns counts even if pg_shdepend shows nothing of that role
       -- there: its tables may belong to pg_database_owner (pinned, so never in pg_shdepend),
       -- which stands for the owner. Once anything was written in it, or while anyone but us is
       -- connected to it (PostgreSQL 14 reports a session's writes only at its next transaction
       -- or its end); an untouched, unused database stays free.
       (d.datdba IN (SELECT o.oid FROM owners o)
        AND (coalesce(sd.tup_inserted + sd.tup_updated + sd.tup_deleted, 0) > 0
             OR coalesce(x.n, 0) > 0)) OR EXISTS (
         SELECT 1 FROM pg_catalog.pg_shdepend s
          WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
            AND s.refobjid IN (SELECT o.oid FROM owners o)
            AND s.dbid = d.oid
            AND s.deptype = 'o'
       ) AS active,
       d.datallowconn AS allow_connections,
       d.datconnlimit::int4 AS connection_limit,
       pg_catalog.has_database_privilege(d.oid, 'CONNECT') AS can_connect,
       coalesce(x.n, 0) AS other_sessions
  FROM pg_catalog.pg_database d
  LEFT JOIN pg_catalog.pg_roles r ON r.oid = d.datdba
  LEFT JOIN others x ON x.datid = d.oid
  LEFT JOIN pg_catalog.pg_stat_database sd ON sd.datid = d.oid
 WHERE NOT (d.datistemplate AND coalesce(r.rolsuper, false))
   AND ($2::text IS NULL OR d.datname IN (SELECT l.datname FROM listed l))
 ORDER BY d.datname
