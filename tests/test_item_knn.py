"""ItemKNN (item-knn): similarities against brute force, the k-neighbour rule by hand,
the loop and jit engines tied, the fallback, save/load and parameter errors."""
import numpy as np
import pytest
from helpers import F64, assert_loads_back, make_planted, planted_split

from mfcore import Biases, IdMap, ItemKNN, Ratings
from mfcore.engines import knn_jit, knn_loop


def _tiny():
    ratings, _, _ = make_planted(np.random.default_rng(3), n_users=9, n_items=7, density=0.7, noise=0.3)
    return ratings


def _brute_similarity(ratings, model, kind, shrinkage):
    """s_ij by the definition (S1)/(S1'), one pair at a time over a dense matrix."""
    n_u, n_i = ratings.n_users, ratings.n_items
    R = np.full((n_u, n_i), np.nan)
    R[ratings.users, ratings.items] = ratings.values
    if kind == "pearson_baseline":
        b = model.global_mean_ + model.user_bias_[:, None] + model.item_bias_[None, :]
        R = R - b
    S = np.zeros((n_i, n_i))
    for i in range(n_i):
        for j in range(n_i):
            common = ~np.isnan(R[:, i]) & ~np.isnan(R[:, j])
            n = common.sum()
            if i == j or n == 0:
                continue
            x, y = R[common, i], R[common, j]
            den = np.sqrt((x * x).sum() * (y * y).sum())
            s = (x * y).sum() / den if den > 0 else 0.0
            if kind == "pearson_baseline":
                s *= (n - 1) / (n - 1 + shrinkage) if n > 1 else 0.0
            S[i, j] = s
    return S


def _stored_similarity(model):
    n_i = model.item_counts_.size
    S = np.zeros((n_i, n_i))
    for i in range(n_i):
        lo, hi = model.neighbor_indptr_[i], model.neighbor_indptr_[i + 1]
        S[i, model.neighbor_indices_[lo:hi]] = model.neighbor_sims_[lo:hi]
        assert np.all(np.diff(model.neighbor_sims_[lo:hi]) <= 0)  # most similar first
    return S


@pytest.mark.parametrize("kind, shrinkage", [("pearson_baseline", 100.0), ("pearson_baseline", 0.0),
                                             ("pearson_baseline", 3.0), ("cosine", 100.0)])
def test_similarity_matches_brute_force(kind, shrinkage):
    ratings = _tiny()
    model = ItemKNN(similarity=kind, shrinkage=shrinkage, block_size=3).fit(ratings)  # 3 blocks
    brute = _brute_similarity(ratings, model, kind, shrinkage)
    np.testing.assert_allclose(_stored_similarity(model), np.where(brute > 0, brute, 0.0), **F64)
    assert (brute < 0).any() or kind == "cosine"  # negative similarities exist and are dropped


def test_biases_are_the_als_baseline():
    ratings = _tiny()
    model = ItemKNN(reg_user=5.0, reg_item=2.0, baseline_epochs=4).fit(ratings)
    base = Biases(reg_user=5.0, reg_item=2.0, n_epochs=4).fit(ratings)
    np.testing.assert_array_equal(model.user_bias_, base.user_bias_)
    np.testing.assert_array_equal(model.item_bias_, base.item_bias_)


def test_one_prediction_by_hand():
    ratings = _tiny()
    model = ItemKNN(n_neighbors=2, shrinkage=1.0).fit(ratings)
    S = _brute_similarity(ratings, model, "pearson_baseline", 1.0)
    R = np.full((ratings.n_users, ratings.n_items), np.nan)
    R[ratings.users, ratings.items] = ratings.values
    b = model.global_mean_ + model.user_bias_[:, None] + model.item_bias_[None, :]
    checked = 0
    for u in range(ratings.n_users):
        for i in range(ratings.n_items):
            rated = [j for j in np.flatnonzero(~np.isnan(R[u])) if j != i and S[i, j] > 0]
            if len(rated) < 3:
                continue
            # (P1) the two items u rated with the largest positive s_ij
            top = sorted(rated, key=lambda j: -S[i, j])[:2]
            # (P2)-(P3) baseline + weighted mean residual
            want = b[u, i] + sum(S[i, j] * (R[u, j] - b[u, j]) for j in top) / sum(abs(S[i, j]) for j in top)
            assert model.predict([u], [i])[0] == pytest.approx(want, rel=1e-12)
            checked += 1
    assert checked >= 5


