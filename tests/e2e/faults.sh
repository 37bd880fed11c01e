#!/usr/bin/env bash
# Infrastructure faults mid-ingest, through the real broker and database: Postgres restarted,
# the broker restarted. Ingestion must resume by itself and land exactly the produced set.
# Prints TAP-style "ok"/"not ok" lines.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"

start_ingest() {
  "$RELEASE_BIN/pulse-ingest" run --batch-size 500 --batch-ms 50 --max-payload-bytes 4096 \
    -X session.timeout.ms=6000 >>"$WORK/ingest.log" 2>&1 &
  pid=$!
}
stored() { q "select coalesce(sum(next_offset), 0) from raw.ingest_offsets" 2>/dev/null || echo 0; }
wait_for_progress() {  # wait_for_progress N: until more than N messages are landed
  for _ in $(seq 1 300); do [ "$(stored)" -gt "$1" ] && return 0; sleep 0.1; done
  return 1
}
finish() {
  "$RELEASE_BIN/pulse-ingest" lag --wait --timeout-secs 300 >/dev/null
  kill -TERM "$pid"
  rc=0; wait "$pid" || rc=$?
  check "$1: SIGTERM after catch-up exits 0" "$rc" 0
}

# --- Postgres restarted mid-ingest ---
scenario faults_pg
"$RELEASE_BIN/pulse-gen" --quiet --count 6000 --days 3 --invalid 35 --seed 21 --dump "$WORK/produced.jsonl"
total=$(wc -l <"$WORK/produced.jsonl")
start_ingest
wait_for_progress 0
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -w -t 60 -m fast restart >/dev/null
at=$(stored)
echo "# postgres restarted with $at of $total messages landed"
check "postgres: restart happened mid-ingest" "$([ "$at" -lt "$total" ] && echo yes)" yes
finish postgres
check "postgres: the ingester reconnected by itself" "$(grep -c 'connected to postgres' "$WORK/ingest.log" | awk '{print ($1 > 2) ? "yes" : "no"}')" yes
load_dump "$WORK/produced.jsonl"
check_exact "postgres restart"

# --- broker restarted mid-ingest ---
scenario faults_broker
"$RELEASE_BIN/pulse-gen" --quiet --count 6000 --days 3 --invalid 35 --seed 22 --dump "$WORK/produced.jsonl"
total=$(wc -l <"$WORK/produced.jsonl")
start_ingest
wait_for_progress 0
stop_broker
at=$(stored)
sleep 3
start_broker || { echo "not ok - broker: could not restart the broker"; exit 1; }
echo "# broker restarted with $at of $total messages landed"
check "broker: restart happened mid-ingest" "$([ "$at" -lt "$total" ] && echo yes)" yes
finish broker
load_dump "$WORK/produced.jsonl"
check_exact "broker restart"

[ "$fails" -eq 0 ]
