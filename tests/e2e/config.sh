#!/usr/bin/env bash
# Settings and observability through the real binary: a settings file with a [topics] mapping and
# [kafka] properties drives a run; mistakes (unknown key, misspelt variable, a property that would
# break exactly once, a property librdkafka does not know) stop it at startup with a clear message;
# /metrics counts what was landed. Prints TAP-style "ok"/"not ok" lines.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"

scenario config
fails_with() {  # fails_with NAME EXPECTED_TEXT CMD...: the command exits non-zero saying EXPECTED_TEXT
  local name=$1 text=$2 out rc=0; shift 2
  out=$("$@" 2>&1) || rc=$?
  check "$name" "$([ "$rc" -ne 0 ] && echo "$out" | grep -qF -- "$text" && echo refused)" refused
}
ingest=("$RELEASE_BIN/pulse-ingest" --log-format text)

printf 'batch_sise = 10\n' >"$WORK/typo.toml"
fails_with "unknown key in the settings file" 'unknown field `batch_sise`' "${ingest[@]}" run --config "$WORK/typo.toml"
fails_with "misspelt PULSE_INGEST_ variable" "PULSE_INGEST_BATCHSIZE" env PULSE_INGEST_BATCHSIZE=10 "${ingest[@]}" run
fails_with "enable.auto.commit is refused" "enable.auto.commit cannot be set" "${ingest[@]}" run -X enable.auto.commit=true
fails_with "unknown librdkafka property" "No such configuration property" "${ingest[@]}" run -X no.such.property=1
fails_with "unknown family in --families" "invalid value 'refunds'" "${ingest[@]}" run --families refunds

# A file that maps the orders family to a topic of another name, with librdkafka settings.
legacy="${PREFIX}legacy-orders"
cat >"$WORK/pulse-ingest.toml" <<TOML
group = "$GROUP"
families = ["orders"]
batch_ms = 50
metrics_addr = "127.0.0.1:${PULSE_E2E_METRICS_PORT:-29188}"
[topics]
orders = "$legacy"
[kafka]
"session.timeout.ms" = "6000"
"statistics.interval.ms" = "500"
TOML
python3 - "$legacy" >"$WORK/orders.jsonl" <<'PY'
import json, sys
from datetime import datetime, timezone
now = datetime.now(timezone.utc).isoformat()
for i in range(25):
    e = {"event_type": "order_created", "event_version": 1, "order_id": f"legacy-{i}", "customer_id": f"c-{i}",
         "created_at": now, "amount": 10 + i, "currency": "EUR", "items": 1, "payment_method": "card",
         "card_fingerprint": None, "ip_country": None, "shipping_country": None, "billing_country": None,
         "device": None, "email_domain": None}
    print(json.dumps({"topic": sys.argv[1], "key": f"c-{i}", "payload": json.dumps(e)}))
print(json.dumps({"topic": sys.argv[1], "key": "bad", "payload": "{"}))
PY
"$RELEASE_BIN/pulse-produce" "$WORK/orders.jsonl" >/dev/null
unset PULSE_INGEST_GROUP  # the file says which group
"$RELEASE_BIN/pulse-ingest" run --config "$WORK/pulse-ingest.toml" >"$WORK/ingest.log" 2>&1 &
pid=$!
"$RELEASE_BIN/pulse-ingest" lag --config "$WORK/pulse-ingest.toml" --wait --timeout-secs 60 >/dev/null
sleep 1.5  # one more statistics interval, for the lag gauge
metrics=$(curl -sf "127.0.0.1:${PULSE_E2E_METRICS_PORT:-29188}/metrics")
kill -TERM "$pid"; wait "$pid"
check "the [topics] mapping was consumed" "$(q "select count(*) from raw.orders where _topic = '$legacy'")" 25
check "offsets kept under the file's group" "$(q "select sum(next_offset) from raw.ingest_offsets where consumer_group = '$GROUP'")" 26
metric() { echo "$metrics" | grep -F "$1" | awk '{print $2}'; }
check "/metrics: consumed" "$(metric "pulse_ingest_messages_consumed_total{topic=\"$legacy\"}")" 26
check "/metrics: landed" "$(metric 'pulse_ingest_rows_landed_total{table="raw.orders"}')" 25
check "/metrics: dead-lettered with its code" \
  "$(metric "pulse_ingest_dead_letters_total{topic=\"$legacy\",error_code=\"malformed_json\"}")" 1
check "/metrics: lag per partition, all 0 once caught up" \
  "$(echo "$metrics" | grep "^pulse_ingest_lag_messages{topic=\"$legacy\"" | awk '{n++; s += $2} END {print n, s}')" "4 0"
check "/metrics: batch latency histogram" "$(echo "$metrics" | grep -c '^pulse_ingest_batch_duration_seconds_count')" 1

[ "$fails" -eq 0 ]
