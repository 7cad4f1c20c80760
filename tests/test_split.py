"""Tests of mfcore.data.split: sizes, disjointness, seeds, unknown counts, errors."""
import numpy as np
import pandas as pd
import pytest

from mfcore import DataError, Ratings, RatingScale
from mfcore.data.split import (TrainTest, _merge, holdout_per_user, kfold, predefined_split,
                               random_split, split_from_spec, temporal_split, warm_split)
from mfcore.data.synthetic import make_ratings


@pytest.fixture(scope="module")
def synth():
    return make_ratings(n_users=200, n_items=100, n_ratings=3000, rng=0, timestamps=True)


def rows_of(part, whole):
    """Row numbers in ``whole`` of each rating of ``part`` (pairs are unique in synth)."""
    key = lambda r: r.users.astype(np.int64) * whole.n_items + r.items  # noqa: E731
    k_whole = key(whole)
    order = np.argsort(k_whole)
    return order[np.searchsorted(k_whole, key(part), sorter=order)]


def assert_partition(tt, whole):
    a, b = rows_of(tt.train, whole), rows_of(tt.test, whole)
    assert len(a) + len(b) == len(whole)
    assert np.array_equal(np.sort(np.r_[a, b]), np.arange(len(whole)))
    assert tt.train.user_map is whole.user_map and tt.test.item_map is whole.item_map
    np.testing.assert_array_equal(tt.test.values, whole.values[b])


# ---------------------------------------------------------------- random_split
def test_random_split_is_the_permutation_cut(synth):
    tt = random_split(synth, 0.2, rng=7)
    perm = np.random.default_rng(7).permutation(len(synth))
    n_test = round(0.2 * len(synth))
    np.testing.assert_array_equal(rows_of(tt.train, synth), perm[:len(synth) - n_test])
    np.testing.assert_array_equal(rows_of(tt.test, synth), perm[len(synth) - n_test:])
    assert_partition(tt, synth)


def test_random_split_seeds(synth):
    a, b = random_split(synth, rng=1), random_split(synth, rng=1)
    c = random_split(synth, rng=2)
    assert np.array_equal(a.test.users, b.test.users) and np.array_equal(a.test.items, b.test.items)
    assert not np.array_equal(a.test.items, c.test.items)
    g = np.random.default_rng(3)
    assert not np.array_equal(random_split(synth, rng=g).test.items,
                              random_split(synth, rng=g).test.items)  # a Generator advances


def test_random_split_int_test_size(synth):
    assert len(random_split(synth, 100, rng=0).test) == 100


@pytest.mark.parametrize("bad, exc", [(0.0, ValueError), (1.0, ValueError), (-0.1, ValueError),
                                      ("0.2", TypeError), (0, ValueError), (3000, ValueError)])
def test_random_split_bad_test_size(synth, bad, exc):
    with pytest.raises(exc, match="'test_size' parameter of random_split"):
        random_split(synth, bad)


def test_split_needs_ratings(tiny_ratings):
    with pytest.raises(TypeError, match="expects mfcore Ratings"):
        random_split(np.zeros(3))
    with pytest.raises(ValueError, match="test part would be empty"):
        random_split(tiny_ratings, 0.01)


@pytest.mark.slow
def test_random_split_matches_keras_reference_on_ml100k(ml100k_dir):
    df = pd.read_csv(ml100k_dir / "u.data", sep="\t", header=None,
                     names=["user", "item", "rating", "timestamp"])
    r = Ratings.from_arrays(df.user.to_numpy(), df.item.to_numpy(), df.rating.to_numpy(),
                            timestamps=df.timestamp.to_numpy(), name="ml-100k")
    tt = random_split(r, test_size=0.2, rng=42)
    perm = np.random.default_rng(42).permutation(100_000)
    assert len(tt.train) == 80_000 and len(tt.test) == 20_000
    for part, rows in ((tt.train, perm[:80_000]), (tt.test, perm[80_000:])):
        np.testing.assert_array_equal(r.user_map.raw[part.users], df.user.to_numpy()[rows])
        np.testing.assert_array_equal(r.item_map.raw[part.items], df.item.to_numpy()[rows])
        np.testing.assert_array_equal(part.values, df.rating.to_numpy()[rows])
        np.testing.assert_array_equal(part.timestamps, df.timestamp.to_numpy()[rows])
    rep = tt.report()
    assert rep["n_test_unknown_user"] == 0  # every ML-100k user has >= 20 ratings
    assert rep["n_test_unknown_item"] > 0  # some items have a single rating
    assert rep["n_test_unknown_any"] == rep["n_test_unknown_item"]


