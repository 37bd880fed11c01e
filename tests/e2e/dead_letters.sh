#!/usr/bin/env bash
# Bad input loses nothing: malformed messages and rows that Postgres itself refuses end up in
# raw.dead_letters with their raw bytes and reason, and everything else still lands.
# Prints TAP-style "ok"/"not ok" lines.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"

N=3000
BAD=30
scenario e2e_dlq
# A rule the event contract does not know about: Postgres refuses orders of 150 or more.
q "alter table raw.orders add constraint e2e_small_orders_only check (amount < 150)"

"$RELEASE_BIN/pulse-gen" --quiet --topic "$TOPIC" --partitions 2 --count "$N" --invalid "$BAD" --seed 11 \
  --dump "$WORK/produced.jsonl"
"$RELEASE_BIN/pulse-ingest" run --batch-size 400 >"$WORK/ingest.log" 2>&1 &
pid=$!
"$RELEASE_BIN/pulse-ingest" lag --wait --timeout-secs 300 >/dev/null
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
check "ingester keeps going and exits 0" "$rc" 0

load_produced "$WORK/produced.jsonl"
big=$(q "select count(*) from e2e_expected where amount >= 150")
check "some generated orders are 150 or more" "$([ "$big" -gt 0 ] && echo yes)" yes
check "orders under 150 all landed" "$(q "select count(*) from raw.orders")" "$(q "select count(*) from e2e_expected where amount < 150")"
check "refused rows are dead letters" "$(q "select count(*) from raw.dead_letters where error_code = 'db_rejected'")" "$big"
check "refused rows keep their exact payload" \
  "$(q "select count(*) from raw.dead_letters d join e2e_expected e on convert_from(d.payload, 'UTF8')::jsonb = e.payload
         where d.error_code = 'db_rejected' and d.error_message like '%e2e_small_orders_only%'")" "$big"
check "malformed messages are dead letters" "$(q "select count(*) from raw.dead_letters where error_code <> 'db_rejected'")" "$BAD"
check "every message accounted for exactly once" \
  "$(q "select (select count(*) from raw.orders) + (select count(*) from raw.dead_letters)")" "$((N + BAD))"
check "offsets cover every message" "$(q "select sum(next_offset) from raw.ingest_offsets where consumer_group = '$GROUP'")" "$((N + BAD))"

[ "$fails" -eq 0 ]
