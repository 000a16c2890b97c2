-- temp_file_limit of role $1 := $2 kB as a role setting, or back to the role's own value when $2
-- is NULL (sql/install_control.sql, postgres_monitor.set_temp_file_limit). Control database only.
SELECT s.result, s.setting
  FROM postgres_monitor.set_temp_file_limit($1::int8::oid, $2::int8) s
