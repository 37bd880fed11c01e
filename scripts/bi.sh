#!/usr/bin/env bash
# make bi: Superset 6.1 on 127.0.0.1:$PULSE_BI_PORT with the dashboards kept in bi/superset/,
# reading database $PULSE_DB as the read-only role pulse_bi. Idempotent: a second run re-imports the
# dashboards (overwriting) and restarts Superset.
#   scripts/bi.sh [start]   set up, start the stack and Superset, import, print URLs and login
#   scripts/bi.sh stop      stop the Superset on $PULSE_BI_PORT
#   scripts/bi.sh stop-all  stop every Superset started from this checkout (scripts/down.sh)
#   scripts/bi.sh export    write the running instance's dashboards back to bi/superset/
# Environment: PULSE_BI_PORT (28088), PULSE_BI_METADB (superset: Superset's own metadata database in
# the embedded cluster), PULSE_DB (pulse), PULSE_BI_FRESH=1 (drop and recreate the metadata database
# first, as the test suite does), PULSE_BI_SKIP_UP=1 (the stack already runs: no setup, no up.sh),
# PULSE_BI_PASSWORD and PULSE_BI_ADMIN_PASSWORD (instead of the ones generated into .pulse/bi/).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BI_DIR="$STATE/bi"
VENV_BI="$ROOT/.venv-bi"
# Below the ephemeral port range, like the stack's ports (lib.sh).
BI_PORT="${PULSE_BI_PORT:-28088}"
BI_METADB="${PULSE_BI_METADB:-superset}"
BI_URL="http://127.0.0.1:$BI_PORT"
BI_PIDFILE="$BI_DIR/superset-$BI_PORT.pid"
BI_LOG="$BI_DIR/superset-$BI_PORT.log"

