#!/usr/bin/env bash
# Drift end to end on the generator's orders, through the real broker and ingester:
#  - pulse-gen --shift-days injects a known drift (amounts x1.5, a mobile device mix) into the last
#    days; drift_report flags exactly amount and device, and nothing in two undrifted windows;
#  - a monitor stores the reference profiles, each run stores the window's profiles, results and
#    alerts; the alert history view sums them; refreshing the reference and dropping work;
#  - with pg_cron preloaded (the stack's database), a monitor with a schedule becomes a cron job
#    that really runs it, and dropping the monitor unschedules it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"

# pg_cron runs jobs in cron.database_name only: the stack's database. Schedule first, check last,
# so the minute it may take to fire overlaps with the rest of the test.
CRON_DB=$PULSE_DB
cron_q() { PGDATABASE=$CRON_DB q "$1"; }
cron=$(cron_q "select count(*) from pg_extension where extname = 'pg_cron'")
if [ "$cron" = 1 ]; then
  cron_q "select drift_monitor_drop(name) from pulse.monitors where name = 'e2e-cron'" >/dev/null
  cron_q "select drift_monitor_create('e2e-cron', 'select g::float8 x from generate_series(1, 100) g',
                                      'select g::float8 + 50 x from generate_series(1, 100) g', schedule => '* * * * *')" >/dev/null
  started=$(date +%s)
fi

scenario drift
export PULSE_INGEST_FAMILIES=orders
q "create extension pulse" >/dev/null
end=$(date -u +%Y-%m-%dT%H:00:00Z)
"$RELEASE_BIN/pulse-gen" --count "${E2E_DRIFT_ORDERS:-20000}" --days 7 --shift-days 2 --seed 5 --quiet \
  --families orders --end "$end" >/dev/null
ingest_until_caught_up 600
cut="timestamptz '$end' - interval '2 days'"
cols="amount, items, currency, payment_method, device, ip_country, shipping_country, billing_country, email_domain"

report() {  # report REFERENCE_WHERE CURRENT_WHERE: the drifted columns, comma-separated
  q "select coalesce(string_agg(column_name, ',' order by column_name), '-')
       from drift_report(\$q\$select $cols from raw.orders where $1\$q\$, \$q\$select $cols from raw.orders where $2\$q\$)
      where drifted"
}
check "orders on both sides of the shift" \
  "$(q "select count(*) filter (where created_at < $cut) > 10000 and count(*) filter (where created_at >= $cut) > 4000 from raw.orders")" t
check "drift_report flags exactly the shifted columns (amount x1.5, device mix)" \
  "$(report "created_at < $cut" "created_at >= $cut")" "amount,device"
check "no drift between two windows before the shift (days 1-2 vs 3-5)" \
  "$(report "created_at < $cut - interval '3 days'" "created_at >= $cut - interval '3 days' and created_at < $cut")" "-"
check "every column is tested with Evidently's choice for its kind and size" "$(q "
  select string_agg(column_name || ':' || test, ',' order by column_name)
    from drift_report(\$q\$select $cols from raw.orders where created_at < $cut\$q\$,
                      \$q\$select $cols from raw.orders where created_at >= $cut\$q\$)")" \
  "amount:wasserstein,billing_country:js,currency:js,device:js,email_domain:js,ip_country:js,items:wasserstein,payment_method:js,shipping_country:js"
check "small windows get the p-value tests (ks, chi2) and still find the shift" "$(q "
  select string_agg(column_name || ':' || test || ':' || drifted, ',' order by column_name)
    from drift_report(\$q\$select amount, device from raw.orders where created_at < $cut order by order_id limit 800\$q\$,
                      \$q\$select amount, device from raw.orders where created_at >= $cut order by order_id limit 800\$q\$)")" \
  "amount:ks:true,device:chi2:true"

# A monitor: reference = the days before the shift, current window = the shifted days.
q "select drift_monitor_create('orders', \$q\$select $cols from raw.orders where created_at < $cut\$q\$,
                               \$q\$select $cols from raw.orders where created_at >= $cut\$q\$)" >/dev/null
check "the monitor stored one reference profile per column" \
  "$(q "select count(*) from pulse.drift_profiles where monitor = 'orders' and role = 'reference'")" 9
