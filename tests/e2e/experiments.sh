#!/usr/bin/env bash
# Experiment assignment, registry and exposure log, in a fresh database:
#  - GrowthBook compatibility through SQL (tests/experiments/check_assign.py): the SDK's test
#    cases, non-ASCII ids against the Python SDK's hash, ab_assign against getBucketRanges /
#    chooseVariation in Python, and variant shares over 200k units;
#  - the registry: ab_assign(experiment, unit) equals the IMMUTABLE ab_assign with the
#    experiment's settings; draft, not yet started and stopped experiments assign no one;
#    namespace and holdout;
#  - ab_expose under concurrency (pgbench, 8 clients racing on the same first exposures): one
#    row per unit, the assigned variant, idempotent afterwards; NULL and no row outside coverage;
#  - ab_report on a synthetic metric with a known effect (lift, p-values, Holm, SRM), and the SRM
#    flag on deliberately skewed exposures.
# No broker or ingester.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"
PY="$ROOT/.venv-ml/bin/python"

scenario experiments
q "create extension pulse" >/dev/null

# Its failures print "not ok" lines and exit 1; a crash may print none, so say so then.
out="$WORK/check_assign.out"
if ! "$PY" -u "$ROOT/tests/experiments/check_assign.py" 2>&1 | tee "$out"; then
  grep -q '^not ok ' "$out" || echo "not ok - check_assign.py exited non-zero without reporting a failure"
  fails=$((fails + 1))
fi

# ---- registry ------------------------------------------------------------------------------------
q "select ab_create_experiment('exp-conc', array['control', 'treatment', 'sticky'], array[0.5, 0.25, 0.25])" >/dev/null
check "exp-conc: ab_assign(experiment, unit) equals the IMMUTABLE ab_assign with its settings on 10000 units" \
  "$(q "select count(*) filter (where ab_assign('exp-conc', 'u' || i) is distinct from
                                      ab_assign('u' || i, array['control', 'treatment', 'sticky'], array[0.5, 0.25, 0.25], 'exp-conc'))
             || ' ' || count(*) filter (where ab_assign('exp-conc', 'u' || i) is null)
          from generate_series(1, 10000) i")" "0 0"

# Not running experiments assign no one, though the same settings would assign everyone.
q "select ab_create_experiment('exp-draft', array['a', 'b'], status => 'draft')" >/dev/null
q "select ab_create_experiment('exp-future', array['a', 'b'], start_at => now() + interval '1 day')" >/dev/null
q "select ab_create_experiment('exp-stopped', array['a', 'b'])" >/dev/null
check "exp-stopped assigns everyone while running" \
  "$(q "select count(ab_assign('exp-stopped', 'u' || i)) from generate_series(1, 1000) i")" 1000
q "select ab_set_experiment_status('exp-stopped', 'stopped')" >/dev/null
for e in exp-draft exp-future exp-stopped; do
  check "$e assigns no one (1000 units)" \
    "$(q "select count(ab_assign('$e', 'u' || i)) || ' ' || count(ab_assign('u' || i, array['a', 'b'], null, '$e'))
            from generate_series(1, 1000) i")" "0 1000"
done

# Namespace and holdout: in the experiment exactly when in the namespace range and not held out.
q "select ab_create_experiment('exp-ns', array['a', 'b'], namespace => 'checkout', namespace_start => 0.2,
                               namespace_end => 0.7, holdout => 0.1)" >/dev/null
check "exp-ns: assigned exactly the units in its namespace range and outside its holdout, as ab_assign" \
  "$(q "select count(*) filter (where ab_assign('exp-ns', 'u' || i) is distinct from
                                      case when ab_in_namespace('u' || i, 'checkout', 0.2, 0.7)
                                            and ab_hash('pulse.holdout:exp-ns', 'u' || i, 2) >= 0.1
                                           then ab_assign('u' || i, array['a', 'b'], null, 'exp-ns') end)
             || ' ' || (count(ab_assign('exp-ns', 'u' || i)) between 4000 and 5000)
          from generate_series(1, 10000) i")" "0 true"