# secret FILE: prints the secret kept in FILE, generating it (0600) the first time.
secret() {
  if [ ! -s "$1" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1")
  fi
  cat "$1"
}

superset_running() {
  [ -f "$BI_PIDFILE" ] && kill -0 "$(cat "$BI_PIDFILE")" 2>/dev/null
}

# stop_superset PIDFILE: TERM to the gunicorn master (it stops its workers), KILL to its process group
# after 30 s. gunicorn was started with setsid, so its process group holds only it and its workers.
stop_superset() {
  local pidfile="$1" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "bi: superset stopped (port $(basename "$pidfile" .pid | sed 's/^superset-//'))"
  fi
  rm -f "$pidfile"
}

# superset_env: what bi/superset_config.py and the superset CLI read.
superset_env() {
  mkdir -p "$BI_DIR/home"
  export SUPERSET_CONFIG_PATH="$ROOT/bi/superset_config.py"
  export SUPERSET_HOME="$BI_DIR/home"
  SUPERSET_SECRET_KEY="$(secret "$BI_DIR/secret_key")"
  export SUPERSET_SECRET_KEY
  export PULSE_BI_METADATA_URI="postgresql+psycopg2://postgres@127.0.0.1:$PULSE_PGPORT/$BI_METADB"
  export PYTHONWARNINGS=ignore
}

psql_db() {  # psql_db DB ARGS...
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres -d "$1" "${@:2}"
}

start() {
  local t0=$SECONDS
  if [ "${PULSE_BI_SKIP_UP:-0}" != 1 ]; then
    "$ROOT/scripts/setup.sh"
    "$ROOT/scripts/up.sh" >/dev/null
  fi
  [ -x "$VENV_BI/bin/superset" ] || die "no Superset in .venv-bi: run scripts/setup.sh"
  pg_running || die "postgres is not running: run make up"
  mkdir -p "$BI_DIR"

  # The bi views and the role come from dbt (models/bi, on-run-start): make demo builds them.
  [ "$(psql_db "$PULSE_DB" -Atc "select count(*) from pg_namespace where nspname = 'bi'")" = 1 ] \
    || die "database $PULSE_DB has no schema bi: run make demo (or dbt build) first"
  [ "$(psql_db postgres -Atc "select count(*) from pg_roles where rolname = 'pulse_bi'")" = 1 ] \
    || die "role pulse_bi does not exist: dbt build creates it (make demo)"
  # A dashboard over a view this database lacks (built by an older dbt project) shows errors.
  local t missing=()
  for t in $(sed -n 's/^table_name: //p' "$ROOT"/bi/superset/datasets/*/*.yaml); do
    [ "$(psql_db "$PULSE_DB" -Atc "select count(*) from pg_views where schemaname = 'bi' and viewname = '$t'")" = 1 ] \
      || missing+=("bi.$t")
  done
  [ ${#missing[@]} -eq 0 ] || log "bi: warning: database $PULSE_DB lacks ${missing[*]}: run make demo to rebuild the dbt models"
  # dbt creates pulse_bi without a password; Superset logs in with this one. psql reads it from the
  # file (\set with backticks), so it never shows on a command line.
  local pw_file="$BI_DIR/pulse_bi.password"
  if [ -n "${PULSE_BI_PASSWORD:-}" ]; then (umask 077; printf '%s' "$PULSE_BI_PASSWORD" >"$pw_file"); else secret "$pw_file" >/dev/null; fi
  printf '%s\n' "\\set pw \`cat '$pw_file'\`" "alter role pulse_bi password :'pw';" | psql_db postgres
  local admin_pw_file="$BI_DIR/admin.password"
  if [ -n "${PULSE_BI_ADMIN_PASSWORD:-}" ]; then
    (umask 077; printf '%s' "$PULSE_BI_ADMIN_PASSWORD" >"$admin_pw_file")
  else
    secret "$admin_pw_file" >/dev/null
  fi

  # Restart: the old process must not hold the port or the metadata database.
  if superset_running; then stop_superset "$BI_PIDFILE"; fi
  rm -f "$BI_PIDFILE"
  port_in_use "$BI_PORT" && die "port $BI_PORT is taken by another process; set PULSE_BI_PORT to a free port"

  if [ "${PULSE_BI_FRESH:-0}" = 1 ]; then
    "$PGBIN/dropdb" --if-exists --force -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres "$BI_METADB"
  fi
  if [ "$(psql_db postgres -Atc "select count(*) from pg_database where datname = '$BI_METADB'")" = 0 ]; then
    "$PGBIN/createdb" -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres "$BI_METADB"
  fi
  # Superset's metadata (users, password hashes) is no business of other roles, pulse_bi included.
  psql_db postgres -qc "revoke connect, temporary on database \"$BI_METADB\" from public" >/dev/null

  superset_env
  local setup_log="$BI_DIR/superset-$BI_PORT-setup.log"
  : >"$setup_log"
  log "bi: superset db upgrade, admin user, superset init (metadata database $BI_METADB) ..."
  run_superset() {
    (cd "$BI_DIR" && "$VENV_BI/bin/superset" "$@") >>"$setup_log" 2>&1 \
      || { tail -30 "$setup_log" >&2; die "superset $1 failed (log: $setup_log)"; }
  }
  run_superset db upgrade
  local admin_pw; admin_pw="$(cat "$admin_pw_file")"
  run_superset fab create-admin --username admin --firstname Pulse --lastname Admin \
    --email admin@pulse.invalid --password "$admin_pw"
  # An existing admin keeps its old password unless reset (PULSE_BI_ADMIN_PASSWORD may have changed).
  if grep -q "already exists" "$setup_log"; then
    run_superset fab reset-password --username admin --password "$admin_pw"
  fi
  run_superset init

  log "bi: starting superset on $BI_URL ..."
  : >>"$BI_LOG"
  # setsid execs gunicorn (no fork: a background job of a script is no group leader), so $! is the
  # master's pid; its own session keeps it out of the caller's terminal signals and pipes.
  setsid "$VENV_BI/bin/gunicorn" --chdir "$BI_DIR" --bind "127.0.0.1:$BI_PORT" --workers 2 \
    --worker-class gthread --threads 4 --timeout 120 --graceful-timeout 10 --limit-request-line 0 \
    "superset.app:create_app()" >>"$BI_LOG" 2>&1 </dev/null &
  echo $! >"$BI_PIDFILE"
  local ok=0
  for _ in $(seq 1 600); do
    if curl -fsS "$BI_URL/health" 2>/dev/null | grep -q OK; then ok=1; break; fi
    superset_running || break
    sleep 0.2
  done
  [ $ok = 1 ] || { tail -30 "$BI_LOG" >&2; stop_superset "$BI_PIDFILE"; die "superset did not come up (log: $BI_LOG)"; }

  log "bi: importing bi/superset/ (database $PULSE_DB as pulse_bi) ..."
  local dashboards
  dashboards=$(PULSE_BI_URL="$BI_URL" PULSE_BI_ADMIN_PASSWORD="$admin_pw" PULSE_BI_PASSWORD_FILE="$pw_file" \
    PGPORT="$PULSE_PGPORT" PULSE_DB="$PULSE_DB" "$VENV_BI/bin/python" "$ROOT/bi/assets.py" import "$ROOT/bi/superset") \
    || die "dashboard import failed"
  log "bi: ready in $((SECONDS - t0))s"
  cat <<EOF
Superset: $BI_URL  (login: admin / $admin_pw; password kept in ${admin_pw_file#"$ROOT/"})
Data: database $PULSE_DB on 127.0.0.1:$PULSE_PGPORT as the read-only role pulse_bi
Dashboards:
$dashboards
Stop it with: scripts/bi.sh stop (make down stops it too)
EOF
}

case "${1:-start}" in
  start) start ;;
  stop) stop_superset "$BI_PIDFILE" ;;
  stop-all)
    for f in "$BI_DIR"/superset-*.pid; do [ -e "$f" ] && stop_superset "$f"; done
    true ;;
  export)
    superset_running || die "no superset running on port $BI_PORT: run make bi first"
    PULSE_BI_URL="$BI_URL" PULSE_BI_ADMIN_PASSWORD="${PULSE_BI_ADMIN_PASSWORD:-$(cat "$BI_DIR/admin.password")}" \
      "$VENV_BI/bin/python" "$ROOT/bi/assets.py" export "$ROOT/bi/superset" ;;
  *) die "usage: scripts/bi.sh [start|stop|stop-all|export]" ;;
esac
