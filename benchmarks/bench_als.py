"""ALS (``als``) on ML-100k: the choice of its defaults, its accuracy beside ``biased-mf``,
and the speed of its three engines.

Stages (run them in this order; each adds to ``benchmarks/results/als.json``):

* ``search``: ML-100k ``u1.base`` split 90/10 at random (seed 0) into fit and
  holdout ratings (as BiasedMF's defaults were chosen); a grid of K x reg, up
  to ``MAX_EPOCHS`` epochs each, scored by holdout RMSE after every epoch. The
  test files are not read.
* ``accuracy``: the chosen defaults and BiasedMF at equal K and reg, fitted
  on ``u1.base`` and scored on ``u1.test``; the 5-fold figures come from
  ``mfcore cv`` JSON files given with ``--cv`` (``mfcore cv als --data ml-100k
  --folds 5 --json F``).
* ``speed``: seconds per epoch of the ``loop``, ``vectorized`` and ``jit``
  engines on the whole of ``u1.base`` (one epoch each, after the compile),
  with the load average recorded: on a shared machine, a rough ratio only.

    python benchmarks/bench_als.py search|accuracy|speed|report [--cv als.json biased-mf.json ...]
"""
import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, ml100k_dir, write_atomic
from mfcore import ALS, BiasedMF
from mfcore.data import load_ml100k_split, random_split

K_GRID = (10, 25, 50, 100)
REG_GRID = (0.03, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2)
MAX_EPOCHS = 25
JSON = Path(RESULTS) / "als.json"


def load():
    return json.loads(JSON.read_text()) if JSON.exists() else {}


def save(data):
    """Write ``data`` over the stages already in the file (stages run in other processes)."""
    merged = load()
    merged.update({k: v for k, v in data.items() if k != "loadavg"})
    merged.setdefault("loadavg", {}).update(data.get("loadavg", {}))
    write_atomic(JSON, json.dumps(merged, indent=1))


def search(data):
    train, _ = load_ml100k_split(ml100k_dir(), "u1")
    parts = random_split(train, 0.1, rng=0)
    rows = []
    for K in K_GRID:
        for reg in REG_GRID:
            m = ALS(n_factors=K, reg=reg, n_epochs=MAX_EPOCHS, rng=0).fit(parts.train, valid=parts.test)
            val = m.history_["val_rmse"]
            best = int(np.argmin(val))
            rows.append({"K": K, "reg": reg, "best_epoch": best + 1, "best_val_rmse": float(val[best]),
                         "val_rmse": [float(v) for v in val]})
            print(f"K={K:4d} reg={reg:<5} best epoch {best + 1:2d}  holdout RMSE {val[best]:.4f}  "
                  f"(last {val[-1]:.4f})", flush=True)
    data["search"] = {"split": "u1.base 90/10, random_split(rng=0)", "max_epochs": MAX_EPOCHS,
                      "rows": rows}


def objective(model, train):
    """J of BiasedMF/ALS on the training ratings, divided by their number."""
    u, i, r = train.users, train.items, train.values
    P, Q = model.user_factors_, model.item_factors_
    bu, bi = model.user_bias_, model.item_bias_
    e = r - model.global_mean_ - bu[u] - bi[i] - np.einsum("nk,nk->n", P[u], Q[i])
    pen = bu[u] ** 2 + bi[i] ** 2 + np.einsum("nk,nk->n", P[u], P[u]) + np.einsum("nk,nk->n", Q[i], Q[i])
    return float(np.mean(0.5 * e ** 2 + 0.5 * model.reg * pen))


