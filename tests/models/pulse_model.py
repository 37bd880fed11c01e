"""Reference scorer for Pulse's model export (`select model_export(name, version)`, format 1).

Pure numpy and written from the format's description, not from the extension's code, so that
tests can check the in-database scores against an independent implementation (to 1e-9), and so
that the benchmark's conventional model service (tests/bench/model_service.py) applies exactly
the preprocessing a Pulse model was trained with.

Format 1, briefly:
  inputs   in order; numeric -> one column z = (x - mean) / scale (NULL -> 0, booleans 1/0);
           categorical -> one 0/1 column per level (NULL or an unseen value -> all zeros)
  linear   logistic regression: p = 1 / (1 + exp(-(intercept + sum(weights * z))))
  trees    node 0; while left[n] != -1: n = left[n] if z[feature[n]] <= threshold[n] else right[n];
           p = value[n]; a forest is the mean of its trees

usage as a program:  pulse_model.py EXPORT_JSON < rows.jsonl   (one JSON object of inputs per
line; prints one score per line, repr of the float so it round-trips exactly)
"""
import json
import math
import sys

import numpy as np

FORMAT = 1
ALGORITHMS = ("logistic_regression", "decision_tree", "random_forest")


class PulseModel:
    """A model export, checked once, ready to encode and score batches of rows."""

    def __init__(self, export):
        if isinstance(export, (str, bytes)):
            export = json.loads(export)
        if export.get("format") != FORMAT:
            raise ValueError(f"export has format {export.get('format')!r}, this scorer reads {FORMAT}")
        self.algorithm = export["algorithm"]
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r}")
        self.label = export.get("label")
        self.threshold = export.get("threshold", 0.5)
        self.inputs = export["inputs"]
        for inp in self.inputs:
            if inp["kind"] not in ("numeric", "categorical"):
                raise ValueError(f"input {inp['name']!r} has unknown kind {inp['kind']!r}")
        self.names = [inp["name"] for inp in self.inputs]
        self.columns = sum(1 if i["kind"] == "numeric" else len(i["levels"]) for i in self.inputs)
        self.numeric_only = all(i["kind"] == "numeric" for i in self.inputs)
        if self.algorithm == "logistic_regression":
            self.intercept = float(export["linear"]["intercept"])
            self.weights = np.asarray(export["linear"]["weights"], dtype=np.float64)
            if self.weights.shape != (self.columns,):
                raise ValueError(f"{len(self.weights)} weights for {self.columns} encoded columns")
        else:
            self.trees = [_Tree(t, self.columns) for t in export["trees"]]
            if not self.trees:
                raise ValueError("tree model without trees")
            if self.algorithm == "decision_tree" and len(self.trees) != 1:
                raise ValueError("a decision tree export must hold exactly one tree")

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls(json.load(f))

    # --- encoding ---

    def encode(self, rows):
        """Encoded matrix (len(rows) x columns) of rows given as dicts (input name -> value;
        missing keys are NULL) or as sequences in the order of `inputs`."""
        rows = list(rows)
        z = np.zeros((len(rows), self.columns), dtype=np.float64)
        col = 0
        for k, inp in enumerate(self.inputs):
            values = [_value(r, k, inp["name"]) for r in rows]
            if inp["kind"] == "numeric":
                x = np.array([_number(v, inp["name"]) for v in values], dtype=np.float64)
                present = ~np.isnan(x)  # NaN stands for NULL here; real NaN inputs are refused
                # The same two IEEE operations as the format: subtract, then divide.
                z[present, col] = (x[present] - inp["mean"]) / inp["scale"]
                col += 1
            else:
                levels = inp["levels"]
                for j, level in enumerate(levels):
                    z[:, col + j] = [1.0 if _text(v, inp["name"]) == level else 0.0 for v in values]
                col += len(levels)
        return z

    # --- scoring ---

    def predict_encoded(self, z):
        """Probability of the positive class for each row of an encoded matrix."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        if self.algorithm == "logistic_regression":
            # Summed column by column from the intercept, the order the format states, rather
            # than z @ w (whose BLAS summation order varies), so results are reproducible.
            t = np.full(z.shape[0], self.intercept)
            for j in range(self.columns):
                t += self.weights[j] * z[:, j]
            return 1.0 / (1.0 + np.exp(-t))
        total = np.zeros(z.shape[0])
        for tree in self.trees:
            total += tree.predict(z)
        return total / len(self.trees)

    def score(self, rows):
        return self.predict_encoded(self.encode(rows))

    def score_one(self, row):
        return float(self.score([row])[0])

    def contributions(self, row):
        """Per input, for logistic regression: its share of the log-odds (weights times its
        encoded columns). For trees: the change in probability when the input is replaced by
        all zeros (its training mean, or 'no level'). Largest magnitude first."""
        z = self.encode([row])[0]
        full = float(self.predict_encoded(z)[0])
        out, col = [], 0
        for inp in self.inputs:
            width = 1 if inp["kind"] == "numeric" else len(inp["levels"])
            if self.algorithm == "logistic_regression":
                c = float(np.dot(self.weights[col:col + width], z[col:col + width]))
            else:
                ablated = z.copy()
                ablated[col:col + width] = 0.0
                c = full - float(self.predict_encoded(ablated)[0])
            out.append((inp["name"], c))
            col += width
        out.sort(key=lambda nc: (-abs(nc[1]), nc[0]))
        return out


class _Tree:
    def __init__(self, t, columns):
        self.feature = np.asarray(t["feature"], dtype=np.int64)
        self.threshold = np.asarray(t["threshold"], dtype=np.float64)
        self.left = np.asarray(t["left"], dtype=np.int64)
        self.right = np.asarray(t["right"], dtype=np.int64)
        self.value = np.asarray(t["value"], dtype=np.float64)
        n = len(self.left)
        if n == 0 or any(len(a) != n for a in (self.feature, self.threshold, self.right, self.value)):
            raise ValueError("tree arrays differ in length")
        inner = self.left != -1
        idx = np.arange(n)
        # Children after their parent: walks terminate, and indices stay in range.
        if (inner & ~((self.left > idx) & (self.right > idx) & (self.left < n) & (self.right < n))).any():
            raise ValueError("tree child index out of order or out of range")
        if (inner & ((self.feature < 0) | (self.feature >= columns))).any():
            raise ValueError("tree splits on a column the inputs do not have")

    def predict(self, z):
        # Every row walks down at once; a row stops moving when it reaches a leaf.
        node = np.zeros(z.shape[0], dtype=np.int64)
        rows = np.arange(z.shape[0])
        while True:
            inner = self.left[node] != -1
            if not inner.any():
                return self.value[node]
            n = node[inner]
            go_left = z[rows[inner], self.feature[n]] <= self.threshold[n]
            node[inner] = np.where(go_left, self.left[n], self.right[n])


def _value(row, k, name):
    if isinstance(row, dict):
        return row.get(name)
    return row[k]


def _number(v, name):
    """A numeric input as float, NULL as NaN. Booleans are 1/0."""
    if v is None:
        return math.nan
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, str):
        raise ValueError(f"input {name!r} must be a number, not text")
    x = float(v)
    if not math.isfinite(x):
        raise ValueError(f"input {name!r} is {x}; inputs must be finite numbers or NULL")
    return x


def _text(v, name):
    if v is None or isinstance(v, str):
        return v
    raise ValueError(f"input {name!r} must be text, not {type(v).__name__}")


if __name__ == "__main__":
    model = PulseModel.load(sys.argv[1])
    rows = [json.loads(line) for line in sys.stdin if line.strip()]
    for p in model.score(rows):
        print(repr(float(p)))
