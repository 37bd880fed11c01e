#!/usr/bin/env bash
# make bench: setup, start the stack, run every benchmark under tests/bench/ (release builds).
# Benchmarks print numbers and ratios; they assert nothing about time.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# PULSE_SETUP_BENCH=1: also the benchmarks' own references (Evidently in .venv-bench, for drift.sh).
PULSE_SETUP_BENCH=1 "$ROOT/scripts/setup.sh"
"$ROOT/scripts/up.sh" >/dev/null
for b in "$ROOT"/tests/bench/*.sh; do
  log "bench: $(basename "$b") ..."
  bash "$b" 2>&1 | tee "$STATE/bench-$(basename "$b" .sh).log" | grep -v '^ok - '
done