def accuracy(data, cv_files):
    train, test = load_ml100k_split(ml100k_dir(), "u1")
    d = ALS()
    pairs = [(d.n_factors, d.reg), (100, 0.05)]  # the als defaults; biased-mf's defaults
    rows = []
    for K, reg in pairs:
        for name, model in (("als", ALS(n_factors=K, reg=reg, rng=0)),
                            ("biased-mf", BiasedMF(n_factors=K, reg=reg, rng=0))):
            t0 = time.perf_counter()
            model.fit(train)
            seconds = time.perf_counter() - t0
            rep = model.evaluate(test)
            rows.append({"model": name, "K": K, "reg": reg, "n_epochs": model.n_epochs,
                         "u1_rmse": rep["rmse"], "u1_mae": rep["mae"], "fit_seconds": seconds,
                         "train_objective": objective(model, train)})
            print(rows[-1], flush=True)
    data["u1"] = rows
    data["cv"] = [json.loads(Path(f).read_text()) for f in cv_files]


def speed(data, K_list=(10, 20, 50)):
    train, _ = load_ml100k_split(ml100k_dir(), "u1")
    rows = []
    for K in K_list:
        row = {"K": K}
        for engine in ("jit", "vectorized", "loop"):
            m = ALS(n_factors=K, n_epochs=1, engine=engine, rng=0).fit(train)
            row[engine] = float(m.history_["seconds"][0])
            print(K, engine, row[engine], flush=True)
        row["jit_vs_loop"] = row["loop"] / row["jit"]
        row["vectorized_vs_loop"] = row["loop"] / row["vectorized"]
        rows.append(row)
    data["speed"] = {"rows": rows, "loadavg_before_after": None}
    return rows