# -------------------------------------------------------------------- report
def test_report_counts_unknown_by_hand(tiny_ratings):
    r = tiny_ratings  # users a..e, item 'z' never rated
    test_rows = np.flatnonzero(np.isin(r.user_map.raw[r.users], ["e"]) |
                               (r.item_map.raw[r.items] == "v"))
    train_rows = np.setdiff1d(np.arange(len(r)), test_rows)
    rep = TrainTest(r.subset(train_rows), r.subset(test_rows)).report()
    # test: (b,v), (c,v), (d,v) and (e,y): user e unknown, item v unknown
    assert rep == {"n_train": 8, "n_test": 4, "test_fraction": 4 / 12, "n_test_unknown_user": 1,
                   "n_test_unknown_item": 3, "n_test_unknown_any": 4}


def test_report_with_different_maps(tiny_ratings):
    df = tiny_ratings.to_dataframe()
    train = Ratings.from_arrays(df.user[:8], df.item[:8], df.rating[:8])
    test = Ratings.from_arrays(df.user[8:], df.item[8:], df.rating[8:])
    rep = TrainTest(train, test).report()
    # test rows: (d,x), (d,w), (d,v), (e,y): users d, e unseen in train; items all seen
    assert rep["n_test_unknown_user"] == 4 and rep["n_test_unknown_item"] == 0


# ---------------------------------------------------------- holdout_per_user
def test_holdout_k_per_user(synth):
    tt = holdout_per_user(synth, k=3, rng=0)
    assert_partition(tt, synth)
    counts = synth.user_counts()
    held = tt.test.user_counts()
    np.testing.assert_array_equal(held, np.clip(np.minimum(3, counts - 1), 0, None))
    assert tt.report()["n_test_unknown_user"] == 0
    assert np.all(np.diff(rows_of(tt.test, synth)) > 0)  # original order kept


def test_holdout_fraction_and_min_train(synth):
    tt = holdout_per_user(synth, fraction=0.5, rng=0, min_train=4)
    counts = synth.user_counts()
    expect = np.clip(np.minimum(np.round(counts * 0.5), counts - 4), 0, None)
    np.testing.assert_array_equal(tt.test.user_counts(), expect)
    assert np.all(tt.train.user_counts() >= np.minimum(counts, 4))


def test_holdout_is_random_within_user(synth):
    a = holdout_per_user(synth, k=2, rng=0).test
    b = holdout_per_user(synth, k=2, rng=1).test
    assert np.array_equal(a.users, b.users) and not np.array_equal(a.items, b.items)


def test_holdout_errors(synth, tiny_ratings):
    with pytest.raises(ValueError, match="exactly one of k"):
        holdout_per_user(synth)
    with pytest.raises(ValueError, match="exactly one of k"):
        holdout_per_user(synth, k=1, fraction=0.2)
    with pytest.raises(ValueError, match="'k' parameter of holdout_per_user"):
        holdout_per_user(synth, k=0)
    with pytest.raises(ValueError, match="no user has more than min_train"):
        holdout_per_user(tiny_ratings, k=1, min_train=3)


# --------------------------------------------------------------- warm_split
def test_warm_split_has_no_unknowns(synth):
    tt = warm_split(synth, 0.3, rng=0)
    assert_partition(tt, synth)
    rep = tt.report()
    assert rep["n_test_unknown_any"] == 0 and rep["n_test"] == round(0.3 * len(synth))
    plain = random_split(make_ratings(n_users=300, n_items=300, n_ratings=1000, rng=0), 0.3, rng=0)
    assert plain.report()["n_test_unknown_any"] > 0  # the check above can fail


