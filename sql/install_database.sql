-- Objects installed in every monitored database (run by `install` as a superuser, idempotent).
-- Parameters arrive as session settings, never by string concatenation:
--   postgres_monitor.install_role     the daemon's unprivileged login role
--   postgres_monitor.install_channel  the LISTEN channel (validated by the config loader)

CREATE SCHEMA IF NOT EXISTS postgres_monitor;
REVOKE ALL ON SCHEMA postgres_monitor FROM PUBLIC;
COMMENT ON SCHEMA postgres_monitor IS 'postgres_realtime_monitor: per-role storage limits';

-- Roles whose tables carry the notify trigger; kept in sync by the daemon (sync_triggers).
CREATE TABLE IF NOT EXISTS postgres_monitor.watched_role (
  roleid oid PRIMARY KEY
);
REVOKE ALL ON postgres_monitor.watched_role FROM PUBLIC;

-- The channel is baked in at install time: into channel() for the event triggers, and as a
-- literal into notify_write(), which runs as the writer (who has no USAGE on this schema).
--
-- notify_write() is the statement-level trigger on a watched role's table. It notifies at most
-- once per 250 ms per session and table: a transaction that has queued a NOTIFY serializes on a
-- cluster-wide lock at commit, so notifying every statement would tax every write (README,
-- "Write overhead"). Writes inside a throttle window are caught by the daemon re-measuring
-- recently notified tables. No SET clause: it would add a GUC save/restore to every call; every
-- function and operator is schema-qualified instead.
--
-- The NOTIFY queue is cluster-wide (8 GB, or max_notify_queue_pages on PostgreSQL 17+) and any
-- role can pin its tail: LISTEN, then stay in an open transaction. Once it is full, every
-- transaction that queued a NOTIFY fails at COMMIT. So nothing of ours queues a NOTIFY while
-- pg_notification_queue_usage() is at or above queue_limit: a write is never refused because of
-- the daemon. The daemon then sees writes by its sweeps only, and says so (it reads the usage too).
-- Half the queue: far from full (our payloads are a few bytes), and other applications keep the
-- other half. notify_queue_limit() carries it to the event triggers and the daemon; notify_write()
-- gets it as a literal (the writer has no USAGE on this schema).
DO $install$
DECLARE
  channel text := pg_catalog.current_setting('postgres_monitor.install_channel');
  queue_limit constant double precision := 0.5;
BEGIN
  EXECUTE pg_catalog.format(
    'CREATE OR REPLACE FUNCTION postgres_monitor.channel() RETURNS text'
    ' LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
    pg_catalog.format('SELECT %L::text', channel));
  EXECUTE pg_catalog.format(
    'CREATE OR REPLACE FUNCTION postgres_monitor.notify_queue_limit() RETURNS double precision'
    ' LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
    pg_catalog.format('SELECT %L::double precision', queue_limit));
  EXECUTE pg_catalog.format($fn$
    CREATE OR REPLACE FUNCTION postgres_monitor.notify_write() RETURNS trigger
    LANGUAGE plpgsql SECURITY INVOKER AS $body$
    DECLARE
      k text := 'postgres_monitor.t' OPERATOR(pg_catalog.||) TG_RELID::text;
      now_ms bigint := pg_catalog.floor(pg_catalog.date_part('epoch',
        pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000)::bigint;
      last_ms text := pg_catalog.current_setting(k, true);
    BEGIN
      IF last_ms IS NULL OR last_ms OPERATOR(pg_catalog.=) ''
         OR now_ms OPERATOR(pg_catalog.-) last_ms::bigint OPERATOR(pg_catalog.>=) 250
         OR now_ms OPERATOR(pg_catalog.<) last_ms::bigint THEN
        PERFORM pg_catalog.set_config(k, now_ms::text, false);
        IF pg_catalog.pg_notification_queue_usage()
           OPERATOR(pg_catalog.<) %L::double precision THEN
          PERFORM pg_catalog.pg_notify(%L, TG_RELID::text);
        END IF;
      END IF;
      RETURN NULL;
    END
    $body$ $fn$, queue_limit, channel);
END
$install$;

-- The catalog text hint of the event triggers below: 'c:text' (CATALOG_TEXT_CHANGED in
-- lib/watch/payload.ts; tests/unit/sql_protocol_test.ts keeps the two equal) asks the daemon to
-- measure this database's catalog text again (spaced to once a second, whoever sends it). One per
-- transaction (identical payloads fold). Only where some limited role is watched, and not while
-- the NOTIFY queue is filling up; cheap: no catalog read beyond watched_role.
CREATE OR REPLACE FUNCTION postgres_monitor.notify_catalog_text() RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM postgres_monitor.watched_role)
     AND pg_notification_queue_usage() < postgres_monitor.notify_queue_limit() THEN
    PERFORM pg_notify(postgres_monitor.channel(), 'c:text');
  END IF;
