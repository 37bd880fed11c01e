#!/usr/bin/env python3
"""Produce → committed latency, observed from outside the ingester.

Polls raw.ingest_offsets every few milliseconds while pulse-gen produces live, remembering when
each partition's stored offset (committed in the same transaction as the rows) first passed each
value. A message's latency is the first observation that shows it committed minus the time
pulse-gen issued its send (same machine, same clock). Resolution: the polling interval.

usage: latency.py DUMP_FILE GROUP SECONDS WARMUP_SECONDS  (libpq settings from PG* variables)
Messages produced in the first WARMUP_SECONDS are not counted: pulse-gen sends its CDC snapshot
and opening stock unpaced at the start, a burst rather than the steady rate being measured.
"""
import bisect
import json
import os
import sys
import time

import psycopg2

dump, group, seconds, warmup = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
conn = psycopg2.connect("")
conn.autocommit = True
cur = conn.cursor()
observations = {}  # (topic, partition) -> ([times], [next_offsets])
deadline = time.time() + seconds
while time.time() < deadline or not os.path.exists(dump + ".done"):
    cur.execute("select topic, partition, next_offset, extract(epoch from clock_timestamp()) * 1000"
                " from raw.ingest_offsets where consumer_group = %s", (group,))
    for topic, partition, next_offset, at in cur.fetchall():
        times, offsets = observations.setdefault((topic, partition), ([], []))
        if not offsets or next_offset > offsets[-1]:
            times.append(float(at))
            offsets.append(next_offset)
    time.sleep(0.003)
    if time.time() > deadline + 120:
        break

latencies, acks, missing = [], [], 0
with open(dump) as f:
    messages = [json.loads(line) for line in f]
start = min(m["produced_at_ms"] for m in messages)
for m in messages:
    if m["produced_at_ms"] < start + warmup * 1000:
        continue
    times, offsets = observations.get((m["topic"], m["partition"]), ([], []))
    i = bisect.bisect_right(offsets, m["offset"])  # first observation with next_offset > offset
    if i == len(offsets):
        missing += 1
        continue
    latencies.append(times[i] - m["produced_at_ms"])
    acks.append(m["acked_at_ms"] - m["produced_at_ms"])
latencies.sort()
acks.sort()
pct = lambda p, xs=latencies: xs[min(len(xs) - 1, int(p / 100 * len(xs)))]
if not latencies:
    sys.exit("latency.py: no message observed after the warm-up")
print(json.dumps({"messages": len(latencies), "warmup_s": warmup, "not_observed": missing, "p50_ms": round(pct(50), 1),
                  "p99_ms": round(pct(99), 1), "max_ms": round(latencies[-1], 1),
                  "ack_p50_ms": round(pct(50, acks), 1), "ack_p99_ms": round(pct(99, acks), 1)}))
