"""The main job: train every model mfcore has on one dataset and print a table.

``mfcore tour`` (or :func:`run_tour`) loads the data (the bundled
ml-latest-small by default, so it works offline), makes the seeded random
80/20 split, fits each registered model with its default settings, and prints
model, test RMSE and MAE (clipped to the rating scale), fit seconds, and the
Keras reference RMSE where one was measured on the same data and split. Plots
(learning curves, RMSE per model, the rating distribution) go to a folder.
"""
from __future__ import annotations

import os
import time

from .reference import keras_reference, tour_reference

# A few models are slow with their defaults on a 2-core machine. The tour runs them
# with faster settings that reach within 0.01 RMSE of their full-default result on the
# tour's own data and split (the "defaults" column of the table shows that result,
# from ``mfcore/data/tour_reference.json``, written by ``benchmarks/bench_tour.py``;
# both columns side by side: ``benchmarks/results/tour.md``).
# ``mfcore tour --full`` runs every model with its defaults.
TOUR_OVERRIDES = {
    "i-autorec": {"n_epochs": 4},  # of 12 L-BFGS rounds
    # of 12 epochs, and 5 (s, y) pairs of 20: L-BFGS keeps 2 x lbfgs_memory x 9.1 million
    # floats on this data (its input is the 9,066 items): 2.9 GB at 20 pairs, 0.7 GB at 5
    "u-autorec": {"n_epochs": 7, "lbfgs_memory": 5},
    "rbm": {"n_epochs": 25},  # of 80
    "rncf": {"n_epochs": 1},  # of 15, with early stopping
    # its default bases include i-autorec and rbm, each fitted twice; these five fast ones
    # blend to within about 0.002 of it (0.0021, benchmarks/results/tour.md)
    "blend": {"models": "biases,biased-mf,svd,item-knn,svdpp"},
}


def _tour_params(cls, fast, full=False):
    params = {} if full else dict(TOUR_OVERRIDES.get(cls.name, {}))
    names = cls._param_names()
    if "verbose" in names:
        params["verbose"] = 0
    if fast and "n_epochs" in names:
        default = params.get("n_epochs", cls().n_epochs)
        params["n_epochs"] = min(default, 3)
    return params


def run_tour(data="ml-latest-small", out="mfcore-output", fast=False, models=None, json_path=None,
             seed=42, split="random:0.2", stream=None, full=False):
    """Fit every model on ``data`` and print the comparison table; returns the rows.

    Parameters
    ----------
    data : str
        Dataset name or path (see ``mfcore datasets``).
    out : str or None
        Folder for the plots (created). None writes no plots.
    fast : bool
        At most 3 epochs per model: a smoke run.
    full : bool
        Every model with its default settings (no :data:`TOUR_OVERRIDES`).
    models : list of str, optional
        Only these models (default: all registered).
    json_path : str, optional
        Also write the rows as JSON.
    """
    import sys

    from .data.datasets import load_dataset
    from .data.split import split_from_spec
    from .models.registry import get_model_class, model_names

    stream = stream or sys.stdout
    ratings = load_dataset(data)
    tt = split_from_spec(ratings, split, rng=seed)
    train, test = tt.train, tt.test
    print(f"mfcore tour on {ratings.name}: {len(train):,} train / {len(test):,} test ratings "
          f"({split}, seed {seed}), {ratings.n_users:,} users x {ratings.n_items:,} items, "
          f"scale {ratings.scale}", file=stream)
    names = models or model_names()
    rows, curves, failed = [], {}, []  # curves: each model's per-epoch test RMSE (the models are not kept)
    for name in names:
        cls = get_model_class(name)
        params = _tour_params(cls, fast, full)
        changed = {k: v for k, v in params.items() if k != "verbose"}
        if "rng" in cls._param_names():
            params["rng"] = seed
        model = cls(**params)
        t0 = time.perf_counter()
        # the test curve, recorded only; not for ranking models (their curve is not an RMSE, and
        # bpr's per-epoch AUC over every item costs more than its training)
        try:
            model.fit(train, monitor=test if cls.iterative and not cls.implicit else None)
        except (ValueError, FloatingPointError, MemoryError) as exc:  # bad data for it, a divergence:
            failed.append({"model": name, "error": str(exc)})            # the other models still run
            print(f"  {name:<17} failed: {exc}", file=stream, flush=True)
            continue
        seconds = time.perf_counter() - t0
        rep = model.evaluate(test)
        notebook = getattr(cls, "NOTEBOOK_SETTINGS", {})  # the Keras run used these settings
        same = all(getattr(model, k) == v for k, v in notebook.items())
        ref = keras_reference(ratings.name, split, seed, name, epoch=changed.get("n_epochs")) if same else None
        full_rmse = tour_reference(ratings.name, split, seed, name) if changed else None
        rows.append({"model": name, "test_rmse": rep["rmse"], "test_mae": rep["mae"],
                     "test_rmse_unclipped": rep["rmse_unclipped"], "fit_seconds": seconds,
                     "keras_rmse": ref, "changed_params": changed, "implicit": bool(cls.implicit),
                     "notebook": cls.notebook, "default_rmse": full_rmse})
        history = model.history_
        if history is not None and "test_rmse_clipped" in history and len(history) > 1 and not cls.implicit:
            curves[name] = list(history["test_rmse_clipped"])
        if cls.implicit:  # a ranking model: its RMSE means nothing
            from .model_selection import ranking_metrics

            rows[-1]["ranking"] = ranking_metrics(model, test)
            print(f"  {name:<17} NDCG@10 {rows[-1]['ranking']['ndcg@10']:.4f}  ({seconds:.1f}s)",
                  file=stream, flush=True)
        else:
            print(f"  {name:<17} RMSE {rep['rmse']:.4f}  ({seconds:.1f}s)", file=stream, flush=True)

    if not rows:
        from .exceptions import DataError

        raise DataError(f"every model failed on {ratings.name} (the lines above say why); try one "
                        "model with `mfcore train MODEL --data ...` and its flags")
    print("", file=stream)
    print(format_table(rows), file=stream)
    shortened = [f"{r['model']} ({', '.join(f'{k}={v}' for k, v in r['changed_params'].items())})"
                 for r in rows if r["changed_params"]]
    if shortened:
        print("\nfaster settings in the tour: " + "; ".join(shortened) + ". `defaults` is the same "
              "model's test RMSE with its default settings on this data, split and seed (measured "
              "once, shipped with mfcore); the Keras column is the Keras model after the same number "
              "of epochs. `mfcore tour --full` runs every model with its defaults.", file=stream)
    if any(r["notebook"] for r in rows):
        print("notebook: the seed notebook whose model the defaults reproduce as it was built "
              "(toy, Netflix, ML-1M, residual); its accuracy is that design's, not tuned "
              "(`mfcore models` says how each compares).", file=stream)
    if failed:
        print(f"\nfailed on this data: {', '.join(f['model'] for f in failed)} (the lines above say why; "
              "`mfcore train MODEL --data ...` takes the flags that fix it)", file=stream)
    if out:
        paths = write_plots(ratings, curves, rows, out)
        print(f"\nplots written to {os.path.abspath(out)}: {', '.join(os.path.basename(p) for p in paths)}",
              file=stream)
    if json_path:
        from ._json import write_json

        write_json(json_path, {"data": ratings.name, "split": split, "seed": seed,
                               "n_train": len(train), "n_test": len(test), "rows": rows, "failed": failed})
    return rows