END
$$;

-- Attaches the trigger to a new table of a watched role, and reports DDL that writes data.
-- It must never make a DDL statement fail: every error becomes a WARNING.
CREATE OR REPLACE FUNCTION postgres_monitor.on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  cmd record;
  rel record;
BEGIN
  -- Catalog text (sql/catalog_text.sql): DDL that can store free text a tenant chooses, or change
  -- who owns it, sends the catalog text hint (notify_catalog_text). Whoever runs it, superusers
  -- included: a comment on a tenant's table is the tenant's.
  BEGIN
    IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() d
                    WHERE d.command_tag IN ('COMMENT', 'SECURITY LABEL',
                      'CREATE FUNCTION', 'ALTER FUNCTION', 'CREATE PROCEDURE', 'ALTER PROCEDURE',
                      'CREATE AGGREGATE', 'ALTER AGGREGATE', 'CREATE ROUTINE', 'ALTER ROUTINE',
                      'CREATE VIEW', 'ALTER VIEW', 'CREATE RULE', 'CREATE MATERIALIZED VIEW',
                      'ALTER MATERIALIZED VIEW', 'CREATE TABLE', 'ALTER TABLE',
                      'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE', 'CREATE DOMAIN',
                      'ALTER DOMAIN', 'CREATE POLICY', 'ALTER POLICY', 'CREATE TRIGGER',
                      'CREATE STATISTICS', 'ALTER STATISTICS', 'CREATE TEXT SEARCH DICTIONARY',
                      'ALTER TEXT SEARCH DICTIONARY', 'CREATE SERVER', 'ALTER SERVER',
                      'ALTER TYPE', 'ALTER SCHEMA', 'ALTER LARGE OBJECT')) THEN
      PERFORM postgres_monitor.notify_catalog_text();
    END IF;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'postgres_monitor: catalog text hint skipped: % (SQLSTATE %)', SQLERRM, SQLSTATE;
  END;
  FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    BEGIN
      CONTINUE WHEN cmd.classid <> 'pg_class'::regclass;
      SELECT c.oid, c.relkind, c.relowner, c.relpersistence, n.nspname, c.relname INTO rel
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.oid = cmd.objid;
      CONTINUE WHEN NOT FOUND;
      CONTINUE WHEN NOT EXISTS (
        SELECT 1 FROM postgres_monitor.watched_role w WHERE w.roleid = rel.relowner);
      IF rel.relkind IN ('r', 'p')
         AND cmd.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE')
         AND NOT EXISTS (
           SELECT 1 FROM pg_trigger t
            WHERE t.tgrelid = rel.oid AND t.tgname = 'postgres_monitor_notify') THEN
        EXECUTE format('CREATE TRIGGER postgres_monitor_notify AFTER INSERT OR UPDATE OR DELETE'
          ' OR TRUNCATE ON %I.%I FOR EACH STATEMENT EXECUTE FUNCTION'
          ' postgres_monitor.notify_write()', rel.nspname, rel.relname);
      END IF;
      IF cmd.command_tag IN ('CREATE INDEX', 'REFRESH MATERIALIZED VIEW', 'CREATE TABLE AS',
                             'SELECT INTO', 'CREATE MATERIALIZED VIEW', 'ALTER TABLE')
         AND pg_notification_queue_usage() < postgres_monitor.notify_queue_limit() THEN
        PERFORM pg_notify(postgres_monitor.channel(), rel.oid::text);
      END IF;
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'postgres_monitor: could not track % on %: % (SQLSTATE %)',
        cmd.command_tag, cmd.object_identity, SQLERRM, SQLSTATE;
    END;
  END LOOP;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'postgres_monitor: DDL tracking skipped: % (SQLSTATE %)', SQLERRM, SQLSTATE;
END
$$;

-- A dropped table frees space: tell the daemon, which knows the owner from its cache (unless the
-- NOTIFY queue is filling up: then the next sweep sees the space freed).
CREATE OR REPLACE FUNCTION postgres_monitor.on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  obj record;
BEGIN
  IF pg_notification_queue_usage() >= postgres_monitor.notify_queue_limit() THEN
    RETURN;
  END IF;
  FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects()
              WHERE object_type IN ('table', 'materialized view') AND original LOOP
    PERFORM pg_notify(postgres_monitor.channel(), 'd:' || obj.objid::text);
  END LOOP;
  -- Dropping an object drops its catalog text (comments, bodies, definitions): measure it again.
  PERFORM postgres_monitor.notify_catalog_text();
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'postgres_monitor: drop tracking skipped: % (SQLSTATE %)', SQLERRM, SQLSTATE;
END
$$;

