#!/usr/bin/env bash
# make test: setup, then every suite (or those named: unit pgrx regress e2e dbt bi).
# Each suite reports passed/failed counts; the last line is "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/lib.sh"
SUITES=("$@")
[ ${#SUITES[@]} -eq 0 ] && SUITES=(unit pgrx regress e2e dbt bi)
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

# build_dbt_test_db LOG: (re)creates the database pulse_dbt_test with rows inserted in SQL
# (tests/dbt/seed.sql), a fraud model with its decisions and a drift monitor run
# (tests/dbt/seed_models.sql), then runs dbt build. Used by the dbt and bi suites; leaves
# PGDATABASE set to it. A database of its own, so the suites leave the demo's data alone; make demo
# and the e2e suite feed raw.* through the real broker and ingester.
build_dbt_test_db() {
  local out="$1"
  . "$STATE/env"
  export PGDATABASE=pulse_dbt_test
  "$PGBIN/dropdb" --if-exists -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres "$PGDATABASE"
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres "$PGDATABASE"
  {
    PULSE_DATABASE_URL="postgresql://postgres@127.0.0.1:$PULSE_PGPORT/$PGDATABASE" \
      "$RELEASE_BIN/pulse-ingest" --log-format text migrate --dir "$ROOT/migrations" &&
    # The feature store first: its triggers fill pulse.online_features as the rows below land.
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "create extension pulse" -f "$ROOT/sql/features.sql" >/dev/null &&
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f "$ROOT/tests/dbt/seed.sql" &&
    (cd "$ROOT" && "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f tests/dbt/seed_models.sql >/dev/null) &&
    cd "$ROOT/dbt" && "$ROOT/.venv/bin/dbt" build --profiles-dir .
  } >"$out" 2>&1
}

# A subshell: the suite's database and directory stay out of the suites after it.
suite_dbt() (
  "$ROOT/scripts/up.sh" >/dev/null || { record dbt 0 1; return; }
  local out="$STATE/test-dbt.log"
  build_dbt_test_db "$out"
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
  # Incremental models: a second landing, an incremental build, then a full refresh that must equal it.
  local line
  while IFS= read -r line; do
    log "  dbt: $line"
    case "$line" in ok*) p=$((p + 1)) ;; "not ok"*) f=$((f + 1)) ;; esac
  done < <(DBT_LOG="$STATE/test-dbt-incremental.log" bash "$ROOT/tests/dbt/full_vs_incremental.sh" 2>&1)
  # The tests can fail: a duplicated order must make the unique test on staging fail. The copy is
  # removed again, so the bi suite reads the same data as the marts.
  "$PGBIN/psql" -X -q -c "insert into raw.orders select * from raw.orders where order_id = 'o-1'" >>"$out" 2>&1
  local dup_out
  dup_out=$(cd "$ROOT/dbt" && "$ROOT/.venv/bin/dbt" test --profiles-dir . -s stg_raw__orders 2>&1)
  echo "$dup_out" >>"$out"
  if echo "$dup_out" | grep -qE 'FAIL 1 unique_stg_raw__orders_order_id'; then
    p=$((p + 1)); log "  dbt: ok - dbt test catches a duplicate order id"
  else
    f=$((f + 1)); log "  dbt: not ok - a duplicate order id went unnoticed by dbt test"
  fi
  "$PGBIN/psql" -X -q -c "delete from raw.orders o using (select tableoid, ctid from raw.orders where order_id = 'o-1'
                                                           order by ctid desc limit 1) d
                           where o.tableoid = d.tableoid and o.ctid = d.ctid" >>"$out" 2>&1
  record dbt "$p" "$f"
)

# The BI suite: a fresh Superset (its own metadata database superset_test and port) with the
# dashboards in bi/superset/ imported, reading pulse_dbt_test (built by suite_dbt, or here when it is
# missing) as the read-only role pulse_bi; tests/bi/check_bi.py checks it through Superset's API,
# SQL as pulse_bi and headless Chromium. Superset is stopped afterwards, also when a check fails.
suite_bi() {
  "$ROOT/scripts/up.sh" >/dev/null || { record bi 0 1; return; }
  . "$STATE/env"
  local out="$STATE/test-bi.log"
  if [ "$("$PGBIN/psql" -X -d pulse_dbt_test -Atc "select count(*) from pg_namespace where nspname = 'bi'" 2>/dev/null)" != 1 ]; then
    log "  bi: pulse_dbt_test has no schema bi: building it first (build_dbt_test_db)"
    (build_dbt_test_db "$STATE/test-bi-dbt.log") || { tail -30 "$STATE/test-bi-dbt.log" >&2; record bi 0 1; return; }
  fi
  (
    export PULSE_DB=pulse_dbt_test PULSE_BI_PORT="${PULSE_BI_TEST_PORT:-28089}" PULSE_BI_METADB=superset_test \
      PULSE_BI_FRESH=1 PULSE_BI_SKIP_UP=1
    trap '"$ROOT/scripts/bi.sh" stop' EXIT
    if ! "$ROOT/scripts/bi.sh" start >/dev/null; then
      echo "not ok - a fresh superset starts with bi/superset/ imported (logs in .pulse/bi/)"; exit 1
    fi
    echo "ok - a fresh superset starts with bi/superset/ imported"
    PULSE_BI_URL="http://127.0.0.1:$PULSE_BI_PORT" PULSE_BI_ADMIN_PASSWORD="$(cat "$STATE/bi/admin.password")" \
      PULSE_BI_PASSWORD_FILE="$STATE/bi/pulse_bi.password" PGPORT="$PULSE_PGPORT" \
      PULSE_BI_SCREENSHOTS="$STATE/bi/screenshots" "$ROOT/.venv-bi/bin/python" "$ROOT/tests/bi/check_bi.py"
  ) >"$out" 2>&1
  local rc=$? p f
  p=$(grep -c '^ok ' "$out"); f=$(grep -c '^not ok ' "$out")
  grep -E '^(ok|not ok) ' "$out" | sed 's/^/  bi: /' >&2
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; tail -30 "$out" >&2; fi
  record bi "$p" "$f"
}

for s in "${SUITES[@]}"; do
  t0=$SECONDS
  log "test: running suite $s ..."
  case "$s" in
    unit|pgrx|regress|e2e|dbt|bi) "suite_$s" ;;
    *) log "unknown suite $s (choose from: unit pgrx regress e2e dbt bi)"; record "$s" 0 1 ;;
  esac
  log "test: suite $s took $((SECONDS - t0))s"
done

read -r P F < <(awk '{ p += $2; f += $3 } END { print p + 0, f + 0 }' "$RESULTS")
log "test: all suites took $((SECONDS - t_all))s"
echo "$P passed, $F failed" | tee "$STATE/test-summary"
[ "$F" -eq 0 ] && [ "$P" -gt 0 ]
