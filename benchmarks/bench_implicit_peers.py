"""mfcore's implicit-feedback models against the ``implicit`` package, in one run.

The split and metrics of ``bench_implicit.py``: ML-100k ratings >= 4 as positives,
20% of each user's positives held out (``holdout_per_user(fraction=0.2, rng=0)``),
precision/recall/NDCG/MAP at 10 with training items excluded. Pairs, each at the
same settings (mfcore's defaults):

* ``bpr`` against ``implicit.bpr.BayesianPersonalizedRanking`` (float64 as mfcore,
  and the peer's default float32). implicit keeps the item bias as an extra factor
  column (users' column fixed at 1): it is split off into ``item_bias_`` to score.
* ``implicit-als`` against ``implicit.als.AlternatingLeastSquares`` (conjugate
  gradient, float32, its only CPU precision). implicit's confidence is ``alpha * r``,
  mfcore's ``1 + alpha * r``: with r = 1 the peer runs with ``1 + alpha``.

Timing: ``--rounds`` rounds (default 3); in each, every row is fitted once, in turn
(interleaved), one thread each (``OPENBLAS_NUM_THREADS=1``, ``num_threads=1``). A fit
second is the whole ``fit`` the user waits for: for mfcore that includes the per-epoch
shuffle and negative sampling; the peer's is timed inside its own process around
``fit`` (its start-up and data transfer excluded). Numba's compile is timed apart (a
first fit on a few users). Accuracy is scored on the first round's models. Run it
alone: it is a timing.

    python benchmarks/bench_implicit_peers.py [--implicit-python PATH] [--rounds 3]

The same settings are not the peer's best (its factors start near zero), so the
peer's BPR is also tuned the way mfcore's defaults were chosen: on a validation split
of the training positives (``holdout_per_user(train, 0.2, rng=1)``), learning rate x
regularisation x epochs, best validation NDCG@10, then refitted on all training
positives and scored once on test.

Writes ``benchmarks/results/implicit_peers.json`` and ``.md``. Needs the optional peer
(``pip install implicit``, in this interpreter or the one passed); without it, the
script says so and stops.
"""
import argparse
import os
import time

import numpy as np

from _common import environment, load_average, markdown_table, ml100k_dir, peer_python, write_results
from bench_implicit import METRICS, positives, run_peer, score
from mfcore import BPR, ImplicitALS
from mfcore.data import load_ml100k
from mfcore.data.split import holdout_per_user

PEER_LRS = (0.002, 0.005, 0.01, 0.05)
PEER_REGS = (0.001, 0.01)
PEER_EPOCHS = (120, 400)


def as_bpr(train, user_factors, item_factors):
    """A fitted mfcore ``BPR`` carrying the peer's factors (bias column split off)."""
    model = BPR(n_factors=user_factors.shape[1] - 1, n_epochs=1, rng=0).fit(train)  # maps, positives
    model.user_factors_ = user_factors[:, :-1].astype(np.float64)
    model.item_factors_ = item_factors[:, :-1].astype(np.float64)
    model.item_bias_ = item_factors[:, -1].astype(np.float64)  # the users' last column is 1
    return model


