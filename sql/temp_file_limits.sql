-- The role-wide temp_file_limit setting (as stored, NULL: none) of each role in $1 (a JSON list of
-- oids), and whether this daemon set it (postgres_monitor.temp_file_limit_set), plus every role the
-- daemon set it for. pg_db_role_setting is readable by every role. Control database only.
WITH wanted AS (
  SELECT e::oid AS roleid FROM pg_catalog.jsonb_array_elements_text($1::text::jsonb) e
  UNION
  SELECT m.roleid FROM postgres_monitor.temp_file_limit_set m
)
SELECT w.roleid::int8 AS roleid,
       (SELECT pg_catalog.substr(c, 17)
          FROM pg_catalog.pg_db_role_setting s CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) c
         WHERE s.setdatabase = 0 AND s.setrole = w.roleid
           AND c LIKE 'temp\_file\_limit=%') AS setting,
       EXISTS (SELECT 1 FROM postgres_monitor.temp_file_limit_set m WHERE m.roleid = w.roleid)
         AS ours
  FROM wanted w
