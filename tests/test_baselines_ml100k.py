"""Baselines on ML-100k u1.base / u1.test: accuracy bands around measured values.

Measured (numpy 2.4, scipy 1.17; benchmarks/results/baselines.md): global mean
1.1537, Biases 0.9599, TruncatedSVD (K=6, biases centring) 0.9439, UserKNN
(k=100) 1.2248 (dense and sparse alike), RMSE clipped to 1-5. The seed's k-NN
is worse than the global mean: the mean-imputed rows all have cosine ~0.97-1.0,
so the neighbours (and the prediction, mostly their means) ignore u's own level.
"""
import numpy as np
import pytest

from mfcore import Biases, GlobalMean
from mfcore.models.knn import UserKNN
from mfcore.models.svd import TruncatedSVD
from mfcore.ranking import ranking_report

pytestmark = pytest.mark.slow


def test_global_mean_and_biases(ml100k_u1):
    train, test = ml100k_u1
    assert GlobalMean().fit(train).evaluate(test)["rmse"] == pytest.approx(1.1537, abs=0.001)
    assert Biases().fit(train).evaluate(test)["rmse"] <= 0.96  # 0.9599 measured


def test_truncated_svd(ml100k_u1):
    train, test = ml100k_u1
    model = TruncatedSVD().fit(train)
    rep = model.evaluate(test)
    assert rep["rmse"] == pytest.approx(0.9439, abs=0.005)  # measured 0.9439
    assert rep["rmse"] < Biases().fit(train).evaluate(test)["rmse"] - 0.01
    rank = ranking_report(model, test, k=10)
    assert rank["n_users"] == 456
    assert rank["ndcg@10"] == pytest.approx(0.169, abs=0.02)  # measured 0.1693
    assert rank["precision@10"] > ranking_report(Biases().fit(train), test)["precision@10"]


def test_user_knn_dense_and_sparse(ml100k_u1):
    train, test = ml100k_u1
    dense = UserKNN(algorithm="dense").fit(train)
    sparse = UserKNN(algorithm="sparse").fit(train)
    np.testing.assert_allclose(dense.predict_ratings(test), sparse.predict_ratings(test),
                               rtol=1e-10, atol=1e-12)
    assert dense.evaluate(test)["rmse"] == pytest.approx(1.2248, abs=0.005)  # measured 1.2248
    assert ranking_report(sparse, test)["ndcg@10"] == pytest.approx(0.212, abs=0.02)  # 0.2120


def test_recommend_for_user_1_has_titles_and_skips_rated(ml100k_u1):
    train, _ = ml100k_u1
    model = TruncatedSVD().fit(train)
    table = model.recommend(1, n=10)
    assert len(table) == 10 and table["score"].is_monotonic_decreasing
    rated = set(train.item_map.raw[train.items[train.users == train.user_map.to_index(1)]])
    assert not rated & set(table["item"])
    if train.item_info is not None:
        assert all("(" in t for t in table["title"])  # "Title (year)"
