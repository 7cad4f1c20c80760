"""SVDpp (svdpp): the loop and jit engines bit-identical, one user block by hand, the
prediction rule, the epoch order, the fallback, save/load and parameter errors."""
import numpy as np
import pytest
from helpers import F64, assert_loads_back, planted_split

from mfcore import Biases, SVDpp
from mfcore.engines import svdpp_jit, svdpp_loop
from mfcore.models.svdpp import user_blocks


def test_loop_and_jit_are_bit_identical():
    assert getattr(svdpp_jit.svdpp_epoch, "py_func", svdpp_jit.svdpp_epoch) is svdpp_loop.svdpp_epoch
    train, _ = planted_split()
    jit = SVDpp(n_factors=4, n_epochs=3, rng=0).fit(train)
    loop = SVDpp(n_factors=4, n_epochs=3, rng=0, engine="loop").fit(train)
    for key, value in jit._get_state().items():
        assert np.array_equal(value, loop._get_state()[key]), key
    assert np.array_equal(jit.history_["train_loss"], loop.history_["train_loss"])


def test_one_user_block_by_hand():
    # user 0 rated items 0, 1 and 2 (N(0) = R(0)); one epoch visits them in the order 2, 0, 1
    rng = np.random.default_rng(0)
    K, mu, lr, reg = 3, 3.5, 0.05, 0.1
    users = np.array([0, 0, 0], np.int32)
    items = np.array([0, 1, 2], np.int32)
    r = np.array([4.0, 2.0, 5.0])
    order = np.array([2, 0, 1], np.int64)
    starts = np.array([0, 3], np.int64)
    nptr, nidx = np.array([0, 3], np.int64), np.array([0, 1, 2], np.int32)
    bu, bi = np.array([0.1]), np.array([0.2, -0.3, 0.05])
    P, Q, Y = rng.normal(0, 0.5, (1, K)), rng.normal(0, 0.5, (3, K)), rng.normal(0, 0.5, (3, K))
    want = [a.copy() for a in (bu, bi, P, Q, Y)]
    sse = svdpp_loop.svdpp_epoch(users, items, r, order, starts, nptr, nidx, mu, bu, bi, P, Q, Y, lr, reg)

    wbu, wbi, wP, wQ, wY = want
    z = wY.sum(axis=0) / np.sqrt(3)  # (U0) once: y does not move inside the block
    g = np.zeros(K)
    wsse = 0.0
    for idx in order:
        i = items[idx]
        e = r[idx] - (mu + wbu[0] + wbi[i] + wQ[i] @ (wP[0] + z))
        wsse += e * e
        p_old, q_old = wP[0].copy(), wQ[i].copy()
        wbu[0] += lr * (e - reg * wbu[0])  # (U1)
        wbi[i] += lr * (e - reg * wbi[i])  # (U2)
        wP[0] = p_old + lr * (e * q_old - reg * p_old)  # (U3)
        wQ[i] = q_old + lr * (e * (p_old + z) - reg * q_old)  # (U4)
        g += e * q_old  # (U5)
    wY += lr * (g / np.sqrt(3) - 3 * reg * wY)  # (U6), once, after the block
    for got, exp in zip((bu, bi, P, Q, Y), (wbu, wbi, wP, wQ, wY)):
        np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-14)
    assert sse == pytest.approx(wsse, rel=1e-12)


def test_predict_is_the_model_formula():
    train, test = planted_split()
    model = SVDpp(n_factors=4, n_epochs=2, rng=0).fit(train)
    u, i, _ = model._aligned(test)
    keep = model.known_mask(u, i)
    u, i = u[keep][:20], i[keep][:20]
    for uu, ii in zip(u, i):
        N = model.rated_indices_[model.rated_indptr_[uu]:model.rated_indptr_[uu + 1]]
        z = model.implicit_factors_[N].sum(axis=0) / np.sqrt(N.size)
        want = (model.global_mean_ + model.user_bias_[uu] + model.item_bias_[ii]
                + model.item_factors_[ii] @ (model.user_factors_[uu] + z))
        assert model.predict([uu], [ii])[0] == pytest.approx(want, rel=1e-12)