def test_warm_split_short_of_test_rows_warns(tiny_ratings):
    with pytest.warns(UserWarning, match="can go to test"):
        tt = warm_split(tiny_ratings, 0.9, rng=0)
    rep = tt.report()
    assert rep["n_test_unknown_any"] == 0 and 0 < rep["test_fraction"] < 0.9


# ----------------------------------------------------------- temporal_split
def test_temporal_global(synth):
    tt = temporal_split(synth, 0.25)
    assert_partition(tt, synth)
    assert len(tt.test) == 750
    assert tt.train.timestamps.max() <= tt.test.timestamps.min()


def test_temporal_ties_are_ordered_by_row():
    r = Ratings.from_arrays([1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], timestamps=[5, 5, 5, 5])
    tt = temporal_split(r, 0.5)
    np.testing.assert_array_equal(tt.test.values, [3, 4])


def test_temporal_per_user(synth):
    tt = temporal_split(synth, 0.3, per_user=True)
    assert_partition(tt, synth)
    counts = synth.user_counts()
    np.testing.assert_array_equal(tt.test.user_counts(),
                                  np.minimum(np.round(0.3 * counts), counts - 1))
    for u in range(0, 200, 17):
        tr, te = tt.train.timestamps[tt.train.users == u], tt.test.timestamps[tt.test.users == u]
        if te.size:
            assert tr.max() <= te.min()


def test_temporal_needs_timestamps(tiny_ratings):
    with pytest.raises(DataError, match="has no timestamps"):
        temporal_split(tiny_ratings)


# --------------------------------------------------------------------- kfold
def test_kfold_partitions(synth):
    folds = list(kfold(synth, 4, rng=0))
    assert len(folds) == 4
    tests = [rows_of(f.test, synth) for f in folds]
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(len(synth)))
    assert [len(t) for t in tests] == [750] * 4
    for f in folds:
        assert_partition(f, synth)


def test_kfold_uneven_sizes_and_errors(tiny_ratings):
    assert [len(f.test) for f in kfold(tiny_ratings, 5, rng=0)] == [3, 3, 2, 2, 2]
    with pytest.raises(ValueError, match="'n_splits' parameter of kfold"):
        kfold(tiny_ratings, 1)  # raised at the call, not at the first next()


# ------------------------------------------------------- merge / predefined
def test_merge_shares_maps_and_marks_unknowns():
    train = Ratings.from_arrays([10, 20, 20], ["a", "b", "c"], [1, 2, 3],
                                scale=RatingScale(1, 5, 1), name="base")
    test = Ratings.from_arrays([20, 30], ["c", "d"], [4.5, 5], name="test")
    tt = _merge(train, test)
    assert tt.train.user_map is tt.test.user_map and list(tt.train.user_map.raw) == [10, 20, 30]
    assert list(tt.train.item_map.raw) == ["a", "b", "c", "d"]
    assert tt.test.scale == RatingScale(1, 5, 1)
    for m, o in ((tt.train, train), (tt.test, test)):
        np.testing.assert_array_equal(m.user_map.raw[m.users], o.user_map.raw[o.users])
        np.testing.assert_array_equal(m.item_map.raw[m.items], o.item_map.raw[o.items])
        np.testing.assert_array_equal(m.values, o.values)
    rep = tt.report()
    assert (rep["n_test_unknown_user"], rep["n_test_unknown_item"],
            rep["n_test_unknown_any"]) == (1, 1, 1)  # user 30 and item "d", in one test row


def test_merge_mixed_id_types_become_text():
    train = Ratings.from_arrays([1, 2], [5, 6], [1, 2])
    test = Ratings.from_arrays(["2", "x"], ["5", "7"], [3, 4])
    tt = _merge(train, test)
    assert tt.train.user_map.raw.dtype.kind == "U"
    assert tt.report()["n_test_unknown_user"] == 1 and tt.report()["n_test_unknown_item"] == 1


def test_predefined_split_reads_two_files(tmp_path):
    pytest.importorskip("mfcore.data.readers")
    (tmp_path / "a.base").write_text("1\t10\t3\t100\n2\t11\t4\t101\n")
    (tmp_path / "a.test").write_text("2\t10\t5\t102\n3\t12\t1\t103\n")
    with pytest.warns(UserWarning, match="2 of 2 ratings in .*a.test lie outside the training file's scale"):
        tt = predefined_split(tmp_path / "a.base", tmp_path / "a.test", sep="\t")
    assert len(tt.train) == 2 and len(tt.test) == 2 and tt.train.user_map is tt.test.user_map
    assert tt.report()["n_test_unknown_any"] == 1