def test_loop_and_jit_engines_are_one_algorithm():
    assert getattr(knn_jit.predict_pairs, "py_func", knn_jit.predict_pairs) is knn_loop.predict_pairs
    train, test = planted_split()
    jit = ItemKNN(n_neighbors=5).fit(train)
    loop = ItemKNN(n_neighbors=5, engine="loop").fit(train)
    u, i, _ = jit._aligned(test)
    rng = np.random.default_rng(0)
    perm = rng.permutation(u.size)  # pairs in any order, not grouped by user
    np.testing.assert_array_equal(jit.predict(u[perm], i[perm]), loop.predict(u[perm], i[perm]))
    # and the kernel itself, called on unsorted pairs, agrees with the Python function
    args = [np.ascontiguousarray(a, dtype=np.int64) for a in (u[perm], i[perm])]
    base = np.zeros(u.size)
    outs = []
    for fn in (knn_jit.predict_pairs, knn_loop.predict_pairs):
        out = np.empty(u.size)
        fn(*args, base, jit.neighbor_indptr_, jit.neighbor_indices_, jit.neighbor_sims_, jit.rated_indptr_,
           jit.rated_indices_, jit.residuals_, train.n_items, 5, 1, out)
        outs.append(out)
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(outs[0] + jit.global_mean_ + jit.user_bias_[u[perm]] + jit.item_bias_[i[perm]],
                               jit.predict(u[perm], i[perm]), **F64)


def test_fallbacks():
    # user 2 rated only item 0; item 3 was rated by nobody; item 2 shares no user with item 0
    u = [0, 0, 1, 1, 2, 3, 3, 4, 4]
    i = [0, 1, 0, 1, 0, 1, 2, 1, 2]
    r = [5.0, 4.0, 1.0, 4.0, 5.0, 2.0, 3.0, 2.0, 4.0]
    ratings = Ratings.from_arrays(u, i, r, item_map=IdMap([0, 1, 2, 3]))
    model = ItemKNN(shrinkage=0.0).fit(ratings)
    mu, bu, bi = model.global_mean_, model.user_bias_, model.item_bias_
    # unknown user: mu + b_i; unknown item (index -1, or item 3 that nobody rated): mu + b_u
    assert model.predict([-1], [1])[0] == pytest.approx(mu + bi[1], rel=1e-15)
    assert model.predict([1, 1], [-1, 3]) == pytest.approx([mu + bu[1]] * 2, rel=1e-15)
    assert model.evaluate(ratings)["n_unknown"] == 0
    # a known pair whose user rated no neighbour of the item: the baseline alone
    assert model.predict([2], [2])[0] == pytest.approx(mu + bu[2] + bi[2], rel=1e-15)
    # min_neighbors above what any pair has: every prediction is the baseline
    strict = ItemKNN(shrinkage=0.0, min_neighbors=10).fit(ratings)
    np.testing.assert_allclose(strict.predict(ratings.users, ratings.items),
                               mu + bu[ratings.users] + bi[ratings.items], **F64)


def test_parameters_change_the_result():
    train, test = planted_split()
    ref = ItemKNN().fit(train).predict_ratings(test)
    for change in ({"n_neighbors": 3}, {"shrinkage": 5.0}, {"similarity": "cosine"}, {"reg_user": 1.0},
                   {"reg_item": 1.0}, {"baseline_epochs": 1}, {"min_neighbors": 30}):
        assert not np.allclose(ItemKNN(**change).fit(train).predict_ratings(test), ref), change
    # block_size does not change the numbers
    np.testing.assert_allclose(ItemKNN(block_size=7).fit(train).predict_ratings(test), ref, **F64)


def test_beats_the_baseline_on_planted_data():
    train, test = planted_split()
    knn = ItemKNN().fit(train).evaluate(test)["rmse"]
    base = Biases().fit(train).evaluate(test)["rmse"]
    assert knn < base


def test_save_load_round_trip(tmp_path):
    train, test = planted_split()
    model = ItemKNN(n_neighbors=7).fit(train)
    back = assert_loads_back(model, test, tmp_path / "knn.npz")
    np.testing.assert_array_equal(back.neighbor_sims_, model.neighbor_sims_)


@pytest.mark.parametrize("param, value, error, match", [
    ("n_neighbors", 0, ValueError, "'n_neighbors' parameter of ItemKNN must be an int >= 1. Got 0"),
    ("n_neighbors", 2.5, TypeError, "'n_neighbors' parameter of ItemKNN must be an int"),
    ("min_neighbors", 0, ValueError, "'min_neighbors' parameter of ItemKNN must be an int >= 1"),
    ("similarity", "pearson", ValueError, "'similarity' parameter of ItemKNN must be one of"),
    ("shrinkage", -1.0, ValueError, "'shrinkage' parameter of ItemKNN must be a float >= 0"),
    ("reg_user", -1.0, ValueError, "'reg_user' parameter of ItemKNN"),
    ("baseline_epochs", 0, ValueError, "'baseline_epochs' parameter of ItemKNN"),
    ("engine", "vectorized", ValueError, "'engine' parameter of ItemKNN must be one of 'jit', 'loop'"),
    ("block_size", 0, ValueError, "'block_size' parameter of ItemKNN"),
])
def test_bad_parameters(param, value, error, match):
    with pytest.raises(error, match=match):
        ItemKNN(**{param: value}).fit(_tiny())