def test_epoch_order_groups_each_user_once():
    users = np.array([3, 0, 3, 1, 0, 3, 1], np.int32)
    order, starts = user_blocks(users, 5, np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(users.size))
    blocks = [users[order[a:b]] for a, b in zip(starts[:-1], starts[1:])]
    assert [len(set(b.tolist())) for b in blocks] == [1, 1, 1]
    assert sorted(b[0] for b in blocks) == [0, 1, 3]
    orders = {tuple(user_blocks(users, 5, np.random.default_rng(s))[0]) for s in range(10)}
    assert len(orders) > 1


def test_learns_beyond_the_biases_and_is_repeatable():
    train, test = planted_split()
    a = SVDpp(n_factors=3, n_epochs=40, lr=0.02, rng=0).fit(train)
    b = SVDpp(n_factors=3, n_epochs=40, lr=0.02, rng=0).fit(train)
    c = SVDpp(n_factors=3, n_epochs=40, lr=0.02, rng=1).fit(train)
    assert np.array_equal(a.predict_ratings(test), b.predict_ratings(test))
    assert not np.allclose(a.predict_ratings(test), c.predict_ratings(test))
    assert a.evaluate(test)["rmse"] < 0.9 * Biases().fit(train).evaluate(test)["rmse"]
    loss = a.history_["train_loss"]
    assert loss[-1] < loss[0]


def test_parameters_change_the_result():
    train, test = planted_split()
    base = dict(n_factors=3, n_epochs=3, rng=0)
    ref = SVDpp(**base).fit(train).predict_ratings(test)
    for change in ({"n_factors": 4}, {"n_epochs": 2}, {"lr": 0.02}, {"reg": 0.3}, {"init_std": 0.05}):
        assert not np.allclose(SVDpp(**{**base, **change}).fit(train).predict_ratings(test), ref), change


def test_fallback_for_unknown_ids():
    train, _ = planted_split()
    model = SVDpp(n_factors=3, n_epochs=2, rng=0).fit(train)
    mu, bu, bi = model.global_mean_, model.user_bias_, model.item_bias_
    assert model.predict([-1, 2, -1], [1, -1, -1]) == pytest.approx([mu + bi[1], mu + bu[2], mu], rel=1e-15)


def test_early_stopping_restores_a_consistent_model():
    train, test = planted_split()
    model = SVDpp(n_factors=3, n_epochs=30, lr=0.05, rng=0, early_stopping=True, patience=2).fit(train)
    best_epoch, best = model.history_.best("val_rmse")
    assert len(model.history_) < 30 and model.history_.best_epoch == best_epoch
    # predictions read z_u of the restored (best) Y, not of the last epoch's
    model.predict_ratings(test)
    N = model.rated_indices_[model.rated_indptr_[5]:model.rated_indptr_[5 + 1]]
    z = model.implicit_factors_[N].sum(axis=0) / np.sqrt(N.size)
    np.testing.assert_allclose(model.user_implicit_[5], z, **F64)


def test_save_load_round_trip(tmp_path):
    train, test = planted_split()
    model = SVDpp(n_factors=3, n_epochs=2, rng=0).fit(train)
    back = assert_loads_back(model, test, tmp_path / "svdpp.npz")
    assert back.user_implicit_ is None or np.array_equal(back.user_implicit_, model.user_implicit_)


@pytest.mark.parametrize("param, value, error, match", [
    ("n_factors", 0, ValueError, "'n_factors' parameter of SVDpp must be an int >= 1. Got 0 instead."),
    ("n_epochs", 1.5, TypeError, "'n_epochs' parameter of SVDpp must be an int"),
    ("lr", -0.1, ValueError, r"'lr' parameter of SVDpp must be a float > 0. Got -0.1 instead."),
    ("reg", -1, ValueError, "'reg' parameter of SVDpp must be a float >= 0"),
    ("init_std", -1.0, ValueError, "'init_std' parameter of SVDpp"),
    ("engine", "blocks", ValueError, "'engine' parameter of SVDpp must be one of 'jit', 'loop'"),
])
def test_bad_parameters(param, value, error, match):
    train, _ = planted_split()
    with pytest.raises(error, match=match):
        SVDpp(**{param: value}).fit(train)
