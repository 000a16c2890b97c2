-- Live temporary files per session login role, cluster-wide (sql/install_control.sql,
-- postgres_monitor.temp_file_usage). Control database only.
SELECT t.roleid::int8 AS roleid, t.bytes::int8 AS bytes, t.files::int8 AS files
  FROM postgres_monitor.temp_file_usage() t