DROP EVENT TRIGGER IF EXISTS postgres_monitor_ddl_end;
CREATE EVENT TRIGGER postgres_monitor_ddl_end ON ddl_command_end
  EXECUTE FUNCTION postgres_monitor.on_ddl_end();
DROP EVENT TRIGGER IF EXISTS postgres_monitor_sql_drop;
CREATE EVENT TRIGGER postgres_monitor_sql_drop ON sql_drop
  EXECUTE FUNCTION postgres_monitor.on_sql_drop();

-- Refuses DDL by a non-superuser that leaves a notify trigger in any state but as installed:
-- ALTER TABLE ... DISABLE / ENABLE REPLICA / ENABLE ALWAYS TRIGGER, ALTER TRIGGER ... RENAME,
-- CREATE OR REPLACE TRIGGER, DROP TRIGGER. Such a trigger would never fire (a tenant cannot set
-- session_replication_role), so the daemon would not hear the table's writes. Superusers (and
-- sync_triggers, which runs as its superuser owner) are not refused; dropping the table or its
-- schema drops the trigger along with it and is allowed. Unlike on_ddl_end this one must fail the
-- DDL: the refusal is its purpose. SECURITY INVOKER so current_user is whoever runs the DDL; it
-- reads only pg_catalog (the tenant has no USAGE on this schema).
CREATE OR REPLACE FUNCTION postgres_monitor.guard_notify_trigger() RETURNS event_trigger
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  notify oid;
  cmd record;
  obj record;
  t record;
  rel oid;
BEGIN
  IF (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
    RETURN;
  END IF;
  IF TG_EVENT = 'sql_drop' THEN
    -- Only DROP TRIGGER: other commands drop it along with its table (or detach a partition).
    IF TG_TAG <> 'DROP TRIGGER' THEN
      RETURN;
    END IF;
    FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects() d
                WHERE d.object_type = 'trigger'
                  AND d.address_names[3] = 'postgres_monitor_notify' LOOP
      -- Its table is still there: the trigger itself was dropped, not the table or schema.
      IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = obj.address_names[1] AND c.relname = obj.address_names[2])
      THEN
        RAISE EXCEPTION 'postgres_monitor: the notify trigger on table %.% must not be dropped',
          quote_ident(obj.address_names[1]), quote_ident(obj.address_names[2])
          USING ERRCODE = 'insufficient_privilege',
                HINT = 'It reports writes to the storage limit daemon. Drop the table instead.';
      END IF;
    END LOOP;
    RETURN;
  END IF;
  SELECT p.oid INTO notify FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname = 'postgres_monitor' AND p.proname = 'notify_write' AND p.pronargs = 0;
  FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() d
              WHERE d.classid IN ('pg_class'::regclass, 'pg_trigger'::regclass) LOOP
    rel := CASE WHEN cmd.classid = 'pg_class'::regclass THEN cmd.objid
                ELSE (SELECT g.tgrelid FROM pg_trigger g WHERE g.oid = cmd.objid) END;
    CONTINUE WHEN rel IS NULL;
    -- ALTER TABLE on a partitioned table reaches its partitions' trigger clones too.
    FOR t IN SELECT n.nspname, c.relname, g.tgname,
                    CASE WHEN g.tgname <> 'postgres_monitor_notify' THEN 'renamed to ' || g.tgname::text
                         WHEN g.tgfoid IS DISTINCT FROM notify THEN 'another function'
                         WHEN g.tgenabled = 'D' THEN 'disabled'
                         WHEN g.tgenabled = 'R' THEN 'mode replica'
                         WHEN g.tgenabled = 'A' THEN 'mode always'
                         WHEN g.tgenabled <> 'O' THEN 'mode ' || g.tgenabled::text
                         WHEN g.tgqual IS NOT NULL THEN 'WHEN clause'
                         WHEN g.tgattr::text <> '' THEN 'column list'
                         WHEN g.tgnargs <> 0 THEN 'arguments'
                         WHEN g.tgtype <> 60 THEN 'events or timing' END AS fault
               FROM (SELECT rel AS relid UNION SELECT p.relid FROM pg_partition_tree(rel) p) p
               JOIN pg_class c ON c.oid = p.relid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_trigger g ON g.tgrelid = c.oid
              WHERE g.tgname = 'postgres_monitor_notify' OR g.tgfoid = notify LOOP
      CONTINUE WHEN t.fault IS NULL;
      RAISE EXCEPTION 'postgres_monitor: the notify trigger on table %.% must stay enabled as installed (%)',
        quote_ident(t.nspname), quote_ident(t.relname), t.fault
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'It reports writes to the storage limit daemon; a superuser may change it.';
    END LOOP;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION postgres_monitor.guard_notify_trigger() FROM PUBLIC;

