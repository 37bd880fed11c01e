#!/usr/bin/env bash
# make up / make down: idempotent, restartable, .pulse/env works with psql, taken ports are
# reported clearly. Prints TAP-style "ok"/"not ok" lines.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

hash_via_env() { (. "$STATE/env" && "$PGBIN/psql" -X -At -c "select ab_hash('feature','123',2)"); }

"$ROOT/scripts/up.sh" >/dev/null 2>"$STATE/stack-up.err"
check "up on a running stack succeeds" "$?" 0
check "up on a running stack leaves it running" "$(grep -c 'already running' "$STATE/stack-up.err")" 2
check ". .pulse/env && psql: ab_hash('feature','123',2)" "$(hash_via_env)" 0.5231

"$ROOT/scripts/down.sh" 2>/dev/null
check "down stops both" "$(pg_running || broker_running; echo $?)" 1
check "down twice succeeds" "$("$ROOT/scripts/down.sh" 2>&1 | grep -c 'not running')" 2
"$ROOT/scripts/up.sh" >/dev/null 2>&1
check "up after down starts both" "$(pg_running && broker_running; echo $?)" 0
check "data survives down/up" "$(hash_via_env)" 0.5231

# A port held by someone else (here: our own broker) gives a clear message, before any build.
other_state="$(mktemp -d)"
msg="$(PULSE_STATE_DIR="$other_state" PULSE_PGPORT="$PULSE_KAFKA_PORT" "$ROOT/scripts/up.sh" 2>&1)"
check "taken port exits non-zero" "$?" 1
check "taken port is named in the error" "$(echo "$msg" | grep -c "port $PULSE_KAFKA_PORT is taken by another process; set PULSE_PGPORT")" 1
rm -rf "$other_state"

[ "$fails" -eq 0 ]
