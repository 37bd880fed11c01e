#!/usr/bin/env bash
# Model rollout under load: a new champion is deployed while 8 clients score orders, and
#  - no scoring transaction fails, and every one leaves exactly one decision;
#  - every decision is of v1 or v2, both appear, none of v2 starts before the deploy began, and
#    every session switches once from v1 to v2: the switch is atomic at the deploy's commit;
#  - every decision's score equals the reference scorer (tests/models/pulse_model.py) on the
#    features it logged, with the export of the version it names (1e-9);
#  - an open session sees a deploy (and a rollback) on its next statement, without reconnecting;
#  - the same order scores to the same float8, digit for digit, in a new session.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"

PY="$ROOT/.venv-ml/bin/python"
CLIENTS=8
SECS=${E2E_ROLLOUT_SECS:-10}
scenario model_rollout
export PULSE_INGEST_FAMILIES=orders,payments,clickstream
export PGOPTIONS="-c client_min_messages=warning"
q "create extension pulse" >/dev/null
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f "$ROOT/sql/features.sql" >/dev/null
"$RELEASE_BIN/pulse-gen" --count 3000 --days 30 --seed 31 --quiet --families orders,payments,clickstream \
  --end "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >/dev/null
ingest_until_caught_up
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -f "$ROOT/sql/fraud_model.sql" >/dev/null
champion() { q "select string_agg(version::text, ',') from pulse.deployments
                 where model = 'fraud' and role = 'champion' and retired_at is null"; }
check "sql/fraud_model.sql deploys fraud v1 as champion" "$(champion)" 1

# v2: the same training rows with 10x the regularisation, so its scores differ from v1's.
v2=$(q "select train_model('fraud', training_sql, label, algorithm, params || '{\"alpha\": 10}')
          from pulse.models where name = 'fraud' and version = 1")
check "v2 trained from v1's rows with another alpha" "$v2" 2
check "v1 and v2 differ" "$(q "select model_export('fraud', 1) <> model_export('fraud', 2)")" t

# --- a deploy during load ---
q "create table rollout_orders as select (row_number() over (order by order_id) - 1)::int as k, order_id from raw.orders" >/dev/null
q "alter table rollout_orders add primary key (k)" >/dev/null
n=$(q "select count(*) from rollout_orders")
cat >"$WORK/score.sql" <<SQL
\\set k random(0, $n - 1)
select score_fraud(o) from raw.orders o where o.order_id = (select order_id from rollout_orders where k = :k);
SQL
started=$(q "select clock_timestamp()")
(cd "$WORK" && PGOPTIONS="$PGOPTIONS -c pulse.decision_log=on -c pulse.decision_sample_rate=1" \
  "$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j 2 -T "$SECS" -f "$WORK/score.sql" >"$WORK/pgbench.out" 2>&1
 echo $? >"$WORK/pgbench.rc") &
bench=$!
sleep "$(calc "$SECS * 0.4")"
# The deploy in autocommit, then the clock in the same session: that time is after the commit.
read -r committed < <("$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -c "select model_deploy('fraud', 2, 'champion')" \
                        -c "select clock_timestamp()" | tail -1)
wait "$bench"
ended=$(q "select clock_timestamp()")
cat "$WORK/pgbench.out" >>"$WORK/ingest.log"
deployed=$(q "select deployed_at from pulse.deployments where model = 'fraud' and version = 2 and role = 'champion'
               order by id desc limit 1")
processed=$(awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); print a[1]}' "$WORK/pgbench.out")
failed=$(awk -F': ' '/number of failed transactions/ {split($2, a, " "); print a[1]}' "$WORK/pgbench.out")
during="from pulse.decisions where model = 'fraud' and decided_at >= '$started' and decided_at <= '$ended'"

check "pgbench exited 0" "$(cat "$WORK/pgbench.rc")" 0
check "pgbench: no failed transactions" "${failed:-missing}" 0
check "pgbench: more than 1000 orders scored" "$([ "${processed:-0}" -gt 1000 ] && echo yes || echo "${processed:-none}")" yes
check "every scored transaction left one decision" "$(q "select count(*) $during")" "$processed"
check "every decision names its order (entity_key)" \
  "$(q "select count(*) $during and entity_key in (select order_id from rollout_orders)")" "$processed"
check "every decision is of v1 or v2" "$(q "select count(*) $during and version not in (1, 2)")" 0
check "both versions served during the run" "$(q "select string_agg(distinct version::text, ',') $during")" 1,2
check "v2 is the champion after the deploy" "$(champion)" 2
# Per session the switch is one-way: once a statement has seen v2, no later statement of that
# backend serves v1 (request_id is the backend pid << 32 | its call counter). decided_at cannot
# show this exactly: with -M prepared the snapshot is taken at Bind, the statement time at Execute.
check "every session switched once, from v1 to v2, never back" "$(q "
  select count(*) from (select request_id >> 32 as pid,
                               max(request_id & 4294967295) filter (where version = 1) as last_v1,
                               min(request_id & 4294967295) filter (where version = 2) as first_v2
                          $during group by 1) s
   where last_v1 > first_v2")" 0
check "no v1 decision started well after the deploy committed (2 s: a stale routing cache would show here)" \
  "$(q "select count(*) $during and version = 1 and decided_at > timestamptz '$committed' + interval '2 seconds'")" 0
check "no v2 decision started before the deploy began" \
  "$(q "select count(*) $during and version = 2 and decided_at < '$deployed'")" 0
echo "# $processed orders scored by $CLIENTS clients in $SECS s; $(q "select count(*) $during and version = 2") by v2"
echo "# deploy began $deployed, committed by $committed; v1 decisions in between:" \
  "$(q "select count(*) $during and version = 1 and decided_at > '$deployed'")"

# decided_at is the scoring statement's time: not the transaction's start, not its commit.
q "create table stamp (at timestamptz, score float8)" >/dev/null
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
begin;
select pg_sleep(0.3);
insert into stamp select statement_timestamp(), score_fraud(o) from raw.orders o
  where o.order_id = (select order_id from rollout_orders where k = 0);
select pg_sleep(0.3);
commit;
SQL
check "decided_at is the statement's time" "$(q "select count(*) from pulse.decisions d, stamp s
  where d.model = 'fraud' and d.decided_at >= s.at and d.decided_at < s.at + interval '0.2 s'
    and d.decided_at > '$ended'")" 1

# Every decision against the reference scorer, on the features it logged.
q "select model_export('fraud', 1)" >"$WORK/v1.json"
q "select model_export('fraud', 2)" >"$WORK/v2.json"
"$PGBIN/psql" -X -At -F $'\t' -v ON_ERROR_STOP=1 -c "select version, score, features $during" >"$WORK/decisions.tsv"
reference=$(cd "$ROOT" && "$PY" - "$WORK" <<'PY'
import json, sys
sys.path.insert(0, "tests/models")
from pulse_model import PulseModel
work = sys.argv[1]
models = {v: PulseModel.load(f"{work}/v{v}.json") for v in (1, 2)}
rows = {1: [], 2: []}
for line in open(f"{work}/decisions.tsv"):
    version, score, features = line.rstrip("\n").split("\t")
    rows[int(version)].append((float(score), json.loads(features)))
bad = n = 0
for v, rs in rows.items():
    if not rs:
        continue
    ref = models[v].score([f for _, f in rs])
    for (s, _), r in zip(rs, ref):
        n += 1
        bad += not abs(s - r) <= 1e-9
print(f"{bad} of {n}")
PY
)
check "every decision's score equals the reference scorer on its logged features" "${reference% of *}" 0
check "the reference compared every decision" "${reference#* of }" "$processed"

# --- an open session sees deploys on its next statement ---
q "select model_deploy('fraud', 1, 'champion')" >/dev/null
order="(select to_jsonb(o) from raw.orders o where o.order_id = (select order_id from rollout_orders where k = 1))"
seen=$("$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 <<SQL | paste -sd' '
select pg_backend_pid();
select score_fraud_explain($order)->>'version';
\! "$PGBIN/psql" -X -q -At -c "select model_deploy('fraud', 2, 'champion')" >/dev/null
select score_fraud_explain($order)->>'version';
\! "$PGBIN/psql" -X -q -At -c "select model_rollback('fraud')" >/dev/null
select score_fraud_explain($order)->>'version';
select pg_backend_pid();
SQL
)
read -r pid1 before after_deploy after_rollback pid2 <<<"$seen"
check "open session: v1 before the deploy" "$before" 1
check "open session: v2 on the next statement after the deploy" "$after_deploy" 2
check "open session: v1 on the next statement after the rollback" "$after_rollback" 1
check "open session: the same backend throughout" "$pid2" "$pid1"

# --- the same order, the same float8 in every session ---
scores="select string_agg(score_fraud(o)::text, ',' order by o.order_id) from raw.orders o
         where o.order_id in (select order_id from rollout_orders where k < 50)"
cold_a=$(q "$scores")
read -r cold_b warm_b < <("$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -c "$scores" -c "$scores" | paste -sd' ')
check "50 orders scored" "$(echo "$cold_a" | tr ',' '\n' | grep -c .)" 50
check "scores are identical in a new session" "$cold_b" "$cold_a"
check "scores are identical from the session's cache" "$warm_b" "$cold_a"

[ "$fails" -eq 0 ]
