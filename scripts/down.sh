#!/usr/bin/env bash
# Stops the embedded stack; data under .pulse/ is kept. Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Superset (make bi, the bi suite) first: it reads from and keeps its metadata in the cluster.
"$ROOT/scripts/bi.sh" stop-all

if broker_running; then
  stop_broker
  log "down: broker stopped"
else
  log "down: broker not running"
fi
rm -f "$KAFKA_PIDFILE"

if pg_running; then
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
  log "down: postgres stopped"
else
  log "down: postgres not running"
fi