@pytest.mark.slow
def test_predefined_split_ml100k_u1(ml100k_dir):
    names = ["user", "item", "rating", "timestamp"]
    base = pd.read_csv(ml100k_dir / "u1.base", sep="\t", header=None, names=names)
    test = pd.read_csv(ml100k_dir / "u1.test", sep="\t", header=None, names=names)
    tt = predefined_split(ml100k_dir / "u1.base", ml100k_dir / "u1.test")
    assert tt.train.user_map is tt.test.user_map and tt.train.item_map is tt.test.item_map
    np.testing.assert_array_equal(tt.test.item_map.raw[tt.test.items], test.item)
    np.testing.assert_array_equal(tt.test.values, test.rating)
    unseen = ~test.item.isin(base.item)
    rep = tt.report()
    assert rep["n_test_unknown_item"] == unseen.sum() > 0
    assert rep["n_test_unknown_user"] == (~test.user.isin(base.user)).sum()

# ------------------------------------------------------------------ specs
@pytest.mark.parametrize("spec, n_test", [("random:0.2", 600), ("warm:0.1", 300),
                                           ("temporal:0.2", 600), ("kfold:5:2", 600)])
def test_spec_sizes(synth, spec, n_test):
    assert len(split_from_spec(synth, spec, rng=0).test) == n_test


def test_spec_matches_functions(synth):
    same = lambda a, b: np.array_equal(a.test.items, b.test.items) and np.array_equal(  # noqa: E731
        a.test.users, b.test.users)
    assert same(split_from_spec(synth, "user:5", rng=3), holdout_per_user(synth, k=5, rng=3))
    assert same(split_from_spec(synth, "user:0.2", rng=3),
                holdout_per_user(synth, fraction=0.2, rng=3))
    assert same(split_from_spec(synth, "temporal-user:0.2"),
                temporal_split(synth, 0.2, per_user=True))
    assert same(split_from_spec(synth, "kfold:3:3", rng=1), list(kfold(synth, 3, rng=1))[2])
    assert same(split_from_spec(synth, " Random:0.3 ", rng=1), random_split(synth, 0.3, rng=1))


@pytest.mark.parametrize("spec", ["random", "random:x", "bogus:0.2", "kfold:5", "kfold:5:0",
                                  "kfold:5:6", "random:1", "warm:0.1:2", ""])
def test_bad_spec(synth, spec):
    with pytest.raises(ValueError, match="accepted forms|fold must be|fraction in \\(0, 1\\)"):
        split_from_spec(synth, spec)


# ---------------------------------------------------------------- properties
hyp = pytest.importorskip("hypothesis")
st = hyp.strategies


@hyp.settings(max_examples=25, deadline=None)
@hyp.given(n_users=st.integers(1, 8), n_items=st.integers(1, 8), seed=st.integers(0, 10**6),
           k=st.integers(1, 4), min_train=st.integers(0, 3))
def test_holdout_invariants(n_users, n_items, seed, k, min_train):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < 0.6
    u, i = np.nonzero(mask)
    hyp.assume(u.size >= 2)
    r = Ratings.from_arrays(u, i, rng.integers(1, 6, u.size).astype(float))
    counts = r.user_counts()
    try:
        tt = holdout_per_user(r, k=k, rng=seed, min_train=min_train)
    except ValueError as err:  # only when no user can give a rating
        assert "no user has more than min_train" in str(err) and counts.max() <= min_train
        return
    assert len(tt.train) + len(tt.test) == len(r)
    np.testing.assert_array_equal(tt.test.user_counts(), np.clip(np.minimum(k, counts - min_train),
                                                                 0, None))
    both = np.r_[tt.train.users * 8 + tt.train.items, tt.test.users * 8 + tt.test.items]
    assert np.array_equal(np.sort(both), np.sort(r.users * 8 + r.items))
