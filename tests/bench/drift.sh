#!/usr/bin/env bash
# Drift benchmark (make bench). In one run, on this machine:
#  1. report: drift_report over a reference and a current table of BENCH_DRIFT_ROWS rows each
#     (default 1M) and BENCH_DRIFT_COLS float8 columns (default 20), the first BENCH_DRIFT_SHIFTED
#     (default 5) shifted by half a standard deviation in the current table, against Evidently's
#     DataDriftPreset on the same rows (exported with COPY, read with pandas; loading not timed).
#     Pulse: best of 3 with 2 parallel workers allowed, and serial; the monitor path (the
#     reference's profiles stored once, each run profiles the current table and tests it
#     against them), bare and through drift_monitor_run. Evidently: best of
#     BENCH_DRIFT_EVIDENTLY_RUNS (default 1; a run takes about 2 minutes at 1M x 20 here), on
#     BENCH_DRIFT_EVIDENTLY_ROWS rows (default: all; when fewer, Pulse is also timed on those
#     rows and Evidently's time is extrapolated per row to the full size, and printed as such).
#     Both tools' per-column verdicts are compared with each other and with the shifted columns;
#  2. profile build: drift_profile(x) over BENCH_DRIFT_PROFILE_ROWS rows of one float8 column
#     (default 10M), serial against 2 parallel workers, best of 3, with count/avg/var_samp/min/max
#     on the same plans for scale, and whether the parallel profile equals the serial one;
#  3. profile size: pg_column_size and text length of drift_profile(x) over the first 10k, 100k,
#     1M and BENCH_DRIFT_PROFILE_ROWS rows (bounded: at most 4096 buckets whatever the rows).
# Times are printed, never asserted; an error fails the benchmark.
set -euo pipefail
shopt -s inherit_errexit  # a failing query inside $(...) fails the benchmark
. "$(dirname "$0")/../e2e/lib.sh"
. "$STATE/env"

ROWS=${BENCH_DRIFT_ROWS:-1000000}
COLS=${BENCH_DRIFT_COLS:-20}
SHIFTED=${BENCH_DRIFT_SHIFTED:-5}
EV_ROWS=${BENCH_DRIFT_EVIDENTLY_ROWS:-$ROWS}
EV_RUNS=${BENCH_DRIFT_EVIDENTLY_RUNS:-1}
PROFILE_ROWS=${BENCH_DRIFT_PROFILE_ROWS:-10000000}
PY="$ROOT/.venv-bench/bin/python"
HERE="$(cd "$(dirname "$0")" && pwd)"
export PGOPTIONS="-c client_min_messages=warning -c work_mem=256MB"
[ -x "$PY" ] || die "no .venv-bench: run PULSE_SETUP_BENCH=1 scripts/setup.sh"
[ "$SHIFTED" -le "$COLS" ] && [ "$EV_ROWS" -le "$ROWS" ] \
  || die "BENCH_DRIFT_SHIFTED must be <= BENCH_DRIFT_COLS and BENCH_DRIFT_EVIDENTLY_ROWS <= BENCH_DRIFT_ROWS"
now() { date +%s.%N; }
# qs SQL: q without the command tags (SET) that settings in front of a query would print.
qs() { "$PGBIN/psql" -X -Atq -v ON_ERROR_STOP=1 -c "$1"; }
# best_of N SQL [SETTINGS]: the fastest of N runs of SQL, in seconds.
best_of() {
  local best="" a b t i
  for i in $(seq "$1"); do
    a=$(now); q "$3 $2" >/dev/null || exit 1; b=$(now)
    t=$(calc "$b - $a")
    if [ -z "$best" ] || [ "$(calc "$t < $best")" = 1 ]; then best=$t; fi
  done
  echo "$best"
}

serial="set max_parallel_workers_per_gather = 0;"
# The report as a user runs it: parallel workers allowed, the planner's own costs.
allowed="set max_parallel_workers_per_gather = 2;"
# The profile build: 2 workers forced.
parallel="set max_parallel_workers_per_gather = 2; set parallel_setup_cost = 0; set parallel_tuple_cost = 0;
          set min_parallel_table_scan_size = 0;"

scenario bench_drift
q "create extension pulse" >/dev/null