# ---- ab_expose under concurrency -----------------------------------------------------------------
# 8 clients x 4000 transactions on 2000 units: many clients race on the same first exposures.
printf '%s\n' '\set u random(1, 2000)' "select ab_expose('exp-conc', 'u' || :u);" >"$WORK/expose.sql"
rc=0
"$PGBIN/pgbench" -n -c 8 -j 8 -t 4000 -f "$WORK/expose.sql" >"$WORK/pgbench.out" 2>&1 || rc=$?
check "pgbench: exit status 0" "$rc" 0
check "pgbench: 32000 of 32000 transactions processed" \
  "$(sed -n 's/^number of transactions actually processed: //p' "$WORK/pgbench.out")" "32000/32000"
check "pgbench: 0 failed transactions" \
  "$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/pgbench.out")" 0
check "pgbench: no errors in its output" "$(grep -ci 'error' "$WORK/pgbench.out" || true)" 0
exposures="select unit_id, variant, exposed_at from pulse.exposures where experiment = 'exp-conc'"
check "exposures: one row per unit" "$(q "select count(*) - count(distinct unit_id) from ($exposures) x")" 0
check "exposures: every row has the unit's assigned variant" \
  "$(q "select count(*) from ($exposures) x where variant is distinct from ab_assign('exp-conc', unit_id)")" 0
check "exposures: only the units called (u1 .. u2000)" \
  "$(q "select count(*) from ($exposures) x where unit_id not in (select 'u' || i from generate_series(1, 2000) i)")" 0
check "exposures: between 1900 and 2000 units (nearly all hit)" \
  "$(q "select count(*) between 1900 and 2000 from ($exposures) x")" t
check "exposures: all three variants recorded" "$(q "select string_agg(distinct variant, ',') from ($exposures) x")" \
  "control,sticky,treatment"

# Exposing every unit again returns the recorded variant and writes nothing for the units already
# there (a unit pgbench happened to miss, odds ~2e-4, is recorded now and counted apart).
q "create table exposed_before as $exposures" >/dev/null
checksum="select md5(string_agg(x.unit_id || '|' || x.exposed_at::text, ',' order by x.unit_id))
            from pulse.exposures x join exposed_before b using (unit_id) where x.experiment = 'exp-conc'"
before_sum=$(q "$checksum")
before_n=$(q "select count(*) from exposed_before")
check "ab_expose again for all 2000 units returns the recorded variant" \
  "$(q "select count(*) from generate_series(1, 2000) i left join exposed_before b on b.unit_id = 'u' || i
         where ab_expose('exp-conc', 'u' || i) is distinct from coalesce(b.variant, ab_assign('exp-conc', 'u' || i))")" 0
check "ab_expose again inserts nothing for exposed units (row count)" \
  "$(q "select count(*) from pulse.exposures where experiment = 'exp-conc'")" \
  "$(q "select $before_n + count(*) from generate_series(1, 2000) i
         where 'u' || i not in (select unit_id from exposed_before)")"
check "ab_expose again leaves exposed_at unchanged (checksum of unit_id, exposed_at)" "$(q "$checksum")" "$before_sum"

# Outside coverage: NULL and no row.
q "select ab_create_experiment('exp-cov', array['a', 'b'], coverage => 0.1)" >/dev/null
q "create table outside as select 'c' || i as unit_id from generate_series(1, 1000) i where ab_assign('exp-cov', 'c' || i) is null" >/dev/null
check "exp-cov: most units are outside its 10% coverage" "$(q "select count(*) between 850 and 950 from outside")" t
check "ab_expose outside coverage returns NULL" \
  "$(q "select count(*) filter (where ab_expose('exp-cov', unit_id) is not null) from outside")" 0
check "ab_expose outside coverage writes nothing" "$(q "select count(*) from pulse.exposures where experiment = 'exp-cov'")" 0
check "ab_expose inside coverage records the unit" \
  "$(q "select count(*) filter (where ab_expose('exp-cov', 'c' || i) is not distinct from ab_assign('exp-cov', 'c' || i))
          from generate_series(1, 1000) i") $(q "select count(*) from pulse.exposures where experiment = 'exp-cov'")" \
  "1000 $(q "select 1000 - count(*) from outside")"