check "a run flags amount and device" \
  "$(q "select string_agg(column_name, ',' order by column_name) from drift_monitor_run('orders') where drifted")" "amount,device"
q "select count(*) from drift_monitor_run('orders')" >/dev/null
check "two runs: 18 results, 4 alerts, 18 current profiles, runs record their counts" "$(q "
  select (select count(*) from pulse.drift_results) || ',' || (select count(*) from pulse.drift_alerts) || ',' ||
         (select count(*) from pulse.drift_profiles where role = 'current') || ',' ||
         (select string_agg(columns || '/' || drifted, ' ' order by run_id) from pulse.drift_runs)")" "18,4,18,9/2 9/2"
check "the alert history counts runs and alerts per column and day" "$(q "
  select string_agg(column_name || ':' || runs || ':' || alerts, ',' order by column_name)
    from pulse.drift_alert_history where monitor = 'orders' and column_name in ('amount', 'items')")" "amount:2:2,items:2:0"
check "the stored reference profiles equal a fresh profile of the reference query" "$(q "
  select bool_and(p.profile::text = q.profile::text)
    from pulse.drift_profiles p
    join drift_profile_query(\$q\$select $cols from raw.orders where created_at < $cut\$q\$) q using (column_name)
   where p.monitor = 'orders' and p.role = 'reference'")" t
check "daily current profiles roll up with drift_profile_merge to the whole window" "$(q "
  select (select drift_profile_merge(p)::text::jsonb - 'mean' - 'm2'
            from (select drift_profile(amount) p from raw.orders where created_at >= $cut group by created_at::date) d)
       = (select drift_profile(amount)::text::jsonb - 'mean' - 'm2' from raw.orders where created_at >= $cut)")" t
q "update pulse.monitors set reference_sql = \$q\$select $cols from raw.orders where created_at >= $cut\$q\$ where name = 'orders'" >/dev/null
q "select drift_monitor_refresh_reference('orders')" >/dev/null
check "after refreshing the reference to the new normal, nothing drifts" \
  "$(q "select count(*) from drift_monitor_run('orders') where drifted")" 0
q "select drift_monitor_drop('orders')" >/dev/null
check "dropping a monitor removes its profiles, runs, results and alerts" "$(q "
  select (select count(*) from pulse.drift_profiles) + (select count(*) from pulse.drift_runs) +
         (select count(*) from pulse.drift_results) + (select count(*) from pulse.drift_alerts)")" 0
check "an empty current window is an error naming the column, and writes nothing" "$(q "
  select drift_monitor_create('empty', 'select amount from raw.orders', 'select amount from raw.orders where false')" >/dev/null
  "$PGBIN/psql" -X -At -c "select drift_monitor_run('empty')" 2>&1 | head -1)|$(q "select count(*) from pulse.drift_runs")" \
  'ERROR:  column "amount": the current profile has no values|0'

if [ "$cron" = 1 ]; then
  check "pg_cron job pulse-drift:e2e-cron runs drift_monitor_run every minute" \
    "$(cron_q "select schedule || ' | ' || command from cron.job where jobname = 'pulse-drift:e2e-cron'")" \
    "* * * * * | select count(*) from public.drift_monitor_run('e2e-cron')"
  # pg_cron fires at the start of each minute: at most ~60 s after scheduling, plus the run.
  deadline=$((started + 90))
  while [ "$(cron_q "select count(*) from pulse.drift_runs where monitor = 'e2e-cron'")" = 0 ] && [ "$(date +%s)" -lt $deadline ]; do
    sleep 2
  done
  check "pg_cron ran the monitor and it raised its alert" \
    "$(cron_q "select count(*) > 0 from pulse.drift_alerts where monitor = 'e2e-cron' and column_name = 'x'")" t
  cron_q "select drift_monitor_drop('e2e-cron')" >/dev/null
  check "dropping the monitor unschedules its pg_cron job" \
    "$(cron_q "select count(*) from cron.job where jobname = 'pulse-drift:e2e-cron'")" 0
else
  echo "not ok - pg_cron is not installed in $CRON_DB (scripts/setup.sh installs postgresql-$PG_MAJOR-cron)"
  fails=$((fails + 1))
fi

[ "$fails" -eq 0 ]