DROP EVENT TRIGGER IF EXISTS postgres_monitor_guard_ddl;
CREATE EVENT TRIGGER postgres_monitor_guard_ddl ON ddl_command_end
  EXECUTE FUNCTION postgres_monitor.guard_notify_trigger();
DROP EVENT TRIGGER IF EXISTS postgres_monitor_guard_drop;
CREATE EVENT TRIGGER postgres_monitor_guard_drop ON sql_drop
  EXECUTE FUNCTION postgres_monitor.guard_notify_trigger();

-- Makes the set of watched roles exactly `roles` and the notify trigger present and enabled on
-- each of their tables (and absent elsewhere). Returns one row per table it had to change, so
-- the daemon can report tampering. Never waits on a busy table: such a table is reported as
-- 'busy' and retried at the next sweep. Changes at most `max_changes` tables per call (each
-- CREATE TRIGGER holds a lock until commit, and max_locks_per_transaction is finite): the daemon
-- calls again while a call returns that many rows.
DROP FUNCTION IF EXISTS postgres_monitor.sync_triggers(oid[]);
CREATE OR REPLACE FUNCTION postgres_monitor.sync_triggers(roles oid[], max_changes integer)
RETURNS TABLE (relid oid, relation text, action text, detail text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
  changes integer := 0;
BEGIN
  -- Set operations, not "= ANY (roles)": with 1000 roles and 100k tables, per-row array scans
  -- cost seconds; hash joins on watched_role cost milliseconds.
  DELETE FROM postgres_monitor.watched_role w
   WHERE w.roleid NOT IN (SELECT u FROM unnest(roles) AS u WHERE u IS NOT NULL);
  INSERT INTO postgres_monitor.watched_role (roleid)
    SELECT DISTINCT u FROM unnest(roles) AS u WHERE u IS NOT NULL ON CONFLICT DO NOTHING;
  PERFORM set_config('lock_timeout', '100ms', true);

  -- EXECUTE, not a static query: plpgsql would cache the plan made when watched_role and the
  -- notify triggers were still empty (a nested loop over pg_class) for the connection's life.
  FOR r IN EXECUTE $q$
    SELECT * FROM (
      SELECT c.oid, n.nspname, c.relname, t.oid AS tgoid, t.tgenabled,
             -- Anything but enabled as installed is tampering: say what was wrong.
             CASE WHEN t.oid IS NULL THEN NULL
                  WHEN t.tgfoid <> 'postgres_monitor.notify_write()'::regprocedure
                    THEN 'another function'
                  WHEN t.tgenabled = 'D' THEN 'disabled'
                  WHEN t.tgenabled = 'R' THEN 'mode replica'
                  WHEN t.tgenabled = 'A' THEN 'mode always'
                  WHEN t.tgenabled <> 'O' THEN 'mode ' || t.tgenabled::text
                  WHEN t.tgqual IS NOT NULL THEN 'WHEN clause'
                  WHEN t.tgattr::text <> '' THEN 'column list'
                  WHEN t.tgnargs <> 0 THEN 'arguments'
                  -- 60 = AFTER, STATEMENT, INSERT|DELETE|UPDATE|TRUNCATE
                  WHEN t.tgtype <> 60 THEN 'events or timing' END AS fault
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgname = 'postgres_monitor_notify'
       WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
         AND c.relowner IN (SELECT w.roleid FROM postgres_monitor.watched_role w)
         AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'postgres_monitor')
    ) s
     WHERE s.tgoid IS NULL OR s.fault IS NOT NULL
     LIMIT $1
  $q$ USING max_changes
  LOOP
    relid := r.oid;
    relation := format('%I.%I', r.nspname, r.relname);
    BEGIN
      IF r.tgoid IS NOT NULL THEN
        EXECUTE format('DROP TRIGGER postgres_monitor_notify ON %I.%I', r.nspname, r.relname);
      END IF;
      EXECUTE format('CREATE TRIGGER postgres_monitor_notify AFTER INSERT OR UPDATE OR DELETE'
        ' OR TRUNCATE ON %I.%I FOR EACH STATEMENT EXECUTE FUNCTION'
        ' postgres_monitor.notify_write()', r.nspname, r.relname);
      action := CASE WHEN r.tgoid IS NULL THEN 'attached'
                     WHEN r.fault = 'disabled' OR r.fault LIKE 'mode %' THEN 're-enabled'
                     ELSE 'replaced' END;
      detail := r.fault;
    EXCEPTION
      WHEN lock_not_available THEN action := 'busy'; detail := SQLERRM;
      WHEN OTHERS THEN action := 'error'; detail := SQLERRM || ' (SQLSTATE ' || SQLSTATE || ')';
    END;
    changes := changes + 1;
    RETURN NEXT;
  END LOOP;

  FOR r IN EXECUTE $q$
    SELECT c.oid, n.nspname, c.relname
      FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE t.tgname = 'postgres_monitor_notify' AND c.relpersistence <> 't'
       AND c.relowner NOT IN (SELECT w.roleid FROM postgres_monitor.watched_role w)
     LIMIT $1
  $q$ USING greatest(max_changes - changes, 0)
  LOOP
    relid := r.oid;
    relation := format('%I.%I', r.nspname, r.relname);
    BEGIN
      EXECUTE format('DROP TRIGGER postgres_monitor_notify ON %I.%I', r.nspname, r.relname);
      action := 'detached';
      detail := NULL;
    EXCEPTION
      WHEN lock_not_available THEN action := 'busy'; detail := SQLERRM;
      WHEN OTHERS THEN action := 'error'; detail := SQLERRM || ' (SQLSTATE ' || SQLSTATE || ')';
    END;
    RETURN NEXT;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION postgres_monitor.sync_triggers(oid[], integer) FROM PUBLIC;

