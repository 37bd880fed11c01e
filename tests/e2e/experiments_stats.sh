#!/usr/bin/env bash
# Experiment statistics against scipy (tests/experiments/check_stats.py), in a fresh database:
#  - ab_compare's welch, ztest, cuped and sequential methods equal scipy.stats.ttest_ind
#    (equal_var=False), the two-proportion z-test (chi2_contingency), Welch on CUPED-adjusted
#    values and the mSPRT formulas to 1e-9, on normal, tiny, constant, heavy-tailed, 0/1,
#    covariate and 1e9-offset data; the zero-standard-error convention;
#  - the ab_stats type (JSON text, round trip, ab_stats_summary), NULL skipping, ab_srm against
#    scipy.stats.chisquare, ab_p_adjust_holm, and SQLSTATE 22023 (never XX000) for bad input;
#  - serial, parallel (Partial / Finalize aggregates) and ab_stats_merge roll-ups agree to 1e-12.
# No broker or ingester: the data is generated in Python and loaded with COPY.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"
PY="$ROOT/.venv-ml/bin/python"

scenario experiments_stats
q "create extension pulse" >/dev/null

# Its failures print "not ok" lines and exit 1; a crash may print none, so say so then.
out="$WORK/check_stats.out"
if ! "$PY" -u "$ROOT/tests/experiments/check_stats.py" 2>&1 | tee "$out"; then
  grep -q '^not ok ' "$out" || echo "not ok - check_stats.py exited non-zero without reporting a failure"
  fails=$((fails + 1))
fi

[ "$fails" -eq 0 ]
