#!/usr/bin/env bash
# Experiment benchmarks (make bench). In one run, on this machine:
#  1. assignment: ab_assign over BENCH_AB_UNITS units (default 10M) against the bucketing a user
#     writes by hand with the built-in hash, case when abs(hashtext(seed || unit)) % 100 < 50;
#     one core each (no parallel workers), best of 3; the scan alone is timed too, so the cost of
#     the expression itself is shown apart from reading the rows;
#  2. statistics: ab_stats(value, covariate) by variant over BENCH_AB_ROWS rows (default 10M),
#     serial against 2 parallel workers, best of 3, with the built-in aggregates a user would
#     otherwise write (count, avg, var_samp, covar_samp, regr_*) on the same plan for scale.
set -euo pipefail
. "$(dirname "$0")/../e2e/lib.sh"
. "$STATE/env"

UNITS=${BENCH_AB_UNITS:-10000000}
ROWS=${BENCH_AB_ROWS:-10000000}
export PGOPTIONS="-c client_min_messages=warning -c work_mem=256MB"
now() { date +%s.%N; }
# best_of N SQL [SETTINGS]: the fastest of N runs of SQL, in seconds.
best_of() {
  local best="" a b t i
  for i in $(seq "$1"); do
    a=$(now); q "$3 $2" >/dev/null; b=$(now)
    t=$(calc "$b - $a")
    if [ -z "$best" ] || [ "$(calc "$t < $best")" = 1 ]; then best=$t; fi
  done
  echo "$best"
}

scenario bench_experiments
q "create extension pulse" >/dev/null
q "create table units as select 'user-' || i as unit_id from generate_series(1, $UNITS) i" >/dev/null
q "create table metrics as
     select (array['control', 'treatment', 'sticky'])[1 + i % 3] as variant,
            x * 0.8 + random() * 10 + (i % 3) * 0.1 as value, x as covariate
       from (select i, 50 + random() * 20 as x from generate_series(1, $ROWS) i) s" >/dev/null
q "vacuum analyze units" >/dev/null
q "vacuum analyze metrics" >/dev/null
# Warm the buffer cache so neither side pays for reading the table first.
q "select count(*) from units" >/dev/null
q "select count(*) from metrics" >/dev/null

serial="set max_parallel_workers_per_gather = 0;"
parallel="set max_parallel_workers_per_gather = 2; set parallel_setup_cost = 0; set parallel_tuple_cost = 0;
          set min_parallel_table_scan_size = 0;"

# --- 1. assignment ---
scan=$(best_of 3 "select count(*) from units where unit_id is not null" "$serial")
builtin=$(best_of 3 "select count(*) from units
                      where case when abs(hashtext('exp-1' || unit_id)) % 100 < 50 then 'control' else 'treatment' end = 'treatment'" "$serial")
pulse=$(best_of 3 "select count(*) from units where ab_assign(unit_id, array['control', 'treatment'], seed => 'exp-1') = 'treatment'" "$serial")
weighted=$(best_of 3 "select count(*) from units
                       where ab_assign(unit_id, array['control', 'treatment', 'sticky'], array[0.5, 0.25, 0.25], 'exp-1', 0.9) = 'sticky'" "$serial")
share=$(q "select round(avg((ab_assign(unit_id, array['control', 'treatment'], seed => 'exp-1') = 'treatment')::int), 4) from units")

# --- 2. statistics ---
by_variant="select variant, ab_stats(value, covariate) from metrics group by variant"
builtin_stats="select variant, count(*), avg(value), var_samp(value), avg(covariate), var_samp(covariate),
                      covar_samp(value, covariate) from metrics group by variant"
plan=$(q "$parallel explain (costs off) $by_variant" | grep -cE 'Partial|Finalize' || true)
workers=$(q "$parallel explain (analyze, costs off) $by_variant" | grep -oE 'Workers Launched: [0-9]+' | head -1)
t_serial=$(best_of 3 "$by_variant" "$serial")
t_parallel=$(best_of 3 "$by_variant" "$parallel")
b_serial=$(best_of 3 "$builtin_stats" "$serial")
b_parallel=$(best_of 3 "$builtin_stats" "$parallel")
same=$("$PGBIN/psql" -X -Atq -v ON_ERROR_STOP=1 -c "
  create temp table a as select variant, (ab_stats_summary(ab_stats(value, covariate))).* from metrics group by variant;
  $parallel
  create temp table b as select variant, (ab_stats_summary(ab_stats(value, covariate))).* from metrics group by variant;
  select count(*) from a join b using (variant)
   where a.n = b.n and abs(a.mean - b.mean) <= 1e-12 * abs(a.mean) and abs(a.variance - b.variance) <= 1e-12 * a.variance
     and abs(a.covariance - b.covariance) <= 1e-10 * sqrt(a.variance * a.covariate_variance)")

printf '\n== experiment benchmark (%s, %s cores) ==\n' "$(date -u +%F)" "$(nproc)"
printf 'assignment    %d units, one core, best of 3 (treatment share %s)\n' "$UNITS" "$share"
printf '              scan alone:                                   %7.3f s\n' "$scan"
printf '              abs(hashtext(seed || unit)) %% 100 bucketing:  %7.3f s\n' "$builtin"
printf '              ab_assign, 2 variants, equal weights:         %7.3f s\n' "$pulse"
printf '              ab_assign, 3 variants, weights, coverage 0.9: %7.3f s\n' "$weighted"
printf '              ratio ab_assign / hashtext, whole query:      %7.2f   (target <= 1.5)\n' "$(calc "$pulse / $builtin")"
printf '              ratio, expression only (minus the scan):      %7.2f\n' "$(calc "($pulse - $scan) / ($builtin - $scan)")"
printf 'statistics    ab_stats(value, covariate) by 3 variants over %d rows, best of 3\n' "$ROWS"
printf '              plan: %s Partial/Finalize nodes, %s\n' "$plan" "$workers"
printf '              serial:                                       %7.3f s\n' "$t_serial"
printf '              2 parallel workers:                           %7.3f s\n' "$t_parallel"
printf '              speed-up:                                     %7.2f x (target >= 1.6)\n' "$(calc "$t_serial / $t_parallel")"
printf '              built-in count/avg/var_samp/covar_samp:       %7.3f s serial, %.3f s parallel\n' "$b_serial" "$b_parallel"
printf '              parallel result equals serial (variants):     %s of 3\n' "$same"
