#!/usr/bin/env bash
# make test: setup, then every suite (or those named: unit pgrx regress e2e dbt).
# Each suite reports passed/failed counts; the last line is "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/lib.sh"
SUITES=("$@")
[ ${#SUITES[@]} -eq 0 ] && SUITES=(unit pgrx regress e2e dbt)
RESULTS="$(mktemp)"
mkdir -p "$STATE"
: >"$RESULTS"
t_all=$SECONDS

"$ROOT/scripts/setup.sh" || { echo "0 passed, 1 failed"; exit 1; }

# record SUITE PASSED FAILED
record() { echo "$1 $2 $3" >>"$RESULTS"; log "test: $1: $2 passed, $3 failed"; }

# cargo_counts LOG: sums "test result: ... N passed; M failed" lines.
cargo_counts() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
       END { print p + 0, f + 0 }' "$1"
}

suite_unit() {
  local out="$STATE/test-unit.log"
  (cd "$ROOT" && cargo test -p pulse-ingest 2>&1) >"$out"; local rc=$?
  read -r p f < <(cargo_counts "$out")
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && { tail -30 "$out" >&2; f=1; }
  record unit "$p" "$f"
}

suite_pgrx() {
  ensure_state_dirs
  local out="$STATE/test-pgrx.log" data="$PGSTATE/pgrx-test"
  rm -rf "$data"; install -d -o postgres -g postgres "$data"
  (cd "$ROOT/extension" && cargo pgrx test pg15 --runas postgres --pgdata "$data" 2>&1) >"$out"; local rc=$?
  read -r p f < <(cargo_counts "$out")
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && { tail -30 "$out" >&2; f=1; }
  record pgrx "$p" "$f"
}

suite_regress() {
  # cargo pgrx test installs a debug build; up reinstalls the release build first.
  "$ROOT/scripts/up.sh" >/dev/null || { record regress 0 1; return; }
  local out="$STATE/regress" inputdir="$ROOT/extension/tests/pg_regress"
  rm -rf "$out"; mkdir -p "$out"
  local tests; tests=$(cd "$inputdir/sql" && ls *.sql | sed 's/\.sql$//' | sort)
  "/usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/test/regress/pg_regress" \
    --bindir="$PGBIN" --host=127.0.0.1 --port="$PULSE_PGPORT" --user=postgres \
    --inputdir="$inputdir" --outputdir="$out" --dbname=pulse_regress --load-extension=pulse \
    $tests >"$out/pg_regress.log" 2>&1
  local rc=$? total passed failed
  total=$(echo "$tests" | wc -w)
  passed=$(grep -cE '\.\.\. ok' "$out/pg_regress.log" || true)
  failed=$((total - passed))
  [ $rc -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
  [ -s "$out/regression.diffs" ] && head -60 "$out/regression.diffs" >&2
  record regress "$passed" "$failed"
}

suite_e2e() {
  "$ROOT/scripts/up.sh" >/dev/null || { record e2e 0 1; return; }
  local out="$STATE/test-e2e.log" p=0 f=0
  for t in "$ROOT"/tests/e2e/*.sh; do
    [ "$(basename "$t")" = lib.sh ] && continue
    bash "$t" >"$out.$(basename "$t" .sh)" 2>&1
    local rc=$?
    local tp tf
    tp=$(grep -c '^ok ' "$out.$(basename "$t" .sh)"); tf=$(grep -c '^not ok ' "$out.$(basename "$t" .sh)")
    [ $rc -ne 0 ] && [ "$tf" -eq 0 ] && tf=1
    grep -E '^(ok|not ok) ' "$out.$(basename "$t" .sh)" | sed "s/^/  $(basename "$t" .sh): /" >&2
    [ "$tf" -gt 0 ] && tail -20 "$out.$(basename "$t" .sh)" >&2
    p=$((p + tp)); f=$((f + tf))
  done
  record e2e "$p" "$f"
}

suite_dbt() {
  "$ROOT/scripts/up.sh" >/dev/null || { record dbt 0 1; return; }
  . "$STATE/env"
  local out="$STATE/test-dbt.log"
  # A database of its own with rows inserted in SQL, so the suite runs alone and leaves the demo's data
  # alone; make demo and the e2e suite feed raw.* through the real broker and ingester.
  export PGDATABASE=pulse_dbt_test
  "$PGBIN/dropdb" --if-exists -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres "$PGDATABASE"
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres "$PGDATABASE"
  {
    PULSE_DATABASE_URL="postgresql://postgres@127.0.0.1:$PULSE_PGPORT/$PGDATABASE" \
      "$RELEASE_BIN/pulse-ingest" --log-format text migrate --dir "$ROOT/migrations"
    # The feature store first: its triggers fill pulse.online_features as the rows below land.
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "create extension pulse" -f "$ROOT/sql/features.sql" >/dev/null
    # ~3.5 days of orders (97 customers, 211 cards, three devices), one payment event per order
    # (every 23rd declined) and chargebacks a day after every 37th card order older than a day; 8 hours
    # of storefront events over 40 products; the customers and products mirrors with a tombstone each.
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "
      insert into raw.customers (customer_id, email, country, segment, created_at, _op, _lsn, _source_ts, _deleted)
      select 'c-' || i, 'c-' || i || '@' || (array['example.com','mail.de','shop.fr'])[1 + i % 3],
             case when i % 10 = 0 then 'FR' else 'DE' end, (array['new','regular','vip','at_risk'])[1 + i % 4],
             now() - ((100 + i) || ' days')::interval, case when i < 97 then 'r' else 'd' end, 1000 + i,
             now() - interval '1 hour', i >= 97
        from generate_series(0, 98) i;
      insert into raw.products (product_id, name, category, price, currency, active, _op, _lsn, _source_ts, _deleted)
      select 'p-' || lpad(i::text, 5, '0'), 'Product ' || i, (array['electronics','home','fashion','toys'])[1 + i % 4],
             5 + (i * 7) % 90 + 0.99, 'EUR', i % 10 <> 0, case when i <= 40 then 'r' else 'd' end, 2000 + i,
             now() - interval '1 hour', i > 40
        from generate_series(1, 41) i;
      insert into raw.orders (order_id, customer_id, created_at, amount, currency, items, payment_method, card_fingerprint,
                              ip_country, shipping_country, billing_country, device, event_version, _topic, _partition, _offset)
      select 'o-' || i, 'c-' || (i % 97), now() - (i || ' minutes')::interval, (i % 500) + 0.99,
             (array['EUR','USD','GBP'])[1 + i % 3], 1 + i % 4, m,
             case when m = 'card' then 'fp-' || (i % 211) end, case when i % 13 = 0 then 'US' else 'DE' end,
             case when i % 10 = 0 then 'FR' else 'DE' end, 'DE', (array['mobile','desktop','mobile','tablet'])[1 + i % 4],
             1, 'orders', 0, i
        from generate_series(1, 5000) i,
             lateral (select (array['card','card','card','paypal','klarna'])[1 + i % 5] as m) pm;
      insert into raw.payments (payment_id, event_type, order_id, occurred_at, amount, currency, card_fingerprint,
                                decline_reason, chargeback_reason, event_version, _topic, _partition, _offset)
      select 'pay-' || o._offset, case when o._offset % 23 = 0 then 'payment_declined' else 'payment_authorized' end,
             o.order_id, o.created_at + interval '2 seconds', o.amount, o.currency, o.card_fingerprint,
             case when o._offset % 23 = 0 then 'insufficient_funds' end, null, 1, 'payments', 0, o._offset
        from raw.orders o
      union all
      select 'pay-cb-' || o._offset, 'chargeback', o.order_id, o.created_at + interval '1 day', o.amount, o.currency,
             o.card_fingerprint, null, 'fraudulent', 1, 'payments', 0, 100000 + o._offset
        from raw.orders o
       where o.card_fingerprint is not null and o._offset % 37 = 0 and o.created_at < now() - interval '1 day';
      insert into raw.clickstream (event_id, event_type, session_id, customer_id, occurred_at, page, product_id, query,
                                   quantity, device, ip_country, event_version, _topic, _partition, _offset)
      select 'e-' || i, t, 's-' || (i / 5), case when i % 3 <> 0 then 'c-' || (i % 97) end,
             now() - ((i * 10) || ' seconds')::interval, '/' || t,
             case when t in ('product_view', 'add_to_cart') then 'p-' || lpad((1 + i % 40)::text, 5, '0') end,
             case when t = 'search' then 'lamp' end, case when t = 'add_to_cart' then 1 + i % 3 end,
             (array['mobile','desktop','tablet'])[1 + i % 3], 'DE', 1, 'clickstream', 0, i
        from generate_series(1, 3000) i,
             lateral (select (array['page_view','product_view','product_view','search','add_to_cart','checkout_start'])[1 + i % 6] as t) et;
      -- Two experiments: checkout-button registered (3 variants, assigned by ab_assign), ranking-v2
      -- not (its control is 'control'); customers and anonymous visitors exposed 3 days ago, some twice.
      select ab_create_experiment('checkout-button', array['control','green','sticky']);
      -- A broken rollout: only the control's exposures were logged, so the SRM check must fire.
      select ab_create_experiment('one-arm-logged', array['control','treatment']);
      insert into raw.exposures (event_id, experiment_key, variant, unit_id, occurred_at, source, event_version,
                                 _topic, _partition, _offset)
      select 'y-' || i, 'one-arm-logged', 'control', 'c-' || i, now() - interval '2 days', 'web', 1, 'exposures', 1, i
        from generate_series(0, 96) i;
      insert into raw.exposures (event_id, experiment_key, variant, unit_id, occurred_at, source, event_version,
                                 _topic, _partition, _offset)
      select 'x-' || k || '-' || u || '-' || r, k, v, u, now() - interval '3 days' + (r || ' hours')::interval, 'checkout', 1,
             'exposures', 0, row_number() over ()
        from (select 'c-' || i as u from generate_series(0, 96) i union all select 'v-' || i from generate_series(1, 200) i) units,
             lateral (values ('checkout-button', ab_assign('checkout-button', u)),
                             ('ranking-v2', ab_assign(u, array['control','treatment'], seed => 'ranking-v2'))) e(k, v),
             generate_series(1, case when u like '%7' then 2 else 1 end) r"
    cd "$ROOT/dbt" && "$ROOT/.venv/bin/dbt" build --profiles-dir .
  } >"$out" 2>&1
  local rc=$? p f
  p=$(grep -oE 'PASS=[0-9]+' "$out" | tail -1 | cut -d= -f2); f=$(grep -oE 'ERROR=[0-9]+' "$out" | tail -1 | cut -d= -f2)
  p=${p:-0}; f=${f:-0}
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; tail -30 "$out" >&2; fi
  # Source freshness: rows were ingested just now, so every raw table and the online store must be fresh.
  if (cd "$ROOT/dbt" && "$ROOT/.venv/bin/dbt" source freshness --profiles-dir .) >>"$out" 2>&1; then
    p=$((p + 1)); log "  dbt: ok - source freshness"
  else
    f=$((f + 1)); log "  dbt: not ok - source freshness"
  fi
  # The training set has one row per order: as many rows as raw.orders, not one more or less.
  local counts
  counts=$("$PGBIN/psql" -X -Atc "select (select count(*) from features.fraud_training_set) || ' ' || (select count(*) from raw.orders)" 2>>"$out")
  if [ -n "$counts" ] && [ "${counts% *}" = "${counts#* }" ]; then
    p=$((p + 1)); log "  dbt: ok - fraud_training_set has a row per order ($counts)"
  else
    f=$((f + 1)); log "  dbt: not ok - fraud_training_set rows vs raw.orders rows: ${counts:-query failed}"
  fi
  # The tests can fail: a duplicated order must make the unique test on staging fail.
  "$PGBIN/psql" -X -q -c "insert into raw.orders select * from raw.orders where order_id = 'o-1'" >>"$out" 2>&1
  if (cd "$ROOT/dbt" && "$ROOT/.venv/bin/dbt" test --profiles-dir . -s stg_raw__orders) >>"$out" 2>&1; then
    f=$((f + 1)); log "  dbt: not ok - a duplicate order id went unnoticed by dbt test"
  else
    p=$((p + 1)); log "  dbt: ok - dbt test catches a duplicate order id"
  fi
  record dbt "$p" "$f"
}

for s in "${SUITES[@]}"; do
  t0=$SECONDS
  log "test: running suite $s ..."
  case "$s" in
    unit|pgrx|regress|e2e|dbt) "suite_$s" ;;
    *) log "unknown suite $s (choose from: unit pgrx regress e2e dbt)"; record "$s" 0 1 ;;
  esac
  log "test: suite $s took $((SECONDS - t0))s"
done

read -r P F < <(awk '{ p += $2; f += $3 } END { print p + 0, f + 0 }' "$RESULTS")
log "test: all suites took $((SECONDS - t_all))s"
echo "$P passed, $F failed" | tee "$STATE/test-summary"
[ "$F" -eq 0 ] && [ "$P" -gt 0 ]
