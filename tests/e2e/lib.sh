# Helpers for tests/e2e/*.sh (sourced). Results are TAP-style lines: "ok - name" / "not ok - name: why".
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

fails=0
check() {  # check NAME ACTUAL EXPECTED
  if [ "$2" = "$3" ]; then
    echo "ok - $1"
  else
    echo "not ok - $1: got '$2', expected '$3'"
    fails=$((fails + 1))
  fi
}

q() { "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -c "$1"; }

# load_dump FILE: loads pulse-gen's --dump into table produced and defines the views
# produced_msgs (one row per message) and landed_msgs (the Kafka source of every landed row, over
# all raw tables and the CDC history). CSV with control characters as quote and delimiter keeps
# the JSON verbatim.
load_dump() {
  q "create table produced (line jsonb)"
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -c "\\copy produced from '$1' with (format csv, quote e'\\x01', delimiter e'\\x02')"
  q "create view produced_msgs as
     select line->>'topic' topic, (line->>'partition')::int part, (line->>'offset')::bigint off,
            line->>'family' family, line->>'key' key, (line->>'valid')::boolean valid,
            line->>'payload' payload, line->>'expected_code' code
       from produced"
  q "create view landed_msgs as
     select _topic topic, _partition part, _offset off from raw.orders
     union all select _topic, _partition, _offset from raw.clickstream
     union all select _topic, _partition, _offset from raw.payments
     union all select _topic, _partition, _offset from raw.inventory
     union all select _topic, _partition, _offset from raw.exposures
     union all select _topic, _partition, _offset from raw.cdc_changes"
}

# check_exact LABEL: what landed is exactly what was produced — every valid message once (by its
# topic, partition and offset), every malformed one as a dead letter with its code, orders equal
# to their payload field by field, and the CDC mirrors equal to the last change per key.
check_exact() {
  local valid="select topic, part, off from produced_msgs where valid and payload is not null"
  check "$1: no message landed twice" "$(q "select count(*) - count(distinct (topic, part, off)) from landed_msgs")" 0
  check "$1: every valid message landed" "$(q "select count(*) from ($valid except select * from landed_msgs) m")" 0
  check "$1: nothing landed that was not produced" "$(q "select count(*) from (select * from landed_msgs except $valid) m")" 0
  check "$1: every malformed message is a dead letter with its code" \
    "$(q "select count(*) from produced_msgs p where not valid and not exists (select from raw.dead_letters d
           where d.topic = p.topic and d.partition = p.part and d.offset = p.off and d.error_code = p.code)")" 0
  check "$1: no other dead letters" "$(q "select count(*) from raw.dead_letters")" \
    "$(q "select count(*) from produced_msgs where not valid")"
  check "$1: stored offsets cover every message" \
    "$(q "select sum(next_offset) from raw.ingest_offsets where consumer_group = '$GROUP'")" \
    "$(q "select count(*) from produced_msgs")"
  check "$1: orders equal their payloads" "$(q "
    with p as (select key, payload::jsonb j from produced_msgs where family = 'orders' and valid)
    select count(*) from (
      select key, j->>'order_id', (j->>'created_at')::timestamptz, (j->>'amount')::numeric, j->>'currency',
             (j->>'items')::int, j->>'card_fingerprint', j->>'billing_country', j->>'device' from p
      except
      select customer_id, order_id, created_at, amount, currency, items, card_fingerprint, billing_country, device
        from raw.orders) d")" 0
  local entity key
  for entity in customers products; do
    key=${entity%s}_id
    check "$1: raw.$entity equals the last change per key" "$(q "
      with c as (select payload::jsonb j from produced_msgs where family = 'cdc_$entity' and valid and payload is not null),
      last as (select distinct on (coalesce(j->'after'->>'$key', j->'before'->>'$key'))
                      coalesce(j->'after'->>'$key', j->'before'->>'$key') k, j->>'op' op, (j->'source'->>'lsn')::bigint lsn
                 from c order by 1, lsn desc)
      select count(*) from ((select k, op, lsn, op = 'd' from last)
                            except (select $key, _op, _lsn, _deleted from raw.$entity)) d")" 0
  done
}

# fresh_database NAME: drops and creates NAME and applies the migrations to it.
fresh_database() {
  "$PGBIN/dropdb" --force --if-exists -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres "$1"
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres "$1"
  PULSE_DATABASE_URL="postgresql://postgres@127.0.0.1:$PULSE_PGPORT/$1" \
    "$RELEASE_BIN/pulse-ingest" --log-format text migrate --dir "$ROOT/migrations"
}

# scenario NAME: a database pulse_NAME (fresh, migrated), a new topic prefix and consumer group,
# and a work directory .pulse/NAME; exports the settings psql, pulse-gen and pulse-ingest read.
scenario() {
  local run_id
  run_id="$(date +%s)$$"
  DB="pulse_$1" PREFIX="${1}_$run_id." GROUP="${1}_$run_id" WORK="$STATE/$1"
  rm -rf "$WORK"; mkdir -p "$WORK"
  export PGDATABASE=$DB PULSE_DATABASE_URL="postgresql://postgres@127.0.0.1:$PULSE_PGPORT/$DB"
  export PULSE_INGEST_GROUP=$GROUP PULSE_TOPIC_PREFIX=$PREFIX
  fresh_database "$DB"
}

# ingest_until_caught_up [TIMEOUT_SECS]: runs pulse-ingest (settings from the environment) until
# the consumer group has no lag, then stops it with SIGTERM.
ingest_until_caught_up() {
  "$RELEASE_BIN/pulse-ingest" run --batch-ms 50 -X session.timeout.ms=6000 >>"$WORK/ingest.log" 2>&1 &
  local pid=$!
  "$RELEASE_BIN/pulse-ingest" lag --wait --timeout-secs "${1:-300}" >/dev/null
  kill -TERM "$pid"; wait "$pid"
}

# calc EXPR: floating-point arithmetic for the benchmarks.
calc() { awk "BEGIN { print $1 }"; }

# A failed check must not leave ingesters or generators running into the next test.
trap 'kill -KILL $(jobs -p) 2>/dev/null || true' EXIT
