-- Who the connection is, for `install` and `uninstall` (which need a superuser): the role's name,
-- whether it is a superuser, and the server's version (server_version_num).
SELECT current_user AS name, rolsuper,
       pg_catalog.current_setting('server_version_num')::int AS version
  FROM pg_catalog.pg_roles
 WHERE rolname = current_user
