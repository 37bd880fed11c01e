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

# load_produced FILE: loads pulse-gen's --dump into table e2e_produced and exposes the valid
# events as view e2e_expected, typed like raw.orders. CSV with control characters as quote and
# delimiter keeps the JSON verbatim.
load_produced() {
  q "create table e2e_produced (line jsonb)"
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -c "\\copy e2e_produced from '$1' with (format csv, quote e'\\x01', delimiter e'\\x02')"
  q "create view e2e_expected as
     select line->>'key' as key, p->>'order_id' as order_id, p->>'customer_id' as customer_id,
            (p->>'created_at')::timestamptz as created_at, (p->>'amount')::numeric as amount,
            p->>'currency' as currency, (p->>'items')::int as items, p->>'payment_method' as payment_method,
            p->>'card_fingerprint' as card_fingerprint, p->>'ip_country' as ip_country,
            p->>'shipping_country' as shipping_country, p->>'billing_country' as billing_country,
            p->>'device' as device, p->>'email_domain' as email_domain, p as payload
       from e2e_produced, lateral (select (line->>'payload')::jsonb) j(p)
      where (line->>'valid')::boolean"
}

# fresh_database NAME: drops and creates NAME and applies the migrations to it.
fresh_database() {
  "$PGBIN/dropdb" --if-exists -h 127.0.0.1 -p "$PULSE_PGPORT" -U postgres "$1" 2>/dev/null
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
