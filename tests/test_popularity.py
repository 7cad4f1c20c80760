"""Popularity: the implicit-feedback baseline ranks items by their training counts."""
import numpy as np
from helpers import assert_loads_back, planted_split

from mfcore import Popularity
from mfcore.model_selection import ranking_metrics


def test_scores_are_training_counts_for_every_user(tmp_path):
    train, test = planted_split()
    model = Popularity().fit(train)
    scores = model.score_users(np.array([0, 3]))
    np.testing.assert_array_equal(scores[0], np.bincount(train.items, minlength=train.n_items))
    np.testing.assert_array_equal(scores[0], scores[1])
    assert model.implicit and Popularity.implicit
    assert_loads_back(model, test, tmp_path / "pop.npz")


def test_recommends_the_most_popular_unseen_items():
    train, test = planted_split()
    model = Popularity().fit(train)
    user = train.user_map.raw[0]
    top = model.recommend(user, n=3)
    seen = set(train.items[train.users == 0].tolist())
    counts = np.bincount(train.items, minlength=train.n_items).astype(float)
    counts[list(seen)] = -1
    want = set(train.item_map.raw[np.argsort(-counts, kind="stable")[:3]].tolist())
    assert set(top["item"].tolist()) <= want | set(train.item_map.raw[counts == counts[np.argsort(-counts)[2]]])
    assert 0 <= ranking_metrics(model, test, threshold=3.0)["ndcg@10"] <= 1
