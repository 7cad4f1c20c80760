"""Implicit feedback on ML-100k: ``implicit-als`` against the popularity baseline.

Data: ML-100k ratings >= 4 as positives (value 1, so the confidence is
1 + alpha), split per user (``holdout_per_user(fraction=0.2, rng=0)``: 20% of
each user's positives held out). Metrics: precision, recall, NDCG and MAP at
10 from :func:`mfcore.ranking.ranking_report` (training items excluded from
the lists; every held-out positive relevant).

The defaults were chosen on a validation split carved the same way from the
training positives (``rng=1``); the test positives score the chosen setting once.
Popularity ranks every item by its number of training positives.

    python benchmarks/bench_implicit.py
"""
import os
import time

import numpy as np

from _common import markdown_table, ml100k_dir, write_results
from mfcore import GlobalMean, ImplicitALS, Ratings
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
    model = GlobalMean().fit(train)  # only for its maps and counts
    model.score_users = lambda users: np.tile(model.item_counts_.astype(float), (len(users), 1))
    return model


def score(model, test):
    rep = ranking_report(model, test, k=10, threshold=1.0)
    return {m: rep[m] for m in METRICS}


def main():
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
    result = {"data": data.name, "n_positives": len(data), "split": "holdout_per_user(fraction=0.2, rng=0)",
              "validation": "holdout_per_user(train, fraction=0.2, rng=1)", "search": search,
              "test": rows, "loadavg": {"before": load0, "after": os.getloadavg()}}
    md = ["# Implicit feedback on ML-100k: implicit-als vs popularity", "",
          f"{len(data)} positives (ratings >= 4), 20% of each user's held out (seed 0). Metrics at 10,",
          "training items excluded. Written by `benchmarks/bench_implicit.py`.", "",
          "## Test", "", markdown_table(["model"] + list(METRICS) + ["fit s (under load)"],
                                        [[r["model"]] + [r[m] for m in METRICS] + [r["fit_seconds"]]
                                         for r in rows]), "",
          "## Search on a validation split of the training positives (seed 1), defaults otherwise", "",
          markdown_table(["alpha", "reg"] + list(METRICS), [[r["alpha"], r["reg"]] + [r[m] for m in METRICS]
                                                            for r in search]), "",
          f"Load average (1, 5, 15 min): before {load0}, after {result['loadavg']['after']} (shared machine)."]
    write_results("implicit", result, "\n".join(md))


if __name__ == "__main__":
    main()
