"""Ranking metrics against hand-worked lists, tie-safe top-k, and ranking_report end to end."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfcore import GlobalMean, Ratings
from mfcore.models.base import Recommender
from mfcore.ranking import (average_precision_at_k, hit_rate_at_k, ndcg_at_k, precision_at_k,
                            ranking_report, recall_at_k, top_k)

L2, L3, L4, L5 = np.log2([2.0, 3.0, 4.0, 5.0])
RANKED = ["a", "b", "c", "d", "e"]
RELEVANT = {"b", "d", "f"}  # hits at positions 2 and 4; "f" is never recommended


def test_metrics_at_5_by_hand():
    assert precision_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 5)
    assert recall_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 3)
    assert hit_rate_at_k(RANKED, RELEVANT, 5) == 1.0
    # DCG = 1/log2(3) + 1/log2(5) = 0.63093 + 0.43068 = 1.06161
    # IDCG (3 relevant) = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.63093 + 0.5 = 2.13093
    # NDCG@5 = 1.06161 / 2.13093 = 0.498189
    assert ndcg_at_k(RANKED, RELEVANT, 5) == pytest.approx((1 / L3 + 1 / L5) / (1 / L2 + 1 / L3 + 1 / L4))
    assert ndcg_at_k(RANKED, RELEVANT, 5) == pytest.approx(0.498189, abs=1e-6)
    # AP@5 = (P@2 + P@4) / min(5, 3) = (1/2 + 2/4) / 3 = 1/3
    assert average_precision_at_k(RANKED, RELEVANT, 5) == pytest.approx(1 / 3)


def test_metrics_at_3_by_hand():
    assert precision_at_k(RANKED, RELEVANT, 3) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, RELEVANT, 3) == pytest.approx(1 / 3)
    # DCG = 1/log2(3) = 0.63093, IDCG = 2.13093 -> 0.29608
    assert ndcg_at_k(RANKED, RELEVANT, 3) == pytest.approx(0.296082, abs=1e-6)
    # AP@3 = P@2 / min(3, 3) = (1/2) / 3 = 1/6
    assert average_precision_at_k(RANKED, RELEVANT, 3) == pytest.approx(1 / 6)


def test_perfect_and_empty_lists():
    assert ndcg_at_k(["b", "d", "f"], RELEVANT, 3) == pytest.approx(1.0)
    assert average_precision_at_k(["b", "d", "f"], RELEVANT, 3) == pytest.approx(1.0)
    # one relevant item at rank 1 of a list of 10: AP divides by min(10, 1) = 1
    assert average_precision_at_k(list("zyxwvutsrq"), {"z"}, 10) == pytest.approx(1.0)
    for fn in (precision_at_k, recall_at_k, hit_rate_at_k, ndcg_at_k, average_precision_at_k):
        assert fn(["x", "y"], RELEVANT, 2) == 0.0


def test_top_k_breaks_ties_by_lower_index():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0],
                       [0.0, -np.inf, 5.0, 5.0, 1.0]])
    np.testing.assert_array_equal(top_k(scores, 2), [[1, 2], [2, 3]])
    np.testing.assert_array_equal(top_k(scores, 4), [[1, 2, 4, 3], [2, 3, 4, 0]])
    np.testing.assert_array_equal(top_k(scores, 9), [[1, 2, 4, 3, 0], [2, 3, 4, 0, 1]])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 12), st.integers(0, 2**31), st.integers(1, 4))
def test_top_k_equals_a_stable_full_sort(rows, cols, seed, levels):
    scores = np.random.default_rng(seed).integers(0, levels, (rows, cols)).astype(float)  # many ties
    for k in range(1, cols + 2):
        ref = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(top_k(scores, k), ref)


class ItemIndexScore(Recommender):
    """Scores item i as i / 10 for every user: the ranking is items by decreasing index."""

    name = "test-item-index"

    def __init__(self, hook=False):
        self.hook = hook

    def _fit(self, train, valid, callbacks):
        self.hook_calls = 0
        if self.hook:  # the optional fast path ranking_report must use when present
            self.score_users = self._score_users

    def _score_users(self, users):
        self.hook_calls += 1
        return np.tile(np.arange(self.item_counts_.size) / 10.0, (len(users), 1))

    def _predict_known(self, u, i):
        return i / 10.0

    def _predict_fallback(self, u, i):
        return i / 10.0

    def _get_state(self):
        return {}


def _two_users():
    # items 0..4. Train: A rated 4 (the top-scored item, so it is excluded); B rated 0.
    # Test: A: 3 -> 5 stars, 1 -> 4, 2 -> 2 (relevant {3, 1}); B: 2 -> 3 (nothing relevant).
    users = ["A", "B", "A", "A", "A", "B"]
    items = [4, 0, 3, 1, 2, 2]
    values = [3.0, 4.0, 5.0, 4.0, 2.0, 3.0]
    full = Ratings.from_arrays(users, items, values)
    return full.subset([0, 1]), full.subset([2, 3, 4, 5])


@pytest.mark.parametrize("hook", [False, True])
def test_ranking_report_by_hand(hook):
    train, test = _two_users()
    model = ItemIndexScore(hook=hook).fit(train)
    rep = ranking_report(model, test, k=2, threshold=4.0)
    # A's candidates ranked: 3, 2, 1, 0 (4 excluded). Top 2 = [3, 2]; one hit at rank 1.
    # precision 1/2, recall 1/2, hit 1, NDCG = 1 / (1 + 1/log2(3)) = 0.61315, AP = (1/1) / 2
    assert rep["n_users"] == 1  # B has no relevant test item
    assert rep["precision@2"] == pytest.approx(0.5)
    assert rep["recall@2"] == pytest.approx(0.5)
    assert rep["hit_rate@2"] == 1.0
    assert rep["ndcg@2"] == pytest.approx(1 / (1 + 1 / L3))
    assert rep["map@2"] == pytest.approx(0.5)
    assert rep["k"] == 2 and rep["threshold"] == 4.0
    assert model.hook_calls == (1 if hook else 0)
    # with threshold 5, only item 3 is relevant: found at rank 1
    assert ranking_report(model, test, k=2, threshold=5.0)["ndcg@2"] == pytest.approx(1.0)


def test_an_item_the_model_never_saw_is_a_miss():
    train, _ = _two_users()
    model = ItemIndexScore().fit(train)
    # new maps: item 9 does not exist for the model
    test = Ratings.from_arrays(["A", "A"], [3, 9], [5.0, 5.0])
    rep = ranking_report(model, test, k=1)
    assert rep["precision@1"] == 1.0  # item 3 is the top candidate
    assert rep["recall@1"] == pytest.approx(0.5)  # ... but item 9 counts as relevant and missed


def test_ties_rank_lower_indices_first(tiny_ratings):
    model = GlobalMean().fit(tiny_ratings)  # every score equal
    test = Ratings.from_arrays(["a"], ["z"], [5.0], user_map=tiny_ratings.user_map,
                               item_map=tiny_ratings.item_map)
    # a rated w, x, y in training; candidates v (index 0) and z (index 4): v comes first
    rep = ranking_report(model, test, k=1)
    assert rep["hit_rate@1"] == 0.0
    assert ranking_report(model, test, k=2)["ndcg@2"] == pytest.approx(1 / L3)


def test_parameter_errors(tiny_ratings):
    model = GlobalMean().fit(tiny_ratings)
    with pytest.raises(ValueError, match="'k' parameter of ranking_report"):
        ranking_report(model, tiny_ratings, k=0)


def test_top_k_tolerance_merges_near_ties():
    scores = np.array([[1.0, 1.0 + 1e-13, 0.5]])
    np.testing.assert_array_equal(top_k(scores, 1), [[1]])  # exact comparison
    np.testing.assert_array_equal(top_k(scores, 1, tol=1e-12), [[0]])  # a tie: lower index
    np.testing.assert_array_equal(top_k(scores, 2, tol=1e-12), [[0, 1]])