def report(data):
    """Write ``als.md`` from ``als.json`` (no fitting)."""
    from _common import environment, markdown_table

    out = ["# ALS (`als`) on ML-100k", "",
           "Written by `benchmarks/bench_als.py report` from `als.json` (the stages `search`,",
           "`accuracy` and `speed` fill it). RMSE is clipped to 1-5. The machine is shared (2 cores,",
           "other jobs running); the load averages of each stage are at the end, and the speed",
           "figures are rough ratios measured under that load, not clean timings.", "",
           "## Summary", "",
           "- Issue 14's target, `als` within 0.005 RMSE of `biased-mf` at equal K and reg, is **not met**,",
           "  in either direction: at reg 0.12 (als's choice) als is 0.018 better on the 5 folds, at reg 0.05",
           "  (biased-mf's) 0.022 worse. The two minimize the same objective J, but only ALS reaches its",
           "  minimum: J / n on `u1.base` is far lower for als at equal reg (0.233 vs 0.310 at reg 0.05).",
           "  biased-mf's 35 SGD epochs from a small start stop well short of it, and that early stop is",
           "  a second regularizer, which is why SGD wins with a smaller reg. Equal reg is therefore not",
           "  an equal model here.",
           "- Each with its own tuned settings (both K=100), the 5-fold RMSE is als 0.9091 vs biased-mf",
           "  0.9033 (gap 0.0058), and on u1-u5 0.9123 vs 0.9063 (gap 0.0060).",
           "- Speed: the compiled epoch (`jit`) is hundreds of times faster than the `loop` engine (same",
           "  source, run by the Python interpreter), far above the 10x target, even allowing for the load.",
           ""]
    if "search" in data:
        s = data["search"]
        out += ["## How the defaults were chosen (no test ratings read)", "",
                f"Holdout: {s['split']}; every cell trained up to {s['max_epochs']} epochs, holdout",
                "RMSE after every epoch. Best epoch and RMSE per cell:", ""]
        Ks = sorted({r["K"] for r in s["rows"]})
        regs = sorted({r["reg"] for r in s["rows"]})
        cell = {(r["K"], r["reg"]): f"{r['best_val_rmse']:.4f} (ep {r['best_epoch']})" for r in s["rows"]}
        out += [markdown_table(["K \\ reg"] + [str(g) for g in regs],
                               [[K] + [cell.get((K, g), "-") for g in regs] for K in Ks]), ""]
        out += ["Chosen: K=100, reg=0.12, `n_epochs=6` (the best cell, 0.9093 at epochs 5-6; it ends",
                "at 0.9107 after 25 epochs, so the choice of epoch matters little). Small reg overfits:",
                "ALS reaches the minimum of the objective, where SGD (biased-mf, reg 0.05) stops early",
                "after 35 epochs from a small start. K=200 was dropped from the grid for time (its one",
                "finished cell, reg=0.03, scored 0.9366 at epoch 5).", ""]
    if "u1" in data:
        out += ["## Accuracy beside biased-mf at equal K and reg", "",
                "`u1.base` -> `u1.test`, rng=0, each model's other defaults (biased-mf: lr 0.01,",
                "35 epochs, init_std 0.01, engine blocks).", ""]
        out += [markdown_table(["model", "K", "reg", "epochs", "u1 RMSE", "u1 MAE", "J / n on u1.base",
                                "fit s (under load)"],
                               [[r["model"], r["K"], r["reg"], r["n_epochs"], r["u1_rmse"], r["u1_mae"],
                                 r["train_objective"], r["fit_seconds"]] for r in data["u1"]]), ""]
    if data.get("cv"):
        out += ["`mfcore cv MODEL --data ml-100k --folds 5` (seeded random 5-fold, seed 42; Surprise's",
                "protocol) and `--folds u1-u5` (the canonical files), mean +- std over folds:", ""]
        rows = [[c["model"], c["folds_spec"], c["params"]["n_factors"], c["params"]["reg"],
                 f"{c['rmse_mean']:.4f} +- {c['rmse_std']:.4f}", f"{c['mae_mean']:.4f}",
                 f"{c['fit_seconds']:.0f}"] for c in data["cv"]]
        out += [markdown_table(["model", "folds", "K", "reg", "RMSE", "MAE", "total fit s (under load)"],
                               rows), ""]
    if "speed" in data:
        out += ["## Engines: seconds per epoch on all of `u1.base` (80,000 ratings)", "",
                "One epoch each (users then items), after Numba's compile; measured under load,",
                "so only the ratios mean anything, and roughly. K=100 (the default) was not timed on the",
                "loop engine (an epoch would take tens of minutes there).", ""]
        out += [markdown_table(["K", "jit s", "vectorized s", "loop s", "loop / jit", "loop / vectorized"],
                               [[r["K"], r["jit"], r["vectorized"], r["loop"], f"{r['jit_vs_loop']:.0f}x",
                                 f"{r['vectorized_vs_loop']:.0f}x"] for r in data["speed"]["rows"]]), ""]
    out += ["## Load averages (1, 5, 15 min) before and after each stage", ""]
    out += [f"- {k}: before {', '.join(f'{x:.2f}' for x in v['before'])}; after "
            f"{', '.join(f'{x:.2f}' for x in v['after'])}" for k, v in data.get("loadavg", {}).items()]
    out += ["", "Every row of the `speed` stage ran while a `search` run (a first one, stopped and",
            "restarted without K=200) used the other core, beside the other agents' jobs: all",
            "times are inflated by the sharing and the ratios are rough."]
    pk = environment()["packages"]
    out += ["", f"numpy {pk['numpy']}, numba {pk['numba']}, {os.cpu_count()} CPUs."]
    write_atomic(Path(RESULTS) / "als.md", "\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=("search", "accuracy", "speed", "report"))
    ap.add_argument("--cv", nargs="*", default=())
    ap.add_argument("--K", type=int, nargs="*", default=(10, 20, 50))
    args = ap.parse_args()
    data = load()
    load0 = os.getloadavg()
    if args.stage == "search":
        search(data)
    elif args.stage == "accuracy":
        accuracy(data, args.cv)
    elif args.stage == "speed":
        speed(data, tuple(args.K))
    else:
        report(load())
        return
    data.setdefault("loadavg", {})[args.stage] = {"before": load0, "after": os.getloadavg()}
    if args.stage == "speed":
        from _common import environment
        data["environment"] = environment()
    save(data)


if __name__ == "__main__":
    main()
