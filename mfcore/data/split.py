"""Train/test splits of a :class:`~mfcore.data.ratings.Ratings`.

Every split returns a :class:`TrainTest` whose two parts share one pair of id
maps (made with :meth:`Ratings.subset`), so an index means the same user or
item in both. A test user (item) with no rating in train is *unknown* to a
model trained on it; :meth:`TrainTest.report` counts such test ratings.

All random splits take ``rng`` (None, an int seed or a Generator, SPEC 7): an
int seed gives the same split on every call, a Generator advances.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .._random import as_generator
from .._validation import check_number, plain_repr
from ..exceptions import DataError
from .ratings import IdMap, Ratings

__all__ = ["TrainTest", "random_split", "holdout_per_user", "warm_split", "temporal_split",
           "kfold", "predefined_split", "split_from_spec"]


class TrainTest(NamedTuple):
    """A train part and a test part over the same id maps."""

    train: Ratings
    test: Ratings

    def report(self):
        """Sizes and unknown counts: a dict for printing and JSON.

        Keys: ``n_train``, ``n_test``, ``test_fraction``, ``n_test_unknown_user``
        (test ratings whose user has no train rating), ``n_test_unknown_item``
        and ``n_test_unknown_any`` (user or item unknown).
        """
        train, test = self.train, self.test
        tu = train.user_map.reindex(test.users, test.user_map)
        ti = train.item_map.reindex(test.items, test.item_map)
        known_u = np.bincount(train.users, minlength=len(train.user_map)) > 0
        known_i = np.bincount(train.items, minlength=len(train.item_map)) > 0
        unk_u = (tu < 0) | ~known_u[np.maximum(tu, 0)]
        unk_i = (ti < 0) | ~known_i[np.maximum(ti, 0)]
        n = len(train) + len(test)
        return {"n_train": len(train), "n_test": len(test),
                "test_fraction": len(test) / n if n else 0.0,
                "n_test_unknown_user": int(unk_u.sum()), "n_test_unknown_item": int(unk_i.sum()),
                "n_test_unknown_any": int((unk_u | unk_i).sum())}


def _check_ratings(ratings, owner):
    if not isinstance(ratings, Ratings):
        raise TypeError(f"{owner} expects mfcore Ratings; got {type(ratings).__name__}. "
                        "Build one with Ratings.from_arrays or a loader in mfcore.data")
    if len(ratings) < 2:
        raise DataError(f"{owner}: {ratings.name} has {len(ratings)} rating(s); "
                        "a split needs at least 2")


def _n_test(n, test_size, owner):
    """Number of test rows: ``round(n * test_size)`` for a fraction, or an int count."""
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        n_test = check_number(test_size, "test_size", owner, kind="int", low=1, high=n - 1,
                              low_inclusive=True)
    else:
        frac = check_number(test_size, "test_size", owner, low=0, high=1, high_inclusive=False)
        n_test = int(round(n * frac))
    if n_test == 0 or n_test == n:
        part = "test" if n_test == 0 else "train"
        raise ValueError(f"{owner}: with {n} ratings and test_size={plain_repr(test_size)} the {part} part "
                         "would be empty; use a larger data set or another test_size")
    return n_test


def _pair(ratings, train_rows, test_rows):
    return TrainTest(ratings.subset(train_rows, name=f"{ratings.name}[train]"),
                     ratings.subset(test_rows, name=f"{ratings.name}[test]"))


def random_split(ratings, test_size=0.2, rng=None):
    """Shuffle the ratings and cut: the first part is train, the rest test.

    With ``perm = numpy.random.default_rng(rng).permutation(n)`` and
    ``n_test = round(n * test_size)``, train holds rows ``perm[:n - n_test]`` and
    test rows ``perm[n - n_test:]``, both in that permuted order. On ML-100k's
    ``u.data`` in file order, ``rng=42`` gives the Keras reference 80/20 split.

    Parameters
    ----------
    ratings : Ratings
    test_size : float in (0, 1) or int, default 0.2
        Fraction of the ratings (or number of ratings) put in test.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    TrainTest
    """
    _check_ratings(ratings, "random_split")
    n = len(ratings)
    n_test = _n_test(n, test_size, "random_split")
    perm = as_generator(rng).permutation(n)
    return _pair(ratings, perm[:n - n_test], perm[n - n_test:])


def _first_per_user(users, order, n_hold, if_none):
    """Mask of the first ``n_hold[u]`` rows of each user u in ``order`` (``users[order]`` sorted);
    a ValueError saying ``if_none`` when that is no row at all."""
    k = users[order]
    start = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    first = np.repeat(start, np.diff(np.r_[start, k.size]))
    rank = np.arange(k.size) - first  # position of each row within its user's run
    mask = np.zeros(users.size, dtype=bool)
    mask[order[rank < n_hold[k]]] = True
    if not mask.any():
        raise ValueError(if_none)
    return mask


def holdout_per_user(ratings, k=None, fraction=None, rng=None, min_train=1):
    """Hold out ``k`` random ratings (or a ``fraction``) of every user.

    A user with ``n_u`` ratings gives ``min(k, n_u - min_train)`` ratings (or
    ``round(fraction * n_u)``, capped the same way) to test, so every user keeps
    at least ``min_train`` ratings in train; users with ``n_u <= min_train`` stay
    in train entirely. Both parts keep the original row order.

    Parameters
    ----------
    ratings : Ratings
    k : int >= 1, optional
    fraction : float in (0, 1), optional
        Give exactly one of ``k`` and ``fraction``.
    rng : None, int or numpy.random.Generator
    min_train : int >= 0, default 1
    """
    owner = "holdout_per_user"
    _check_ratings(ratings, owner)
    if (k is None) == (fraction is None):
        raise ValueError(f"{owner}: give exactly one of k (ratings per user) and fraction; "
                         f"got k={plain_repr(k)}, fraction={plain_repr(fraction)}")
    min_train = check_number(min_train, "min_train", owner, kind="int", low=0, low_inclusive=True)
    counts = ratings.user_counts()
    if k is not None:
        k = check_number(k, "k", owner, kind="int", low=1, low_inclusive=True)
        n_hold = np.full(counts.shape, k)
    else:
        fraction = check_number(fraction, "fraction", owner, low=0, high=1, high_inclusive=False)
        n_hold = np.round(counts * fraction).astype(np.int64)
    n_hold = np.clip(np.minimum(n_hold, counts - min_train), 0, None)
    perm = as_generator(rng).permutation(len(ratings))
    order = perm[np.argsort(ratings.users[perm], kind="stable")]  # users grouped, random within
    is_test = _first_per_user(ratings.users, order, n_hold, f"{owner}: no user has more than min_train="
                              f"{min_train} ratings to hold out; lower min_train or raise k/fraction")
    return _pair(ratings, np.flatnonzero(~is_test), np.flatnonzero(is_test))


def warm_split(ratings, test_size=0.2, rng=None):
    """A random split in which every test user and test item also has a train rating.

    Rows are shuffled as in :func:`random_split`. In that order, the first
    rating of each user and the first rating of each item are pinned to train;
    test is the first ``round(n * test_size)`` of the remaining rows, so the
    pinned ratings keep every user and item known. A user or item with a single
    rating never reaches test. When fewer rows can go to test than requested,
    all of them do and a ``UserWarning`` gives the achieved fraction (also in
    ``report()["test_fraction"]``). Both parts keep the permuted order.
    """
    owner = "warm_split"
    _check_ratings(ratings, owner)
    n = len(ratings)
    n_test = _n_test(n, test_size, owner)
    perm = as_generator(rng).permutation(n)
    pinned = np.zeros(n, dtype=bool)  # by position in perm
    pinned[np.unique(ratings.users[perm], return_index=True)[1]] = True
    pinned[np.unique(ratings.items[perm], return_index=True)[1]] = True
    free = np.flatnonzero(~pinned)
    if free.size < n_test:
        import warnings

        warnings.warn(f"warm_split: only {free.size} of {n} ratings can go to test with every user "
                      f"and item kept in train (test fraction {free.size / n:.4f} instead of "
                      f"{n_test / n:.4f})", UserWarning, stacklevel=2)
        n_test = free.size
    if n_test == 0:
        raise DataError(f"warm_split: no rating of {ratings.name} can go to test without leaving a "
                        "user or item with no train rating")
    is_test = np.zeros(n, dtype=bool)
    is_test[free[:n_test]] = True
    return _pair(ratings, perm[~is_test], perm[is_test])


def temporal_split(ratings, test_size=0.2, per_user=False):
    """Put the latest ratings in test.

    Globally (``per_user=False``) test holds the ``round(n * test_size)`` latest
    ratings. With ``per_user=True`` each user gives its ``round(test_size * n_u)``
    latest ratings, keeping at least one in train. Equal timestamps are ordered
    by row, so the split is deterministic. Both parts keep the original row order.
    """
    owner = "temporal_split"
    _check_ratings(ratings, owner)
    if ratings.timestamps is None:
        raise DataError(f"temporal_split: {ratings.name} has no timestamps; load a file with a "
                        "timestamp column or use random_split")
    n = len(ratings)
    if not per_user:
        order = np.argsort(ratings.timestamps, kind="stable")
        is_test = np.zeros(n, dtype=bool)
        is_test[order[n - _n_test(n, test_size, owner):]] = True
    else:
        frac = check_number(test_size, "test_size", owner, low=0, high=1, high_inclusive=False)
        counts = ratings.user_counts()
        n_hold = np.minimum(np.round(counts * frac).astype(np.int64), counts - 1)
        order = np.lexsort((-ratings.timestamps, ratings.users))  # by user, latest first
        is_test = _first_per_user(ratings.users, order, n_hold, f"{owner}: test_size={plain_repr(test_size)} "
                                  "holds out no rating of any user; raise test_size")
    return _pair(ratings, np.flatnonzero(~is_test), np.flatnonzero(is_test))


def kfold(ratings, n_splits=5, rng=None):
    """An iterator of ``n_splits`` TrainTest pairs; each rating is in exactly one test fold.

    The rows are shuffled once (``permutation(n)``) and cut into ``n_splits``
    contiguous folds whose sizes differ by at most one (the first ``n % n_splits``
    folds are one larger). Fold f's train is the other folds in permuted order.
    Arguments are checked at the call, and the permutation is drawn then.
    """
    perm, bounds = _folds(ratings, n_splits, rng)
    return (_pair(ratings, np.r_[perm[:a], perm[b:]], perm[a:b])
            for a, b in zip(bounds[:-1], bounds[1:]))


def _folds(ratings, n_splits, rng):
    """The permutation and the fold boundaries of :func:`kfold`."""
    _check_ratings(ratings, "kfold")
    n = len(ratings)
    n_splits = check_number(n_splits, "n_splits", "kfold", kind="int", low=2, high=n,
                            low_inclusive=True)
    sizes = np.full(n_splits, n // n_splits) + (np.arange(n_splits) < n % n_splits)
    return as_generator(rng).permutation(n), np.r_[0, np.cumsum(sizes)]


def _union_map(a, b):
    ra, rb = a.raw, b.raw
    if (ra.dtype.kind in "iu") != (rb.dtype.kind in "iu"):
        ra, rb = ra.astype(str), rb.astype(str)
    return IdMap(np.union1d(ra, rb))


def _merge(train, test):
    """Re-express two Ratings over one shared pair of id maps (union of raw ids).

    The scale is the train part's; item metadata is the train part's, else the
    test part's. Test users or items absent from train stay in the maps with no
    train rating, so they count as unknown.
    """
    umap = _union_map(train.user_map, test.user_map)
    imap = _union_map(train.item_map, test.item_map)
    parts = []
    for r in (train, test):
        u = umap.to_index(r.user_map.raw.astype(umap.raw.dtype)[r.users])
        i = imap.to_index(r.item_map.raw.astype(imap.raw.dtype)[r.items])
        parts.append(replace(r, users=u, items=i, user_map=umap, item_map=imap, scale=train.scale,
                             item_info=train.item_info if train.item_info is not None
                             else test.item_info, meta=dict(r.meta)))
    return TrainTest(*parts)


def predefined_split(train_path, test_path, **read_kw):
    """Read a train file and a test file (e.g. ML-100k ``u1.base``/``u1.test``).

    Both are read with :func:`mfcore.data.readers.read_ratings` (``read_kw`` is
    passed on) and merged over one pair of id maps, so indices agree; the scale
    is the train file's. Test ratings outside it get a warning (a train file's
    inferred scale may lack a rare extreme, so it is not an error).
    """
    from .readers import read_ratings

    train, test = read_ratings(train_path, **read_kw), read_ratings(test_path, **read_kw)
    outside = (test.values < train.scale.low) | (test.values > train.scale.high)
    if outside.any():
        warnings.warn(f"{int(outside.sum()):,} of {len(test):,} ratings in {test_path} lie outside the "
                      f"training file's scale {train.scale} (from {test.values.min():g} to "
                      f"{test.values.max():g}): check that both files hold ratings on the same scale",
                      UserWarning, stacklevel=2)
    return _merge(train, test)


SPEC_FORMS = ("random:F", "user:F (fraction per user)", "user:K (ratings per user)", "warm:F",
              "temporal:F", "temporal-user:F", "kfold:N:I (fold I of N, 1-based)")


def split_from_spec(ratings, spec, rng=None):
    """Split by a short text spec, as the CLI takes it.

    Forms: ``random:0.2``, ``user:0.2`` (fraction per user), ``user:5`` (k per
    user), ``warm:0.2``, ``temporal:0.2``, ``temporal-user:0.2``, ``kfold:5:1``
    (fold 1 of 5, 1-based).
    """
    bad = ValueError(f"unknown split spec {spec!r}; accepted forms are "
                     f"{', '.join(SPEC_FORMS)} (F a fraction in (0, 1), K, N, I ints)")
    parts = str(spec).strip().lower().split(":")
    kind, args = parts[0], parts[1:]
    try:
        nums = [float(a) if any(c in a for c in ".e") else int(a) for a in args]
    except ValueError:
        raise bad from None
    if kind == "kfold" and len(nums) == 2 and all(isinstance(x, int) for x in nums):
        n_splits, fold = nums
        if n_splits < 2:
            raise ValueError(f"split spec {spec!r}: k-fold needs N >= 2 folds; got {n_splits}")
        if not 1 <= fold <= n_splits:
            raise ValueError(f"split spec {spec!r}: fold must be in 1..{n_splits}; got {fold}")
        perm, bounds = _folds(ratings, n_splits, rng)
        a, b = bounds[fold - 1], bounds[fold]
        return _pair(ratings, np.r_[perm[:a], perm[b:]], perm[a:b])
    if kind == "kfold" and len(nums) == 2:
        raise ValueError(f"split spec {spec!r}: kfold:N:I takes two whole numbers (N folds >= 2, fold I in "
                         "1..N), e.g. kfold:5:1")
    if len(nums) != 1:
        raise bad
    x = nums[0]
    if kind in ("random", "warm", "temporal", "temporal-user") and isinstance(x, int):
        raise ValueError(f"split spec {spec!r}: the test fraction F must be a fraction in (0, 1), written "
                         f"with a decimal point, e.g. {kind}:0.2")
    frac = float(x) if isinstance(x, float) else None
    if kind in ("random", "warm", "temporal", "temporal-user", "user") and frac is not None and not 0 < frac < 1:
        raise ValueError(f"split spec {spec!r}: the test fraction F must be in (0, 1); got {frac:g}, "
                         f"e.g. {kind}:0.2")
    if kind == "user" and frac is None and x < 1:
        raise ValueError(f"split spec {spec!r}: K, the test ratings per user, must be a whole number >= 1; "
                         f"got {x}, e.g. user:5 (or a fraction: user:0.2)")
    if kind == "random" and frac is not None:
        return random_split(ratings, frac, rng=rng)
    if kind == "user":
        return (holdout_per_user(ratings, fraction=frac, rng=rng) if frac is not None
                else holdout_per_user(ratings, k=x, rng=rng))
    if kind == "warm" and frac is not None:
        return warm_split(ratings, frac, rng=rng)
    if kind in ("temporal", "temporal-user") and frac is not None:
        return temporal_split(ratings, frac, per_user=kind == "temporal-user")
    raise bad
