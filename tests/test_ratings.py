"""The Ratings container, IdMap and RatingScale."""
import warnings

import numpy as np
import pandas as pd
import pytest

import mfcore
from mfcore import DataError, IdMap, Ratings, RatingScale


def test_idmap_round_trip_int_and_str():
    m = IdMap([30, 10, 20])
    assert list(m.raw) == [10, 20, 30]
    assert m.to_index(20) == 1
    assert list(m.to_index([30, 10])) == [2, 0]
    assert m.to_raw(2) == 30
    s = IdMap(["b", "a"])
    assert s.to_index("b") == 1 and s.to_raw(0) == "a"
    assert "a" in s and "zz" not in s


def test_idmap_unknown_raises_or_minus_one():
    m = IdMap([1, 2, 3])
    with pytest.raises(KeyError, match="unknown user 7"):
        m.to_index(7, what="user")
    assert list(m.to_index([3, 7], missing="ignore")) == [2, -1]
    # a string that is not a number cannot be an int id: missing, not a crash
    assert m.to_index("x", missing="ignore") == -1


def test_idmap_rejects_duplicates():
    with pytest.raises(ValueError, match="appears twice"):
        IdMap([1, 2, 1])


def test_from_arrays_builds_dense_indices_and_counts():
    r = Ratings.from_arrays([7, 7, 3], ["b", "a", "b"], [1.0, 0.0, 5.0])
    assert r.n_users == 2 and r.n_items == 2 and len(r) == 3
    assert r.users.dtype == np.int32 and r.values.dtype == np.float64
    assert list(r.user_map.raw) == [3, 7]
    assert list(r.user_counts()) == [1, 2]
    assert list(r.item_counts()) == [1, 2]
    assert r.global_mean == pytest.approx(2.0)


def test_arrays_are_read_only():
    r = Ratings.from_arrays([1, 2], [1, 2], [3.0, 4.0])
    with pytest.raises(ValueError):
        r.values[0] = 1.0


def test_nan_and_inf_are_rejected_with_row():
    with pytest.raises(DataError, match=r"2 ratings are NaN or infinite \(first at row 1: nan\)"):
        Ratings.from_arrays([1, 2, 3], [1, 2, 3], [3.0, np.nan, np.inf])
    with pytest.raises(DataError, match=r"^ratings: 1 rating is NaN or infinite \(row 2: inf\); drop"):
        Ratings.from_arrays(np.arange(3), np.arange(3), np.array([3.0, 4.0, np.inf]))


def test_messages_show_numpy_scalars_as_plain_numbers():
    with pytest.raises(ValueError, match=r"^raw id 1 appears twice"):
        IdMap(np.array([1, 2, 1]))
    with pytest.raises(KeyError, match=r"unknown user 7:"):
        IdMap([1, 2, 3]).to_index(np.int64(7), what="user")
    with pytest.raises(ValueError, match=r"The 'lr' parameter of BiasedMF must be a float > 0\. Got -0\.1 instead\."):
        mfcore.BiasedMF(lr=np.float64(-0.1)).fit(Ratings.from_arrays([1, 2], [1, 2], [3.0, 4.0]))
    with pytest.raises(ValueError, match=r"test_size=0\.0001 the test part would be empty"):
        mfcore.data.random_split(Ratings.from_arrays([1, 2], [1, 2], [3.0, 4.0]), np.float64(1e-4))


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="one length"):
        Ratings.from_arrays([1, 2], [1], [3.0, 4.0])


def test_out_of_range_index_is_rejected():
    with pytest.raises(DataError, match="out of range for n_items=2"):
        Ratings(np.array([0]), np.array([2]), np.array([1.0]), IdMap([1]), IdMap([1, 2]),
                RatingScale(1, 5, 1))


def test_zero_rating_is_observed_in_csr():
    # a rating of 0 (here on a -10..10 scale) must stay an observed entry
    r = Ratings.from_arrays([1, 1, 2], [1, 2, 2], [0.0, -10.0, 10.0])
    R, mask = r.to_csr()
    assert R.shape == (2, 2)
    assert mask.nnz == 3
    assert mask[0, 0] == 1 and R[0, 0] == 0.0
    assert R[0, 1] == -10.0 and R[1, 1] == 10.0
    assert mask[1, 0] == 0


