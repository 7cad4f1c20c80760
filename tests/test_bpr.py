"""BPR (bpr): loop and jit bit-identical, one triple's step against finite differences,
the negative sampler, ranking on planted groups beyond popularity, scores and
fallbacks, the AUC logs, save/load and parameter errors."""
import numpy as np
import pytest
from helpers import GRAD, assert_loads_back

from mfcore import BPR, Ratings
from mfcore.data.split import holdout_per_user
from mfcore.engines import bpr_jit, bpr_loop
from mfcore.models.bpr import is_positive, positive_keys, sample_negatives
from mfcore.ranking import ranking_report


def planted_groups(seed=0):
    """Group A (20 users) likes items 0-19, group B (40 users) items 20-39; each user has a
    positive on 40% of its group's items and 2% of the others. Popularity prefers B's items,
    so it ranks badly for A's users; a personalised ranking should not."""
    rng = np.random.default_rng(seed)
    n_a, n_b, n_items = 20, 40, 40
    group = np.r_[np.zeros(n_a, int), np.ones(n_b, int)]  # (60,)
    likes = (np.arange(n_items) >= 20).astype(int)  # (40,) the group that likes each item
    p = np.where(group[:, None] == likes[None, :], 0.4, 0.02)  # (60, 40)
    u, i = np.nonzero(rng.random(p.shape) < p)
    return Ratings.from_arrays(u, i, np.ones(u.size), name="planted groups")


def popularity_scores(model):
    model.score_users = lambda users: np.tile(model.item_counts_.astype(float), (len(users), 1))
    return model


def test_loop_and_jit_are_bit_identical():
    assert getattr(bpr_jit.bpr_epoch, "py_func", bpr_jit.bpr_epoch) is bpr_loop.bpr_epoch
    data = planted_groups()
    jit = BPR(n_factors=4, n_epochs=3, rng=0).fit(data)
    loop = BPR(n_factors=4, n_epochs=3, rng=0, engine="loop").fit(data)
    for key, value in jit._get_state().items():
        assert np.array_equal(value, loop._get_state()[key]), key
    assert np.array_equal(jit.history_["train_loss"], loop.history_["train_loss"])


def _objective(b, P, Q, u, i, j, reg):
    """ln sigma(x_uij) minus the triple's penalty: what (B1)-(B5) climb."""
    x = b[i] - b[j] + P[u] @ (Q[i] - Q[j])
    penalty = 0.5 * reg * (P[u] @ P[u] + Q[i] @ Q[i] + Q[j] @ Q[j] + b[i] ** 2 + b[j] ** 2)
    return -np.log1p(np.exp(-x)) - penalty


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_step_is_lr_times_the_finite_difference_gradient(seed):
    rng = np.random.default_rng(seed)
    K, lr, reg, u, i, j = 3, 1e-3, 0.05, 1, 0, 2
    b, P, Q = rng.normal(0, 0.5, 3), rng.normal(0, 0.5, (2, K)), rng.normal(0, 0.5, (3, K))
    before = [a.copy() for a in (b, P, Q)]
    total = bpr_loop.bpr_epoch(np.array([u], np.int32), np.array([i], np.int32), np.zeros(1, np.int64),
                               np.array([j], np.int32), b, P, Q, lr, reg)
    x = before[0][i] - before[0][j] + before[1][u] @ (before[2][i] - before[2][j])
    assert total == pytest.approx(np.log1p(np.exp(-x)), rel=1e-12)  # -ln sigma(x)
    eps = 1e-6
    for got, start in zip((b, P, Q), before):
        for idx in np.ndindex(start.shape):
            plus, minus = [a.copy() for a in before], [a.copy() for a in before]
            k = [a is start for a in before].index(True)
            plus[k][idx] += eps
            minus[k][idx] -= eps
            fd = (_objective(*plus, u, i, j, reg) - _objective(*minus, u, i, j, reg)) / (2 * eps)
            step = (got[idx] - start[idx]) / lr  # the update is lr times the gradient
            assert abs(step - fd) <= GRAD * max(1.0, abs(fd)), (k, idx, step, fd)


def test_negatives_are_never_positives_when_the_budget_allows():
    rng = np.random.default_rng(0)
    # user 0 has half of the 10 items, user 1 all of them
    ratings = Ratings.from_arrays(np.r_[np.zeros(5, int), np.ones(10, int)],
                                  np.r_[np.arange(0, 10, 2), np.arange(10)], np.ones(15))
    indptr, indices = ratings.csr_structure()
    keys = positive_keys(indptr, indices, 10)
    want = {(int(a), int(c)) for a, c in zip(ratings.users, ratings.items)}
    q_u, q_i = rng.integers(0, 3, 500), rng.integers(0, 10, 500)
    assert is_positive(q_u, q_i, keys, 10).tolist() == [(a, c) in want for a, c in zip(q_u, q_i)]
    users = np.zeros(2000, np.int32)
    j = sample_negatives(users, 10, keys, np.random.default_rng(1))
    assert not is_positive(users, j, keys, 10).any() and set(j.tolist()) == {1, 3, 5, 7, 9}
    # one draw only: about half are positives, so the test above can fail
    one = sample_negatives(users, 10, keys, np.random.default_rng(1), max_tries=1)
    assert 0.4 < is_positive(users, one, keys, 10).mean() < 0.6
    # a user with every item positive still gets an item (the last draw, documented)
    full = sample_negatives(np.ones(50, np.int32), 10, keys, np.random.default_rng(2))
    assert full.min() >= 0 and full.max() < 10


