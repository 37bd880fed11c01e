"""The conventional way to serve Pulse's fraud model, for the benchmark in tests/bench/models.sh:
a FastAPI app around a scikit-learn LogisticRegression, the model exported from the database
with `select model_export('fraud', v)` and written to the file named by MODEL_JSON.

  POST /score   body: a JSON object of the model's inputs (name -> value; missing means NULL)
                reply: {"score": p}
  GET  /health  reply: {"status": "ok", "algorithm": ..., "inputs": N}

Run it the way it would be deployed on this 2-core machine: uvicorn with one worker process per
core (2), so that neither side of the comparison gets more CPU than the database does:

  MODEL_JSON=model.json .venv-ml/bin/python tests/bench/model_service.py --port 28000

(or `uvicorn model_service:app --app-dir tests/bench --workers 2 --no-access-log`). Access
logging is off because it would cost the service time that Pulse does not spend. The venv has
plain uvicorn (asyncio and h11; no uvloop or httptools), which is what `pip install uvicorn`
gives.

The preprocessing (standardising numbers, one-hot levels) is tests/models/pulse_model.py, the
reference for the export format, in numpy; the prediction is scikit-learn's predict_proba on a
LogisticRegression whose coef_, intercept_ and classes_ are set from the export. Tree models
have no scikit-learn constructor from arrays, so they are scored by the numpy reference itself.
"""
import argparse
import os
import sys
from typing import Any

import numpy as np
from fastapi import Body, FastAPI, HTTPException
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from pulse_model import PulseModel  # noqa: E402  (path set just above)


def build_classifier(model: PulseModel):
    """A fitted-looking scikit-learn LogisticRegression with the exported weights."""
    clf = LogisticRegression()
    clf.coef_ = model.weights.reshape(1, -1).copy()
    clf.intercept_ = np.array([model.intercept])
    clf.classes_ = np.array([0, 1])
    clf.n_features_in_ = model.columns
    return clf


def load():
    path = os.environ.get("MODEL_JSON")
    if not path:
        raise SystemExit("set MODEL_JSON to the output of model_export('fraud', version)")
    model = PulseModel.load(path)
    clf = build_classifier(model) if model.algorithm == "logistic_regression" else None
    return model, clf


MODEL, CLF = load()
app = FastAPI(title="fraud model service")


@app.post("/score")
async def score(features: dict[str, Any] = Body(...)):
    # async def: the work is a few hundred microseconds of CPU, so it runs on the event loop
    # rather than paying a hop to the thread pool per request.
    try:
        z = MODEL.encode([features])
    except ValueError as e:
        raise HTTPException(status_code=422, detail=str(e))
    p = CLF.predict_proba(z)[0, 1] if CLF is not None else MODEL.predict_encoded(z)[0]
    return {"score": float(p)}


@app.get("/health")
async def health():
    return {"status": "ok", "algorithm": MODEL.algorithm, "inputs": len(MODEL.inputs)}


if __name__ == "__main__":
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=28000)
    ap.add_argument("--workers", type=int, default=2, help="one per core; this machine has 2")
    args = ap.parse_args()
    # What uvicorn.run does for --workers N, with one repair: uvicorn binds the shared listening
    # socket with proto 0, accepted sockets inherit it, and asyncio then leaves TCP_NODELAY off,
    # so every keep-alive request after the first waits ~40 ms on the client's delayed ACK
    # (uvicorn issue #3149, open; measured here: 23 requests/s on one connection instead of
    # thousands). Re-wrapping the same descriptor with IPPROTO_TCP gives the workers Nagle-free
    # connections, as a single-worker uvicorn has. The app is imported by name so that each
    # worker process loads the model itself.
    config = uvicorn.Config("model_service:app", host=args.host, port=args.port, workers=args.workers,
                            access_log=False, log_level="warning")
    bound = config.bind_socket()
    sock = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    sock.set_inheritable(True)
    if args.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
