# Shared settings for scripts/*.sh: paths, ports and helpers. Sourced, not executed.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/versions.env"
export PATH="$HOME/.cargo/bin:$PATH"

STATE="${PULSE_STATE_DIR:-$ROOT/.pulse}"
PGBIN="/usr/lib/postgresql/$PG_MAJOR/bin"
# The cluster lives in .pulse/pg. When the checkout is somewhere the postgres user cannot
# traverse (e.g. under /root), .pulse/pg is a symlink to a directory under /var/lib/pulse.
# Paths handed to the postgres user are resolved through that link, since it cannot traverse
# the checkout's own path.
resolve_pg_paths() {
  PGSTATE="$(readlink -f "$STATE/pg" 2>/dev/null || echo "$STATE/pg")"
  PGDATA_DIR="$PGSTATE/data"
  PGSOCK_DIR="$PGSTATE/run"
  PGLOG="$PGSTATE/postgres.log"
}
resolve_pg_paths
# Below the ephemeral range (32768-60999): a port in it can be held for a moment as the local end
# of some outgoing connection, and tansu then fails to bind.
PULSE_PGPORT="${PULSE_PGPORT:-25432}"
PULSE_KAFKA_PORT="${PULSE_KAFKA_PORT:-29092}"
PULSE_DB="${PULSE_DB:-pulse}"
KAFKA_DIR="$STATE/kafka"
KAFKA_LOG="$KAFKA_DIR/tansu.log"
KAFKA_PIDFILE="$KAFKA_DIR/tansu.pid"
BROKERS="127.0.0.1:$PULSE_KAFKA_PORT"
RELEASE_BIN="$ROOT/target/release"

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# as_pg CMD...: run as the postgres OS user (Postgres refuses to run as root).
as_pg() {
  # From / because the postgres user may not be allowed into the current directory.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# port_in_use PORT: true when something listens on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

psql_pulse() {
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres -d "$PULSE_DB" "$@"
}

pg_running() {
  [ -f "$PGDATA_DIR/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

broker_running() {
  [ -f "$KAFKA_PIDFILE" ] && kill -0 "$(cat "$KAFKA_PIDFILE")" 2>/dev/null
}

# ensure_state_dirs: creates .pulse/ and .pulse/pg. When the postgres user cannot traverse the
# checkout's parents (e.g. a clone under /root), .pulse/pg links to a directory under /var/lib/pulse.
ensure_state_dirs() {
  mkdir -p "$STATE" "$KAFKA_DIR"
  chmod o+x "$STATE"
  if [ ! -e "$STATE/pg" ] && [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$STATE"; then
    local outside
    outside="/var/lib/pulse/$(printf '%s' "$STATE" | md5sum | cut -c1-12)"
    install -d -o postgres -g postgres "$outside"
    ln -s "$outside" "$STATE/pg"
    log "cluster directory is $outside (linked from .pulse/pg)"
  fi
  if [ "$(id -u)" = 0 ]; then install -d -o postgres -g postgres "$STATE/pg/"; else mkdir -p "$STATE/pg"; fi
  resolve_pg_paths
}

# start_broker: starts tansu with sqlite storage under .pulse/kafka and waits for its port. Tries
# three times: tansu exits when its port is briefly held as the local end of an outgoing connection.
start_broker() {
  local attempt
  for attempt in 1 2 3; do
    start_broker_once && return 0
    log "broker did not start (attempt $attempt); retrying"
    sleep 1
  done
  return 1
}

start_broker_once() {
  # tansu reads ./.env and resolves the sqlite path against its working directory.
  (
    cd "$KAFKA_DIR"
    nohup tansu broker \
      --listener-url "tcp://127.0.0.1:$PULSE_KAFKA_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$PULSE_KAFKA_PORT" \
      --storage-engine "sqlite://tansu.db" >>"$KAFKA_LOG" 2>&1 </dev/null &
    echo $! >"$KAFKA_PIDFILE"
  )
  local pid; pid=$(cat "$KAFKA_PIDFILE")
  for _ in $(seq 1 100); do
    port_in_use "$PULSE_KAFKA_PORT" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# stop_broker: stops tansu (SIGTERM, then SIGKILL after 10 s).
stop_broker() {
  broker_running || return 0
  local pid; pid=$(cat "$KAFKA_PIDFILE")
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$KAFKA_PIDFILE"
}
