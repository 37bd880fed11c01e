"""Checks a model in the database against independent references (run by tests/e2e/models.sh).

    check_model.py NAME VERSION ROWS_TABLE

ROWS_TABLE holds the model's training rows (the label, an as_of timestamp and the inputs) in
the order train_model read them. The model must be the champion of NAME. Prints TAP lines:
  - every in-database score(NAME, row) equals the numpy reference on model_export to 1e-9;
  - the stored hold-out metrics equal scikit-learn's on the hold-out rows (those stamped at or
    after the time split's cut: the latest test_rows by as_of, ties never split) to 1e-9.
"""
import json
import os
import sys

import numpy as np
import psycopg2
from sklearn import metrics as skm

sys.path.insert(0, os.path.dirname(__file__))
from pulse_model import PulseModel  # noqa: E402

TOL = 1e-9
failures = 0


def check(name, ok, why=""):
    global failures
    print(f"ok - {name}" if ok else f"not ok - {name}: {why}")
    failures += 0 if ok else 1


def main(name, version, table):
    conn = psycopg2.connect("")
    cur = conn.cursor()
    cur.execute("select model_export(%s, %s), metrics, test_rows, label from pulse.models where name = %s and version = %s",
                (name, version, name, version))
    export, stored, test_rows, label = cur.fetchone()
    model = PulseModel(export)
    inputs = [i["name"] for i in export["inputs"]]
    keep = ", ".join(f"'{n}', t.{n}" for n in inputs)
    cur.execute(f"""select jsonb_build_object({keep}), score(%s, jsonb_build_object({keep})),
                           t.{label}::int, extract(epoch from t.as_of)
                      from {table} t""", (name,))
    rows = cur.fetchall()
    features = [r[0] for r in rows]
    in_db = np.array([r[1] for r in rows])
    labels = np.array([r[2] for r in rows])
    times = np.array([float(r[3]) for r in rows])
    ref = model.score(features)
    worst = float(np.max(np.abs(in_db - ref)))
    check(f"{name} v{version}: {len(rows)} in-database scores equal the numpy reference (max |diff| {worst:.2e} <= {TOL})",
          worst <= TOL)
    # The time split's hold-out: every row at or after the cut, the test_rows-th latest time.
    cut = np.sort(times)[len(rows) - test_rows]
    hold = np.flatnonzero(times >= cut)
    check(f"{name} v{version}: the hold-out is the rows from the cut on", len(hold) == test_rows, f"{len(hold)} != {test_rows}")
    y, s = labels[hold], in_db[hold]
    t = stored["threshold"]
    pred = (s >= t).astype(int)
    ref_metrics = {
        "roc_auc": skm.roc_auc_score(y, s),
        "pr_auc": skm.average_precision_score(y, s),
        "log_loss": skm.log_loss(y, s, labels=[0, 1]),
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred, zero_division=0),
        "f1": skm.f1_score(y, pred, zero_division=0),
    }
    for k, v in ref_metrics.items():
        check(f"{name} v{version}: hold-out {k} equals scikit-learn ({stored[k]:.6f} vs {v:.6f})",
              abs(stored[k] - v) <= TOL * max(1.0, abs(v)))
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    check(f"{name} v{version}: confusion matrix equals scikit-learn",
          stored["confusion"] == {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)}, json.dumps(stored["confusion"]))
    return failures


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1], int(sys.argv[2]), sys.argv[3]) else 0)
