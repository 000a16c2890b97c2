-- Relations being created (or rewritten into a new relation) by open transactions older than $2
-- seconds of the logins in $1 (a JSON array of role oids), one row per relation: the login
-- (session user) and what its files hold now. postgres_monitor.creating_bytes is installed by
-- sql/install_database.sql; the daemon calls it only where that schema is trusted.
SELECT c.login::int8 AS login, c.bytes::int8 AS bytes
  FROM postgres_monitor.creating_bytes(
         ARRAY(SELECT pg_catalog.jsonb_array_elements_text($1::text::jsonb)::oid),
         pg_catalog.make_interval(secs => $2)) c
