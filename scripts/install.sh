#!/usr/bin/env bash
# Installs (or removes) postgres_realtime_monitor_daemon as a systemd service.
#
#   scripts/install.sh [--from DIR] [--prefix DIR] [--dry-run]
#   scripts/install.sh --uninstall [--purge] [--prefix DIR] [--dry-run]
#
#   --from DIR    what `deno task compile` built (default: dist/ next to this script's checkout)
#   --prefix DIR  install under DIR instead of / (a throwaway root: the account is created in
#                 DIR/etc/passwd, nothing outside DIR is touched, systemctl is not run)
#   --dry-run     print every step and what it would do; change nothing
#   --uninstall   stop the service, remove the executable, its runtime and the unit; keep the
#                 configuration, the state and the account (--purge removes those too)
#
# Idempotent: a second run reports every step "unchanged". Each step is printed as it runs.
set -euo pipefail

NAME=postgres_realtime_monitor
EXECUTABLE=${NAME}_daemon
ACCOUNT=postgres_monitor
UNIT=${NAME}.service
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")

FROM="$REPO/dist"
PREFIX=""
DRY_RUN=0
UNINSTALL=0
PURGE=0

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --from) FROM=${2:?--from needs a directory}; shift 2 ;;
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
if [ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ]; then
  echo "install.sh: --purge goes with --uninstall" >&2
  exit 2
fi
if [ -n "$PREFIX" ]; then
  PREFIX=$(cd "$PREFIX" 2>/dev/null && pwd) || { echo "install.sh: no directory '$PREFIX'" >&2; exit 2; }
fi

BIN_DIR="$PREFIX/usr/local/bin"
LIB_DIR="$PREFIX/usr/local/lib/$NAME"
UNIT_DIR="$PREFIX/etc/systemd/system"
CONF_DIR="$PREFIX/etc/postgres_monitor"
STATE_DIR="$PREFIX/var/lib/postgres_monitor"
METRICS_DIR="$PREFIX/var/lib/prometheus/node-exporter"
IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
# Runs a command, or only prints it with --dry-run.
run() {
  if [ "$DRY_RUN" = 1 ]; then note "would run: $*"; else note "\$ $*"; "$@"; fi
}

# uid and gid of the account, from the passwd file of the root being installed into.
account_ids() {
  awk -F: -v name="$ACCOUNT" '$1 == name { print $3 ":" $4 }' "$PREFIX/etc/passwd" 2>/dev/null
}

# chown, when root (a non-root run under --prefix cannot give files away; it says so).
owner() {
  local spec=$1 path=$2 ids
  if [ "$IS_ROOT" = 0 ]; then note "not root: $path keeps its owner"; return; fi
  case "$spec" in
    root) ids=0:0 ;;
    root:account) ids="0:$(account_ids | cut -d: -f2)" ;;
    account) ids=$(account_ids) ;;
  esac
  if [ "$DRY_RUN" = 1 ] && [ -z "${ids#*:}" ]; then note "would chown $spec $path"; return; fi
  if [ "$(stat -c %u:%g "$path" 2>/dev/null)" != "$ids" ]; then run chown "$ids" "$path"; fi
}

# A directory with owner and mode; reports unchanged when it already is so.
directory() {
  local path=$1 spec=$2 mode=$3
  step "directory $path ($spec, $mode)"
  if [ -d "$path" ]; then
    [ "$DRY_RUN" = 1 ] && [ ! -w "$path" ] && note "exists"
  else
    run mkdir -p "$path"
  fi
  [ -d "$path" ] || return 0
  owner "$spec" "$path"
  if [ "$(stat -c %a "$path")" != "${mode#0}" ]; then run chmod "$mode" "$path"; else note "mode ok"; fi
}

