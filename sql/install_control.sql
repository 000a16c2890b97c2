-- Objects installed in the control database only (after install_database.sql, same session):
-- the state that survives restarts, and the only functions that change roles or end sessions.
-- They are SECURITY DEFINER, owned by the installing superuser, with a fixed search_path, so the
-- daemon's role needs neither CREATEROLE nor pg_signal_backend, and cannot use them on roles that
-- are protected (superusers, replication roles, itself) or that it did not lock.

-- One row per role this daemon has locked; deleted when it unlocks.
CREATE TABLE IF NOT EXISTS postgres_monitor.role_lock (
  roleid oid PRIMARY KEY,
  rolname name NOT NULL,
  locked_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  reason text NOT NULL,
  usage_bytes bigint NOT NULL,
  soft_limit bigint NOT NULL,
  hard_limit bigint NOT NULL,
  manual_unlock boolean NOT NULL,
  -- false when an administrator had already set NOLOGIN: unlocking then leaves NOLOGIN alone.
  prior_canlogin boolean NOT NULL,
  sessions_terminated_at timestamptz,
  locked_by name NOT NULL DEFAULT SESSION_USER
);
REVOKE ALL ON postgres_monitor.role_lock FROM PUBLIC;

-- Append-only history: soft exceeded, hard exceeded, locked, sessions terminated, unlocked.
CREATE TABLE IF NOT EXISTS postgres_monitor.event_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  roleid oid,
  rolname name NOT NULL,
  event text NOT NULL CHECK (event IN (
    'soft_exceeded', 'soft_cleared', 'hard_exceeded', 'locked', 'sessions_terminated',
    'unlocked', 'lock_released', 'tamper', 'writers_stopped')),
  usage_bytes bigint,
  soft_limit bigint,
  hard_limit bigint,
  actor text NOT NULL DEFAULT SESSION_USER,
  detail jsonb NOT NULL DEFAULT '{}'
);
-- An installation made before 'writers_stopped' existed: widen its CHECK (same name as above).
ALTER TABLE postgres_monitor.event_log DROP CONSTRAINT IF EXISTS event_log_event_check;
ALTER TABLE postgres_monitor.event_log ADD CONSTRAINT event_log_event_check CHECK (event IN (
  'soft_exceeded', 'soft_cleared', 'hard_exceeded', 'locked', 'sessions_terminated',
  'unlocked', 'lock_released', 'tamper', 'writers_stopped'));
CREATE INDEX IF NOT EXISTS event_log_role_at ON postgres_monitor.event_log (roleid, at);
REVOKE ALL ON postgres_monitor.event_log FROM PUBLIC;

-- Alerts delivered (or dropped) by whichever daemon led, up to this event id: a standby that
-- takes over resumes from here, so an alert is neither sent twice nor skipped at a handover.
CREATE TABLE IF NOT EXISTS postgres_monitor.alert_cursor (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  delivered_through bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_by text NOT NULL
);
REVOKE ALL ON postgres_monitor.alert_cursor FROM PUBLIC;

CREATE OR REPLACE FUNCTION postgres_monitor.forbid_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'postgres_monitor.event_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS event_log_append_only ON postgres_monitor.event_log;
CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON postgres_monitor.event_log
  FOR EACH ROW EXECUTE FUNCTION postgres_monitor.forbid_change();