def test_csr_rows_are_sorted_and_match_values():
    rng = np.random.default_rng(0)
    u = rng.integers(0, 30, 200)
    i = rng.integers(0, 50, 200)
    keys = np.unique(u * 50 + i)
    u, i = keys // 50, keys % 50
    v = rng.normal(size=u.size)
    r = Ratings.from_arrays(u, i, v)
    R, _ = r.to_csr()
    dense = np.zeros((r.n_users, r.n_items))
    dense[r.users, r.items] = r.values
    np.testing.assert_array_equal(R.toarray(), dense)
    R.has_sorted_indices = False
    R.sort_indices()
    np.testing.assert_array_equal(R.toarray(), dense)


def test_csr_structure_is_to_csr_without_values():
    """What fit keeps for recommend(): each user's items, sorted, int32/int64."""
    rng = np.random.default_rng(1)
    keys = np.unique(rng.integers(0, 40 * 60, 500))
    r = Ratings.from_arrays(keys // 60, keys % 60, rng.normal(size=keys.size))
    indptr, indices = r.csr_structure()
    R, _ = r.to_csr()
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    np.testing.assert_array_equal(indptr, R.indptr)
    np.testing.assert_array_equal(indices, R.indices)
    for u in range(r.n_users):
        row = indices[indptr[u]:indptr[u + 1]]
        assert np.all(np.diff(row) > 0)
        np.testing.assert_array_equal(row, np.sort(r.items[r.users == u]))


def test_dataframe_round_trip_keeps_raw_ids_and_order():
    df = pd.DataFrame({"user": ["u2", "u1", "u2"], "item": [10, 20, 20],
                       "rating": [4.5, 3.0, 0.5], "ts": [3, 1, 2]})
    r = Ratings.from_dataframe(df, timestamp_col="ts")
    back = r.to_dataframe()
    assert list(back["user"]) == ["u2", "u1", "u2"]
    assert list(back["item"]) == [10, 20, 20]
    assert list(back["rating"]) == [4.5, 3.0, 0.5]
    assert list(back["timestamp"]) == [3, 1, 2]
    assert r.scale.step == 0.5


def test_from_dataframe_missing_column_names_the_fix():
    with pytest.raises(DataError, match="no column 'rating'.*rating_col"):
        Ratings.from_dataframe(pd.DataFrame({"user": [1], "item": [1], "stars": [3]}))


@pytest.mark.parametrize("values, expected", [
    ([1, 2, 5], (1, 5, 1.0)),
    ([0.5, 4.0, 2.5], (0.5, 4.0, 0.5)),
    ([-10, 10, 0], (-10, 10, 1.0)),
    ([1.0, 1.25, 2.0], (1.0, 2.0, 0.25)),
    ([0.13, 0.77], (0.13, 0.77, None)),
])
def test_scale_inference(values, expected):
    s = RatingScale.infer(values)
    assert (s.low, s.high, s.step) == expected


def test_scale_levels_and_continuous_error():
    assert list(RatingScale(0.5, 2.0, 0.5).levels) == [0.5, 1.0, 1.5, 2.0]
    with pytest.raises(DataError, match="continuous"):
        RatingScale(0, 1).levels


def test_subset_shares_maps_and_compact_reindexes(tiny_ratings):
    sub = tiny_ratings.subset(tiny_ratings.users == tiny_ratings.user_map.to_index("a"))
    assert sub.user_map is tiny_ratings.user_map and len(sub) == 3
    small = sub.compact()
    assert small.n_users == 1 and small.n_items == 3
    assert list(small.to_dataframe()["item"]) == ["x", "y", "w"]


def test_remap_marks_unknown_ids(tiny_ratings):
    other = Ratings.from_arrays(["a", "zz"], ["x", "q"], [1.0, 2.0])
    u, i = other.remap(tiny_ratings.user_map, tiny_ratings.item_map)
    assert list(u) == [tiny_ratings.user_map.to_index("a"), -1]
    assert list(i) == [tiny_ratings.item_map.to_index("x"), -1]


def test_unrated_item_is_in_the_map(tiny_ratings):
    # item 'z' exists in the map but has no rating
    z = tiny_ratings.item_map.to_index("z")
    assert tiny_ratings.item_counts()[z] == 0
    assert tiny_ratings.summary()["n_items_with_ratings"] == tiny_ratings.n_items - 1


def test_float32_values_and_int32_timestamps_are_kept_compact():
    r = Ratings.from_arrays([1, 2], [1, 2], np.array([3.0, 4.0], np.float32),
                            timestamps=np.array([5, 6], np.int32))
    assert r.values.dtype == np.float32 and r.timestamps.dtype == np.int32
    assert isinstance(r.global_mean, float) and r.global_mean == 3.5
    r64 = Ratings.from_arrays([1], [1], [3], timestamps=[7])
    assert r64.values.dtype == np.float64 and r64.timestamps.dtype == np.int64


def test_an_integer_id_map_reads_integer_valued_floats_and_strings_one_by_one():
    from mfcore.data.ratings import IdMap

    ids, _ = IdMap.from_values(np.array([196, 242, 3]))
    assert list(ids.to_index([196.0, 242, 3.5], missing="ignore")) == [1, 2, -1]
    assert list(ids.to_index(np.array(["196", "abc", "242.0"]), missing="ignore")) == [1, -1, 2]
    assert ids.to_index("3") == 0 and ids.to_index(3.0) == 0
    with pytest.raises(KeyError, match="unknown id 'abc'"):
        ids.to_index([196, "abc"])
    text, _ = IdMap.from_values(np.array(["196", "x"]))
    assert list(text.to_index([196.0, 1.5], missing="ignore")) == [0, -1]


def test_from_arrays_refuses_missing_ids_and_ratings_outside_a_given_scale():
    with pytest.raises(DataError, match="rating 40 at position 1 is outside the scale 1..5"):
        Ratings.from_arrays([1, 2], [3, 4], [4.0, 40.0], scale=RatingScale(1, 5))
    with pytest.raises(DataError, match="1 user id.* missing .* position 1"):
        Ratings.from_arrays([1.0, np.nan], [3, 4], [4.0, 4.0])
    with pytest.raises(DataError, match="1 item id.* missing .* position 0"):
        Ratings.from_arrays([1, 2], np.array([None, "a"], dtype=object), [4.0, 4.0])
    assert len(Ratings.from_arrays([1, 2], [3, 4], [1.0, 5.0], scale=RatingScale(1, 5))) == 2


def test_from_arrays_says_when_a_pair_repeats():
    args = ([7, 7, 8, 7], ["a", "a", "b", "a"], [4.0, 5.0, 3.0, 1.0])
    with pytest.warns(UserWarning, match=r"2 rating\(s\) repeat .* user 7 and item 'a' at positions 0 and 1"):
        r = Ratings.from_arrays(*args)
    assert len(r) == 4  # kept: each repeat counts as a rating of its own
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(Ratings.from_arrays(*args, duplicates="keep")) == 4
        assert len(Ratings.from_arrays([1, 2], [1, 1], [3.0, 4.0])) == 2  # no repeat, no warning
    with pytest.raises(DataError, match="positions 0 and 1; pass duplicates="):
        Ratings.from_arrays(*args, duplicates="raise")
    with pytest.raises(ValueError, match="'duplicates' parameter of Ratings.from_arrays"):
        Ratings.from_arrays(*args, duplicates="drop")


@pytest.mark.parametrize("policy,values,times", [("first", [4.0, 3.0], [10, 30]), ("last", [3.0, 1.0], [30, 40]),
                                                 ("mean", [10 / 3, 3.0], [10, 30])])
def test_from_arrays_keeps_one_rating_per_pair(policy, values, times):
    r = Ratings.from_arrays([7, 7, 8, 7], ["a", "a", "b", "a"], [4.0, 5.0, 3.0, 1.0],
                            timestamps=[10, 20, 30, 40], duplicates=policy)
    np.testing.assert_allclose(r.values, values)
    np.testing.assert_array_equal(r.timestamps, times)
    assert len(r) == 2
