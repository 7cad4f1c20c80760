"""Every model with its defaults on ML-100k's five canonical folds u1-u5, and the blend.

The same protocol as ``mfcore cv MODEL --data ml-100k --folds u1-u5``
(:func:`mfcore.model_selection.cross_validate`): a fresh copy of the model per
fold, fitted on ``uK.base`` only (early stopping carves its validation ratings
from it), scored once on ``uK.test``; RMSE and MAE clipped to 1-5; mean and
sample standard deviation over the folds. Published figures beside them.

    python benchmarks/bench_cv.py                    # every model (about an hour on 2 CPUs)
    python benchmarks/bench_cv.py --models biases blend --folds u1

Writes ``benchmarks/results/cv_ml100k.json`` and ``cv_ml100k.md`` after every model (merging
rows: a run with ``--models`` replaces only those models' rows).
"""
import argparse
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS threads spin on 2 shared cores

from _common import RESULTS, environment, load_average, markdown_table, ml100k_dir, write_results  # noqa: E402

# Published test RMSE on ML-100k (u1 alone, or the mean over five folds).
PUBLISHED = [
    ("GLocal-K (Han et al. 2021)", "u1", 0.889),
    ("Sparse FC (Muller et al. 2018)", "u1", 0.895),
    ("IGMC (Zhang and Chen 2020)", "u1", 0.905),
    ("GC-MC (van den Berg et al. 2017)", "u1", 0.910),
    ("Surprise SVD++", "5-fold", 0.919),
    ("Surprise KNNBaseline", "5-fold", 0.931),
    ("Surprise SVD", "5-fold", 0.934),
]
SKIP = {"u-autorec", "rncf"}  # slow: u-autorec (L-BFGS over 2 x 1682 x 500 weights), rncf (three stages)


def main(argv=None):
    from mfcore.model_selection import cross_validate, ml100k_folds, parse_folds
    from mfcore.models.registry import get_model_class, model_names

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", help="default: every registered model but "
                   + ", ".join(sorted(SKIP)))
    p.add_argument("--folds", default="u1-u5")
    args = p.parse_args(argv)
    folds = parse_folds(args.folds)
    names = args.models or [n for n in model_names() if n not in SKIP and not get_model_class(n).implicit]
    load_before = load_average()
    for name in names:
        model = get_model_class(name)()
        if "rng" in model.get_params():
            model.set_params(rng=0)
        print(f"{name}:", flush=True)
        res = cross_validate(model, ml100k_folds(folds, ml100k_dir()),
                             on_fold=lambda r: print(f"  {r['fold']} RMSE {r['rmse']:.4f} "
                                                     f"({r['fit_seconds']:.0f}s)", flush=True))
        res["folds_spec"] = args.folds
        print(f"  mean {res['rmse_mean']:.4f} +- {res['rmse_std']:.4f}", flush=True)
        save({name: res}, load_before)  # after every model: a long run keeps what it finished


def save(new_rows, load_before):
    """Merge ``new_rows`` into results/cv_ml100k.json (read again now) and rewrite the table."""
    out_json = RESULTS / "cv_ml100k.json"
    rows = json.loads(out_json.read_text())["rows"] if out_json.exists() else {}
    rows.update(new_rows)
    data = {"rows": rows, "published": PUBLISHED, "environment": environment(),
            "load_average": [load_before, load_average()]}
    table = []
    for name, r in sorted(rows.items(), key=lambda kv: kv[1]["rmse_mean"]):
        u1 = next((f["rmse"] for f in r["folds"] if f["fold"] == "u1"), None)
        table.append([name, r["folds_spec"], f"{r['rmse_mean']:.4f} +- {r['rmse_std']:.4f}",
                      f"{r['mae_mean']:.4f} +- {r['mae_std']:.4f}", f"{u1:.4f}" if u1 else "-",
                      f"{r['fit_seconds'] / len(r['folds']):.0f}"])
    text = ["# Every model on ML-100k's canonical folds (`mfcore cv MODEL --data ml-100k --folds u1-u5`)",
            "",
            "Defaults, seed 0; a fresh model per fold fitted on uK.base only (validation, where a model "
            "stops early, is carved from uK.base), scored once on uK.test. RMSE and MAE clipped to 1-5; "
            "mean +- sample standard deviation over the folds. Load average before/after: "
            f"{data['load_average'][0]} / {data['load_average'][1]} on 2 CPUs (fit seconds move with it).",
            "", markdown_table(["model", "folds", "RMSE", "MAE", "RMSE u1", "fit s per fold"], table), "",
            "Published (test RMSE):", "",
            markdown_table(["method", "protocol", "RMSE"], [[m, f, f"{v:.3f}"] for m, f, v in PUBLISHED]),
            "", (f"Not run: {', '.join(sorted(set(SKIP) - set(rows)))} (see SKIP in the script). "
                 if set(SKIP) - set(rows) else "")
            + f"{', '.join(sorted(set(SKIP) & set(rows)))}: run on their own (`--models`), being slow. "
            "Implicit-feedback models (ranked, not rated) are not in this table.", ""]
    write_results("cv_ml100k", data, "\n".join(text))

if __name__ == "__main__":
    main()
