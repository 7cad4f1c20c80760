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
* ``converged``: the same comparison with both models trained to the minimum of their
  shared objective J (ALS for ``CONVERGED_EPOCHS["als"]`` epochs, biased-mf's SGD for
  ``CONVERGED_EPOCHS["biased-mf"]``), on ``u1`` and on the 5 seeded folds of ``mfcore cv
  --folds 5``: J / n on the training ratings shows each reached it. At equal K and reg
  the two should then agree; with their default epoch counts they differ because
  biased-mf's 35 epochs stop far from the minimum.
* ``speed``: seconds per epoch of the ``loop``, ``vectorized`` and ``jit``
  engines on the whole of ``u1.base`` (one epoch each, after the compile),
  with the load average recorded: on a shared machine, a rough ratio only.

    python benchmarks/bench_als.py search|accuracy|converged|speed|report [--cv als.json biased-mf.json ...]
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
CONVERGED_EPOCHS = {"als": 30, "biased-mf": 400}
CONVERGED_PAIRS = ((100, 0.12), (100, 0.05))  # als's defaults; biased-mf's


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


def converged(data):
    from mfcore.data import load_ml100k
    from mfcore.model_selection import kfold_folds

    u1 = [("u1",) + tuple(load_ml100k_split(ml100k_dir(), "u1"))]
    folds = list(kfold_folds(load_ml100k(ml100k_dir()), 5, rng=42))
    rows = []
    for K, reg in CONVERGED_PAIRS:
        for name, make in (("als", lambda: ALS(n_factors=K, reg=reg, n_epochs=CONVERGED_EPOCHS["als"], rng=0)),
                           ("biased-mf", lambda: BiasedMF(n_factors=K, reg=reg, lr=0.01, rng=0,
                                                          n_epochs=CONVERGED_EPOCHS["biased-mf"]))):
            for split, fold_list in (("u1", u1), ("5-fold", folds)):
                rmse, obj = [], []
                for _, train, test in fold_list:
                    model = make().fit(train)
                    rmse.append(model.evaluate(test)["rmse"])
                    obj.append(objective(model, train))
                rows.append({"model": name, "K": K, "reg": reg, "n_epochs": CONVERGED_EPOCHS[name],
                             "split": split, "rmse": float(np.mean(rmse)), "rmse_folds": rmse,
                             "train_objective": float(np.mean(obj))})
                print(rows[-1], flush=True)
    data["converged"] = rows


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
           "- Issue 14's target, `als` within 0.005 RMSE of `biased-mf` at equal K and reg: **met when",
           "  both minimize their shared objective J** (the section \"At equal K and reg, both at the",
           "  minimum of J\" below: at most 0.002 apart on u1 and on the 5 folds, with equal J / n), and",
           "  **not met with biased-mf's default 35 epochs**: at reg 0.12 (als's choice) als is then 0.018",
           "  better on the 5 folds, at reg 0.05 (biased-mf's) 0.022 worse. 35 SGD epochs from a small",
           "  start stop far short of the minimum (J / n 0.310 against 0.232 at reg 0.05), and that early",
           "  stop is a second regularizer, which is why SGD's tuned reg is smaller. Equal reg is an equal",
           "  model only at the minimum.",
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
    if "converged" in data:
        c = {(r["model"], r["reg"], r["split"]): r for r in data["converged"]}
        out += ["## At equal K and reg, both at the minimum of J", "",
                f"ALS for {CONVERGED_EPOCHS['als']} epochs, biased-mf (SGD, lr 0.01) for "
                f"{CONVERGED_EPOCHS['biased-mf']} epochs, other settings default; u1 and the 5 seeded folds",
                "of `mfcore cv --folds 5` (mean over folds). J / n is the objective on the training ratings.",
                ""]
        table = []
        for K, reg in CONVERGED_PAIRS:
            for split in ("u1", "5-fold"):
                a, b = c[("als", reg, split)], c[("biased-mf", reg, split)]
                table.append([K, reg, split, a["rmse"], b["rmse"], a["rmse"] - b["rmse"],
                              a["train_objective"], b["train_objective"]])
        out += [markdown_table(["K", "reg", "split", "als RMSE", "biased-mf RMSE", "als - biased-mf",
                                "als J / n", "biased-mf J / n"], table), ""]
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
    ap.add_argument("stage", choices=("search", "accuracy", "converged", "speed", "report"))
    ap.add_argument("--cv", nargs="*", default=())
    ap.add_argument("--K", type=int, nargs="*", default=(10, 20, 50))
    args = ap.parse_args()
    data = load()
    load0 = os.getloadavg()
    if args.stage == "search":
        search(data)
    elif args.stage == "accuracy":
        accuracy(data, args.cv)
    elif args.stage == "converged":
        converged(data)
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
