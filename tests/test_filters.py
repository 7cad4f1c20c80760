"""filter_min_counts and first_fraction."""
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfcore.data import Ratings, filter_min_counts, first_fraction, load_dataset
from mfcore.data.filters import _first_count
from mfcore.exceptions import DataError


def pairs(r):
    return list(zip(r.user_map.raw[r.users].tolist(), r.item_map.raw[r.items].tolist()))


def make(rows, values=None):
    users, items = zip(*rows)
    values = values if values is not None else np.arange(1, len(rows) + 1, dtype=float)
    return Ratings.from_arrays(np.array(users), np.array(items), values, name="t")


# d, e x w, x is a 2-core; a and y hang on to it by one rating each.
CHAIN = [("d", "w"), ("d", "x"), ("e", "w"), ("e", "x"), ("a", "x"), ("a", "y"), ("b", "y")]


def test_one_pass_is_not_stable_but_iterate_is():
    r = make(CHAIN)
    once = filter_min_counts(r, 2, 2)
    assert pairs(once) == CHAIN[:6]                     # only b's rating goes
    assert once.item_counts().min() == 1                # ...which leaves y with one rating
    core = filter_min_counts(r, 2, 2, iterate=True)
    assert pairs(core) == CHAIN[:4]
    assert core.user_counts().min() >= 2 and core.item_counts().min() >= 2
    assert (core.n_users, core.n_items) == (2, 2)       # compacted to new maps
    assert core.values.tolist() == [1.0, 2.0, 3.0, 4.0]  # rows keep their order
    note = core.meta["filters"][-1]
    assert note["passes"] == 4 and note["n_before"] == 7 and note["n_after"] == 4


def k_core_one_row_at_a_time(rows, mu, mi):
    """Naive reference: drop any one row whose user or item is under its threshold, repeat."""
    rows = list(rows)
    while True:
        uc, ic = Counter(u for u, _ in rows), Counter(i for _, i in rows)
        bad = next((k for k, (u, i) in enumerate(rows) if uc[u] < mu or ic[i] < mi), None)
        if bad is None:
            return rows
        del rows[bad]


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), min_size=1, max_size=60,
                     unique=True),
       mu=st.integers(1, 4), mi=st.integers(1, 4))
def test_iterate_gives_the_k_core(rows, mu, mi):
    expected = k_core_one_row_at_a_time(rows, mu, mi)
    if not expected:
        with pytest.raises(DataError, match="no rating is left"):
            filter_min_counts(make(rows), mu, mi, iterate=True)
    else:
        assert pairs(filter_min_counts(make(rows), mu, mi, iterate=True)) == expected


def test_thresholds_of_one_only_compact(tiny_ratings):
    out = filter_min_counts(tiny_ratings)
    assert len(out) == len(tiny_ratings) and pairs(out) == pairs(tiny_ratings)
    assert tiny_ratings.n_items == 5 and out.n_items == 4   # the unrated item 'z' is dropped


def test_min_user_only(tiny_ratings):
    out = filter_min_counts(tiny_ratings, min_user_ratings=3)
    assert set(out.user_map.raw.tolist()) == {"a", "b", "d"}
    assert len(out) == 9


@pytest.mark.parametrize("kw, err, msg", [
    ({"min_user_ratings": 0}, ValueError, "'min_user_ratings' parameter of filter_min_counts "
                                          "must be an int >= 1. Got 0 instead."),
    ({"min_item_ratings": 2.5}, TypeError, "'min_item_ratings' parameter of filter_min_counts"),
])
def test_filter_argument_errors(tiny_ratings, kw, err, msg):
    with pytest.raises(err, match=msg):
        filter_min_counts(tiny_ratings, **kw)


def test_filter_needs_ratings():
    with pytest.raises(TypeError, match="filter_min_counts expects mfcore Ratings; got list"):
        filter_min_counts([1, 2, 3])


def test_nothing_left(tiny_ratings):
    with pytest.raises(DataError, match="tiny: no rating is left.*busiest user has 3.*lower"):
        filter_min_counts(tiny_ratings, 10, 1)


def test_real_data_meets_thresholds_after_iterating():
    r = load_dataset("ml-latest-small")
    out = filter_min_counts(r, 30, 30, iterate=True)
    assert out.user_counts().min() >= 30 and out.item_counts().min() >= 30
    assert 0 < len(out) < len(r)
    once = filter_min_counts(r, 30, 30)
    assert len(once) >= len(out)


# ------------------------------------------------------------ first_fraction
def test_first_fraction_takes_leading_rows_in_order(tiny_ratings):
    out = first_fraction(tiny_ratings, 0.25)
    assert pairs(out) == pairs(tiny_ratings)[:3]       # floor(0.25 * 12) = 3
    assert out.n_users == 1 and out.n_items == 3       # compacted: user a; items x, y, w
    kept = first_fraction(tiny_ratings, 0.25, compact=False)
    assert kept.user_map is tiny_ratings.user_map and len(kept) == 3
    assert first_fraction(tiny_ratings, 1.0).values.tolist() == tiny_ratings.values.tolist()


@pytest.mark.parametrize("n, fraction, expected", [
    (20_000_263, 0.25, 5_000_065),   # the ML-20M subsample of a reference notebook
    (100, 0.29, 29),                 # 0.29 * 100 is 28.999... in floating point
    (10, 0.25, 2),
])
def test_first_fraction_count_is_the_floor(n, fraction, expected):
    assert _first_count(n, fraction) == expected


@pytest.mark.parametrize("fraction, err", [(0, ValueError), (1.5, ValueError), (-0.1, ValueError),
                                           ("half", TypeError)])
def test_first_fraction_argument_errors(tiny_ratings, fraction, err):
    with pytest.raises(err, match="'fraction' parameter of first_fraction must be a float > 0 "
                                  "and <= 1"):
        first_fraction(tiny_ratings, fraction)


def test_first_fraction_too_small(tiny_ratings):
    with pytest.raises(DataError, match="keeps no rating"):
        first_fraction(tiny_ratings, 0.05)


@pytest.mark.slow
def test_first_fraction_of_ml100k_is_the_head_of_u_data(ml100k_dir):
    full = load_dataset(ml100k_dir)
    half = first_fraction(full, 0.5)
    expected = np.loadtxt(ml100k_dir / "u.data", dtype=np.int64, max_rows=50_000)
    np.testing.assert_array_equal(half.user_map.raw[half.users], expected[:, 0])
    np.testing.assert_array_equal(half.values, expected[:, 2])
