"""Keras reference results, for the tour, the tutorials and the benchmarks.

The numbers come from ``benchmarks/keras_reference.py`` (TensorFlow, run by
hand; the full record is ``benchmarks/results/keras_reference.json``).
``benchmarks/package_reference.py`` copies the curves into the package as
``mfcore/data/keras_reference.json``, so they are available without
TensorFlow or the benchmarks folder.

Each entry is one Keras model on one split: ``model`` (mfcore's name for the
same model), ``variant``, ``dataset``, ``split`` (mfcore's split spec),
``seed``, ``settings``, ``best`` and ``final`` (``{"epoch", "val_rmse_clipped",
"val_rmse"}``), ``seconds_per_epoch``, and per-epoch lists ``val_rmse_clipped``,
``val_rmse`` and ``train_loss``. RMSE is over all test ratings, predictions
clipped to the rating scale for the ``_clipped`` figures.

:data:`SURPRISE_RMSE` holds the other outside yardstick the tutorials quote:
the Surprise library's ``BaselineOnly()`` and ``SVD()`` (SGD, 100 factors) with
their default settings, run on the same ML-100k splits (test RMSE, clipped).
"""
import functools
import json
from pathlib import Path

_FILE = Path(__file__).resolve().parent / "data" / "keras_reference.json"
_TOUR_FILE = Path(__file__).resolve().parent / "data" / "tour_reference.json"

#: Surprise (1.1) defaults on ML-100k, clipped test RMSE: {(dataset, split): {model: rmse}}
#: (measured by ``benchmarks/bench_baselines.py``: ``benchmarks/results/baselines.md``).
SURPRISE_RMSE = {
    ("ml-100k", "random:0.2"): {"BaselineOnly": 0.9514, "SVD": 0.9468},
    ("ml-100k", "u1"): {"BaselineOnly": 0.9599, "SVD": 0.9561},
}


@functools.lru_cache(maxsize=1)
def _entries():
    if not _FILE.is_file():  # pragma: no cover - shipped with the package
        return ()
    return tuple(json.loads(_FILE.read_text())["entries"])


def keras_entries(model=None, dataset=None, split=None):
    """All reference entries matching the given fields (None matches anything)."""
    return [e for e in _entries()
            if (model is None or e["model"] == model)
            and (dataset is None or e["dataset"] == dataset)
            and (split is None or e["split"] == split)]


def keras_curve(model, dataset="ml-100k", split="random:0.2", variant="default"):
    """The reference entry (a dict, see the module docstring) or None."""
    for e in keras_entries(model, dataset, split):
        if e["variant"] == variant:
            return e
    return None


def keras_reference(dataset, split, seed, model, variant="default", epoch=None):
    """Clipped test RMSE of the Keras counterpart of ``model`` on this data and split, or None.

    The final epoch's figure by default; with ``epoch`` (1-based), the figure
    after that many epochs (for a run shortened to fewer epochs).
    """
    e = keras_curve(model, dataset, split, variant)
    if e is None or (e["seed"] is not None and seed is not None and e["seed"] != seed):
        return None
    curve = e["val_rmse_clipped"]
    if epoch is not None and curve and epoch < len(curve):
        return curve[epoch - 1]
    return e["final"]["val_rmse_clipped"]


@functools.lru_cache(maxsize=1)
def _tour_runs():
    if not _TOUR_FILE.is_file():  # pragma: no cover - shipped with the package
        return ()
    return tuple(json.loads(_TOUR_FILE.read_text())["runs"])


def tour_reference(dataset, split, seed, model):
    """Clipped test RMSE of ``model`` with its *default* settings on this data, split and
    seed, as ``mfcore tour --full`` measured it (``benchmarks/bench_tour.py`` writes
    ``mfcore/data/tour_reference.json``), or None when that run does not cover it. The
    tour shows it beside a model it runs with faster settings."""
    for run in _tour_runs():
        if (run["data"], run["split"], run["seed"]) == (dataset, split, seed):
            row = run["rows"].get(model)
            return None if row is None else row["test_rmse"]
    return None