# ---- ab_report -------------------------------------------------------------------------------------
# 6000 units of exp-conc (u1 .. u2000 already exposed above); the metric is 1, +0.5 for sticky,
# plus deterministic noise uniform in [-0.5, 0.5) independent of the assignment (another seed).
check "ab_expose of 6000 units of exp-conc" \
  "$(q "select count(ab_expose('exp-conc', 'u' || i)) from generate_series(1, 6000) i") $(q "select count(*) from pulse.exposures where experiment = 'exp-conc'")" \
  "6000 6000"
metric() {  # metric TREATMENT_EFFECT STICKY_EFFECT
  echo "select 'u' || i as unit_id,
               1 + case ab_assign('exp-conc', 'u' || i) when 'treatment' then $1 when 'sticky' then $2 else 0 end
                 + ab_hash('metric-noise', 'u' || i) - 0.5 as value
          from generate_series(1, 6000) i"
}
q "create table report as select * from ab_report('exp-conc', \$m\$$(metric 0 0.5)\$m\$) with ordinality r" >/dev/null
check "ab_report: 3 rows in variant order, control first" \
  "$(q "select string_agg(variant || ':' || is_control, ',' order by ordinality) from report")" \
  "control:true,treatment:false,sticky:false"
check "ab_report: units add up to 6000" "$(q "select sum(units) from report")" 6000
check "ab_report: the control row has NULL lift and p-value" \
  "$(q "select lift is null and p_value is null and p_value_holm is null from report where variant = 'control'")" t
check "ab_report: sticky p < 0.001, lift within 0.05 of 0.5" \
  "$(q "select p_value < 0.001 and abs(lift - 0.5) < 0.05 from report where variant = 'sticky'")" t
check "ab_report: treatment (no effect) p > 0.001, lift within 0.05 of 0" \
  "$(q "select p_value > 0.001 and abs(lift) < 0.05 from report where variant = 'treatment'")" t
check "ab_report: p_value_holm >= p_value for each treatment" \
  "$(q "select count(*) from report where not is_control and not p_value_holm >= p_value")" 0
check "ab_report: no SRM flagged for ab_expose's assignments" \
  "$(q "select bool_or(srm_flag) || ' ' || (min(srm_p_value) >= 0.001) from report")" "false true"
# Holm step-down over the m = 2 treatments: sorted p(1) <= p(2), adjusted min(1, running max of
# (m - k + 1) * p(k)). Prints the treatments, the mismatches, and whether the running max raised
# the larger p-value (2 p(1) > p(2)).
holm() {
  q "with t as (select variant, p_value, p_value_holm, row_number() over (order by p_value) k from $1 where not is_control),
          h as (select *, least(1, max((2 - k + 1) * p_value) over (order by k)) holm from t)
     select count(*) || ' ' || count(*) filter (where abs(p_value_holm - holm) > 1e-15)
            || ' ' || bool_or(k = 2 and p_value_holm > p_value) from h"
}
check "ab_report: p_value_holm equals the Holm step-down over the 2 treatments" "$(holm report)" "2 0 false"
# Small effects (+0.010 treatment, +0.020 sticky): p 0.059 and 0.077, where the step-down's running
# max sets the larger one's adjusted p-value to 2 * 0.059.
q "create table report_small as select * from ab_report('exp-conc', \$m\$$(metric 0.01 0.02)\$m\$)" >/dev/null
check "ab_report (small effects): p_value_holm equals the Holm step-down, the running max applied" \
  "$(holm report_small) $(q "select bool_and(p_value between 0.001 and 0.2) from report_small where not is_control")" "2 0 true t"

# Skewed exposures (inserted directly): 60% control against 40% treatment in a 50/50 experiment.
q "select ab_create_experiment('exp-srm', array['control', 'treatment'])" >/dev/null
q "insert into pulse.exposures (experiment, unit_id, variant)
   select 'exp-srm', 's' || i, case when i <= 3000 then 'control' else 'treatment' end from generate_series(1, 5000) i" >/dev/null
check "ab_report: 3000 control vs 2000 treatment in a 50/50 experiment flags SRM" \
  "$(q "select string_agg(units || ':' || srm_flag, ',' order by is_control desc) || ' ' || (max(srm_p_value) < 0.001)
          from ab_report('exp-srm', \$m\$select 's' || i as unit_id, ab_hash('metric-noise', 's' || i) as value
                                        from generate_series(1, 5000) i\$m\$)")" "3000:true,2000:true true"

[ "$fails" -eq 0 ]