-- Tables of `roles` that an open transaction older than `min_age` is writing to now (a granted
-- RowExclusiveLock). NOTIFY speaks only at commit; this is how a runaway INSERT ... SELECT is seen
-- before it commits. pg_locks takes every lock-manager partition lock, so it is read only when
-- pg_stat_activity shows such a transaction at all (short OLTP transactions never trigger it).
-- SECURITY DEFINER because xact_start and backend_xid of other roles' sessions are hidden from
-- the daemon's role; it returns table oids only.
CREATE OR REPLACE FUNCTION postgres_monitor.active_writes(roles oid[], min_age interval)
RETURNS TABLE (relid oid)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_stat_activity a
     WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()
       AND a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND a.xact_start < clock_timestamp() - min_age) THEN
    RETURN;
  END IF;
  RETURN QUERY
    SELECT DISTINCT c.oid
      FROM pg_locks l
      JOIN pg_class c ON c.oid = l.relation
     WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock' AND l.granted
       AND l.pid <> pg_backend_pid()
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND c.relkind IN ('r', 'm')
       AND c.relowner IN (SELECT u FROM unnest(roles) AS u);
END
$$;
REVOKE ALL ON FUNCTION postgres_monitor.active_writes(oid[], interval) FROM PUBLIC;
-- Relations being created by open transactions older than `min_age` of logins in `roles`, and
-- what their files hold now, per login (pg_stat_activity.usesysid: the session user, also under
-- SET ROLE). CREATE TABLE AS, SELECT INTO, CREATE TABLE + INSERT, CREATE INDEX, the transient
-- heap of REFRESH MATERIALIZED VIEW, ALTER TABLE rewrites, CLUSTER and VACUUM FULL write into a
-- relation whose pg_class row is uncommitted, invisible to every other session (so to
-- active_writes and every measurement), while its files grow on disk. The creating backend holds
-- an AccessExclusiveLock on the new oid, visible in pg_locks, and a new relation's relfilenode is
-- its oid (its TOAST table and indexes are locked and named the same way): so every such lock
-- on an oid without a visible pg_class row names files to stat. The lock lasts until the
-- transaction ends: after COMMIT the row is visible (measured as usual), after ROLLBACK the files
-- are emptied. Checked on PostgreSQL 14 and 17. A committed relation locked with LOCK TABLE has
-- a visible row: never counted here. Read only when pg_stat_activity shows such a transaction in
-- this database (short OLTP transactions never trigger the pg_locks read). SECURITY DEFINER for
-- pg_stat_file and the other roles' sessions; it returns role oids and byte counts only.
CREATE OR REPLACE FUNCTION postgres_monitor.creating_bytes(roles oid[], min_age interval)
RETURNS TABLE (login oid, bytes bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  db oid := (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
  dirs text[];
  r record;
  dir text;
  fork text;
  seg integer;
  size bigint;
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_stat_activity a
     WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid() AND a.datid = db
       AND a.usesysid IN (SELECT u FROM unnest(roles) AS u)
       AND a.xact_start < clock_timestamp() - min_age) THEN
    RETURN;
  END IF;
  -- The new relation may be in any tablespace: base/<db>, or pg_tblspc/<spc>/PG_<major>_<catalog
  -- version>/<db>. pg_stat_file(missing_ok) answers NULL where it is not.
  dirs := ARRAY['base/' || db::text] || ARRAY(
    SELECT 'pg_tblspc/' || t.oid::text || '/PG_'
           || (current_setting('server_version_num')::integer / 10000)::text || '_'
           || (SELECT s.catalog_version_no FROM pg_control_system() s)::text || '/' || db::text
      FROM pg_tablespace t WHERE t.spcname NOT IN ('pg_default', 'pg_global'));
  FOR r IN
    SELECT DISTINCT ON (l.relation) a.usesysid, l.relation
      FROM pg_locks l
      JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.granted
       AND l.database = db AND l.pid <> pg_backend_pid()
       AND a.backend_xid IS NOT NULL AND a.xact_start < clock_timestamp() - min_age
       AND a.usesysid IN (SELECT u FROM unnest(roles) AS u)
       AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = l.relation)
     ORDER BY l.relation
  LOOP
    login := r.usesysid;
    bytes := 0;
    FOREACH dir IN ARRAY dirs LOOP
      FOREACH fork IN ARRAY ARRAY['', '_fsm', '_vm', '_init'] LOOP
        seg := 0;
        LOOP
          size := (pg_stat_file(dir || '/' || r.relation::text || fork
                                || CASE WHEN seg = 0 THEN '' ELSE '.' || seg::text END,
                                true)).size;
          EXIT WHEN size IS NULL;
          bytes := bytes + size;
          seg := seg + 1;
        END LOOP;
      END LOOP;
    END LOOP;
    CONTINUE WHEN bytes = 0;
    RETURN NEXT;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION postgres_monitor.creating_bytes(oid[], interval) FROM PUBLIC;

