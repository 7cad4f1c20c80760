"""Plots of rating data and training curves (matplotlib, imported only when a plot is drawn).

Every function draws on ``ax`` when given, or on a new figure otherwise, and
returns the Axes. The data plots are the usual first look at a rating set:
the distribution of rating values, how many ratings each user and each item
has (long-tailed, hence the ``log`` option), ratings per day, and items per
release year. The curve plots show a model's :class:`~mfcore.training.History`
and compare learning curves, e.g. mfcore against the Keras reference runs.
:func:`save_figure` writes a figure atomically.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .data.ratings import Ratings
from .exceptions import DataError
from .training import History

__all__ = ["plot_rating_distribution", "plot_ratings_per_user", "plot_ratings_per_item",
           "plot_ratings_per_day", "plot_items_per_release_year", "plot_history",
           "plot_learning_curves", "save_figure"]

_DAY = 86_400


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _check(ratings, what):
    if not isinstance(ratings, Ratings):
        raise TypeError(f"{what} expects mfcore Ratings; got {type(ratings).__name__}")
    if len(ratings) == 0:
        raise DataError(f"{what}: {ratings.name} has no ratings to plot")


def plot_rating_distribution(ratings, ax=None, normalize=False):
    """Bar chart of how often each rating value occurs.

    On a discrete scale there is one bar per level (levels nobody used get a
    zero bar); on a continuous scale, a 50-bin histogram. ``normalize=True``
    shows shares instead of counts.
    """
    _check(ratings, "plot_rating_distribution")
    ax = _axes(ax)
    s, v = ratings.scale, ratings.values
    weights = np.full(v.size, 1 / v.size) if normalize else None
    if s.step is not None:
        levels = s.levels
        pos = np.clip(np.round((v - s.low) / s.step).astype(np.int64), 0, levels.size - 1)
        counts = np.bincount(pos, weights=weights, minlength=levels.size)
        ax.bar(levels, counts, width=0.8 * s.step)
        ax.set_xticks(levels)
    else:
        ax.hist(v, bins=50, weights=weights)
    ax.set_xlabel("rating")
    ax.set_ylabel("share of ratings" if normalize else "number of ratings")
    ax.set_title(f"{len(ratings):,} ratings of {ratings.name}, mean {v.mean():.3f}")
    return ax


def _plot_counts(counts, who, name, bins, log, ax):
    counts = counts[counts > 0]
    ax = _axes(ax)
    if log:
        edges = np.unique(np.round(np.geomspace(1, counts.max() + 1, bins + 1)))
        ax.hist(counts, bins=edges)
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.hist(counts, bins=bins)
    ax.set_xlabel(f"ratings per {who}")
    ax.set_ylabel(f"number of {who}s")
    ax.set_title(f"{counts.size:,} {who}s of {name}: median {np.median(counts):g}, "
                 f"max {counts.max():,} ratings")
    return ax


def plot_ratings_per_user(ratings, bins=50, log=False, ax=None):
    """Histogram of the number of ratings per user (users with none are left out).

    ``log=True`` uses log-spaced bins and log axes, which suits long tails.
    """
    _check(ratings, "plot_ratings_per_user")
    return _plot_counts(ratings.user_counts(), "user", ratings.name, bins, log, ax)


def plot_ratings_per_item(ratings, bins=50, log=False, ax=None):
    """Histogram of the number of ratings per item (see :func:`plot_ratings_per_user`)."""
    _check(ratings, "plot_ratings_per_item")
    return _plot_counts(ratings.item_counts(), "item", ratings.name, bins, log, ax)


def plot_ratings_per_day(ratings, ax=None):
    """Line of the number of ratings given on each calendar day (UTC), days with none at 0.

    Needs timestamps in Unix seconds.
    """
    _check(ratings, "plot_ratings_per_day")
    if ratings.timestamps is None:
        raise DataError(f"plot_ratings_per_day: {ratings.name} has no timestamps; load a file "
                        "with a timestamp column")
    days = ratings.timestamps // _DAY
    first, span = int(days.min()), int(days.max() - days.min()) + 1
    if span > 200 * 366:
        raise DataError(f"plot_ratings_per_day: the timestamps of {ratings.name} span {span:,} "
                        "days; they must be Unix seconds (milliseconds? divide by 1000)")
    counts = np.bincount(days - first, minlength=span)
    ax = _axes(ax)
    ax.plot(np.arange(first, first + span).astype("datetime64[D]"), counts, linewidth=0.8)
    ax.set_xlabel("date")
    ax.set_ylabel("ratings per day")
    ax.set_title(f"{len(ratings):,} ratings of {ratings.name} over {span:,} days")
    return ax


def plot_items_per_release_year(ratings, ax=None):
    """Bar chart of the number of items released each year.

    Counts the items of ``ratings.item_map`` whose ``item_info`` has a ``year``;
    items without one are left out (the title says how many).
    """
    _check(ratings, "plot_items_per_release_year")
    info = ratings.item_info
    if info is None or "year" not in getattr(info, "columns", ()):
        raise DataError(f"plot_items_per_release_year: {ratings.name} has no item_info with a "
                        "'year' column; load the ratings together with the item file (titles)")
    years = info["year"].reindex(ratings.item_map.raw).to_numpy(dtype=np.float64, na_value=np.nan)
    known = years[np.isfinite(years)]
    if known.size == 0:
        raise DataError(f"plot_items_per_release_year: no item of {ratings.name} has a year")
    uniq, counts = np.unique(known.astype(np.int64), return_counts=True)
    ax = _axes(ax)
    ax.bar(uniq, counts, width=0.8)
    ax.set_xlabel("release year")
    ax.set_ylabel("number of items")
    missing = years.size - known.size
    ax.set_title(f"{known.size:,} items of {ratings.name} by release year"
                 + (f" ({missing:,} without a year)" if missing else ""))
    return ax


def _as_history(obj):
    if isinstance(obj, History):
        return obj.epoch, obj.metrics
    if isinstance(obj, Mapping):  # e.g. Keras' history.history
        n = max((len(v) for v in obj.values()), default=0)
        return list(range(1, n + 1)), obj
    if hasattr(obj, "history_"):
        if obj.history_ is None:
            raise ValueError(f"{type(obj).__name__} has no training history: fit it first "
                             "(only iterative models record one)")
        return _as_history(obj.history_)
    raise TypeError("plot_history expects a fitted model, a History or a dict of lists; "
                    f"got {type(obj).__name__}")


def plot_history(model_or_history, keys=("train_loss", "val_rmse", "test_rmse"), ax=None, label=None):
    """Plot per-epoch metrics of a model, a :class:`History` or a Keras-style dict.

    One line per key in ``keys`` that the history holds (missing keys are
    skipped; an error if none is there). ``label`` prefixes the legend entries,
    to tell runs apart on one Axes.
    """
    epochs, metrics = _as_history(model_or_history)
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    present = [k for k in keys if k in metrics]
    if not present:
        raise ValueError(f"none of the keys {list(keys)} is in the history; it has "
                         f"{sorted(metrics)}")
    ax = _axes(ax)
    for key in present:
        values = np.asarray(metrics[key], dtype=np.float64)
        ax.plot(epochs[:values.size], values, marker="o", markersize=3,
                label=f"{label}: {key}" if label else key)
    ax.set_xlabel("epoch")
    ax.set_ylabel(present[0] if len(present) == 1 else "value")
    ax.legend()
    return ax


def plot_learning_curves(curves, ax=None, ylabel="val RMSE"):
    """Plot several per-epoch curves on one Axes: ``{label: values}``, epochs from 1.

    Use it to put mfcore runs next to reference numbers, e.g.
    ``{"mfcore biased MF": model.history_["val_rmse"], "Keras": [0.97, 0.95, ...]}``.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("plot_learning_curves expects a non-empty dict {label: values}; "
                         f"got {curves!r}")
    ax = _axes(ax)
    for label, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(f"curve {label!r} must be 1-D (one value per epoch); "
                             f"got shape {values.shape}")
        ax.plot(np.arange(1, values.size + 1), values, marker="o", markersize=3, label=str(label))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def save_figure(fig, path, **savefig_kw):
    """Save a Figure (or an Axes' figure) to ``path`` atomically; return the Path.

    Parent folders are created. The file is written under a temporary name in
    the same folder, then renamed over ``path`` (``os.replace``), so a reader
    never sees half a file. The format follows the suffix (``.png``, ``.pdf``, ``.svg``).
    """
    fig = getattr(fig, "figure", fig) if not hasattr(fig, "savefig") else fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, **savefig_kw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
