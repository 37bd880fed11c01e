#!/usr/bin/env bash
# Drift statistics against scipy / numpy (tests/drift/check_drift.py), in a fresh database:
#  - drift_ks_exact equals scipy.stats.ks_2samp (exact p up to 10,000 per side, asymp beyond) on
#    normal, shifted, heavy-tailed, tied, tiny, identical, NULL-holding and +-inf data;
#  - numeric profiles: the JSON's level and buckets equal the contract's order-preserving keys in
#    numpy, drift_summary equals numpy; exact profiles (<= 4096 distinct values) give ks_2samp and
#    wasserstein_distance to 1e-9, 100k-row sketches stay within the contract's bounds (KS within
#    0.01, W1 within 1 %);
#  - drift_bins (recounted in numpy and rebuilt from the quantile rule), drift_psi, drift_js and
#    drift_chi2 on numeric and categorical profiles, drift_categories with "other" pooling past
#    1000 categories, drift_ztest;
#  - drift_test's default tests (Evidently's rules) and overrides, drift_profile_query and
#    drift_report (defaults, columns, tests, thresholds);
#  - parallel (Partial / Finalize) profiles and drift_profile_merge equal serial ones on 1M rows;
#    the profile's size does not grow with the rows; exact SQLSTATEs for bad input, never XX000.
# No broker or ingester: the data is generated in Python and loaded with COPY.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"
PY="$ROOT/.venv-ml/bin/python"

scenario drift_stats
q "create extension pulse" >/dev/null

# Its failures print "not ok" lines and exit 1; a crash may print none, so say so then.
out="$WORK/check_drift.out"
if ! "$PY" -u "$ROOT/tests/drift/check_drift.py" 2>&1 | tee "$out"; then
  grep -q '^not ok ' "$out" || echo "not ok - check_drift.py exited non-zero without reporting a failure"
  fails=$((fails + 1))
fi

[ "$fails" -eq 0 ]
