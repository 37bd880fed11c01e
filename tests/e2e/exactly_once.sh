#!/usr/bin/env bash
# End to end through the real broker and the real database: generate → tansu → pulse-ingest →
# raw.orders. The ingester is SIGKILLed mid-run and restarted; the landed rows must equal the
# produced events exactly (by key and content), malformed messages must be in raw.dead_letters,
# and a SIGTERM must flush and exit 0. Prints TAP-style "ok"/"not ok" lines.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"

N=${E2E_EVENTS:-40000}
BAD=${E2E_INVALID:-40}
scenario e2e
# A second run changes nothing: migrations are recorded and idempotent.
check "migrations re-run apply nothing" \
  "$("$RELEASE_BIN/pulse-ingest" --log-format text migrate --dir "$ROOT/migrations" | head -1)" \
  "migrations: 0 applied, 3 already present"

"$RELEASE_BIN/pulse-gen" --quiet --topic "$TOPIC" --partitions 4 --count "$N" --invalid "$BAD" --seed 7 \
  --dump "$WORK/produced.jsonl"

# Small batches for many commits; a short session timeout so the group drops the killed member
# quickly (the default 45 s only slows the test down).
start_ingest() {
  "$RELEASE_BIN/pulse-ingest" run --batch-size 500 --batch-ms 100 -X session.timeout.ms=6000 \
    -X heartbeat.interval.ms=1000 >>"$WORK/ingest.log" 2>&1 &
  pid=$!
}
: >"$WORK/ingest.log"
start_ingest
# Kill it once some, but not all, batches have committed.
for _ in $(seq 1 600); do
  landed=$(q "select count(*) from raw.orders")
  [ "$landed" -ge $((N / 4)) ] && break
  sleep 0.1
done
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
at_kill=$(q "select count(*) from raw.orders")
echo "# SIGKILL with $at_kill of $N rows landed"
check "ingester was killed mid-run" "$([ "$at_kill" -gt 0 ] && [ "$at_kill" -lt "$N" ] && echo yes)" yes

start_ingest
"$RELEASE_BIN/pulse-ingest" lag --wait --timeout-secs 300 >/dev/null
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
check "SIGTERM flushes and exits 0" "$rc" 0

load_produced "$WORK/produced.jsonl"
actual="select customer_id as key, order_id, customer_id, created_at, amount, currency, items, payment_method,
               card_fingerprint, ip_country, shipping_country, billing_country, device, email_domain
          from raw.orders"

check "produced valid events" "$(q "select count(*) from e2e_expected")" "$N"
check "landed rows = produced events" "$(q "select count(*) from raw.orders")" "$N"
check "no duplicate order ids" "$(q "select count(*) - count(distinct order_id) from raw.orders")" 0
expected="select key, order_id, customer_id, created_at, amount, currency, items, payment_method,
                 card_fingerprint, ip_country, shipping_country, billing_country, device, email_domain
            from e2e_expected"
check "every produced event landed, same content" "$(q "select count(*) from ($expected except $actual) m")" 0
check "nothing landed that was not produced" "$(q "select count(*) from ($actual except $expected) m")" 0
check "key = customer_id keeps a customer in one partition" \
  "$(q "select count(*) from (select customer_id from raw.orders group by 1 having count(distinct _partition) > 1) s")" 0
check "malformed messages dead-lettered" "$(q "select count(*) from raw.dead_letters where topic = '$TOPIC'")" "$BAD"
check "dead letters carry a known error code and a reason" \
  "$(q "select count(*) from raw.dead_letters where error_code not in
         ('malformed_json','invalid_utf8','unknown_event_type','contract_violation') or error_message = ''")" 0
check "dead letters keep the raw bytes" "$(q "select count(*) from raw.dead_letters where payload is null")" 0
check "stored offsets cover every message" \
  "$(q "select sum(next_offset) from raw.ingest_offsets where consumer_group = '$GROUP'")" "$((N + BAD))"
check "offsets rows = 4 partitions" \
  "$(q "select count(*) from raw.ingest_offsets where consumer_group = '$GROUP' and topic = '$TOPIC'")" 4
check "rows are in their UTC day partition" \
  "$(q "select count(*) from raw.orders where tableoid::regclass::text <> 'raw.orders_' || to_char(created_at at time zone 'UTC', 'YYYYMMDD')")" 0

# A restart after everything landed lands nothing new.
start_ingest
sleep 3
kill -TERM "$pid"; wait "$pid" || true
check "restart after catch-up lands nothing" "$(q "select count(*) from raw.orders")" "$N"

[ "$fails" -eq 0 ]