def format_table(rows):
    """The tour's table as text (RMSE/MAE clipped to the rating scale), then the ranking models'."""
    def fmt(x):
        return f"{x:.4f}" if x is not None else "-"

    head = (f"{'model':<17} {'notebook':<8} {'test RMSE':>9} {'defaults':>8} {'MAE':>7} {'fit s':>7} "
            f"{'Keras RMSE':>10}")
    lines = [head, "-" * len(head)]
    for r in sorted((r for r in rows if not r.get("implicit")), key=lambda r: r["test_rmse"]):
        lines.append(f"{r['model']:<17} {r.get('notebook') or '-':<8} {r['test_rmse']:>9.4f} "
                     f"{fmt(r.get('default_rmse')):>8} {r['test_mae']:>7.4f} {r['fit_seconds']:>7.2f} "
                     f"{fmt(r['keras_rmse']):>10}")
    ranked = sorted((r for r in rows if r.get("implicit")), key=lambda r: -r["ranking"]["ndcg@10"])
    if ranked:
        head = f"{'ranking model':<17} {'NDCG@10':>9} {'P@10':>7} {'fit s':>7}"
        lines += ["", head, "-" * len(head)]
        lines += [f"{r['model']:<17} {r['ranking']['ndcg@10']:>9.4f} {r['ranking']['precision@10']:>7.4f} "
                  f"{r['fit_seconds']:>7.2f}" for r in ranked]
        lines.append("(implicit-feedback models rank items: test ratings >= 4 are the relevant ones, "
                     "training items are excluded from the top 10)")
    return "\n".join(lines)


def write_plots(ratings, curves, rows, out):
    """Learning curves, RMSE per model and the rating distribution, as PNG files in ``out``.

    ``curves``: {model name: its test RMSE per epoch} (the iterative rating models).
    """
    import matplotlib

    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plot_learning_curves, plot_rating_distribution, save_figure

    os.makedirs(out, exist_ok=True)
    paths = []
    rows = [r for r in rows if not r.get("implicit")] or rows  # RMSE bars: rating models only
    if curves:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        plot_learning_curves(curves, ax=ax, ylabel="test RMSE (clipped)")
        for k, line in enumerate(ax.get_lines()):  # more curves than colours: vary the style
            line.set_linestyle(("-", "--", ":")[k // 10 % 3])
        best = min(float(min(c)) for c in curves.values())
        ax.set_ylim(best * 0.97, best * 1.3)  # zoom on the useful range; slow starts go off the top
        ax.legend(fontsize="small", ncol=2)
        ax.set_title(f"Learning curves on {ratings.name}")
        paths.append(save_figure(fig, os.path.join(out, "learning_curves.png")))
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.5))
    ordered = sorted(rows, key=lambda r: r["test_rmse"], reverse=True)
    ax.barh([r["model"] for r in ordered], [r["test_rmse"] for r in ordered], color="tab:blue")
    lo = min(r["test_rmse"] for r in rows)
    ax.set_xlim(lo * 0.95, max(r["test_rmse"] for r in rows) * 1.01)
    ax.set_xlabel("test RMSE (clipped)")
    ax.set_title(f"Models on {ratings.name}")
    fig.tight_layout()
    paths.append(save_figure(fig, os.path.join(out, "rmse_by_model.png")))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_rating_distribution(ratings, ax=ax)
    paths.append(save_figure(fig, os.path.join(out, "rating_distribution.png")))
    plt.close(fig)
    return paths
