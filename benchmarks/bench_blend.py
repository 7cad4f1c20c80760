"""The default blend against each of its base models, on ML-100k u1, ML-100k 80/20 and the bundled data.

One ``Blend()`` fit per split (defaults, rng 0): its base models are fitted on
the training ratings minus a held-out slice, the blender on their held-out
predictions, and the bases again on all the training ratings. Each refitted
base model is scored on the test set too: the single models with exactly the
blend's protocol and settings. The test set is used once, at the end.

    python benchmarks/bench_blend.py                 # about 30 minutes on 2 CPUs
    python benchmarks/bench_blend.py --splits u1

Writes ``benchmarks/results/blend.json`` and ``blend.md``.
"""
import argparse
import json
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS threads spin on 2 shared cores

from _common import RESULTS, load_average, markdown_table, ml100k_dir, write_results  # noqa: E402

PUBLISHED_U1 = {"GC-MC": 0.910, "IGMC": 0.905, "Sparse FC": 0.895, "GLocal-K": 0.889}
SPLITS = ("u1", "ml-100k 80/20", "ml-latest-small 80/20")


def load(split):
    from mfcore.data import load_dataset, load_ml100k, load_ml100k_split, random_split

    if split == "u1":
        return load_ml100k_split(ml100k_dir(), "u1")
    data = load_ml100k(ml100k_dir()) if split.startswith("ml-100k") else load_dataset("ml-latest-small")
    parts = random_split(data, 0.2, rng=42)
    return parts.train, parts.test


def main(argv=None):
    from mfcore import Blend

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS))
    args = p.parse_args(argv)
    out_json = RESULTS / "blend.json"
    rows = json.loads(out_json.read_text())["rows"] if out_json.exists() else {}
    load_before = load_average()
    for split in args.splits:
        train, test = load(split)
        t0 = time.perf_counter()
        blend = Blend(rng=0, verbose=1).fit(train)
        seconds = time.perf_counter() - t0
        single = {name: m.evaluate(test)["rmse"] for (name, _), m in zip(blend.specs_, blend.models_)}
        rows[split] = {"blend_rmse": blend.evaluate(test)["rmse"], "blend_mae": blend.evaluate(test)["mae"],
                       "single_rmse": single, "weights": blend.weights(), "alpha": blend.alpha_,
                       "holdout_rmse": blend.holdout_rmse_, "fit_seconds": seconds,
                       "n_train": len(train), "n_test": len(test)}
        best = min(single, key=single.get)
        print(f"{split}: blend {rows[split]['blend_rmse']:.4f}, best single {best} {single[best]:.4f}", flush=True)
    data = {"rows": rows, "published_u1": PUBLISHED_U1,
            "load_average": [load_before, load_average()]}
    names = sorted({n for r in rows.values() for n in r["single_rmse"]})
    table = [[split, f"{r['blend_rmse']:.4f}"] + [r["single_rmse"].get(n) for n in names]
             + [f"{min(r['single_rmse'].values()) - r['blend_rmse']:+.4f}", f"{r['fit_seconds']:.0f}"]
             for split, r in rows.items()]
    weights = [[split] + [f"{w:+.3f}" for w in r["weights"].values()] + [r["alpha"]] for split, r in rows.items()]
    text = ["# The default blend against its base models (test RMSE, clipped)", "",
            "`Blend()` with its defaults (rng 0): base models fitted on the training ratings minus a 20% "
            "held-out slice, a ridge blender (feature-weighted: user and item rating counts) on their "
            "held-out predictions with alpha chosen by 5-fold CV on the slice, then the bases refitted on "
            "all the training ratings. The single-model columns are those refitted base models: the same "
            "settings and data as inside the blend. 80/20 splits: `random_split(data, 0.2, rng=42)`. "
            f"Load average before/after: {data['load_average'][0]} / {data['load_average'][1]} on 2 CPUs.", "",
            markdown_table(["split", "blend"] + names + ["gain over the best single", "fit s"], table), "",
            "Weights at the average user and item (w_m0), and the chosen alpha:", "",
            markdown_table(["split"] + [f"w {n}" for n in next(iter(rows.values()))["weights"]] + ["alpha"],
                           weights), "",
            "Published on ML-100k u1 (test RMSE): " + ", ".join(f"{k} {v}" for k, v in PUBLISHED_U1.items())
            + ".", ""]
    write_results("blend", data, "\n".join(text))


if __name__ == "__main__":
    main()