# Copies a file if it differs (or is missing); sets owner and mode.
file() {
  local src=$1 dest=$2 spec=$3 mode=$4
  step "file $dest ($spec, $mode)"
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    note "unchanged"
  else
    run cp "$src" "$dest.tmp.$$"
    run mv -f "$dest.tmp.$$" "$dest"
  fi
  [ -f "$dest" ] || return 0
  owner "$spec" "$dest"
  if [ "$(stat -c %a "$dest")" != "${mode#0}" ]; then run chmod "$mode" "$dest"; fi
}

# Writes an example file only if none exists: an operator's configuration is never overwritten.
example() {
  local src=$1 dest=$2 spec=$3 mode=$4
  if [ -e "$dest" ]; then
    step "config $dest"
    note "exists, left as it is"
  else
    file "$src" "$dest" "$spec" "$mode"
  fi
}

remove() {
  local path=$1
  step "remove $path"
  if [ -e "$path" ] || [ -L "$path" ]; then run rm -rf "$path"; else note "already absent"; fi
}

# systemctl only on a real root with systemd running.
systemd_live() { [ -z "$PREFIX" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

[ "$DRY_RUN" = 1 ] && echo "(dry run: nothing is changed)"
if [ -n "$PREFIX" ]; then echo "installing into $PREFIX"; fi

if [ "$UNINSTALL" = 1 ]; then
  echo "Before this, remove the SQL objects while the executable is still there:"
  echo "  sudo $EXECUTABLE uninstall --admin-url 'postgres://postgres:…@localhost:5432/postgres' --drop-role"
  step "stop and disable $UNIT"
  if systemd_live && systemctl list-unit-files "$UNIT" >/dev/null 2>&1; then
    run systemctl disable --now "$UNIT" || true
  else
    note "skipped (no running systemd here)"
  fi
  remove "$UNIT_DIR/$UNIT"
  remove "$BIN_DIR/$EXECUTABLE"
  remove "$LIB_DIR"
  if [ "$PURGE" = 1 ]; then
    remove "$CONF_DIR"
    remove "$STATE_DIR"
    remove "$METRICS_DIR/$NAME.prom"
    step "account $ACCOUNT"
    if [ -n "$(account_ids)" ]; then
      run userdel ${PREFIX:+--prefix "$PREFIX"} "$ACCOUNT"
      if awk -F: -v n="$ACCOUNT" '$1 == n { found = 1 } END { exit !found }' "$PREFIX/etc/group"; then
        run groupdel ${PREFIX:+--prefix "$PREFIX"} "$ACCOUNT"
      fi
    else
      note "already absent"
    fi
  else
    note "kept: $CONF_DIR, $STATE_DIR and the account $ACCOUNT (--purge removes them)"
  fi
  step "systemd"
  if systemd_live; then run systemctl daemon-reload; else note "skipped (no running systemd here)"; fi
  echo "uninstalled"
  exit 0
fi

step "check what to install, in $FROM"
if [ ! -x "$FROM/$EXECUTABLE" ]; then
  echo "install.sh: no executable $FROM/$EXECUTABLE: run 'deno task compile' first" >&2
  exit 1
fi
if [ -d "$FROM/$NAME" ]; then
  note "launcher mode: $EXECUTABLE runs $FROM/$NAME/daemon.js with the runtime next to it"
else
  note "self-contained executable"
fi
if [ "$IS_ROOT" = 0 ] && [ -z "$PREFIX" ] && [ "$DRY_RUN" = 0 ]; then
  echo "install.sh: run as root (or use --prefix DIR / --dry-run)" >&2
  exit 1
fi

step "account $ACCOUNT"
if [ -n "$(account_ids)" ]; then
  note "exists ($(account_ids))"
elif [ "$IS_ROOT" = 0 ]; then
  note "not root: skipped (useradd needs root, even under --prefix)"
else
  if [ -n "$PREFIX" ]; then
    run mkdir -p "$PREFIX/etc"
    for f in passwd group shadow gshadow; do [ -e "$PREFIX/etc/$f" ] || run touch "$PREFIX/etc/$f"; done
  fi
  run groupadd ${PREFIX:+--prefix "$PREFIX"} --system "$ACCOUNT"
  run useradd ${PREFIX:+--prefix "$PREFIX"} --system --gid "$ACCOUNT" \
    --home-dir /var/lib/postgres_monitor --no-create-home --shell /usr/sbin/nologin \
    --comment "PostgreSQL storage-limit daemon" "$ACCOUNT"
fi

directory "$CONF_DIR" root:account 0750
directory "$STATE_DIR" account 0750
step "directory $METRICS_DIR (node_exporter textfile collector)"
if [ -d "$METRICS_DIR" ]; then
  gid=$(account_ids | cut -d: -f2)
  if [ -n "$gid" ] && [ "$(stat -c %g "$METRICS_DIR")" = "$gid" ]; then
    note "exists, writable by group $ACCOUNT"
  else
    note "exists, owned by $(stat -c %U:%G "$METRICS_DIR"): left alone. Let $ACCOUNT write it, e.g."
    note "  setfacl -m u:$ACCOUNT:rwx $METRICS_DIR   (or set metrics_file elsewhere)"
  fi
else
  run mkdir -p "$METRICS_DIR"
  [ -d "$METRICS_DIR" ] && owner root:account "$METRICS_DIR" && run chmod 0775 "$METRICS_DIR"
fi
directory "$BIN_DIR" root 0755

file "$FROM/$EXECUTABLE" "$BIN_DIR/$EXECUTABLE" root 0755
if [ -d "$FROM/$NAME" ]; then
  directory "$LIB_DIR" root 0755
  file "$FROM/$NAME/daemon.js" "$LIB_DIR/daemon.js" root 0644
  file "$FROM/$NAME/deno" "$LIB_DIR/deno" root 0755
else
  remove "$LIB_DIR"
fi
directory "$UNIT_DIR" root 0755
file "$REPO/systemd/$UNIT" "$UNIT_DIR/$UNIT" root 0644

# The limits and settings hold no secret but monitor_config.json may hold a Slack URL: group-readable
# only. The password file is read by systemd (LoadCredential=) as root: root-only.
example "$REPO/systemd/user_limits.example.json" "$CONF_DIR/user_limits.json" root:account 0640
example "$REPO/systemd/monitor_config.example.json" "$CONF_DIR/monitor_config.json" root:account 0640
step "password file $CONF_DIR/monitor_user.passwd (root, 0600)"
if [ -e "$CONF_DIR/monitor_user.passwd" ]; then
  note "exists, left as it is"
else
  # Empty means no password (peer or trust authentication); LoadCredential= needs the file.
  run install -m 0600 /dev/null "$CONF_DIR/monitor_user.passwd"
  [ -e "$CONF_DIR/monitor_user.passwd" ] && owner root "$CONF_DIR/monitor_user.passwd"
fi

step "systemd"
if systemd_live; then run systemctl daemon-reload; else note "skipped (no running systemd here)"; fi

cat <<EOF

Installed. Next steps:
 1. Edit $CONF_DIR/user_limits.json and monitor_config.json, then check them:
      sudo $EXECUTABLE check-config
 2. Install the SQL objects as a PostgreSQL superuser (idempotent; creates the role monitor_user
    with LOGIN and nothing else; also into template1 so new databases inherit it):
      sudo $EXECUTABLE install --admin-url 'postgres://postgres:…@localhost:5432/postgres'
    Give monitor_user a password (ALTER ROLE monitor_user PASSWORD '…') and put it, alone on the
    first line, in $CONF_DIR/monitor_user.passwd; or leave that file empty for peer/trust.
 3. If the configuration needs permissions other than the defaults (another host or port,
    webhooks, metrics_listen), rebuild for it: deno task compile --config-dir $CONF_DIR
 4. Start it:
      sudo systemctl enable --now $UNIT
      systemctl status $UNIT          # STATUS: enforcing N limited role(s) …
EOF