# --- data: one seeded generator, four shapes of column ---
# Column k (c01, c02, ...) is 10k + k * b + shift, b a standardised variable (mean 0, sd 1) by
# k mod 4: a normal (Box-Muller), a uniform, an exponential, and a normal rounded to 0.01 (about
# 800 distinct values: a profile small enough to be exact). The current table draws from another
# seed; its first SHIFTED columns move by half a standard deviation (shift = 0.5 * k).
normal="sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())"
columns() {  # columns SHIFT: the select list, SHIFT (0 or 1) applied to the first SHIFTED columns
  local k b list=""
  for k in $(seq "$COLS"); do
    case $((k % 4)) in
      0) b="$normal" ;;
      1) b="(random() - 0.5) * sqrt(12)" ;;
      2) b="(-ln(1 - random()) - 1)" ;;
      3) b="round(($normal) * 100) / 100" ;;
    esac
    list+="${list:+, }$((10 * k)) + $k * ($b + $([ "$1" = 1 ] && [ "$k" -le "$SHIFTED" ] && echo 0.5 || echo 0))::float8 as c$(printf %02d "$k")"
  done
  echo "$list"
}
# setseed and the insert in one session; random() is parallel restricted, so the scan is serial
# and the rows are the same on every run.
q "select setseed(0.1); create table bench_drift_ref as select $(columns 0) from generate_series(1, $ROWS) i" >/dev/null
q "select setseed(0.2); create table bench_drift_cur as select $(columns 1) from generate_series(1, $ROWS) i" >/dev/null
q "vacuum analyze bench_drift_ref" >/dev/null
q "vacuum analyze bench_drift_cur" >/dev/null
q "select count(*) from bench_drift_ref" >/dev/null
q "select count(*) from bench_drift_cur" >/dev/null
expected="array(select format('c%s', lpad(k::text, 2, '0')) from generate_series(1, $SHIFTED) k)"

# --- 1. drift report: Pulse ---
ref_sql="select * from bench_drift_ref"
cur_sql="select * from bench_drift_cur"
report="select * from drift_report('$ref_sql', '$cur_sql')"
t_report=$(best_of 3 "$report" "$allowed")
t_report_serial=$(best_of 3 "$report" "$serial")
q "$allowed create table drift_pulse as $report" >/dev/null
# The monitor path: the reference profiled once and stored; a run profiles the current table
# and tests each column against the stored profile.
t_ref_profile=$(best_of 1 "create table drift_ref_profiles as select * from drift_profile_query('$ref_sql')" "$allowed")
monitor="select c.column_name, t.* from drift_profile_query('$cur_sql') c join drift_ref_profiles r using (column_name),
                lateral drift_test(r.profile, c.profile) t"
