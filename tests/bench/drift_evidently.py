"""Evidently's side of the drift benchmark (tests/bench/drift.sh), run from .venv-bench.

Reads the reference and current tables that drift.sh exported with COPY (CSV with a header),
runs Evidently's data-drift preset on them RUNS times, and reports the fastest run: the time of
Report.run() and of reading its per-column results, not of loading the CSV files.

Prints one line on stdout: "<best seconds> <load seconds> <evidently version> <rows> <columns>",
and writes the per-column results to OUT as tab-separated lines
"column  method  score  threshold  drifted(t/f)", for drift.sh to load and compare with Pulse.
"""

import argparse
import os
import sys
import time

# Evidently's usage telemetry is on unless DO_NOT_TRACK is set; a benchmark sends nothing.
os.environ.setdefault("DO_NOT_TRACK", "1")

import evidently  # noqa: E402
import pandas as pd  # noqa: E402
from evidently import Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402


def load(path):
    # pyarrow (installed with Evidently, through pandas[parquet]) parses the floats correctly
    # rounded, so the frames hold exactly the float8 values Postgres wrote.
    return pd.read_csv(path, engine="pyarrow").astype("float64")


def per_column(snapshot):
    """Per-column results from Snapshot.dict(): each ValueDrift metric gives the column, the
    method Evidently chose and its threshold and score; the metric's test ("drift") FAILs when
    Evidently detects drift. DriftedColumnsCount gives the total, checked against the tests."""
    d = snapshot.dict()
    rows, counted = {}, None
    for m in d["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith(":ValueDrift"):
            rows[cfg["column"]] = [cfg["method"], float(m["value"]), float(cfg["threshold"]), None]
        elif cfg["type"].endswith(":DriftedColumnsCount"):
            counted = int(m["value"]["count"])
    for t in d["tests"]:
        params = t["metric_config"]["params"]
        if t["id"] == "drift" and params["type"].endswith(":ValueDrift"):
            rows[params["column"]][3] = t["status"] == "FAIL"
    missing = [c for c, r in rows.items() if r[3] is None]
    if missing:
        sys.exit(f"drift_evidently: no drift test result for columns {missing}")
    drifted = sum(r[3] for r in rows.values())
    if counted is not None and counted != drifted:
        sys.exit(f"drift_evidently: DriftedColumnsCount says {counted}, the column tests {drifted}")
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True)
    ap.add_argument("--cur", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()

    t = time.perf_counter()
    ref, cur = load(a.ref), load(a.cur)
    load_s = time.perf_counter() - t
    if list(ref.columns) != list(cur.columns):
        sys.exit("drift_evidently: the reference and current columns differ")

    best, rows = None, None
    for i in range(a.runs):
        t = time.perf_counter()
        # include_tests: the per-column drift verdicts (test FAIL = drift), at no measurable cost.
        snapshot = Report([DataDriftPreset()], include_tests=True).run(current_data=cur, reference_data=ref)
        rows = per_column(snapshot)
        s = time.perf_counter() - t
        print(f"drift_evidently: run {i + 1} of {a.runs}: {s:.1f} s", file=sys.stderr, flush=True)
        best = s if best is None else min(best, s)

    with open(a.out, "w") as f:
        for col, (method, score, threshold, drifted) in rows.items():
            f.write(f"{col}\t{method}\t{score!r}\t{threshold!r}\t{'t' if drifted else 'f'}\n")
    print(f"{best:.3f} {load_s:.3f} {evidently.__version__} {len(ref)} {len(ref.columns)}")


if __name__ == "__main__":
    main()
