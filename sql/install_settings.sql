-- The parameters of the install and uninstall files, as settings local to their transaction
-- (they read them with current_setting, so no name is concatenated into SQL):
-- $1 postgres_monitor.install_role (the daemon's login role), $2 postgres_monitor.install_channel
-- (its LISTEN channel, validated by the config loader).
SELECT pg_catalog.set_config('postgres_monitor.install_role', $1, true),
       pg_catalog.set_config('postgres_monitor.install_channel', $2, true)