def as_ials(train, user_factors, item_factors):
    model = ImplicitALS(n_factors=user_factors.shape[1], n_epochs=1, rng=0).fit(train)
    model.user_factors_, model.item_factors_ = user_factors.astype(np.float64), item_factors.astype(np.float64)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--implicit-python", default=os.environ.get("IMPLICIT_PYTHON"),
                    help="an interpreter that can import the implicit package")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    python, note = peer_python("implicit", args.implicit_python)
    if python is None:
        raise SystemExit(f"bench_implicit_peers: the implicit package is needed here: {note}")
    load0 = load_average()
    data = positives(load_ml100k(ml100k_dir()))
    split = holdout_per_user(data, fraction=0.2, rng=0)
    train = split.train
    bpr, ials = BPR(), ImplicitALS()
    t0 = time.perf_counter()
    few = train.subset(np.flatnonzero(train.users < 20))
    BPR(n_epochs=1, rng=0).fit(few)
    ImplicitALS(n_epochs=1, rng=0).fit(few)
    compile_seconds = time.perf_counter() - t0

    def mfcore_fit(make):
        def fit():
            t = time.perf_counter()
            model = make().fit(train)
            return model, time.perf_counter() - t
        return fit

    def peer_fit(params, wrap):
        def fit():
            uf, itf, seconds, _ = run_peer(train, params, python)
            return wrap(train, uf, itf), seconds
        return fit

    fit_part, val = holdout_per_user(train, fraction=0.2, rng=1)
    tuning = []
    for lr in PEER_LRS:
        for reg in PEER_REGS:
            for iterations in PEER_EPOCHS:
                params = {"kind": "bpr", "factors": bpr.n_factors, "lr": lr, "reg": reg,
                          "iterations": iterations, "dtype": "float64"}
                uf, itf, _, _ = run_peer(fit_part, params, python)
                tuning.append({"lr": lr, "reg": reg, "iterations": iterations,
                               **score(as_bpr(fit_part, uf, itf), val)})
                print("peer tuning", tuning[-1], flush=True)
    best = max(tuning, key=lambda r: r["ndcg@10"])
    tuned = {"kind": "bpr", "factors": bpr.n_factors, "lr": best["lr"], "reg": best["reg"],
             "iterations": best["iterations"], "dtype": "float64"}

    bpr_params = {"kind": "bpr", "factors": bpr.n_factors, "lr": bpr.lr, "reg": bpr.reg,
                  "iterations": bpr.n_epochs}
    als_params = {"kind": "als", "factors": ials.n_factors, "reg": ials.reg, "alpha": 1.0 + ials.alpha,
                  "iterations": ials.n_epochs}
    rows = [  # (name, family, epochs, fit)
        ("bpr (mfcore, float64)", "bpr", bpr.n_epochs, mfcore_fit(lambda: BPR(rng=0))),
        ("implicit BPR, float64", "bpr", bpr.n_epochs, peer_fit(dict(bpr_params, dtype="float64"), as_bpr)),
        ("implicit BPR, float32 (its default)", "bpr", bpr.n_epochs,
         peer_fit(dict(bpr_params, dtype="float32"), as_bpr)),
        (f"implicit BPR, float64, tuned (lr {best['lr']:g}, reg {best['reg']:g}, {best['iterations']} epochs)",
         "bpr", best["iterations"], peer_fit(tuned, as_bpr)),
        ("implicit-als (mfcore, float64)", "ials", ials.n_epochs, mfcore_fit(lambda: ImplicitALS(rng=0))),
        ("implicit ALS (CG), float32", "ials", ials.n_epochs, peer_fit(als_params, as_ials)),
    ]
    seconds = {name: [] for name, *_ in rows}
    scores = {}
    for r in range(args.rounds):
        for name, _, _, fit in rows:
            model, sec = fit()
            seconds[name].append(sec)
            if r == 0:
                scores[name] = score(model, split.test)
            print(f"round {r}: {name:38s} {sec:7.2f} s  NDCG@10 {scores[name]['ndcg@10']:.4f}", flush=True)
    table = []
    base = {"bpr": "bpr (mfcore, float64)", "ials": "implicit-als (mfcore, float64)"}
    result_rows = []
    for name, family, epochs, _ in rows:
        med = float(np.median(seconds[name]))
        ours = float(np.median(seconds[base[family]]))
        ref_ndcg = scores[base[family]]["ndcg@10"]
        result_rows.append({"model": name, "epochs": epochs, "fit_seconds": seconds[name],
                            "median_fit_seconds": med, "seconds_per_epoch": med / epochs, **scores[name]})
        table.append([name] + [scores[name][m] for m in METRICS]
                     + [scores[name]["ndcg@10"] / ref_ndcg - 1.0, med / epochs * 1e3, med / ours])
    load1 = load_average()
    text = f"""# Implicit feedback: mfcore against the `implicit` package ({note.split(' (')[0]})

Written by `python benchmarks/bench_implicit_peers.py`. ML-100k ratings >= 4 as positives,
20% of each user's held out (seed 0); metrics at 10, training items excluded (the protocol
of `implicit.md` and `bpr.md`). Same settings in each pair (mfcore's defaults: bpr K=128,
lr 0.02, reg 0.01, 120 epochs; implicit-als K={ials.n_factors}, reg {ials.reg:g}, alpha {ials.alpha:g},
{ials.n_epochs} epochs). Accuracy of the first round's models.

The tuned peer row: chosen by validation NDCG@10 from lr {list(PEER_LRS)} x reg {list(PEER_REGS)}
x epochs {list(PEER_EPOCHS)} (K={bpr.n_factors}, float64); the grid is in the JSON.

{markdown_table(["model"] + list(METRICS) + ["NDCG@10 vs mfcore's", "ms per epoch (median)",
                                            "fit time / mfcore's"], table)}

A fit second is the whole fit, median of {args.rounds} interleaved rounds, one thread each;
mfcore's includes its per-epoch shuffle and negative sampling. Numba compile, timed apart:
{compile_seconds:.2f} s (from the on-disk cache when present). Load average before {load0}, after
{load1} (2 CPUs).
"""
    write_results("implicit_peers", {"rows": result_rows, "peer_tuning": tuning, "compile_seconds": compile_seconds,
                                     "peer": note.split(" (")[0], "environment": environment(),
                                     "load_before": load0, "load_after": load1}, text)
    print(text)


if __name__ == "__main__":
    main()
