"""TruncatedSVD: a dense numpy SVD as the oracle, centring, fallbacks, determinism, save/load."""
import numpy as np
import pytest

import mfcore
from mfcore import Biases, GlobalMean, Ratings
from mfcore.models.svd import TruncatedSVD
from mfcore.ranking import score_users

from helpers import make_planted


def _random_ratings(rng, n_users=30, n_items=20, density=0.4):
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True  # everyone rates something
    u, i = np.nonzero(mask)
    return Ratings.from_arrays(u, i, rng.integers(1, 6, u.size).astype(float))


def _dense_oracle(model, ratings, K):
    """Readable reference: densify Z (missing 0 after centring), full numpy SVD, top K."""
    mu, bu, bi = model.global_mean_, model.user_bias_, model.item_bias_
    Z = np.zeros((ratings.n_users, ratings.n_items))
    Z[ratings.users, ratings.items] = ratings.values - mu - bu[ratings.users] - bi[ratings.items]
    U, s, Vt = np.linalg.svd(Z)
    return mu + bu[:, None] + bi[None, :] + (U[:, :K] * s[:K]) @ Vt[:K]


@pytest.mark.parametrize("center", ["biases", "user", "global"])
def test_predictions_match_a_dense_svd(center):
    ratings = _random_ratings(np.random.default_rng(0))
    K = 4
    m = TruncatedSVD(n_factors=K, center=center).fit(ratings)
    full = _dense_oracle(m, ratings, K)
    uu, ii = np.meshgrid(np.arange(ratings.n_users), np.arange(ratings.n_items), indexing="ij")
    # ARPACK converges to ~1e-12 relative; the top-K singular values here are well separated
    np.testing.assert_allclose(m.predict(uu.ravel(), ii.ravel()), full.ravel(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(m.item_factors_, axis=0), 1.0, rtol=1e-10)
    assert np.all(np.diff(m.singular_values_) <= 0)


def test_centring_terms():
    ratings = _random_ratings(np.random.default_rng(1))
    means = np.bincount(ratings.users, weights=ratings.values) / ratings.user_counts()
    user = TruncatedSVD(n_factors=2, center="user").fit(ratings)
    np.testing.assert_allclose(user.user_bias_, means - ratings.global_mean, atol=1e-12)
    assert not user.item_bias_.any()
    glob = TruncatedSVD(n_factors=2, center="global").fit(ratings)
    assert not glob.user_bias_.any() and not glob.item_bias_.any()
    biased = TruncatedSVD(n_factors=2).fit(ratings)
    ref = Biases().fit(ratings)
    np.testing.assert_array_equal(biased.user_bias_, ref.user_bias_)
    np.testing.assert_array_equal(biased.item_bias_, ref.item_bias_)


def test_learns_planted_structure():
    train, _, _ = make_planted(np.random.default_rng(0), n_users=80, n_items=60, density=0.6)
    perm = np.random.default_rng(1).permutation(len(train))
    fit, val = train.subset(perm[:-400]), train.subset(perm[-400:])
    svd = TruncatedSVD(n_factors=3).fit(fit).evaluate(val)["rmse_unclipped"]
    biases = Biases().fit(fit).evaluate(val)["rmse_unclipped"]
    mean = GlobalMean().fit(fit).evaluate(val)["rmse_unclipped"]
    # the rank-3 signal has variance ~3; missing=0 shrinks it, but most must be recovered
    assert svd < 0.6 * biases < mean


def test_int_rng_is_deterministic_and_n_factors_matters(planted):
    ratings, _, _ = planted
    a = TruncatedSVD(n_factors=3, rng=5).fit(ratings)
    b = TruncatedSVD(n_factors=3, rng=5).fit(ratings)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    c = TruncatedSVD(n_factors=5).fit(ratings)
    assert c.user_factors_.shape == (ratings.n_users, 5)
    assert not np.allclose(a.predict(ratings.users, ratings.items), c.predict(ratings.users, ratings.items))


def test_unknown_ids_get_the_known_part_of_the_centring(tiny_ratings):
    m = TruncatedSVD(n_factors=2).fit(tiny_ratings)
    a = tiny_ratings.user_map.to_index("a")
    x = tiny_ratings.item_map.to_index("x")
    z = tiny_ratings.item_map.to_index("z")  # in the map, never rated
    mu = m.global_mean_
    assert m.predict([a], [z])[0] == pytest.approx(mu + m.user_bias_[a])
    assert m.predict([-1], [x])[0] == pytest.approx(mu + m.item_bias_[x])
    assert m.predict([-1], [-1])[0] == pytest.approx(mu)
    assert m.evaluate(tiny_ratings)["n_unknown"] == 0


def test_score_users_equals_predict(tiny_ratings):
    m = TruncatedSVD(n_factors=2).fit(tiny_ratings)
    users = np.array([0, 3, -1, 4])
    items = np.arange(tiny_ratings.n_items)
    ref = np.stack([m.predict(np.full(items.size, u), items) for u in users])
    np.testing.assert_allclose(score_users(m, users), ref, rtol=1e-12, atol=1e-12)


def test_save_load_round_trip(tmp_path, planted):
    ratings, _, _ = planted
    m = TruncatedSVD(n_factors=3).fit(ratings)
    path = m.save(tmp_path / "svd.npz")
    back = mfcore.load_model(path)
    assert isinstance(back, TruncatedSVD) and back.n_factors == 3
    np.testing.assert_array_equal(back.predict(ratings.users, ratings.items),
                                  m.predict(ratings.users, ratings.items))


def test_registry_and_parameter_errors(tiny_ratings):
    assert type(mfcore.make_model("svd")) is TruncatedSVD
    with pytest.raises(ValueError, match="'n_factors' parameter of TruncatedSVD must be an int <= 4"):
        TruncatedSVD(n_factors=5).fit(tiny_ratings)  # 5 users x 5 items in the maps
    with pytest.raises(ValueError, match="'n_factors' parameter of TruncatedSVD"):
        TruncatedSVD(n_factors=0).fit(tiny_ratings)
    with pytest.raises(TypeError, match="'n_factors' parameter of TruncatedSVD"):
        TruncatedSVD(n_factors=2.5).fit(tiny_ratings)
    with pytest.raises(ValueError, match="'center' parameter of TruncatedSVD"):
        TruncatedSVD(center="median").fit(tiny_ratings)


def test_one_user_is_a_data_error_that_says_what_the_model_needs():
    from mfcore.exceptions import DataError

    one_user = Ratings.from_arrays(np.zeros(4, int), np.arange(4), np.array([4.0, 3.0, 5.0, 2.0]))
    with pytest.raises(DataError, match=r"TruncatedSVD needs at least 2 users and 2 items with ratings; .* has "
                                        r"1 user\(s\) and 4 item\(s\)"):
        TruncatedSVD(n_factors=1).fit(one_user)
