"""Filters that shrink a data set: minimum rating counts and the first rows of a file.

Both return a new :class:`~mfcore.data.ratings.Ratings`, compacted to new maps
(users and items without a rating left are dropped and re-indexed), and record
what was done in ``meta["filters"]``.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._validation import check_number
from ..exceptions import DataError
from .ratings import Ratings


def _check_ratings(ratings, owner):
    if not isinstance(ratings, Ratings):
        raise TypeError(f"{owner} expects mfcore Ratings; got {type(ratings).__name__}. "
                        "Load data with mfcore.data.load_dataset or Ratings.from_arrays")


def _record(ratings, note):
    return replace(ratings, meta={**ratings.meta,
                                  "filters": [*ratings.meta.get("filters", []), note]})


def filter_min_counts(ratings, min_user_ratings=1, min_item_ratings=1, iterate=False):
    """Keep the ratings of users and items with at least a given number of ratings.

    One pass counts ratings per user and per item on the input and keeps a
    rating when both its user and its item reach their threshold. Dropping
    rows lowers other counts, so after one pass some user or item can fall
    below its threshold again; ``iterate=True`` repeats the pass until nothing
    changes (the "k-core" of the data), so every kept user and item meets its
    threshold.

    Parameters
    ----------
    ratings : Ratings
    min_user_ratings, min_item_ratings : int >= 1
        Thresholds (inclusive).
    iterate : bool
        Repeat until stable.

    Returns
    -------
    Ratings
        Rows in their original order, compacted to new maps.

    Raises
    ------
    DataError
        If no rating survives.

    Examples
    --------
    >>> dense = filter_min_counts(ratings, 20, 20, iterate=True)   # doctest: +SKIP
    """
    owner = "filter_min_counts"
    _check_ratings(ratings, owner)
    mu = check_number(min_user_ratings, "min_user_ratings", owner, kind="int", low=1,
                      low_inclusive=True)
    mi = check_number(min_item_ratings, "min_item_ratings", owner, kind="int", low=1,
                      low_inclusive=True)
    keep = np.ones(len(ratings), dtype=bool)
    passes = 0
    while True:
        passes += 1
        uc = np.bincount(ratings.users[keep], minlength=ratings.n_users)
        ic = np.bincount(ratings.items[keep], minlength=ratings.n_items)
        new = keep & (uc[ratings.users] >= mu) & (ic[ratings.items] >= mi)
        changed = new.sum() != keep.sum()
        keep = new
        if not (iterate and changed):
            break
    if not keep.any():
        raise DataError(f"{ratings.name}: no rating is left with min_user_ratings={mu} and "
                        f"min_item_ratings={mi} (the busiest user has "
                        f"{int(ratings.user_counts().max(initial=0))} ratings, the most rated item "
                        f"{int(ratings.item_counts().max(initial=0))}); lower the thresholds")
    out = ratings.subset(keep).compact()
    return _record(out, {"filter": "min_counts", "min_user_ratings": mu,
                         "min_item_ratings": mi, "iterate": bool(iterate), "passes": passes,
                         "n_before": len(ratings), "n_after": len(out)})


def _first_count(n, fraction):
    """floor(fraction * n), robust to rounding: 0.29 * 100 is 28.999... in floating point."""
    return int(np.floor(round(fraction * n, 6)))


def first_fraction(ratings, fraction, compact=True):
    """The first ``floor(fraction * n)`` rows, in their order (e.g. file order).

    This is how one reference notebook subsamples ML-20M: the first 25% of
    ``ratings.csv`` (5,000,065 of 20,000,263 rows). Because MovieLens files are
    sorted by user, the result holds about that fraction of the users with
    all of their ratings, not a random sample.

    Parameters
    ----------
    ratings : Ratings
    fraction : float in (0, 1]
    compact : bool
        Re-index to the users and items that remain (default), or keep the
        input's maps.

    Returns
    -------
    Ratings
    """
    owner = "first_fraction"
    _check_ratings(ratings, owner)
    fraction = check_number(fraction, "fraction", owner, low=0, high=1)
    n = _first_count(len(ratings), fraction)
    if n == 0:
        raise DataError(f"{ratings.name}: fraction={fraction} of {len(ratings)} ratings keeps "
                        "no rating; use a larger fraction")
    out = ratings.subset(np.arange(n))
    if compact:
        out = out.compact()
    return _record(out, {"filter": "first_fraction", "fraction": fraction,
                         "n_before": len(ratings), "n_after": n})