-- Why a role must never be locked by the daemon, or NULL. One definition for every caller.
CREATE OR REPLACE FUNCTION postgres_monitor.protected_reason(role oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
    WHEN r.oid IS NULL THEN 'role does not exist'
    WHEN r.rolsuper THEN 'superuser'
    WHEN r.rolreplication THEN 'replication role'
    WHEN r.rolname = SESSION_USER THEN 'the monitoring role itself'
  END
  FROM (SELECT role AS wanted) w LEFT JOIN pg_roles r ON r.oid = w.wanted
$$;

-- Sets NOLOGIN and records the lock. Sessions are ended by terminate_sessions() afterwards, in
-- a second transaction, so that NOLOGIN is committed first and no new session slips in.
CREATE OR REPLACE FUNCTION postgres_monitor.lock_role(
  role oid, usage_bytes bigint, soft_limit bigint, hard_limit bigint, manual_unlock boolean,
  reason text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
  why text := postgres_monitor.protected_reason(role);
BEGIN
  IF why IS NOT NULL THEN
    RAISE EXCEPTION 'Cannot lock role %: %', role, why USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT a.rolname, a.rolcanlogin INTO r FROM pg_roles a WHERE a.oid = role;
  IF r.rolcanlogin THEN
    -- A role may change its own password: in an open transaction that holds its pg_authid row,
    -- and ALTER ROLE would wait for as long as the tenant likes. Wait briefly, then end the
    -- role's sessions (that transaction among them) and try once more; if that fails too, the
    -- statement fails and the daemon retries. The sessions are ended again after the commit.
    PERFORM set_config('lock_timeout', '500ms', true);
    BEGIN
      EXECUTE format('ALTER ROLE %I NOLOGIN', r.rolname);
    EXCEPTION WHEN lock_not_available THEN
      PERFORM pg_terminate_backend(a.pid, 1000) FROM pg_stat_activity a
        WHERE a.usesysid = role AND a.pid <> pg_backend_pid();
      EXECUTE format('ALTER ROLE %I NOLOGIN', r.rolname);
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM postgres_monitor.role_lock l WHERE l.roleid = role) THEN
    RETURN 'already_locked';
  END IF;
  INSERT INTO postgres_monitor.role_lock AS l
    (roleid, rolname, reason, usage_bytes, soft_limit, hard_limit, manual_unlock, prior_canlogin)
  VALUES (role, r.rolname, reason, usage_bytes, soft_limit, hard_limit, manual_unlock,
          r.rolcanlogin);
  INSERT INTO postgres_monitor.event_log
    (roleid, rolname, event, usage_bytes, soft_limit, hard_limit, detail)
  VALUES (role, r.rolname, 'locked', usage_bytes, soft_limit, hard_limit,
          jsonb_build_object('reason', reason, 'manual_unlock', manual_unlock,
                             'prior_canlogin', r.rolcanlogin));
  RETURN 'locked';
END
$$;

-- Terminates the client sessions of a role this daemon has locked; returns how many.
CREATE OR REPLACE FUNCTION postgres_monitor.terminate_sessions(role oid)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n integer;
  why text := postgres_monitor.protected_reason(role);
  name_ name;
BEGIN
  IF why IS NOT NULL THEN
    RAISE EXCEPTION 'Cannot terminate sessions of role %: %', role, why
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT l.rolname INTO name_ FROM postgres_monitor.role_lock l WHERE l.roleid = role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'Cannot terminate sessions of role %: it is not locked by this daemon', role
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid)) INTO n
    FROM pg_stat_activity a
   WHERE a.usesysid = role AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend';
  UPDATE postgres_monitor.role_lock l SET sessions_terminated_at = clock_timestamp()
   WHERE l.roleid = role;
  IF n > 0 THEN
    INSERT INTO postgres_monitor.event_log (roleid, rolname, event, detail)
    VALUES (role, name_, 'sessions_terminated', jsonb_build_object('sessions', n));
  END IF;
  RETURN n;
END
$$;