t_monitor=$(best_of 3 "$monitor" "$allowed")
monitor_same=$(qs "$allowed select count(*) from ($monitor) m join drift_pulse p using (column_name)
                   where m.test = p.test and m.drifted = p.drifted
                     and abs(m.statistic - p.statistic) <= 1e-12 + 1e-9 * abs(p.statistic)")
q "select drift_monitor_create('bench_drift', '$ref_sql', '$cur_sql')" >/dev/null
t_monitor_run=$(best_of 3 "select * from drift_monitor_run('bench_drift')" "$allowed")
if [ "$EV_ROWS" -lt "$ROWS" ]; then
  t_report_ev=$(best_of 3 "select * from drift_report('$ref_sql limit $EV_ROWS', '$cur_sql limit $EV_ROWS')" "$allowed")
  ev_limit="limit $EV_ROWS"
else
  t_report_ev=$t_report
  ev_limit=""
fi

# --- 1. drift report: Evidently, on the same rows ---
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "\\copy (select * from bench_drift_ref $ev_limit) to '$WORK/ref.csv' with (format csv, header)"
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "\\copy (select * from bench_drift_cur $ev_limit) to '$WORK/cur.csv' with (format csv, header)"
r=$("$PY" "$HERE/drift_evidently.py" --ref "$WORK/ref.csv" --cur "$WORK/cur.csv" --out "$WORK/evidently.tsv" \
      --runs "$EV_RUNS" 2>>"$WORK/evidently.log") || { cat "$WORK/evidently.log" >&2; die "Evidently failed"; }
read -r t_ev t_ev_load ev_version ev_rows ev_cols <<<"$r"
[ "${BENCH_DRIFT_KEEP_CSV:-0}" = 1 ] || rm -f "$WORK/ref.csv" "$WORK/cur.csv"
q "create table drift_evidently (column_name text, method text, statistic float8, threshold float8, drifted boolean)" >/dev/null
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c "\\copy drift_evidently from '$WORK/evidently.tsv'"

# Verdicts: how many columns each flags, whether the sets agree, and whether they are the
# shifted columns; the tests each chose, and how far apart the statistics are where both ran
# the normed Wasserstein distance (Pulse's is computed from the profiles' buckets).
verdicts=$(q "
  select (select count(*) from drift_pulse where drifted),
         (select count(*) from drift_evidently where drifted),
         (select count(*) from drift_pulse p full join drift_evidently e using (column_name)
           where p.drifted is distinct from e.drifted),
         (select case when coalesce(array_agg(column_name order by column_name), '{}') = $expected then 'yes' else 'NO' end
            from drift_pulse where drifted),
         (select case when coalesce(array_agg(column_name order by column_name), '{}') = $expected then 'yes' else 'NO' end
            from drift_evidently where drifted),
         (select string_agg(test || ' x' || n, ', ') from (select test, count(*) n from drift_pulse group by 1 order by 1) t),
         (select string_agg(method || ' x' || n, ', ') from (select method, count(*) n from drift_evidently group by 1 order by 1) t),
         (select count(*) from drift_pulse p join drift_evidently e using (column_name)
           where p.test = 'wasserstein' and e.method like 'Wasserstein%'),
         (select coalesce(trim(to_char(max(abs(p.statistic - e.statistic)), '9.9EEEE')), 'n/a') from drift_pulse p
            join drift_evidently e using (column_name) where p.test = 'wasserstein' and e.method like 'Wasserstein%')")
IFS='|' read -r p_flagged e_flagged disagree p_expected e_expected p_tests e_methods w_cols w_diff <<<"$verdicts"
n_cols=$(q "select count(*) from drift_pulse")

# --- 2. profile build, serial against 2 parallel workers ---
q "select setseed(0.3); create table bench_drift_x as select ($normal)::float8 as x from generate_series(1, $PROFILE_ROWS) i" >/dev/null
q "alter table bench_drift_x set (parallel_workers = 2)" >/dev/null
q "vacuum analyze bench_drift_x" >/dev/null
q "select count(*) from bench_drift_x" >/dev/null
build="select drift_profile(x) from bench_drift_x"
builtin="select count(*), avg(x), var_samp(x), min(x), max(x) from bench_drift_x"
explain=$(qs "$parallel explain (costs off) $build")
plan=$(grep -cE 'Partial|Finalize' <<<"$explain" || true)
explain=$(qs "$parallel explain (analyze, costs off) $build")
workers=$(grep -oE 'Workers Launched: [0-9]+' <<<"$explain" | head -1 || true)
workers=${workers:-Workers Launched: none (no Gather)}
explain=$(qs "$serial explain (costs off) $build")
serial_plan=$(grep -cE 'Gather' <<<"$explain" || true)
t_build_serial=$(best_of 3 "$build" "$serial")
t_build_parallel=$(best_of 3 "$build" "$parallel")
t_builtin_serial=$(best_of 3 "$builtin" "$serial")
t_builtin_parallel=$(best_of 3 "$builtin" "$parallel")
# The level and the buckets depend only on the values, so the parallel profile equals the
# serial one bucket for bucket; mean and m2 may differ in the last bits (combined in another order).
same=$(qs "
  $serial create temp table a as select drift_profile(x)::text::jsonb p from bench_drift_x;
  $parallel create temp table b as select drift_profile(x)::text::jsonb p from bench_drift_x;
  select case when (a.p - 'mean' - 'm2') = (b.p - 'mean' - 'm2') then 'yes' else 'NO' end
         || format(' (level %s, %s buckets; mean differs by %s, m2 by %s relative)', a.p->>'level',
                   jsonb_array_length(a.p->'buckets'),
                   trim(to_char(abs((a.p->>'mean')::float8 - (b.p->>'mean')::float8), '9.9EEEE')),
                   trim(to_char(abs((a.p->>'m2')::float8 - (b.p->>'m2')::float8) / nullif((a.p->>'m2')::float8, 0), '9.9EEEE')))
    from a, b")

# --- 3. profile size over the first N rows ---
sizes=()
for n in 10000 100000 1000000 "$PROFILE_ROWS"; do
  [ "$n" -le "$PROFILE_ROWS" ] || continue
  case " ${sizes[*]:-} " in *" $n|"*) continue ;; esac
  size=$(qs "$serial select pg_column_size(p), length(p::text), drift_summary(p)->>'level', drift_summary(p)->>'buckets'
              from (select drift_profile(x) p from (select x from bench_drift_x limit $n) s) s")
  sizes+=("$n|$size")
done

# --- report ---
line() { printf '              %-50s %9.3f s%s\n' "$1" "$2" "${3:+   $3}"; }
ratio() { printf '              %-50s %9.1f x%s\n' "$1" "$2" "${3:+   $3}"; }
printf '\n== drift benchmark (%s, %s cores) ==\n' "$(date -u +%F)" "$(nproc)"
printf 'report      %d rows x %d float8 columns, reference and current; %d columns shifted by 0.5 sd in the current\n' \
  "$ROWS" "$COLS" "$SHIFTED"
printf '            Pulse, best of 3 (%.1f M values/s with workers allowed):\n' "$(calc "2 * $ROWS * $COLS / $t_report / 1e6")"
line "drift_report, 2 workers allowed:" "$t_report"
line "drift_report, serial:" "$t_report_serial"
line "monitor: reference profiled once (stored):" "$t_ref_profile" "(best of 1)"
line "monitor: drift_profile_query(cur) + drift_test:" "$t_monitor" "(same results as drift_report: $monitor_same of $n_cols)"
line "monitor: drift_monitor_run (also stores results):" "$t_monitor_run"
printf '            Evidently %s DataDriftPreset on %d rows x %d, best of %d (loading the CSV files, %.1f s, not counted):\n' \
  "$ev_version" "$ev_rows" "$ev_cols" "$EV_RUNS" "$t_ev_load"
line "Report.run + per-column results:" "$t_ev"
if [ "$EV_ROWS" -lt "$ROWS" ]; then
  line "Pulse drift_report on the same $EV_ROWS rows:" "$t_report_ev"
  ratio "ratio Evidently / Pulse, both on $EV_ROWS rows:" "$(calc "$t_ev / $t_report_ev")" "(target >= 50)"
  line "Evidently extrapolated per row to $ROWS rows:" "$(calc "$t_ev * $ROWS / $EV_ROWS")" \
    "(NOT measured: $(printf %.1f "$(calc "$t_ev * 1e6 / $EV_ROWS")") us per row of $COLS columns, times $ROWS rows)"
  ratio "ratio extrapolated Evidently / Pulse, $ROWS rows:" "$(calc "$t_ev * $ROWS / $EV_ROWS / $t_report")"
else
  ratio "ratio Evidently / Pulse drift_report:" "$(calc "$t_ev / $t_report")" "(target >= 50)"
  ratio "ratio Evidently / Pulse monitor path:" "$(calc "$t_ev / $t_monitor")"
fi
printf '            verdicts: Pulse flags %d of %d columns, Evidently %d; disagreements: %d; flagged = the shifted columns: Pulse %s, Evidently %s\n' \
  "$p_flagged" "$n_cols" "$e_flagged" "$disagree" "$p_expected" "$e_expected"
printf '              tests chosen: Pulse %s; Evidently %s\n' "$p_tests" "$e_methods"
printf '              normed Wasserstein on %d columns in both: largest difference %s\n' "$w_cols" "$w_diff"
printf 'profile     drift_profile(x) over %d rows of one float8 column, best of 3\n' "$PROFILE_ROWS"
printf '              plan: %s Partial/Finalize nodes, %s (serial plan: %s Gather nodes)\n' "$plan" "$workers" "$serial_plan"
line "serial:" "$t_build_serial"
line "2 parallel workers:" "$t_build_parallel"
printf '              %-50s %9.2f x   (target >= 1.6)\n' "speed-up:" "$(calc "$t_build_serial / $t_build_parallel")"
line "built-in count/avg/var_samp/min/max, serial:" "$t_builtin_serial"
line "built-in count/avg/var_samp/min/max, 2 workers:" "$t_builtin_parallel" \
  "(speed-up $(printf %.2f "$(calc "$t_builtin_serial / $t_builtin_parallel")") x)"
printf '              parallel profile equals serial: %s\n' "$same"
printf 'size        drift_profile(x) over the first N rows (target: does not grow with N)\n'
printf '              %10s  %10s  %12s  %5s  %7s\n' rows bytes 'text chars' level buckets
for s in "${sizes[@]}"; do
  IFS='|' read -r n bytes chars level buckets <<<"$s"
  printf '              %10d  %10d  %12d  %5s  %7s\n' "$n" "$bytes" "$chars" "$level" "$buckets"
done
