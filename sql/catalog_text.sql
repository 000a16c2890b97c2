-- Catalog text per owner: what the given roles ($1, JSON array of role oids) store in the catalogs
-- as free text of a size they choose, in bytes as stored (pg_column_size: after compression, TOAST
-- included). A COMMENT of 90 MiB is 90 MiB on disk that no relation of the tenant holds.
-- $2 false: this database's catalogs; $2 true: the shared catalogs (run once, in the control
-- database). Reads only pg_catalog, which every role may read: works where postgres_monitor is
-- not installed.
--
-- Counted, per database (each charged to the owner of the object it belongs to):
--   pg_description  comments; on a relation, column, constraint, trigger, policy, rule or type
--                   the owner of the relation or type, on anything else its owner dependency
--                   (pg_shdepend, deptype 'o'), which exists for every object a role other than
--                   the bootstrap superuser owns (large objects, schemas, functions, ...)
--   pg_seclabel     security labels, the same way (only with a label provider loaded)
--   pg_proc         prosrc, probin, proconfig (SET clauses), proargdefaults, prosqlbody
--   pg_aggregate    agginitval, aggminitval (INITCOND), by the aggregate's owner
--   pg_rewrite      view and rule definitions (ev_action, ev_qual), by the relation's owner
--   pg_attrdef      column defaults (adbin)
--   pg_constraint   check constraints and domain constraints (conbin)
--   pg_policy       row security policies (polqual, polwithcheck)
--   pg_trigger      trigger arguments and WHEN conditions (tgargs, tgqual)
--   pg_type         domain defaults (typdefault, typdefaultbin)
--   pg_partitioned_table  partition key expressions (partexprs)
--   pg_statistic_ext      expressions of extended statistics (stxexprs)
--   pg_ts_dict      text search dictionary options (dictinitoption)
--   pg_foreign_table, pg_foreign_server  options (ftoptions, srvoptions)
-- Shared ($2 true):
--   pg_shdescription, pg_shseclabel  comments and labels on databases, tablespaces, roles and
--                   subscriptions: a role's own is charged to it, others to their owner
--   pg_db_role_setting  ALTER ROLE ... SET (charged to the role, which may do it to itself
--                   without any privilege: application_name or search_path of any length) and
--                   ALTER DATABASE ... SET (charged to the database's owner)
-- Objects with oids below 16384 are built in (bootstrap superuser's), skipped early.
WITH given AS (
  SELECT DISTINCT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid AS oid
),
-- pg_database_owner stands for this database's owner (see measure_owners.sql).
owners AS (
  SELECT oid FROM given
  UNION
  SELECT 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid
    FROM pg_catalog.pg_database d
   WHERE NOT $2::bool AND d.datname = pg_catalog.current_database()
     AND d.datdba IN (SELECT oid FROM given)
),
-- Comments and security labels on objects of this database.
labelled AS (
  SELECT d.classoid, d.objoid, pg_catalog.pg_column_size(d.description)::int8 AS bytes
    FROM pg_catalog.pg_description d
   WHERE NOT $2::bool AND d.objoid >= 16384
  UNION ALL
  SELECT s.classoid, s.objoid, pg_catalog.pg_column_size(s.label)::int8
    FROM pg_catalog.pg_seclabel s
   WHERE NOT $2::bool AND s.objoid >= 16384
),
labelled_owner AS (
  SELECT coalesce(
           CASE l.classoid
             WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
               (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = l.objoid)
             WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN
               (SELECT t.typowner FROM pg_catalog.pg_type t WHERE t.oid = l.objoid)
             WHEN 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN
               (SELECT coalesce(c.relowner, t.typowner)
                  FROM pg_catalog.pg_constraint k
                  LEFT JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
                  LEFT JOIN pg_catalog.pg_type t ON t.oid = k.contypid
                 WHERE k.oid = l.objoid)
             WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN
               (SELECT c.relowner FROM pg_catalog.pg_trigger g
                  JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid WHERE g.oid = l.objoid)
             WHEN 'pg_catalog.pg_policy'::pg_catalog.regclass THEN
               (SELECT c.relowner FROM pg_catalog.pg_policy p
                  JOIN pg_catalog.pg_class c ON c.oid = p.polrelid WHERE p.oid = l.objoid)
             WHEN 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN
               (SELECT c.relowner FROM pg_catalog.pg_rewrite r
                  JOIN pg_catalog.pg_class c ON c.oid = r.ev_class WHERE r.oid = l.objoid)
           END,
           (SELECT sd.refobjid FROM pg_catalog.pg_shdepend sd
             WHERE sd.dbid = (SELECT db.oid FROM pg_catalog.pg_database db
                               WHERE db.datname = pg_catalog.current_database())
               AND sd.classid = l.classoid AND sd.objid = l.objoid AND sd.deptype = 'o'
             LIMIT 1)) AS owner,
         l.bytes
    FROM labelled l
),
-- Shared catalogs: comments and labels on databases, tablespaces, roles, subscriptions.
shared_labelled AS (
  SELECT d.classoid, d.objoid, pg_catalog.pg_column_size(d.description)::int8 AS bytes
    FROM pg_catalog.pg_shdescription d
   WHERE $2::bool AND d.objoid >= 16384
  UNION ALL
  SELECT s.classoid, s.objoid, pg_catalog.pg_column_size(s.label)::int8
    FROM pg_catalog.pg_shseclabel s
   WHERE $2::bool AND s.objoid >= 16384
),
shared_owner AS (
  SELECT CASE WHEN l.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass THEN l.objoid
              ELSE (SELECT sd.refobjid FROM pg_catalog.pg_shdepend sd
                     WHERE sd.dbid = 0 AND sd.classid = l.classoid AND sd.objid = l.objoid
                       AND sd.deptype = 'o'
                     LIMIT 1) END AS owner,
         l.bytes
    FROM shared_labelled l
),
texts (owner, bytes) AS (
  SELECT owner, bytes FROM labelled_owner
  UNION ALL
  SELECT owner, bytes FROM shared_owner
  UNION ALL
  SELECT CASE WHEN s.setrole <> 0 THEN s.setrole
              ELSE (SELECT db.datdba FROM pg_catalog.pg_database db
                     WHERE db.oid = s.setdatabase) END,
         pg_catalog.pg_column_size(s.setconfig)::int8
    FROM pg_catalog.pg_db_role_setting s
   WHERE $2::bool
     -- The temp_file_limit the daemon sets on a limited role (sql/install_control.sql) alone is
     -- not the role's text.
     AND EXISTS (SELECT 1 FROM pg_catalog.unnest(s.setconfig) AS e (c)
                  WHERE e.c NOT LIKE 'temp\_file\_limit=%')
  UNION ALL
  SELECT p.proowner,
         coalesce(pg_catalog.pg_column_size(p.prosrc), 0)::int8
           + coalesce(pg_catalog.pg_column_size(p.probin), 0)
           + coalesce(pg_catalog.pg_column_size(p.proconfig), 0)
           + coalesce(pg_catalog.pg_column_size(p.proargdefaults), 0)
           + coalesce(pg_catalog.pg_column_size(p.prosqlbody), 0)
    FROM pg_catalog.pg_proc p
   WHERE NOT $2::bool AND p.proowner IN (SELECT oid FROM owners)
  UNION ALL
  SELECT p.proowner,
         coalesce(pg_catalog.pg_column_size(a.agginitval), 0)::int8
           + coalesce(pg_catalog.pg_column_size(a.aggminitval), 0)
    FROM pg_catalog.pg_aggregate a
    JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
   WHERE NOT $2::bool AND p.proowner IN (SELECT oid FROM owners)
  UNION ALL
  SELECT c.relowner,
         pg_catalog.pg_column_size(r.ev_action)::int8
           + coalesce(pg_catalog.pg_column_size(r.ev_qual), 0)
    FROM pg_catalog.pg_rewrite r
    JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
   WHERE NOT $2::bool AND c.relowner IN (SELECT oid FROM owners)
  UNION ALL
  SELECT c.relowner, pg_catalog.pg_column_size(a.adbin)::int8
    FROM pg_catalog.pg_attrdef a
    JOIN pg_catalog.pg_class c ON c.oid = a.adrelid
   WHERE NOT $2::bool AND c.relowner IN (SELECT oid FROM owners)
  UNION ALL
  SELECT coalesce(c.relowner, t.typowner), pg_catalog.pg_column_size(k.conbin)::int8
    FROM pg_catalog.pg_constraint k
    LEFT JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
    LEFT JOIN pg_catalog.pg_type t ON t.oid = k.contypid
   WHERE NOT $2::bool AND k.conbin IS NOT NULL
  UNION ALL
  SELECT c.relowner,
         coalesce(pg_catalog.pg_column_size(p.polqual), 0)::int8
           + coalesce(pg_catalog.pg_column_size(p.polwithcheck), 0)
    FROM pg_catalog.pg_policy p
    JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
   WHERE NOT $2::bool AND c.relowner IN (SELECT oid FROM owners)
  UNION ALL
  -- The daemon's own notify triggers have neither arguments nor WHEN: not charged.
  SELECT c.relowner,
         CASE WHEN g.tgnargs > 0 THEN pg_catalog.pg_column_size(g.tgargs) ELSE 0 END::int8
           + coalesce(pg_catalog.pg_column_size(g.tgqual), 0)
    FROM pg_catalog.pg_trigger g
    JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
   WHERE NOT $2::bool AND (g.tgnargs > 0 OR g.tgqual IS NOT NULL)
     AND c.relowner IN (SELECT oid FROM owners)
  UNION ALL
  SELECT t.typowner,
         coalesce(pg_catalog.pg_column_size(t.typdefault), 0)::int8
           + coalesce(pg_catalog.pg_column_size(t.typdefaultbin), 0)
    FROM pg_catalog.pg_type t
   WHERE NOT $2::bool AND (t.typdefault IS NOT NULL OR t.typdefaultbin IS NOT NULL)
     AND t.typowner IN (SELECT oid FROM owners)
  UNION ALL
  SELECT c.relowner, pg_catalog.pg_column_size(p.partexprs)::int8
    FROM pg_catalog.pg_partitioned_table p
    JOIN pg_catalog.pg_class c ON c.oid = p.partrelid
   WHERE NOT $2::bool AND p.partexprs IS NOT NULL AND c.relowner IN (SELECT oid FROM owners)
  UNION ALL
  SELECT s.stxowner, pg_catalog.pg_column_size(s.stxexprs)::int8
    FROM pg_catalog.pg_statistic_ext s
   WHERE NOT $2::bool AND s.stxexprs IS NOT NULL AND s.stxowner IN (SELECT oid FROM owners)
  UNION ALL
  SELECT d.dictowner, pg_catalog.pg_column_size(d.dictinitoption)::int8
    FROM pg_catalog.pg_ts_dict d
   WHERE NOT $2::bool AND d.dictinitoption IS NOT NULL
     AND d.dictowner IN (SELECT oid FROM owners)
  UNION ALL
  SELECT c.relowner, pg_catalog.pg_column_size(f.ftoptions)::int8
    FROM pg_catalog.pg_foreign_table f
    JOIN pg_catalog.pg_class c ON c.oid = f.ftrelid
   WHERE NOT $2::bool AND f.ftoptions IS NOT NULL AND c.relowner IN (SELECT oid FROM owners)
  UNION ALL
  SELECT s.srvowner, pg_catalog.pg_column_size(s.srvoptions)::int8
    FROM pg_catalog.pg_foreign_server s
   WHERE NOT $2::bool AND s.srvoptions IS NOT NULL AND s.srvowner IN (SELECT oid FROM owners)
),
-- Summed first, filtered after: a semi-join of every text row against the owners list is a
-- nested loop the planner picks from the function's row estimate (25 s at 100,000 relations).
sums AS MATERIALIZED (
  SELECT x.owner, pg_catalog.sum(x.bytes) AS bytes FROM texts x GROUP BY x.owner
)
SELECT CASE WHEN s.owner = 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid
            THEN (SELECT d.datdba FROM pg_catalog.pg_database d
                   WHERE d.datname = pg_catalog.current_database())
            ELSE s.owner END::int8 AS owner,
       pg_catalog.sum(s.bytes)::int8 AS bytes
  FROM sums s
 WHERE s.owner IN (SELECT oid FROM owners)
 GROUP BY 1
