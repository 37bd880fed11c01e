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
