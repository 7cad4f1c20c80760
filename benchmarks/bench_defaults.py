"""Every registered model with its DEFAULT settings against the global mean and the biases.

Three splits: the bundled ml-latest-small (random 80/20, rng 42), ML-100k u1
(u1.base/u1.test) and ML-100k random 80/20 (rng 42). Each model is fitted once
on the training part (validation, where a model stops early, is carved from the
training part; the test ratings are read once, after the fit) and scored on the
test part (RMSE clipped to the rating scale). A run that ends with
DivergenceError is recorded as such.

Run: ``MFCORE_DATA_DIR=/path/to/data python benchmarks/bench_defaults.py``
(``--models a b`` and ``--splits small u1 80/20`` run a subset and merge into
the existing results/default_settings.json). ``--replaced`` runs instead the
notebook settings that a model's defaults replaced (``REPLACED``) on the same
splits, with every stage's training-loss curve: the figures behind the
"Defaults and the notebook's settings" sections of the docstrings.
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
REPLACED = {"rncf": "NOTEBOOK_SETTINGS"}  # model -> the class attribute holding the settings its defaults replaced


def load_split(name):
    if name == "small":
        parts = random_split(load_dataset("ml-latest-small"), 0.2, rng=42)
        return parts.train, parts.test
    if name == "u1":
        return load_ml100k_split(ml100k_dir(), "u1")
    parts = random_split(load_ml100k(ml100k_dir()), 0.2, rng=42)
    return parts.train, parts.test


def run_one(name, train, test, settings=None, curves=False):
    """Fit ``name`` (its defaults, or them updated with ``settings``) with rng 42 where it has
    one; ``curves``: also keep the training-loss curve of every stage (``stage_histories_``)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = make_model(name, **({"rng": 42} if "rng" in make_model(name)._param_names() else {}),
                               **(settings or {}))
            model.fit(train)
        except DivergenceError as exc:
            return {"error": str(exc), "seconds": time.perf_counter() - t0}
    rep = model.evaluate(test)
    out = {"rmse": rep["rmse"], "mae": rep["mae"], "seconds": time.perf_counter() - t0,
           "warnings": sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)})}
    if model.history_ is not None and model.history_.diverged:
        out["diverged"] = model.history_.diverged
    if curves:
        stages = dict(getattr(model, "stage_histories_", {}), last=model.history_)
        out["train_loss"] = {k: [float(v) for v in h["train_loss"]] for k, h in stages.items()}
        out["stage_diverged"] = {k: h.diverged for k, h in stages.items() if h.diverged}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    parser.add_argument("--replaced", action="store_true", help="run the settings the defaults replaced")
    args = parser.parse_args(argv)
    path = RESULTS / "default_settings.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    results, replaced = old.get("results", {}), old.get("replaced", {})
    if args.replaced:
        for split in args.splits:
            train, test = load_split(split)
            for name, attr in REPLACED.items():
                settings = getattr(get_model_class(name), attr)
                replaced.setdefault(split, {})[name] = r = run_one(name, train, test, settings, curves=True)
                r["settings"] = settings
                print(split, name, settings, {k: v for k, v in r.items() if k != "warnings"}, flush=True)
        return write(results, replaced)
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
            write(results, replaced)  # after every model: a long run can be stopped and resumed
    write(results, replaced)


def write(results, replaced):
    """Write the table of ``results`` and the ``--replaced`` runs (split -> model -> run)."""
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
    if replaced:
        md += ["", "## Settings the defaults replaced (rng 42)", "",
               "`python benchmarks/bench_defaults.py --replaced`: the notebook's settings on the same splits, "
               "with the training loss of every stage, epoch by epoch (stage 3's is `last`). A stage whose loss "
               "passes the divergence bound stops, and its best epoch is restored (by its training loss).", ""]
        for split, name in [(s, n) for s, models in replaced.items() for n in models]:
            r = replaced[split][name]
            setting = " ".join(f"{k}={v}" for k, v in r["settings"].items())
            result = "diverged" if "error" in r else f"test RMSE {r['rmse']:.4f}"
            default = results.get(split, {}).get("models", {}).get(name, {}).get("rmse")
            md.append(f"- {split}, `{name}` with `{setting}`: {result} (its defaults: "
                      f"{default if default is None else f'{default:.4f}'}; global mean "
                      f"{results.get(split, {}).get('global_mean_rmse', float('nan')):.4f}).")
            for stage, loss in r.get("train_loss", {}).items():
                d = r.get("stage_diverged", {}).get(stage)
                md.append(f"  - {stage}: " + ", ".join(f"{v:.4g}" for v in loss) + (
                    f"; diverged at epoch {d['epoch']} (loss {d['loss']:.4g}), epoch {d['restored_epoch']} "
                    "restored" if d else ""))
    write_results("default_settings", {"results": results, "replaced": replaced}, "\n".join(md))


if __name__ == "__main__":
    main()
