#!/usr/bin/env bash
# Ingest benchmark (make bench). In one run, on this machine:
#  1. end-to-end throughput: orders pre-produced to the broker, then pulse-ingest from start to
#     lag 0 (broker → committed rows), against the physical limit: binary COPY of the very same
#     rows from a file into the same partitioned table; and against the broker alone (pulse-drain
#     reads the topic and discards it), the ceiling of any consumer here;
#  2. produce → committed latency p50/p99 at a fixed rate over every event family;
#  3. ingester peak RSS under load (VmHWM).
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh"
. "$STATE/env"

N=${BENCH_EVENTS:-400000}
RATE=${BENCH_RATE:-5000}
SECS=${BENCH_LATENCY_SECS:-30}
scenario bench

# --- 1. throughput ---
"$RELEASE_BIN/pulse-gen" --quiet --families orders --count "$N" --seed 1 --days 3
# The broker's own ceiling: reading the same topic to its end and discarding the messages.
read -r _ _ broker_rate < <("$RELEASE_BIN/pulse-drain" --topic "${PREFIX}orders")
"$RELEASE_BIN/pulse-ingest" run --families orders --batch-size 10000 --batch-ms 200 \
  --maintenance-interval-secs 0 >"$WORK/ingest.log" 2>&1 &
pid=$!
# The clock starts at the first committed row, so group join time is not counted.
until [ "$(q "select count(*) > 0 from raw.ingest_offsets")" = t ]; do sleep 0.05; done
t0=$(date +%s.%N); first=$(q "select sum(next_offset) from raw.ingest_offsets")
"$RELEASE_BIN/pulse-ingest" lag --families orders --wait --timeout-secs 600 >/dev/null
t1=$(date +%s.%N)
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid"
landed=$(q "select count(*) from raw.orders")
[ "$landed" -eq "$N" ] || { echo "bench: landed $landed of $N"; exit 1; }

cols="order_id, customer_id, created_at, amount, currency, items, payment_method, card_fingerprint, ip_country,
      shipping_country, billing_country, device, email_domain, event_version, _topic, _partition, _offset"
file="$PGSTATE/bench-orders.bin"
q "copy (select $cols from raw.orders) to '$file' (format binary)" >/dev/null
q "truncate raw.orders" >/dev/null
c0=$(date +%s.%N)
q "copy raw.orders ($cols) from '$file' (format binary)" >/dev/null
c1=$(date +%s.%N)
rm -f "$file"
ingest_rate=$(calc "($N - $first) / ($t1 - $t0)")
copy_rate=$(calc "$N / ($c1 - $c0)")

printf '\n== pulse-ingest benchmark (%s, %s cores) ==\n' "$(date -u +%F)" "$(nproc)"
printf 'throughput  %d orders, broker -> committed rows:   %9.0f events/s\n' "$N" "$ingest_rate"
printf '            binary COPY of the same rows (limit):  %9.0f events/s\n' "$copy_rate"
printf '            broker read alone, messages discarded: %9.0f events/s\n' "$broker_rate"
printf '            ratio pulse-ingest / COPY:              %9.2f   (target >= 0.70; >= 50000 events/s)\n' \
  "$(calc "$ingest_rate / $copy_rate")"
printf '            ratio pulse-ingest / broker read:       %9.2f\n' "$(calc "$ingest_rate / $broker_rate")"

# --- 2. latency at a fixed rate, every family ---
scenario bench_latency
# The topics exist before the ingester subscribes (as in production), so no rebalance happens
# while the clock runs.
"$RELEASE_BIN/pulse-gen" --quiet --count 1 --days 1 --seed 3 >/dev/null
"$RELEASE_BIN/pulse-ingest" run --batch-ms 20 --maintenance-interval-secs 0 -X fetch.wait.max.ms=10 \
  -X topic.metadata.refresh.interval.ms=1000 ${BENCH_LATENCY_ARGS:-} \
  >"$WORK/ingest.log" 2>&1 &
pid=$!
"$RELEASE_BIN/pulse-ingest" lag --wait --timeout-secs 60 >/dev/null  # joined and caught up
"$ROOT/.venv/bin/python" "$(dirname "$0")/latency.py" "$WORK/produced.jsonl" "$GROUP" "$SECS" 3 >"$WORK/latency.json" &
observer=$!
# About 22 messages per order: size the world so production lasts about SECS at RATE.
"$RELEASE_BIN/pulse-gen" --quiet --rate "$RATE" --duration "$SECS" --count $((RATE * SECS / 22)) --seed 2 \
  --dump "$WORK/produced.jsonl" >/dev/null
"$RELEASE_BIN/pulse-ingest" lag --wait --timeout-secs 120 >/dev/null
touch "$WORK/produced.jsonl.done"
wait "$observer"
rss_live_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid"
produced=$(wc -l <"$WORK/produced.jsonl")

python3 - "$WORK/latency.json" "$RATE" "$produced" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))
print(f"latency     {l['messages']} messages at {sys.argv[2]}/s, every family, produce -> committed (after a {l['warmup_s']} s warm-up):")
print(f"            p50 {l['p50_ms']} ms   p99 {l['p99_ms']} ms   max {l['max_ms']} ms   (target p99 < 100 ms; {l['not_observed']} not observed)")
print(f"            of which send -> broker ack (producer side): p50 {l['ack_p50_ms']} ms   p99 {l['ack_p99_ms']} ms")
PY
printf 'memory      ingester peak RSS: %.0f MB under throughput load, %.0f MB at %s/s   (target < 150 MB)\n' \
  "$(calc "$rss_kb / 1024")" "$(calc "$rss_live_kb / 1024")" "$RATE"
