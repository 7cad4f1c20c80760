"""Implicit feedback on ML-100k: ``implicit-als`` against the popularity baseline.

Data: ML-100k ratings >= 4 as positives (value 1, so the confidence is
1 + alpha), split per user (``holdout_per_user(fraction=0.2, rng=0)``: 20% of
each user's positives held out). Metrics: precision, recall, NDCG and MAP at
10 from :func:`mfcore.ranking.ranking_report` (training items excluded from
the lists; every held-out positive relevant).

The defaults were chosen on a validation split carved the same way from the
training positives (``rng=1``); the test positives score the chosen setting once.
Popularity ranks every item by its number of training positives. The optional
peer, the ``implicit`` package's ALS (CG solver, one thread) with the same
settings, runs in an interpreter that has it (mfcore never imports it) and is
scored by the same code.

    python benchmarks/bench_implicit.py [--implicit-python PATH]   # or $IMPLICIT_PYTHON
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np

from _common import markdown_table, ml100k_dir, peer_python, write_results
from mfcore import ImplicitALS, Popularity, Ratings
from mfcore.data import load_ml100k
from mfcore.data.split import holdout_per_user
from mfcore.ranking import ranking_report

ALPHAS = (0.5, 1.0, 2.0, 5.0, 10.0, 40.0)
REGS = (1.0, 10.0, 30.0, 100.0)
METRICS = ("precision@10", "recall@10", "ndcg@10", "map@10")


def positives(ratings, threshold=4.0):
    keep = ratings.values >= threshold
    return Ratings.from_arrays(ratings.user_map.raw[ratings.users[keep]],
                               ratings.item_map.raw[ratings.items[keep]], np.ones(int(keep.sum())),
                               user_map=ratings.user_map, item_map=ratings.item_map,
                               name="ML-100k ratings >= 4")


def popularity(train):
    return Popularity().fit(train)  # items ranked by their number of training positives


def score(model, test):
    rep = ranking_report(model, test, k=10, threshold=1.0)
    return {m: rep[m] for m in METRICS}


PEER_CODE = """
import json, sys, time
import numpy as np
from scipy import sparse
import implicit
from implicit.als import AlternatingLeastSquares
from implicit.bpr import BayesianPersonalizedRanking
d = np.load(sys.argv[1])
X = sparse.csr_matrix((np.ones(d["u"].size), (d["u"], d["i"])), shape=tuple(d["shape"]))
p = json.loads(sys.argv[3])
if p.pop("kind") == "bpr":
    m = BayesianPersonalizedRanking(factors=p["factors"], learning_rate=p["lr"], regularization=p["reg"],
                                    iterations=p["iterations"], num_threads=1, random_state=0,
                                    dtype=np.dtype(p.get("dtype", "float64")))
else:
    m = AlternatingLeastSquares(factors=p["factors"], regularization=p["reg"], alpha=p["alpha"],
                                iterations=p["iterations"], use_cg=True, use_gpu=False, num_threads=1,
                                random_state=0, calculate_training_loss=False)
t0 = time.perf_counter()
m.fit(X, show_progress=False)
sec = time.perf_counter() - t0
np.savez(sys.argv[2], user_factors=m.user_factors, item_factors=m.item_factors, seconds=sec,
         version=implicit.__version__)
"""


def run_peer(train, params, python):
    """Fit the ``implicit`` package's model ``params["kind"]`` (``"als"`` or ``"bpr"``) on
    ``train`` in interpreter ``python`` (one thread); its factors, fit seconds and version."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, "train.npz"), os.path.join(tmp, "out.npz")
        np.savez(src, u=train.users, i=train.items, shape=np.array([train.n_users, train.n_items]))
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")  # implicit's advice for its CPU solver
        subprocess.run([python, "-c", PEER_CODE, src, out, json.dumps(params)], check=True, env=env)
        res = np.load(out)
        return res["user_factors"], res["item_factors"], float(res["seconds"]), str(res["version"])


