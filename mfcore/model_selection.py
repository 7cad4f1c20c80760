"""Cross-validation: the same model fitted and scored on several train/test folds.

    from mfcore import BiasedMF
    from mfcore.model_selection import cross_validate, ml100k_folds, kfold_folds

    res = cross_validate(BiasedMF(), ml100k_folds("u1-u5"))      # ML-100k's canonical folds
    res = cross_validate(BiasedMF(), kfold_folds(ratings, 5, rng=42))  # seeded k-fold, any data
    res["rmse_mean"], res["rmse_std"], res["folds"][0]["rmse"]

Each fold gets a fresh copy of the model (same parameters, same seed), fitted on
the fold's training ratings only: early stopping and every other choice made
during fitting use validation ratings carved from those (see
:meth:`mfcore.models.base.Recommender.fit`), never the fold's test ratings.
The test ratings score the fitted model once. ``mfcore cv`` is the command line
of :func:`cross_validate`.

The spread is the sample standard deviation over folds (``ddof=1``), as in
LensKit's and Surprise's published tables; with one fold it is reported as 0.
"""
from __future__ import annotations

import time

import numpy as np

from .exceptions import DataError

CANONICAL = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")  # ML-100k's predefined train/test files


def parse_folds(spec):
    """``"u1-u5"``, ``"u1,u3"``, ``"ua,ub"`` -> a tuple of ML-100k fold names; ``"5"`` or 5 -> 5.

    Raises ValueError naming the accepted forms for anything else.
    """
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        n = int(spec)
    else:
        text = str(spec).strip().lower()
        if text.isdigit():
            n = int(text)
        else:
            names = []
            for part in filter(None, (p.strip() for p in text.split(","))):
                if "-" in part:
                    a, _, b = part.partition("-")
                    if a in CANONICAL[:5] and b in CANONICAL[:5] and a <= b:
                        names += [f"u{k}" for k in range(int(a[1]), int(b[1]) + 1)]
                        continue
                    names = None
                    break
                if part not in CANONICAL:
                    names = None
                    break
                names.append(part)
            if not names:
                raise ValueError(
                    f"folds {spec!r} not understood: give a number of folds (e.g. 5, seeded k-fold on "
                    f"any data), or ML-100k's canonical folds by name: a range like u1-u5, or a "
                    f"comma-separated list of {', '.join(CANONICAL)}")
            if len(set(names)) != len(names):
                raise ValueError(f"folds {spec!r} names a fold twice")
            return tuple(names)
    if n < 2:
        raise ValueError(f"folds {spec!r}: k-fold cross-validation needs at least 2 folds")
    return n


def ml100k_folds(names="u1-u5", path=None):
    """``(name, train, test)`` for ML-100k's canonical folds, read one at a time.

    ``names``: as :func:`parse_folds` (a spec string or a tuple of names); ``path``: the
    ``ml-100k`` folder (None: ``$MFCORE_DATA_DIR/ml-100k`` or the download cache).
    """
    from .data.datasets import find_dataset
    from .data.movielens import load_ml100k_split

    if isinstance(names, str):
        names = parse_folds(names)
    if isinstance(names, int):
        raise ValueError("ml100k_folds takes fold names (u1-u5, ua, ub); for k-fold use kfold_folds")
    folder = path or find_dataset("ml-100k")
    if folder is None:
        raise DataError("ML-100k was not found: run `mfcore fetch ml-100k` (downloads it into "
                        "mfcore's cache), or set MFCORE_DATA_DIR to a folder holding ml-100k/")
    for name in names:
        train, test = load_ml100k_split(folder, name)
        yield name, train, test


def kfold_folds(ratings, n_splits=5, rng=None):
    """``(name, train, test)`` for a seeded k-fold split of ``ratings`` (names "fold1".."foldk").

    The folds of :func:`mfcore.data.split.kfold`: every rating is tested exactly once.
    """
    from .data.split import kfold

    for k, tt in enumerate(kfold(ratings, n_splits, rng=rng), 1):
        yield f"fold{k}", tt.train, tt.test


RANKING = ("precision@10", "recall@10", "ndcg@10", "map@10")


def ranking_metrics(model, test, threshold=4.0):
    """Precision, recall, NDCG and MAP at 10 of ``model`` on ``test`` (a test rating >= ``threshold``
    is relevant; training items are excluded from the lists): the scores of implicit-feedback models."""
    from .ranking import ranking_report

    rep = ranking_report(model, test, k=10, threshold=threshold)
    return {m: float(rep[m]) for m in RANKING}


def fresh_copy(model):
    """An unfitted model with the same parameters (and so the same seed) as ``model``."""
    return type(model)(**model.get_params())


def cross_validate(model, folds, on_fold=None):
    """Fit a fresh copy of ``model`` on each fold's training ratings and score it on its test ratings.

    Parameters
    ----------
    model : Recommender
        Its parameters are copied for every fold (it is not fitted itself).
    folds : iterable of (name, train, test)
        :func:`ml100k_folds`, :func:`kfold_folds`, or any such triples.
    on_fold : callable or None
        Called as ``on_fold(row)`` after each fold (the command line prints with it).

    Returns
    -------
    dict
        ``folds``: one row per fold (name, n_train, n_test, rmse, mae, rmse_unclipped,
        mae_unclipped, n_unknown, fit_seconds, best_epoch); ``rmse_mean``, ``rmse_std``,
        ``mae_mean``, ``mae_std`` over folds (clipped to the rating scale, std with ddof=1);
        ``fit_seconds`` in total. For an implicit-feedback model (``model.implicit``) also
        ``precision@10``, ``recall@10``, ``ndcg@10``, ``map@10`` per fold (:func:`ranking_metrics`)
        and their ``_mean`` and ``_std``.
    """
    rows = []
    for name, train, test in folds:
        est = fresh_copy(model)
        t0 = time.perf_counter()
        try:
            est.fit(train)
        except (ValueError, DataError, FloatingPointError) as exc:
            raise type(exc)(f"fold {name}: {exc}") from exc
        seconds = time.perf_counter() - t0
        rep = est.evaluate(test)
        hist = getattr(est, "history_", None)
        row = {"fold": name, "n_train": len(train), "n_test": len(test),
               "rmse": rep["rmse"], "mae": rep["mae"], "rmse_unclipped": rep["rmse_unclipped"],
               "mae_unclipped": rep["mae_unclipped"], "n_unknown": rep["n_unknown"],
               "fit_seconds": seconds,
               "best_epoch": hist.best("val_rmse")[0] if hist is not None and "val_rmse" in hist else None}
        if getattr(est, "implicit", False):  # a ranking model: its RMSE means nothing
            row.update(ranking_metrics(est, test))
        rows.append(row)
        if on_fold is not None:
            on_fold(row)
    if not rows:
        raise ValueError("cross_validate got no folds")
    out = {"folds": rows, "fit_seconds": float(sum(r["fit_seconds"] for r in rows))}
    for metric in ("rmse", "mae") + (RANKING if "ndcg@10" in rows[0] else ()):
        values = np.array([r[metric] for r in rows])
        out[f"{metric}_mean"] = float(values.mean())
        out[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out
