"""UserKNN: the seed's computation written literally as the oracle, dense vs sparse, fallbacks."""
import numpy as np
import pytest

import mfcore
from mfcore import Ratings
from mfcore.models.knn import UserKNN
from mfcore.ranking import score_users


def _random_ratings(rng, n_users=40, n_items=25, density=0.3):
    """Continuous ratings (no exact similarity ties), every user and item rated at least once."""
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    u, i = np.nonzero(mask)
    return Ratings.from_arrays(u, i, rng.uniform(1, 5, u.size))


def _seed_oracle(ratings, k):
    """The Netflix notebook's steps with numpy: pivot, fill each row's NaN with its mean,
    cosine of all rows, similarity -= eye, top k by argsort, sum(s x) / sum(s)."""
    X = np.full((ratings.n_users, ratings.n_items), np.nan)
    X[ratings.users, ratings.items] = ratings.values
    X = np.where(np.isnan(X), np.nanmean(X, axis=1, keepdims=True), X)
    norm = np.linalg.norm(X, axis=1)
    S = X @ X.T / np.outer(norm, norm) - np.eye(len(X))
    out = np.empty_like(X)
    for u in range(len(X)):
        nb = np.argsort(S[u])[::-1][:k]
        out[u] = S[u, nb] @ X[nb] / S[u, nb].sum()
    return out


@pytest.mark.parametrize("algorithm", ["dense", "sparse"])
def test_matches_the_seed_computation(algorithm):
    ratings = _random_ratings(np.random.default_rng(0))
    m = UserKNN(n_neighbors=7, algorithm=algorithm, block_size=6).fit(ratings)
    ref = _seed_oracle(ratings, 7)
    uu, ii = np.meshgrid(np.arange(ratings.n_users), np.arange(ratings.n_items), indexing="ij")
    np.testing.assert_allclose(m.predict(uu.ravel(), ii.ravel()), ref.ravel(), rtol=1e-10, atol=1e-12)


def test_dense_and_sparse_agree():
    rng = np.random.default_rng(1)
    ratings = _random_ratings(rng, n_users=60, n_items=30, density=0.2)
    dense = UserKNN(n_neighbors=10, algorithm="dense").fit(ratings)
    sparse = UserKNN(n_neighbors=10, algorithm="sparse", block_size=7).fit(ratings)
    np.testing.assert_array_equal(dense.neighbors_, sparse.neighbors_)
    np.testing.assert_allclose(dense.neighbor_sims_, sparse.neighbor_sims_, rtol=1e-10, atol=1e-12)
    u, i = rng.integers(0, 60, 500), rng.integers(0, 30, 500)
    np.testing.assert_allclose(dense.predict(u, i), sparse.predict(u, i), rtol=1e-10, atol=1e-12)


def test_hand_worked_example():
    # a: x=4, y=2 (mean 3) -> (4, 2); b: x=5 (mean 5) -> (5, 5); c: x=1, y=3 (mean 2) -> (1, 3)
    # s_ab = (20 + 10) / (sqrt(20) sqrt(50)) = 3/sqrt(10) ~ 0.9487
    # s_ac = (4 + 6) / (sqrt(20) sqrt(10)) = 1/sqrt(2) ~ 0.7071
    # s_bc = (5 + 15) / (sqrt(50) sqrt(10)) = 2/sqrt(5) ~ 0.8944
    r = Ratings.from_arrays(["a", "a", "b", "c", "c"], ["x", "y", "x", "x", "y"], [4, 2, 5, 1, 3])
    sab, sac, sbc = 3 / np.sqrt(10), 1 / np.sqrt(2), 2 / np.sqrt(5)
    for algorithm in ("dense", "sparse"):
        m1 = UserKNN(n_neighbors=1, algorithm=algorithm).fit(r)
        # k = 1: N(a) = {b}, N(b) = {a}, N(c) = {b}
        np.testing.assert_array_equal(m1.neighbors_[:, 0], [1, 0, 1])
        np.testing.assert_allclose(m1.neighbor_sims_[:, 0], [sab, sab, sbc], rtol=1e-12)
        assert m1.predict([0], [1])[0] == pytest.approx(5.0)  # b's imputed y is its mean 5
        m2 = UserKNN(n_neighbors=2, algorithm=algorithm).fit(r)
        # k = 2, r_hat(a, y) = (s_ab * 5 + s_ac * 3) / (s_ab + s_ac) ~ 4.1459
        assert m2.predict([0], [1])[0] == pytest.approx((sab * 5 + sac * 3) / (sab + sac), rel=1e-12)
        # k = 5 is capped at n_users - 1 = 2
        assert UserKNN(n_neighbors=5, algorithm=algorithm).fit(r).neighbors_.shape == (3, 2)


def test_unknown_pairs(tiny_ratings):
    m = UserKNN(n_neighbors=2).fit(tiny_ratings)
    a = tiny_ratings.user_map.to_index("a")
    z = tiny_ratings.item_map.to_index("z")  # never rated: every neighbour contributes its mean
    nb, s = m.neighbors_[a], m.neighbor_sims_[a]
    assert m.predict([a], [z])[0] == pytest.approx(s @ m.user_mean_[nb] / s.sum(), rel=1e-12)
    assert m.predict([-1], [0])[0] == pytest.approx(m.global_mean_)
    users = np.array([0, 4, -1])
    items = np.arange(tiny_ratings.n_items)
    ref = np.stack([m.predict(np.full(items.size, u), items) for u in users])
    np.testing.assert_allclose(score_users(m, users), ref, rtol=1e-12, atol=1e-12)


def test_a_user_without_training_ratings_takes_no_part():
    full = Ratings.from_arrays(["a", "a", "b", "b", "c", "d"], ["x", "y", "x", "y", "x", "y"],
                               [5.0, 1.0, 4.0, 2.0, 3.0, 4.5])
    train = full.subset(np.arange(5))  # d is in the maps but has no training rating
    m = UserKNN(n_neighbors=5).fit(train)
    d = full.user_map.to_index("d")
    assert (m.neighbors_[d] == -1).all()
    assert d not in m.neighbors_[:3]
    assert m.predict([d], [0])[0] == pytest.approx(m.global_mean_)


def test_save_load_round_trip(tmp_path):
    ratings = _random_ratings(np.random.default_rng(2))
    m = UserKNN(n_neighbors=5, algorithm="sparse").fit(ratings)
    back = mfcore.load_model(m.save(tmp_path / "knn.npz"))
    assert isinstance(back, UserKNN) and back.algorithm == "sparse"
    np.testing.assert_array_equal(back.predict(ratings.users, ratings.items),
                                  m.predict(ratings.users, ratings.items))


def test_auto_and_parameter_errors(tiny_ratings):
    assert type(mfcore.make_model("user-knn")) is UserKNN
    a = UserKNN(n_neighbors=2).fit(tiny_ratings)
    b = UserKNN(n_neighbors=2, algorithm="sparse").fit(tiny_ratings)
    np.testing.assert_allclose(a.predict(tiny_ratings.users, tiny_ratings.items),
                               b.predict(tiny_ratings.users, tiny_ratings.items), rtol=1e-10)
    with pytest.raises(ValueError, match="'n_neighbors' parameter of UserKNN"):
        UserKNN(n_neighbors=0).fit(tiny_ratings)
    with pytest.raises(ValueError, match="'algorithm' parameter of UserKNN"):
        UserKNN(algorithm="ball-tree").fit(tiny_ratings)
    with pytest.raises(TypeError, match="'block_size' parameter of UserKNN"):
        UserKNN(block_size=2.5).fit(tiny_ratings)