def peer(train, params, python):
    """The ``implicit`` package's ALS fitted on ``train`` in interpreter ``python``, as an
    ImplicitALS whose factors are replaced by the peer's (so the evaluation code is the same)."""
    model = ImplicitALS(n_factors=params["factors"], n_epochs=1, rng=0).fit(train)  # maps, counts
    model.user_factors_, model.item_factors_, seconds, version = run_peer(train, dict(params, kind="als"),
                                                                          python)
    return model, seconds, version


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--implicit-python", default=os.environ.get("IMPLICIT_PYTHON"),
                    help="an interpreter that can import the implicit package (optional peer)")
    args = ap.parse_args()
    load0 = os.getloadavg()
    data = positives(load_ml100k(ml100k_dir()))
    split = holdout_per_user(data, fraction=0.2, rng=0)
    fit, val = holdout_per_user(split.train, fraction=0.2, rng=1)
    search = []
    for alpha in ALPHAS:
        for reg in REGS:
            m = ImplicitALS(alpha=alpha, reg=reg, rng=0).fit(fit)
            search.append({"alpha": alpha, "reg": reg, **score(m, val)})
            print(search[-1], flush=True)
    best = max(search, key=lambda r: r["ndcg@10"])
    rows = []
    for name, make in (("popularity", lambda: popularity(split.train)),
                       ("implicit-als (defaults)", lambda: ImplicitALS(rng=0).fit(split.train)),
                       (f"implicit-als (alpha={best['alpha']:g}, reg={best['reg']:g})",
                        lambda: ImplicitALS(alpha=best["alpha"], reg=best["reg"], rng=0).fit(split.train))):
        t0 = time.perf_counter()
        model = make()
        rows.append({"model": name, "fit_seconds": time.perf_counter() - t0, **score(model, split.test)})
        print(rows[-1], flush=True)
    python, note = peer_python("implicit", args.implicit_python)
    note = note.split(" (")[0] if python is not None else note  # the version, not a local path
    defaults = ImplicitALS()
    if python is not None:
        # implicit's confidence is alpha * r (no 1 +): with r = 1 its alpha is our 1 + alpha
        params = {"factors": defaults.n_factors, "reg": defaults.reg, "alpha": 1.0 + defaults.alpha,
                  "iterations": defaults.n_epochs}
        model, seconds, version = peer(split.train, params, python)
        rows.append({"model": f"implicit {version} ALS (CG, 1 thread), same settings", "fit_seconds": seconds,
                     **score(model, split.test)})
        print(rows[-1], flush=True)

    result = {"data": data.name, "n_positives": len(data), "split": "holdout_per_user(fraction=0.2, rng=0)",
              "validation": "holdout_per_user(train, fraction=0.2, rng=1)", "search": search,
              "test": rows, "peer": note, "loadavg": {"before": load0, "after": os.getloadavg()}}
    md = ["# Implicit feedback on ML-100k: implicit-als vs popularity", "",
          f"{len(data)} positives (ratings >= 4), 20% of each user's held out (seed 0). Metrics at 10,",
          "training items excluded. Written by `benchmarks/bench_implicit.py`.", "",
          "## Test", "", markdown_table(["model"] + list(METRICS) + ["fit s (under load)"],
                                        [[r["model"]] + [r[m] for m in METRICS] + [r["fit_seconds"]]
                                         for r in rows]), "",
          "## Search on a validation split of the training positives (seed 1), defaults otherwise", "",
          markdown_table(["alpha", "reg"] + list(METRICS), [[r["alpha"], r["reg"]] + [r[m] for m in METRICS]
                                                            for r in search]), "",
          f"Peer: {note}. Its confidence is alpha * r, so it ran with alpha = 1 + ours; fit seconds are",
          f"for {defaults.n_epochs} epochs on one thread each (under load: a rough ratio only).", "",
          "Load average (1, 5, 15 min): before " + ", ".join(f"{x:.2f}" for x in load0) + "; after "
          + ", ".join(f"{x:.2f}" for x in result["loadavg"]["after"]) + " (shared machine)."]
    write_results("implicit", result, "\n".join(md))


if __name__ == "__main__":
    main()
