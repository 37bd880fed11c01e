#!/usr/bin/env bash
# Starts the embedded stack under .pulse/: PostgreSQL (as the postgres user) with the pulse
# extension installed and migrations applied, and a tansu broker with sqlite storage.
# Idempotent: whatever already runs is left running. Writes .pulse/env.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Fail fast, before a long build, when a port we need is held by someone else.
if ! pg_running && port_in_use "$PULSE_PGPORT"; then
  die "port $PULSE_PGPORT is taken by another process; set PULSE_PGPORT to a free port"
fi
if ! broker_running && port_in_use "$PULSE_KAFKA_PORT"; then
  die "port $PULSE_KAFKA_PORT is taken by another process; set PULSE_KAFKA_PORT to a free port"
fi
ensure_state_dirs

# --- build and install (release) ---
t0=$SECONDS
log "up: building pulse-ingest and pulse-gen (release; a few minutes the first time) ..."
(cd "$ROOT" && cargo build --release -q -p pulse-ingest) || die "pulse-ingest build failed"
log "up: building and installing the pulse extension (release; a few minutes the first time) ..."
(cd "$ROOT/extension" && cargo pgrx install --release --pg-config "$PGBIN/pg_config" >"$STATE/pgrx-install.log" 2>&1) \
  || { tail -30 "$STATE/pgrx-install.log" >&2; die "extension build failed (full log: .pulse/pgrx-install.log)"; }
log "up: built in $((SECONDS - t0))s"

# --- PostgreSQL ---
if pg_running; then
  log "up: postgres already running on port $PULSE_PGPORT"
else
  if port_in_use "$PULSE_PGPORT"; then
    die "port $PULSE_PGPORT is taken by another process; set PULSE_PGPORT to a free port"
  fi
  if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
    install -d -o postgres -g postgres "$PGSTATE/" "$PGDATA_DIR" "$PGSOCK_DIR"
    as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" --auth=trust -U postgres -E UTF8 --locale=C.UTF-8 >"$PGSTATE/initdb.log"
  fi
  install -d -o postgres -g postgres "$PGSOCK_DIR"
  # pg_cron, when installed (scripts/setup.sh), runs raw.run_maintenance() in $PULSE_DB every 10 minutes
  # (docs/partition-lifecycle.md). Without it the stack starts all the same and pulse-ingest runs it.
  cron_opts=""
  if [ -f "/usr/lib/postgresql/$PG_MAJOR/lib/pg_cron.so" ]; then
    cron_opts="-c shared_preload_libraries=pg_cron -c cron.database_name=$PULSE_DB"
  fi
  # Without RUST_BACKTRACE: pgrx would put a Rust backtrace into the DETAIL of errors clients see.
  as_pg env -u RUST_BACKTRACE "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGLOG" -w -t 60 start \
    -o "-p $PULSE_PGPORT -k $PGSOCK_DIR -c listen_addresses=127.0.0.1 -c max_wal_size=2GB -c shared_buffers=512MB $cron_opts" >/dev/null \
    || { tail -20 "$PGLOG" >&2; die "postgres did not start (log: $PGLOG)"; }
  log "up: postgres started on 127.0.0.1:$PULSE_PGPORT"
fi
if ! "$PGBIN/psql" -X -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres -d postgres -Atc \
     "select 1 from pg_database where datname = '$PULSE_DB'" | grep -q 1; then
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres "$PULSE_DB"
fi
# Newly built library: reinstall the extension objects when the version changed, otherwise keep data.
PGOPTIONS="-c client_min_messages=warning" psql_pulse -c "create extension if not exists pulse" -c "alter extension pulse update"
# An unreleased version has no upgrade script: when its install script changed since this database
# got it (a developer's rebuild), recreate the extension here, in the dev database only. This drops
# the pulse.* catalog (models, features, experiments) of the dev database; make demo rebuilds it.
script="$(ls "$("$PGBIN/pg_config" --sharedir)"/extension/pulse--*.sql | grep -v -- '--.*--' | sort -V | tail -1)"
# Of the sorted lines: pgrx emits the same SQL blocks in a different order from one build to the
# next, and an unsorted checksum made every up.sh recreate the extension (dropping the dbt views).
sum="$(LC_ALL=C sort "$script" | md5sum | cut -d' ' -f1)"
if [ -f "$STATE/extension.md5" ] && [ "$(cat "$STATE/extension.md5")" != "$sum" ]; then
  log "up: $(basename "$script") changed since the pulse database installed it: recreating the extension there (drop extension pulse cascade)"
  PGOPTIONS="-c client_min_messages=warning" psql_pulse -q -c "drop extension pulse cascade" -c "create extension pulse"
fi
echo "$sum" >"$STATE/extension.md5"

export PULSE_DATABASE_URL="postgresql://postgres@127.0.0.1:$PULSE_PGPORT/$PULSE_DB"
"$RELEASE_BIN/pulse-ingest" --log-format text migrate --dir "$ROOT/migrations" | sed 's/^/up: /' >&2
# Schedules the pg_cron maintenance job when pg_cron is preloaded for this database; a no-op otherwise
# and when it is already scheduled (migration 0005 does the same once, before pg_cron may be there).
psql_pulse -Atc "select case when raw.schedule_maintenance_with_pg_cron() then 'up: pg_cron runs raw.run_maintenance() every 10 minutes'
                             else 'up: pg_cron not preloaded; pulse-ingest runs raw.run_maintenance()' end" >&2

# --- tansu broker ---
if broker_running; then
  log "up: broker already running on $BROKERS"
else
  if port_in_use "$PULSE_KAFKA_PORT"; then
    die "port $PULSE_KAFKA_PORT is taken by another process; set PULSE_KAFKA_PORT to a free port"
  fi
  start_broker || { tail -20 "$KAFKA_LOG" >&2; die "broker did not start (log: $KAFKA_LOG)"; }
  log "up: broker started on $BROKERS"
fi

cat >"$STATE/env" <<ENV
export PGHOST=127.0.0.1
export PGPORT=$PULSE_PGPORT
export PGUSER=postgres
export PGDATABASE=$PULSE_DB
export PULSE_DATABASE_URL=postgresql://postgres@127.0.0.1:$PULSE_PGPORT/$PULSE_DB
export PULSE_KAFKA_BROKERS=$BROKERS
ENV
log "up: ready. Connect with:  . .pulse/env && psql"
cat "$STATE/env"
