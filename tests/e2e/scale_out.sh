#!/usr/bin/env bash
# Scale-out: two pulse-ingest processes in one consumer group share the partitions; when one
# leaves cleanly (SIGTERM) it lands what it holds and the other takes its partitions over, with
# nothing lost or duplicated. Prints TAP-style "ok"/"not ok" lines.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$STATE/env"

scenario scale
# Live production keeps both members busy while the group changes.
"$RELEASE_BIN/pulse-gen" --quiet --rate 2000 --count 1000000 --duration 25 --invalid 20 --seed 5 \
  --dump "$WORK/produced.jsonl" >"$WORK/gen.log" 2>&1 &
gen=$!
# The members subscribe once the topics exist (pulse-gen creates them before its first send).
for _ in $(seq 1 100); do [ -s "$WORK/produced.jsonl" ] && break; sleep 0.1; done
start() {  # start NAME: sets pid
  "$RELEASE_BIN/pulse-ingest" run --writers 1 --batch-ms 50 --max-payload-bytes 4096 \
    -X session.timeout.ms=6000 -X heartbeat.interval.ms=500 >"$WORK/$1.log" 2>&1 &
  pid=$!
}
start a; a=$pid
start b; b=$pid
landed_by() { grep -o '"landed":[0-9]*' "$WORK/$1.log" | cut -d: -f2 | awk '{s += $1} END {print s + 0}'; }
# Both members should land rows while production goes on (25 s); tansu's first fetch after an
# assignment can take 8 s on a busy machine, so wait for it instead of a fixed time.
for _ in $(seq 1 200); do
  [ "$(landed_by a)" -gt 0 ] && [ "$(landed_by b)" -gt 0 ] && break
  sleep 0.1
done
check "member a was assigned partitions" "$(grep -c 'assigned; starting at stored offsets' "$WORK/a.log" | awk '{print ($1 > 0) ? "yes" : "no"}')" yes
check "member b was assigned partitions" "$(grep -c 'assigned; starting at stored offsets' "$WORK/b.log" | awk '{print ($1 > 0) ? "yes" : "no"}')" yes
check "both members landed rows" "$([ "$(landed_by a)" -gt 0 ] && [ "$(landed_by b)" -gt 0 ] && echo yes)" yes

kill -TERM "$a"
rc=0; wait "$a" || rc=$?
check "member a leaves cleanly (exit 0)" "$rc" 0
check "member a flushed before giving its partitions up" "$(grep -c 'partitions revoked after flushing' "$WORK/a.log" | awk '{print ($1 > 0) ? "yes" : "no"}')" yes
b_before=$(landed_by b)
wait "$gen"
"$RELEASE_BIN/pulse-ingest" lag --wait --timeout-secs 300 >/dev/null
check "member b took over and kept landing" "$([ "$(landed_by b)" -gt "$b_before" ] && echo yes)" yes
kill -TERM "$b"; wait "$b"

load_dump "$WORK/produced.jsonl"
check_exact "two members, one leaving"
echo "# member a landed $(landed_by a) rows, member b $(landed_by b)"

[ "$fails" -eq 0 ]