-- Stops the sessions that write into relations of `owner` in this database, whoever they belong
-- to: the lock ends the owner's own sessions only, and another role with INSERT on its tables (or
-- a session that SET ROLE to it) would otherwise commit past the hard limit. Writing = holding a
-- granted RowExclusiveLock (INSERT, UPDATE, DELETE, MERGE, COPY FROM), ShareLock (CREATE INDEX),
-- ShareRowExclusiveLock or ExclusiveLock (REFRESH MATERIALIZED VIEW CONCURRENTLY) on the owner's
-- table, partition, materialized view, TOAST table or index. Not AccessExclusiveLock: DROP,
-- TRUNCATE and VACUUM FULL take it, and they are how space is given back.
-- A session running a statement ('active') has the statement cancelled, which rolls back its
-- transaction (or leaves it aborted) without killing an application's connection; a session
-- idle in its transaction is terminated (a cancel does not reach it, and its COMMIT would land
-- the rows). `terminate` is a JSON array of {"pid": …, "xact_us": …} (transaction start in
-- microseconds since the epoch): a writer still in such a transaction is terminated, since the
-- daemon cancelled it before and it is still writing (the cancel came between two statements).
-- A new transaction of the same session is cancelled again. A transaction already aborted
-- cannot commit: left alone.
-- Never signalled: superusers' sessions (judged by the session user, as PostgreSQL does), the
-- monitoring role's own, other backends than client ones (autovacuum, replication workers).
-- Refuses an owner that can log in (the daemon locks first: NOLOGIN is how a lock shows in every
-- database), a superuser, a replication role, and the caller. Returns one row per session.
CREATE OR REPLACE FUNCTION postgres_monitor.stop_writers(owner oid, terminate jsonb)
RETURNS TABLE (pid integer, usename name, relations text[], xact_us bigint, state text,
               action text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  o record;
  w record;
  ok boolean;
BEGIN
  SELECT r.rolname, r.rolsuper, r.rolreplication, r.rolcanlogin INTO o
    FROM pg_roles r WHERE r.oid = owner;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF o.rolsuper OR o.rolreplication OR o.rolname = SESSION_USER OR o.rolcanlogin THEN
    RAISE EXCEPTION 'Cannot stop writers into relations of role %: %', owner,
      CASE WHEN o.rolsuper THEN 'superuser' WHEN o.rolreplication THEN 'replication role'
           WHEN o.rolname = SESSION_USER THEN 'the monitoring role itself'
           ELSE 'it is not locked (it can log in)' END
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  FOR w IN
    SELECT a.pid, a.usename, a.state,
           (extract(epoch FROM a.xact_start) * 1000000)::bigint AS xus,
           array_agg(DISTINCT c.oid::regclass::text ORDER BY c.oid::regclass::text) AS rels
      FROM pg_locks l
      JOIN pg_class c ON c.oid = l.relation
      JOIN pg_stat_activity a ON a.pid = l.pid
      JOIN pg_roles s ON s.oid = a.usesysid
     WHERE l.locktype = 'relation' AND l.granted
       AND l.mode IN ('RowExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock')
       AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
       AND c.relowner = owner
       AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
       AND NOT s.rolsuper AND s.rolname <> SESSION_USER
       AND a.state IS DISTINCT FROM 'idle in transaction (aborted)'
     GROUP BY a.pid, a.usename, a.xact_start, a.state
     ORDER BY a.pid
  LOOP
    pid := w.pid;
    usename := w.usename;
    relations := w.rels;
    xact_us := w.xus;
    state := w.state;
    IF w.state = 'idle in transaction' OR EXISTS (
         SELECT 1 FROM jsonb_array_elements(coalesce(terminate, '[]')) e
          WHERE jsonb_typeof(e) = 'object' AND e->>'pid' = w.pid::text
            AND e->>'xact_us' = w.xus::text) THEN
      ok := pg_terminate_backend(w.pid);
      action := CASE WHEN ok THEN 'terminated' ELSE 'gone' END;
    ELSE
      ok := pg_cancel_backend(w.pid);
      action := CASE WHEN ok THEN 'cancelled' ELSE 'gone' END;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION postgres_monitor.stop_writers(oid, jsonb) FROM PUBLIC;
-- Bytes on disk of a relation with its indexes, TOAST table and TOAST index: every segment of
-- every fork (main, fsm, vm, init), read with pg_stat_file. It takes no lock on any of them
-- (pg_relation_filepath reads the catalog cache), so it answers while an ACCESS EXCLUSIVE lock
-- is held or queued on one: a tenant cannot hide what it writes behind a lock. SECURITY DEFINER
-- because pg_stat_file is for superusers; it returns one number.
CREATE OR REPLACE FUNCTION postgres_monitor.file_bytes(rel oid)
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  total bigint := 0;
  part oid;
  base text;
  fork text;
  seg integer;
  size bigint;
BEGIN
  FOR part IN
    SELECT rel
    UNION SELECT i.indexrelid FROM pg_index i WHERE i.indrelid = rel
    UNION SELECT c.reltoastrelid FROM pg_class c WHERE c.oid = rel AND c.reltoastrelid <> 0
    UNION SELECT i.indexrelid FROM pg_class c JOIN pg_index i ON i.indrelid = c.reltoastrelid
           WHERE c.oid = rel AND c.reltoastrelid <> 0
  LOOP
    base := pg_relation_filepath(part);
    CONTINUE WHEN base IS NULL;
    FOREACH fork IN ARRAY ARRAY['', '_fsm', '_vm', '_init'] LOOP
      seg := 0;
      LOOP
        size := (pg_stat_file(base || fork || CASE WHEN seg = 0 THEN '' ELSE '.' || seg END,
                              true)).size;
        EXIT WHEN size IS NULL;
        total := total + size;
        seg := seg + 1;
      END LOOP;
    END LOOP;
  END LOOP;
  RETURN total;
END
$$;
REVOKE ALL ON FUNCTION postgres_monitor.file_bytes(oid) FROM PUBLIC;

-- Size of the given relations (an index resolves to its table), one at a time: a relation whose
-- lock does not come within lock_timeout is charged what its files hold (busy = true) instead of
-- failing the whole call. A relation that no longer exists comes back with present = false.
-- SECURITY INVOKER: the daemon may call pg_total_relation_size and file_bytes itself.
-- Of bytes, indexes and toast are its indexes and its TOAST table, for the usage breakdown.
DROP FUNCTION IF EXISTS postgres_monitor.measure_relations(oid[]);
CREATE FUNCTION postgres_monitor.measure_relations(rels oid[])
RETURNS TABLE (relid oid, owner oid, present boolean, busy boolean, bytes bigint,
               indexes bigint, toast bigint)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r oid;
  t oid;
BEGIN
  -- A partitioned table stands for every partition under it (see measure_relations.sql).
  FOR r IN WITH RECURSIVE named AS (
             SELECT DISTINCT coalesce(i.indrelid, w.rel) AS rel
               FROM unnest(rels) AS w (rel)
               LEFT JOIN pg_index i ON i.indexrelid = w.rel
           ), tree (rel) AS (
             SELECT n.rel FROM named n JOIN pg_class p ON p.oid = n.rel AND p.relkind = 'p'
             UNION
             SELECT h.inhrelid FROM tree t JOIN pg_inherits h ON h.inhparent = t.rel
           )
           SELECT n.rel FROM named n UNION SELECT t.rel FROM tree t
  LOOP
    relid := r;
    busy := false;
    indexes := 0;
    toast := 0;
    SELECT c.relowner, c.reltoastrelid INTO owner, t FROM pg_class c
     WHERE c.oid = r AND c.relkind IN ('r', 'm', 'S');
    present := FOUND;
    IF NOT present THEN
      owner := 0;
      bytes := 0;
    ELSE
      BEGIN
        bytes := coalesce(pg_total_relation_size(r), 0);
        indexes := coalesce(pg_indexes_size(r), 0);
        IF t <> 0 THEN
          toast := coalesce(pg_total_relation_size(t), 0);
        END IF;
      EXCEPTION WHEN lock_not_available THEN
        busy := true;
        bytes := postgres_monitor.file_bytes(r);
        indexes := 0;
        toast := 0;
      END;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION postgres_monitor.measure_relations(oid[]) FROM PUBLIC;

-- Bytes the large objects of `owners` (pg_largeobject_metadata.lomowner) hold in this database.
-- Large objects live in pg_largeobject, which only superusers may read: SECURITY DEFINER, and it
-- returns one sum per owner, never data. A large object is stored as rows of at most 2 kB
-- (LOBLKSIZE), each compressed when that pays; a row is charged what it takes on disk, not its
-- logical length: its share of an 8 kB heap page (a page holds floor(8168 / (tuple + 4)) such
-- rows: three incompressible ones, so 2,730 bytes each) plus 24 bytes of index, and every object
-- 64 bytes of metadata. 64 MiB of random bytes is charged 86 MiB (the heap grows by 85, its
-- index by 1), 64 MiB of zeros about 3 MiB. Only the owners' objects are read, through the (loid, pageno) index.
CREATE OR REPLACE FUNCTION postgres_monitor.large_object_bytes(owners oid[])
RETURNS TABLE (owner oid, objects bigint, bytes bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH o AS MATERIALIZED (
    SELECT DISTINCT u AS oid FROM unnest(owners) AS u WHERE u IS NOT NULL
  ), m AS MATERIALIZED (
    SELECT lm.oid AS loid, lm.lomowner FROM pg_largeobject_metadata lm JOIN o ON o.oid = lm.lomowner
  )
  SELECT m.lomowner, count(*), (count(*) * 64 + coalesce(sum(p.bytes), 0))::bigint
    FROM m
    LEFT JOIN LATERAL (
      SELECT sum(8192 / greatest(1, 8168 / (((32 + pg_column_size(l.data)) + 7) / 8 * 8 + 4))
                 + 24) AS bytes
        FROM pg_largeobject l
       WHERE l.loid = m.loid
    ) p ON true
   GROUP BY m.lomowner
$$;
REVOKE ALL ON FUNCTION postgres_monitor.large_object_bytes(oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.on_ddl_end() FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.on_sql_drop() FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.notify_catalog_text() FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.notify_queue_limit() FROM PUBLIC;

-- The daemon's role: reach the schema and keep the trigger set in sync, nothing else.
DO $grant$
DECLARE
  monitor text := pg_catalog.current_setting('postgres_monitor.install_role');
BEGIN
  EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA postgres_monitor TO %I', monitor);
  EXECUTE pg_catalog.format(
    'GRANT EXECUTE ON FUNCTION postgres_monitor.sync_triggers(oid[], integer),'
    ' postgres_monitor.active_writes(oid[], interval), postgres_monitor.file_bytes(oid),'
    ' postgres_monitor.creating_bytes(oid[], interval),'
    ' postgres_monitor.stop_writers(oid, jsonb),'
    ' postgres_monitor.measure_relations(oid[]), postgres_monitor.large_object_bytes(oid[]),'
    ' postgres_monitor.notify_queue_limit() TO %I', monitor);
  EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I',
    pg_catalog.current_database(), monitor);
END
$grant$;
