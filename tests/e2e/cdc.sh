#!/usr/bin/env bash
# Debezium CDC through the real broker: snapshot, insert, update, delete + tombstone, truncate,
# late and schema-wrapped envelopes land in raw.customers / raw.products and raw.cdc_changes.
# Producing the very same envelopes a second time must leave mirrors and history identical.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"

scenario cdc
export PULSE_INGEST_FAMILIES=cdc_customers,cdc_products
python3 "$(dirname "$0")/fixtures/cdc_envelopes.py" "$PREFIX" >"$WORK/envelopes.jsonl"

mirrors="select * from (select 'p' k, product_id, name, price, active, _op, _lsn, _deleted, _updated_at::text from raw.products
         union all select 'c', customer_id, segment, null, null, _op, _lsn, _deleted, _updated_at::text from raw.customers) m"

"$RELEASE_BIN/pulse-produce" "$WORK/envelopes.jsonl" >/dev/null
ingest_until_caught_up 120
check "no dead letters (tombstones are not errors)" "$(q "select count(*) from raw.dead_letters")" 0
check "products mirror" "$(q "select string_agg(format('%s:%s:%s:%s', product_id, price, active, _deleted), ' ' order by product_id) from raw.products")" \
  "p-1:12.50:t:f p-2:::t p-3:12.00:t:f p-4:89.99:f:f"
check "a change older than the row's LSN is ignored" "$(q "select name from raw.products where product_id = 'p-3'")" "Product p-3"
check "customers: a truncate removes older rows and later changes of them; newer inserts live" \
  "$(q "select string_agg(format('%s:%s:%s:%s', customer_id, segment, _op, _deleted), ' ' order by customer_id) from raw.customers")" \
  "c-3:new:c:f"
check "history holds every change once" "$(q "select count(*) from raw.cdc_changes")" 15
check "history keeps op and images" \
  "$(q "select count(*) from raw.cdc_changes where (op = 'd' and before is not null and after is null) or (op = 't' and key is null)")" 3
check "history rows carry their kafka source" "$(q "select count(*) from raw.cdc_changes where _topic like '${PREFIX}cdc.%' and _offset >= 0")" 15
q "create table snapshot_mirrors as $mirrors"

# The same envelopes again (a connector restart re-sends them): nothing may change.
"$RELEASE_BIN/pulse-produce" "$WORK/envelopes.jsonl" >/dev/null
ingest_until_caught_up 120
check "second delivery consumed" "$(q "select sum(next_offset) from raw.ingest_offsets")" "$(( 2 * $(wc -l <"$WORK/envelopes.jsonl") ))"
check "replay leaves the mirrors identical" \
  "$(q "select count(*) from (($mirrors except select * from snapshot_mirrors) union all (select * from snapshot_mirrors except $mirrors)) d")" 0
check "replay adds no history" "$(q "select count(*) from raw.cdc_changes")" 15

[ "$fails" -eq 0 ]
