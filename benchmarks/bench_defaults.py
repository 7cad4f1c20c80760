"""Every registered model with its DEFAULT settings against the global mean and the biases.

Three splits: the bundled ml-latest-small (random 80/20, rng 42), ML-100k u1
(u1.base/u1.test) and ML-100k random 80/20 (rng 42). Each model is fitted once
on the training part (validation, where a model stops early, is carved from the
training part; the test ratings are read once, after the fit) and scored on the
test part (RMSE clipped to the rating scale). A run that ends with
DivergenceError is recorded as such.

Run: ``MFCORE_DATA_DIR=/path/to/data python benchmarks/bench_defaults.py``
(``--models a b`` and ``--splits small u1 80/20`` run a subset and merge into
the existing results/default_settings.json).
"""
import argparse
import json
import time
import warnings

from _common import RESULTS, markdown_table, ml100k_dir, write_results

from mfcore import DivergenceError, get_model_class, make_model, model_names
from mfcore.data import load_dataset
from mfcore.data.movielens import load_ml100k, load_ml100k_split
from mfcore.data.split import random_split

SPLITS = ("small", "u1", "80/20")


def load_split(name):
    if name == "small":
        parts = random_split(load_dataset("ml-latest-small"), 0.2, rng=42)
        return parts.train, parts.test
    if name == "u1":
        return load_ml100k_split(ml100k_dir(), "u1")
    parts = random_split(load_ml100k(ml100k_dir()), 0.2, rng=42)
    return parts.train, parts.test


def run_one(name, train, test):
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = make_model(name, **({"rng": 42} if "rng" in make_model(name)._param_names() else {}))
            model.fit(train)
        except DivergenceError as exc:
            return {"error": str(exc), "seconds": time.perf_counter() - t0}
    rep = model.evaluate(test)
    out = {"rmse": rep["rmse"], "mae": rep["mae"], "seconds": time.perf_counter() - t0,
           "warnings": sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)})}
    if model.history_ is not None and model.history_.diverged:
        out["diverged"] = model.history_.diverged
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    args = parser.parse_args(argv)
    path = RESULTS / "default_settings.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    results = old.get("results", {})
    # implicit-feedback models rank items: their RMSE means nothing (see bench_implicit / bench_bpr)
    names = args.models or [n for n in model_names() if not get_model_class(n).implicit]
    for split in args.splits:
        train, test = load_split(split)
        base = results.setdefault(split, {})
        base["global_mean_rmse"] = make_model("mean").fit(train).evaluate(test)["rmse"]
        base["biases_rmse"] = make_model("biases").fit(train).evaluate(test)["rmse"]
        for name in names:
            base.setdefault("models", {})[name] = r = run_one(name, train, test)
            print(split, name, {k: v for k, v in r.items() if k != "warnings"}, flush=True)
            write(results)  # after every model: a long run can be stopped and resumed
    write(results)


def write(results):
    names = [n for n in model_names() if any(n in results.get(s, {}).get("models", {}) for s in SPLITS)]
    rows = []
    for name in names:
        row = [name]
        for split in SPLITS:
            r = results.get(split, {}).get("models", {}).get(name)
            if r is None:
                row += [None, None]
            elif "error" in r:
                row += ["diverged", None]
            else:
                mark = "" if r["rmse"] <= results[split]["biases_rmse"] else " (worse than biases)"
                if r["rmse"] > results[split]["global_mean_rmse"]:
                    mark = " (**worse than the mean**)"
                if name in ("mean", "biases"):
                    mark = " (the reference)"
                row += [f"{r['rmse']:.4f}{mark}", r["seconds"]]
        rows.append(row)
    ref = ["*global mean / biases*"]
    for split in SPLITS:
        b = results.get(split, {})
        ref += [f"{b['global_mean_rmse']:.4f} / {b['biases_rmse']:.4f}" if b else None, None]
    md = ["# Every model with its default settings", "",
          "Test RMSE clipped to the rating scale; fit seconds on the 2-core machine (wall, loaded "
          "by whatever else ran). Splits: bundled ml-latest-small random 80/20 (rng 42), ML-100k "
          "u1.base/u1.test, ML-100k random 80/20 (rng 42). Validation, where a model stops early, "
          "is carved from the training part. `python benchmarks/bench_defaults.py` regenerates it.",
          "", markdown_table(["model", "ml-latest-small", "s", "ML-100k u1", "s", "ML-100k 80/20", "s"],
                             [ref] + rows)]
    write_results("default_settings", {"results": results}, "\n".join(md))


if __name__ == "__main__":
    main()
