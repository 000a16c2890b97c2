-- Databases that accept connections (the default set to monitor).
SELECT datname
  FROM pg_catalog.pg_database
 WHERE datallowconn AND NOT datistemplate
 ORDER BY datname
