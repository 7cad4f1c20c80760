"""UserKNNBaseline (user-knn-baseline): ItemKNN with users and items swapped, checked by brute force."""
import numpy as np
import pytest
from helpers import F64, assert_loads_back, make_planted, planted_split

from mfcore import ItemKNN, UserKNNBaseline


def _tiny():
    ratings, _, _ = make_planted(np.random.default_rng(5), n_users=8, n_items=10, density=0.6, noise=0.3)
    return ratings


def _brute_predict(ratings, model, u, i, k, shrinkage):
    """(P1)-(P3) with users as neighbours, from the definitions over a dense residual matrix."""
    Z = np.full((ratings.n_users, ratings.n_items), np.nan)
    b = model.global_mean_ + model.user_bias_[:, None] + model.item_bias_[None, :]
    Z[ratings.users, ratings.items] = ratings.values
    Z = Z - b
    sims = []
    for v in range(ratings.n_users):
        common = ~np.isnan(Z[u]) & ~np.isnan(Z[v])
        n = common.sum()
        if v == u or n <= 1 or np.isnan(Z[v, i]):
            continue
        x, y = Z[u, common], Z[v, common]
        den = np.sqrt((x * x).sum() * (y * y).sum())
        s = (x * y).sum() / den * (n - 1) / (n - 1 + shrinkage) if den > 0 else 0.0
        if s > 0:
            sims.append((-s, v, s))
    top = sorted(sims)[:k]
    if not top:
        return b[u, i]
    return b[u, i] + sum(s * Z[v, i] for _, v, s in top) / sum(s for _, _, s in top)


@pytest.mark.parametrize("k, shrinkage", [(2, 0.0), (3, 2.0), (40, 100.0)])
def test_predictions_match_brute_force(k, shrinkage):
    ratings = _tiny()
    model = UserKNNBaseline(n_neighbors=k, shrinkage=shrinkage, block_size=3).fit(ratings)
    users, items = np.meshgrid(np.arange(ratings.n_users), np.arange(ratings.n_items), indexing="ij")
    users, items = users.ravel(), items.ravel()
    known = model.known_mask(users, items)
    got = model.predict(users[known], items[known])
    want = [_brute_predict(ratings, model, u, i, k, shrinkage) for u, i in zip(users[known], items[known])]
    np.testing.assert_allclose(got, want, **F64)


def test_engines_agree_and_it_differs_from_item_knn():
    train, test = planted_split()
    jit = UserKNNBaseline(engine="jit").fit(train).predict_ratings(test)
    loop = UserKNNBaseline(engine="loop").fit(train).predict_ratings(test)
    np.testing.assert_array_equal(jit, loop)
    assert not np.allclose(jit, ItemKNN().fit(train).predict_ratings(test))


def test_beats_the_baseline_and_loads_back(tmp_path):
    train, test = planted_split()
    model = UserKNNBaseline().fit(train)
    base = model.global_mean_ + model.user_bias_[test.users] + model.item_bias_[test.items]
    assert model.evaluate(test)["rmse"] < np.sqrt(np.mean((base - test.values) ** 2))
    assert_loads_back(model, test, tmp_path / "uknn.npz")
