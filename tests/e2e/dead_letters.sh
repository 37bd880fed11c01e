#!/usr/bin/env bash
# Bad input loses nothing: one message of every dead-letter class on every family's topic, between
# valid ones, plus rows that Postgres itself refuses. Each bad message must be in raw.dead_letters
# with its code, raw bytes and reason, every valid one must land, and after the cause is fixed
# `pulse-ingest dlq replay` lands the refused rows exactly once. Prints TAP-style lines.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"

scenario e2e_dlq
export PULSE_INGEST_FAMILIES=clickstream,orders,payments,inventory,exposures,cdc_products
python3 "$(dirname "$0")/fixtures/every_error.py" "$PREFIX" "$WORK/expect.jsonl" >"$WORK/messages.jsonl"
# A rule the event contract does not know about: Postgres refuses orders of 150 or more.
q "alter table raw.orders add constraint e2e_small_orders_only check (amount < 150)"
"$RELEASE_BIN/pulse-produce" --partitions 2 "$WORK/messages.jsonl" >/dev/null

"$RELEASE_BIN/pulse-ingest" run --batch-size 50 --max-payload-bytes 4096 >"$WORK/ingest.log" 2>&1 &
pid=$!
"$RELEASE_BIN/pulse-ingest" lag --wait --timeout-secs 120 >/dev/null
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
check "ingester keeps going and exits 0" "$rc" 0

q "create table expect (line jsonb)"
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "\\copy expect from '$WORK/expect.jsonl' with (format csv, quote e'\\x01', delimiter e'\\x02')"
q "create view expected as select line->>'family' family, line->>'key' key, line->>'expect' expect from expect"
for t in orders clickstream payments inventory exposures; do
  check "raw.$t holds exactly the valid $t events" "$(q "select count(*) from raw.$t")" \
    "$(q "select count(*) from expected where expect = 'raw.$t'")"
done
check "cdc: valid envelopes applied" "$(q "select count(*) from raw.cdc_changes")" 2
codes="missing_payload oversize_payload invalid_utf8 malformed_json unknown_event_type contract_violation absurd_timestamp db_rejected"
for code in $codes; do
  check "every $code message is a $code dead letter, by key" \
    "$(q "select count(*) from expected e join raw.dead_letters d on convert_from(d.key, 'UTF8') = e.key and d.error_code = e.expect where e.expect = '$code'")" \
    "$(q "select count(*) from expected where expect = '$code'")"
done
check "each of the 7 contract classes seen on every non-CDC topic" \
  "$(q "select count(*) from (select distinct split_part(topic, '.', 2), error_code from raw.dead_letters where error_code <> 'db_rejected' and topic not like '%cdc%') s")" 35
check "no dead letter that was not expected" "$(q "select count(*) from raw.dead_letters")" \
  "$(q "select count(*) from expected where expect not like 'raw.%'")"
check "dead letters keep the raw bytes and a reason" \
  "$(q "select count(*) from raw.dead_letters where (payload is null and error_code <> 'missing_payload') or error_message = ''")" 0
check "invalid UTF-8 kept byte for byte" \
  "$(q "select count(*) from raw.dead_letters where error_code = 'invalid_utf8' and substring(payload from length(payload)) = '\\xff'::bytea")" 5
check "offsets cover every message" "$(q "select sum(next_offset) from raw.ingest_offsets where consumer_group = '$GROUP'")" \
  "$(wc -l <"$WORK/messages.jsonl")"

# Replay after the fix. A dry run changes nothing; the real one lands the refused orders, once.
refused=$(q "select count(*) from expected where expect = 'db_rejected'")
orders_before=$(q "select count(*) from raw.orders")
q "alter table raw.orders drop constraint e2e_small_orders_only"
dry=$("$RELEASE_BIN/pulse-ingest" dlq replay --dry-run --max-payload-bytes 4096)
check "dry run reports what would land" "$(echo "$dry" | head -1 | grep -o '[0-9]* landed')" "$refused landed"
check "dry run lands nothing" "$(q "select count(*) from raw.orders")" "$orders_before"
out=$("$RELEASE_BIN/pulse-ingest" dlq replay --max-payload-bytes 4096)
echo "# $out" | head -1
check "replay lands the refused orders" "$(q "select count(*) from raw.orders")" "$((orders_before + refused))"
check "replayed dead letters are marked" "$(q "select count(*) from raw.dead_letters where replayed_at is not null")" "$refused"
check "still-invalid messages stay dead with the reason" \
  "$(q "select count(*) from raw.dead_letters where replayed_at is null and replay_error is not null")" \
  "$(q "select count(*) from expected where expect not like 'raw.%' and expect <> 'db_rejected'")"
"$RELEASE_BIN/pulse-ingest" dlq replay --max-payload-bytes 4096 >/dev/null
check "a second replay lands nothing twice" "$(q "select count(*) from raw.orders")" "$((orders_before + refused))"
check "replayed rows keep their kafka source" \
  "$(q "select count(*) from raw.orders o join raw.dead_letters d on d.topic = o._topic and d.partition = o._partition and d.\"offset\" = o._offset where d.replayed_at is not null")" "$refused"
check "dlq replay refuses an unknown error code" \
  "$("$RELEASE_BIN/pulse-ingest" dlq replay --error-code no_such_code 2>&1 | grep -c 'unknown error code')" 1

[ "$fails" -eq 0 ]
