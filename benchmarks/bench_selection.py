"""Choosing the epoch on the test set vs on validation ratings: how optimistic is the old habit?

The seed notebooks passed the test ratings to Keras as ``validation_data`` and
stopped (and reported "best @ epoch") on them. mfcore now chooses epochs on
validation ratings carved from the training set and records the test curve as
a monitor only. This script measures, on ML-100k's random 80/20 split (rng 42):

* ``test-selected``: early stopping and best-epoch restore on the TEST ratings
  (the old ``fit(train, valid=test)``, what ``mfcore train`` did before);
* ``validation-selected``: early stopping on 10% of the training ratings,
  test ratings only monitored (``fit(train, monitor=test)``, what
  ``mfcore train`` does now);
* from one run without early stopping: the minimum of the test curve (the
  notebooks' "best @ epoch") against the test RMSE at the epoch that the
  validation curve of a 90/10 fit picks.

Run: ``MFCORE_DATA_DIR=/path/to/data python benchmarks/bench_selection.py``
(writes results/selection.json and results/selection.md).
"""
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from _common import flags, markdown_table, ml100k_dir, write_results

from mfcore import make_model
from mfcore.data.movielens import load_ml100k
from mfcore.data.split import random_split


# model, parameters, epochs for the no-early-stopping curve
MODELS = [
    ("dot-mf", {}, 30),
    ("biased-mf-keras", {"early_stopping": True}, 15),
    ("biased-mf", {"early_stopping": True, "n_epochs": 80}, 80),
]


def run_model(name, params, epochs, train, test):
    out = {"model": name, "params": params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        old = make_model(name, rng=42, **params).fit(train, valid=test)  # the leak
        out["test_selected"] = {"test_rmse": old.evaluate(test)["rmse"], "epoch": old.history_.best_epoch,
                                "seconds": time.perf_counter() - t0}
        t0 = time.perf_counter()
        new = make_model(name, rng=42, **params).fit(train, monitor=test)
        out["validation_selected"] = {"test_rmse": new.evaluate(test)["rmse"],
                                      "epoch": new.history_.best_epoch, "n_valid": new.n_valid_,
                                      "seconds": time.perf_counter() - t0}
        # one long run on the 90% part: the test curve (monitor) and the validation curve
        free = dict(params, early_stopping=False, n_epochs=epochs)
        fit_part, valid = random_split(train, 0.1, rng=np.random.default_rng(42))
        curve = make_model(name, rng=42, **free).fit(fit_part, valid=valid, monitor=test).history_
    test_curve, val_curve = curve["test_rmse_clipped"], curve["val_rmse"]
    e_test, e_val = int(np.argmin(test_curve)), int(np.argmin(val_curve))
    out["curves"] = {"test_rmse_clipped": test_curve.tolist(), "val_rmse": val_curve.tolist(),
                     "best_on_test": {"epoch": e_test + 1, "test_rmse": float(test_curve[e_test])},
                     "chosen_on_validation": {"epoch": e_val + 1, "test_rmse": float(test_curve[e_val])}}
    return out


def run_cli(folder):
    """``mfcore train dot-mf`` on ML-100k 80/20 (rng 42), as a user would run it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.json"
        cmd = [sys.executable, "-m", "mfcore", "train", "dot-mf", "--data", str(folder), "--split",
               "random:0.2", "--seed", "42", "--quiet", "--json", str(path)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        rec = json.loads(path.read_text())
    return {k: rec[k] for k in ("test_rmse", "best_epoch", "n_valid", "n_fit", "stopped_epoch")}


def main():
    folder = ml100k_dir()
    train, test = random_split(load_ml100k(folder), 0.2, rng=42)
    rows, results = [], []
    for name, params, epochs in MODELS:
        r = run_model(name, params, epochs, train, test)
        results.append(r)
        c = r["curves"]
        rows.append([name, r["test_selected"]["test_rmse"], r["test_selected"]["epoch"],
                     r["validation_selected"]["test_rmse"], r["validation_selected"]["epoch"],
                     c["best_on_test"]["test_rmse"], c["best_on_test"]["epoch"],
                     c["chosen_on_validation"]["test_rmse"], c["chosen_on_validation"]["epoch"]])
        print(rows[-1], flush=True)
    cli = run_cli(folder)
    md = ["# Choosing the epoch on test vs on validation (ML-100k, random 80/20, rng 42)", "",
          "RMSE clipped to 1-5. *test-selected*: early stopping and best-epoch restore on the test "
          "ratings (the seed notebooks' `validation_data=test`, and `mfcore train` before this "
          "change). *validation-selected*: early stopping on 10% of the training ratings, the test "
          "ratings only monitored (`mfcore train` now). The last four columns come from one run "
          "without early stopping on 90% of the training ratings: the minimum of the test curve "
          "(the notebooks' \"best @ epoch\") and the test RMSE at the epoch the validation curve "
          "picks.", "",
          markdown_table(["model", "test-selected", "epoch", "validation-selected", "epoch",
                          "min of test curve", "epoch", "test at validation's epoch", "epoch"], rows),
          "", f"`mfcore train dot-mf --data ml-100k --split random:0.2 --seed 42`: test RMSE "
          f"{cli['test_rmse']:.4f}, best epoch {cli['best_epoch']} chosen on {cli['n_valid']:,} "
          f"validation ratings carved from the {cli['n_fit'] + cli['n_valid']:,} training ratings.",
          "", "The validation-selected runs fit on 90% of the training ratings, so part of their "
          "gap to the test-selected figure is the smaller training set; the last four columns "
          "isolate the choice of epoch (one 90% fit, two ways to pick its epoch): the optimism of "
          "picking on test is " + ", ".join(
              f"{r['model']} {r['curves']['chosen_on_validation']['test_rmse'] - r['curves']['best_on_test']['test_rmse']:.4f}"
              for r in results) + ".",
          "", "A test-selected figure is optimistic by construction: the epoch (and, with "
          "restore, the parameters) that minimise the test error are kept, so the reported number "
          "is the minimum of a noisy curve, not an estimate of the error on new ratings."]
    write_results("selection", {"split": "ml-100k random 80/20 rng 42", "models": results, "cli": cli},
                  "\n".join(md))


if __name__ == "__main__":
    flags(__doc__)
    main()