def test_ranks_held_out_positives_above_popularity():
    data = planted_groups()
    split = holdout_per_user(data, fraction=0.25, rng=0)
    a = BPR(n_factors=4, n_epochs=30, lr=0.05, rng=0).fit(split.train)
    b = BPR(n_factors=4, n_epochs=30, lr=0.05, rng=0).fit(split.train)
    assert np.array_equal(a.item_factors_, b.item_factors_)  # an int rng: the same fit
    pop = popularity_scores(BPR(n_factors=1, n_epochs=1, rng=0).fit(split.train))
    ours = ranking_report(a, split.test, k=5, threshold=1.0)
    base = ranking_report(pop, split.test, k=5, threshold=1.0)
    assert ours["ndcg@5"] > 1.3 * base["ndcg@5"], (ours, base)
    assert ours["precision@5"] > 1.3 * base["precision@5"]
    loss = a.history_["train_loss"]
    assert loss[0] < np.log(2) + 0.05 and loss[-1] < 0.6 * loss[0]


def test_parameters_change_the_result():
    data = planted_groups()
    base = dict(n_factors=3, n_epochs=3, lr=0.05, reg=0.01, rng=0)
    ref = BPR(**base).fit(data).score_users(np.arange(5))
    for change in ({"n_factors": 4}, {"n_epochs": 2}, {"lr": 0.02}, {"reg": 0.3}, {"init_std": 0.05},
                   {"rng": 1}):
        assert not np.allclose(BPR(**{**base, **change}).fit(data).score_users(np.arange(5)), ref), change


def test_scores_and_fallbacks_for_unknown_ids():
    data = planted_groups()
    # user 60 and item 40 are in the maps with no positive: ids given to from_arrays' maps
    extra = Ratings.from_arrays(np.r_[data.users, 60], np.r_[data.items, 40], np.ones(len(data) + 1))
    train = extra.subset(np.arange(len(data)))
    model = BPR(n_factors=3, n_epochs=2, rng=0).fit(train)
    b, P, Q = model.item_bias_, model.user_factors_, model.item_factors_
    assert model.predict([3, 3], [5, 7]) == pytest.approx(b[[5, 7]] + Q[[5, 7]] @ P[3], rel=1e-12)
    # unknown user -> b_i; an item with no positive -> its b_i; an unseen item id -> min b
    assert model.predict([-1, 60, 3, 3], [5, 5, 40, -1]).tolist() == [b[5], b[5], b[40], b.min()]
    users = np.array([3, 60, -1, 0])
    S = model.score_users(users)
    want = np.stack([model.predict(np.full(41, u), np.arange(41)) for u in users])
    np.testing.assert_allclose(S, want, rtol=1e-12, atol=1e-15)  # a matrix product vs row dots
    np.testing.assert_array_equal(S[1:3], np.tile(b, (2, 1)))  # unknown users: b_i exactly


def test_auc_logs_and_the_monitor_changes_nothing():
    data = planted_groups()
    split = holdout_per_user(data, fraction=0.25, rng=0)
    plain = BPR(n_factors=4, n_epochs=30, lr=0.05, rng=0).fit(split.train)
    watched = BPR(n_factors=4, n_epochs=30, lr=0.05, rng=0).fit(split.train, valid=split.test,
                                                               monitor=split.test)
    for key, value in plain._get_state().items():
        assert np.array_equal(value, watched._get_state()[key]), key
    val, test = watched.history_["val_auc"], watched.history_["test_auc"]
    assert np.array_equal(val, test) and len(val) == 30 and val[0] < 0.7 < val[-1] <= 1.0
    # by brute force: the share of u's non-positive items (other than i) scored below i
    u, i = split.test.users[0], split.test.items[0]
    s = watched.score_users([u])[0]
    others = np.setdiff1d(np.arange(40), np.r_[watched.rated_indices_[
        watched.rated_indptr_[u]:watched.rated_indptr_[u + 1]], i])
    got = watched._error_logs((np.array([u]), np.array([i]), None), "x_")["x_auc"]
    assert got == pytest.approx(np.mean(s[others] < s[i]) + 0.5 * np.mean(s[others] == s[i]), rel=1e-12)


def test_save_load_round_trip(tmp_path):
    data = planted_groups()
    model = BPR(n_factors=3, n_epochs=2, rng=0).fit(data)
    back = assert_loads_back(model, data, tmp_path / "bpr.npz")
    np.testing.assert_array_equal(back.score_users(np.arange(60)), model.score_users(np.arange(60)))


@pytest.mark.parametrize("param, value, error, match", [
    ("n_factors", 0, ValueError, "'n_factors' parameter of BPR must be an int >= 1. Got 0 instead."),
    ("n_epochs", 1.5, TypeError, "'n_epochs' parameter of BPR must be an int"),
    ("lr", -0.1, ValueError, r"'lr' parameter of BPR must be a float > 0. Got -0.1 instead."),
    ("reg", -1, ValueError, "'reg' parameter of BPR must be a float >= 0"),
    ("init_std", -1.0, ValueError, "'init_std' parameter of BPR"),
    ("engine", "vectorized", ValueError, "'engine' parameter of BPR must be one of 'jit', 'loop'"),
])
def test_bad_parameters(param, value, error, match):
    with pytest.raises(error, match=match):
        BPR(**{param: value}).fit(planted_groups())