-- Ends a lock this daemon holds: restores LOGIN unless an administrator had set NOLOGIN before the
-- lock (or has changed rolcanlogin since), deletes the lock row, logs who did it. Returns
-- 'unlocked', 'released' (row removed, LOGIN untouched) or 'not_locked'.
CREATE OR REPLACE FUNCTION postgres_monitor.unlock_role(role oid, actor text, reason text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  l record;
  r record;
  role_exists boolean;
  result text;
BEGIN
  SELECT * INTO l FROM postgres_monitor.role_lock x WHERE x.roleid = role FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'not_locked';
  END IF;
  SELECT a.rolname, a.rolcanlogin INTO r FROM pg_roles a WHERE a.oid = role;
  role_exists := FOUND;
  IF role_exists AND l.prior_canlogin AND NOT r.rolcanlogin
     AND postgres_monitor.protected_reason(role) IS NULL THEN
    EXECUTE format('ALTER ROLE %I LOGIN', r.rolname);
    result := 'unlocked';
  ELSE
    result := 'released';
  END IF;
  DELETE FROM postgres_monitor.role_lock x WHERE x.roleid = role;
  INSERT INTO postgres_monitor.event_log
    (roleid, rolname, event, usage_bytes, soft_limit, hard_limit, actor, detail)
  VALUES (role, CASE WHEN role_exists THEN r.rolname ELSE l.rolname END,
          CASE result WHEN 'unlocked' THEN 'unlocked' ELSE 'lock_released' END,
          NULL, l.soft_limit, l.hard_limit, coalesce(actor, SESSION_USER),
          jsonb_build_object('reason', reason, 'role_exists', role_exists));
  RETURN result;
END
$$;

-- Takes the leader lock (lib/leader.ts) for the calling session. The lock is an advisory lock,
-- which any role that may connect here could take too, and a tenant holding it would keep every
-- daemon standing by: a holder that is neither the monitoring role nor a superuser is a squatter.
-- Its session is ended (waiting up to 1 s for it to go) and the eviction recorded as tampering.
-- Its key is LEADER_LOCK_KEY of lib/leader.ts (tests/unit/sql_protocol_test.ts keeps them equal).
CREATE OR REPLACE FUNCTION postgres_monitor.leader_try() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  key_classid constant integer := 1886220142;
  key_objid constant integer := 1;
  s record;
BEGIN
  IF pg_try_advisory_lock(key_classid, key_objid) THEN
    RETURN true;
  END IF;
  FOR s IN
    SELECT DISTINCT a.pid, r.oid, r.rolname
      FROM pg_locks l
      JOIN pg_stat_activity a ON a.pid = l.pid
      JOIN pg_roles r ON r.oid = a.usesysid
     WHERE l.locktype = 'advisory' AND l.classid = key_classid AND l.objid = key_objid
       AND l.objsubid = 2 AND l.granted
       AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
       AND r.rolname <> SESSION_USER AND NOT r.rolsuper
  LOOP
    PERFORM pg_terminate_backend(s.pid, 1000);
    INSERT INTO postgres_monitor.event_log (roleid, rolname, event, detail)
    VALUES (s.oid, s.rolname, 'tamper', jsonb_build_object('reason', format(
      'session %s of role %s held the leader lock of postgres_realtime_monitor, keeping every'
      ' daemon from enforcing: it was ended', s.pid, s.rolname)));
  END LOOP;
  RETURN pg_try_advisory_lock(key_classid, key_objid);
END
$$;

-- The `n` oldest open transactions of client sessions in the cluster, for `status` when the NOTIFY
-- queue fills: its tail is held by a session that LISTENs and stays in a transaction. SECURITY
-- DEFINER because xact_start of other roles' sessions is hidden from the daemon's role; it returns
-- who, where, how old and in what state, never the query text.
CREATE OR REPLACE FUNCTION postgres_monitor.oldest_transactions(n integer)
RETURNS TABLE (pid integer, usename name, datname name, xact_start timestamptz,
               xact_age_seconds double precision, state text, application_name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.pid, a.usename, a.datname, a.xact_start,
         extract(epoch FROM clock_timestamp() - a.xact_start)::double precision,
         a.state, a.application_name
    FROM pg_stat_activity a
   WHERE a.xact_start IS NOT NULL AND a.backend_type = 'client backend'
     AND a.pid <> pg_backend_pid()
   ORDER BY a.xact_start, a.pid
   LIMIT least(greatest(coalesce(n, 0), 0), 100)
$$;

-- A database whose owner revoked CONNECT (from PUBLIC, or from us) would hide what limited roles
-- store there: the daemon calls this to give itself CONNECT back. Grants to SESSION_USER only
-- (the monitoring role; EXECUTE is granted to nobody else) and only CONNECT.
CREATE OR REPLACE FUNCTION postgres_monitor.grant_connect(db oid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  name_ name;
BEGIN
  SELECT d.datname INTO name_ FROM pg_database d WHERE d.oid = db;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', name_, SESSION_USER);
  RETURN true;
END
$$;

-- Size of a database the daemon cannot enter (ALLOW_CONNECTIONS false, CONNECTION LIMIT 0):
-- pg_database_size needs CONNECT or pg_read_all_stats, which the monitoring role lacks.
CREATE OR REPLACE FUNCTION postgres_monitor.database_size(db oid) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_database_size(d.oid) FROM pg_database d WHERE d.oid = db
$$;

-- Temporary files (issue 12): live bytes per login role, across every tablespace, cluster-wide.
-- A file's name carries the pid of the backend that made it (pgsql_tmp<pid>.<n>); a shared fileset
-- (pgsql_tmp<pid>.<n>.fileset, .sharedfileset up to PostgreSQL 14: parallel hash joins and sorts)
-- is a directory named after the leader, holding its workers' files, which pg_ls_tmpdir() does not
-- list. The charge goes to that backend's session user (usesysid: SET ROLE and application_name do
-- not change it). A file older than its backend's start belongs to an earlier backend with the same
-- pid (left by a crash) and is charged to nobody. SECURITY DEFINER: pg_ls_tmpdir needs pg_monitor,
-- pg_ls_dir and pg_stat_file a superuser; only sums per role come out, no names or paths.
CREATE OR REPLACE FUNCTION postgres_monitor.temp_file_usage()
RETURNS TABLE (roleid oid, bytes bigint, files bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH spc AS (
    SELECT t.oid,
           CASE WHEN t.spcname = 'pg_default' THEN 'base/pgsql_tmp'
                ELSE format('pg_tblspc/%s/PG_%s_%s/pgsql_tmp', t.oid,
                            current_setting('server_version_num')::int / 10000,
                            (SELECT c.catalog_version_no FROM pg_control_system() c)) END AS dir
      FROM pg_tablespace t
     WHERE t.spcname <> 'pg_global'
  ),
  plain AS (
    SELECT f.name, f.size, f.modification
      FROM spc CROSS JOIN LATERAL pg_ls_tmpdir(spc.oid) f
  ),
  sets AS (
    SELECT d AS name, spc.dir || '/' || d AS path
      FROM spc CROSS JOIN LATERAL pg_ls_dir(spc.dir, true, false) d
     WHERE d LIKE 'pgsql\_tmp%fileset'
  ),
  in_sets AS (
    SELECT s.name, st.size, st.modification
      FROM sets s
     CROSS JOIN LATERAL pg_ls_dir(s.path, true, false) f
     CROSS JOIN LATERAL pg_stat_file(s.path || '/' || f, true) st
     WHERE st.size IS NOT NULL AND NOT st.isdir
  ),
  files AS (
    SELECT substring(x.name FROM '^pgsql_tmp([0-9]+)')::integer AS pid, x.size, x.modification
      FROM (SELECT * FROM plain UNION ALL SELECT * FROM in_sets) x
  )
  SELECT a.usesysid, sum(f.size)::bigint, count(*)
    FROM files f
    JOIN pg_stat_activity a ON a.pid = f.pid
   WHERE a.usesysid IS NOT NULL
     AND f.modification >= date_trunc('second', a.backend_start)
   GROUP BY a.usesysid
$$;

-- temp_file_limit values this daemon set as role settings (ALTER ROLE ... SET), and what the role
-- had before, so that a value is changed or removed only while it is still the daemon's.
CREATE TABLE IF NOT EXISTS postgres_monitor.temp_file_limit_set (
  roleid oid PRIMARY KEY,
  rolname name NOT NULL,
  kb bigint NOT NULL,
  previous text,
  set_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON postgres_monitor.temp_file_limit_set FROM PUBLIC;

-- Sets temp_file_limit = kb (kB) as a setting of the role (every database), so that no session of
-- it can spill more. temp_file_limit is superuser-only: a tenant can neither SET it nor ALTER ROLE
-- it away (RESET ALL keeps it), hence SECURITY DEFINER. Never raises a value someone else set that
-- is at least as strict ('kept'); a looser one (or none) is replaced and remembered. kb NULL: the
-- role is no longer limited: the daemon's value is replaced by what was there before ('restored').
-- Returns the result and the setting in effect afterwards, as stored (NULL: none). A role setting
-- binds sessions that start afterwards only. Refuses the roles lock_role refuses.
CREATE OR REPLACE FUNCTION postgres_monitor.set_temp_file_limit(role oid, kb bigint)
RETURNS TABLE (result text, setting text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  why text := postgres_monitor.protected_reason(role);
  name_ name;
  cur text;
  cur_kb bigint;
  mine record;
  owned boolean;
BEGIN
  IF why IS NOT NULL THEN
    RAISE EXCEPTION 'Cannot set temp_file_limit of role %: %', role, why
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF kb < 0 THEN
    RAISE EXCEPTION 'temp_file_limit must be at least 0 kB, not %', kb
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF kb IS NOT NULL THEN
    kb := least(kb, 2147483647); -- the largest value PostgreSQL accepts (about 2 TiB)
  END IF;
  SELECT a.rolname INTO name_ FROM pg_roles a WHERE a.oid = role;
  SELECT substr(c, length('temp_file_limit=') + 1) INTO cur
    FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) c
   WHERE s.setdatabase = 0 AND s.setrole = role AND c LIKE 'temp\_file\_limit=%';
  IF cur IS NOT NULL THEN
    -- The stored text may carry a unit ('1GB'): PostgreSQL itself converts it to kB. Local to
    -- this function call (its SET clause restores every setting at exit).
    PERFORM set_config('temp_file_limit', cur, true);
    SELECT x.setting::bigint INTO cur_kb FROM pg_settings x WHERE x.name = 'temp_file_limit';
  END IF;
  SELECT * INTO mine FROM postgres_monitor.temp_file_limit_set m WHERE m.roleid = role FOR UPDATE;
  owned := FOUND AND cur_kb IS NOT DISTINCT FROM mine.kb;
  -- A tenant's open transaction may hold its pg_authid row (a password change): do not wait long.
  PERFORM set_config('lock_timeout', '500ms', true);
  IF kb IS NULL THEN
    IF owned AND mine.previous IS NULL THEN
      EXECUTE format('ALTER ROLE %I RESET temp_file_limit', name_);
      cur := NULL;
    ELSIF owned THEN
      EXECUTE format('ALTER ROLE %I SET temp_file_limit = %L', name_, mine.previous);
      cur := mine.previous;
    END IF;
    DELETE FROM postgres_monitor.temp_file_limit_set m WHERE m.roleid = role;
    RETURN QUERY SELECT CASE WHEN owned THEN 'restored' ELSE 'not_ours' END, cur;
    RETURN;
  END IF;
  IF NOT owned AND cur_kb BETWEEN 0 AND kb THEN
    DELETE FROM postgres_monitor.temp_file_limit_set m WHERE m.roleid = role;
    RETURN QUERY SELECT 'kept', cur;
    RETURN;
  END IF;
  IF owned AND cur_kb = kb THEN
    RETURN QUERY SELECT 'unchanged', cur;
    RETURN;
  END IF;
  EXECUTE format('ALTER ROLE %I SET temp_file_limit = %s', name_, kb);
  INSERT INTO postgres_monitor.temp_file_limit_set AS m (roleid, rolname, kb, previous)
  VALUES (role, name_, kb, CASE WHEN owned THEN mine.previous ELSE cur END)
  ON CONFLICT (roleid) DO UPDATE
    SET rolname = EXCLUDED.rolname, kb = EXCLUDED.kb, previous = EXCLUDED.previous,
        set_at = pg_catalog.now();
  RETURN QUERY SELECT 'set', kb::text;
END
$$;

REVOKE ALL ON FUNCTION postgres_monitor.forbid_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.protected_reason(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.lock_role(oid, bigint, bigint, bigint, boolean, text)
  FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.terminate_sessions(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.unlock_role(oid, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.leader_try() FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.oldest_transactions(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.grant_connect(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.database_size(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.temp_file_usage() FROM PUBLIC;
REVOKE ALL ON FUNCTION postgres_monitor.set_temp_file_limit(oid, bigint) FROM PUBLIC;

DO $grant$
DECLARE
  monitor text := pg_catalog.current_setting('postgres_monitor.install_role');
BEGIN
  EXECUTE pg_catalog.format('GRANT SELECT ON postgres_monitor.role_lock TO %I', monitor);
  EXECUTE pg_catalog.format('GRANT SELECT, INSERT ON postgres_monitor.event_log TO %I', monitor);
  EXECUTE pg_catalog.format(
    'GRANT SELECT, INSERT, UPDATE ON postgres_monitor.alert_cursor TO %I', monitor);
  EXECUTE pg_catalog.format('GRANT SELECT ON postgres_monitor.temp_file_limit_set TO %I', monitor);
  EXECUTE pg_catalog.format(
    'GRANT EXECUTE ON FUNCTION postgres_monitor.protected_reason(oid),'
    ' postgres_monitor.lock_role(oid, bigint, bigint, bigint, boolean, text),'
    ' postgres_monitor.terminate_sessions(oid),'
    ' postgres_monitor.unlock_role(oid, text, text),'
    ' postgres_monitor.leader_try(),'
    ' postgres_monitor.oldest_transactions(integer),'
    ' postgres_monitor.grant_connect(oid),'
    ' postgres_monitor.database_size(oid),'
    ' postgres_monitor.temp_file_usage(),'
    ' postgres_monitor.set_temp_file_limit(oid, bigint) TO %I', monitor);
  -- PostgreSQL 16+: a tenant that opens every free connection cannot keep the daemon out, once
  -- the operator sets reserved_connections (README, "Threat model").
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pg_use_reserved_connections') THEN
    EXECUTE pg_catalog.format('GRANT pg_use_reserved_connections TO %I', monitor);
  END IF;
END
$grant$;
