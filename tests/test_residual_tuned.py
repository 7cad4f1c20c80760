"""ResidualMF's warm start from a fitted BiasedMF and its per-rating L2 (``reg_per_rating``)."""
import json

import numpy as np
import pytest

from mfcore import load_model
from mfcore.cli import main
from mfcore.models.mf import BiasedMF
from mfcore.models.residual import ResidualMF, ResidualNet
from mfcore.nn import check_gradients
from helpers import F64, GRAD

WARM = dict(n_factors=4, hidden_units=8, batch_size=16, lr=0.01, warm_start="biased-mf", mf_epochs=6, rng=3)


class _NoEpochs(ResidualMF):
    """ResidualMF whose network epochs do nothing: after fit, the net is the warm start."""

    def _epoch_fn(self, inputs, y):
        return lambda order, timing: 0.0


def test_warm_start_net_predicts_exactly_the_fitted_biased_mf(planted_split):
    train, test = planted_split
    bmf = BiasedMF(n_factors=4, n_epochs=6, rng=3).fit(train)
    m = _NoEpochs(n_epochs=1, **{k: v for k, v in WARM.items() if k != "n_epochs"}).fit(train)
    p = m.net_.params
    assert np.array_equal(p["user_embedding/embeddings"], bmf.user_factors_)
    assert np.array_equal(p["item_bias/embeddings"][:, 0], bmf.item_bias_)
    assert not p["dense_2/kernel"].any() and not p["dense_2/bias"].any()
    assert p["dense_1/kernel"].any()  # the side branch's first layer keeps its glorot draw
    u = np.concatenate([test.users, [-1, 0]])  # plus an unknown user and an unknown item
    i = np.concatenate([test.items, [0, -1]])
    np.testing.assert_allclose(m.predict(u, i), bmf.predict(u, i), rtol=1e-13, atol=1e-13)  # summation order
    assert m.warm_start_seconds_ > 0


def test_warm_start_mf_settings_reach_the_biased_mf(planted_split):
    train, _ = planted_split
    a = _NoEpochs(n_epochs=1, **dict(WARM, mf_epochs=2, mf_lr=0.02, mf_reg=0.1, mf_init_std=0.05)).fit(train)
    bmf = BiasedMF(n_factors=4, n_epochs=2, lr=0.02, reg=0.1, init_std=0.05, rng=3).fit(train)
    np.testing.assert_array_equal(a.net_.params["item_embedding/embeddings"], bmf.item_factors_)
    other = BiasedMF(n_factors=4, n_epochs=6, rng=3).fit(train)
    assert not np.allclose(a.net_.params["item_embedding/embeddings"], other.item_factors_)


def test_residual_epochs_move_the_side_branch_and_lower_the_training_loss(planted_split):
    train, _ = planted_split
    m = ResidualMF(n_epochs=4, **{k: v for k, v in WARM.items()}).fit(train)
    bmf = BiasedMF(n_factors=4, n_epochs=6, rng=3).fit(train)
    assert np.abs(m.net_.params["dense_2/kernel"]).max() > 0
    mse_res = np.mean((m.predict(train.users, train.items) - train.values) ** 2)
    mse_bmf = np.mean((bmf.predict(train.users, train.items) - train.values) ** 2)
    assert mse_res < mse_bmf


@pytest.mark.parametrize("engine_kw", [{}, {"reg": 0.01}, {"nesterov": True}], ids=["plain", "keras-l2", "nesterov"])
def test_jit_and_vectorized_engines_agree_with_rating_reg(engine_kw, planted_split):
    train, _ = planted_split
    kw = dict(WARM, n_epochs=3, reg_per_rating=0.05, **engine_kw)
    a = ResidualMF(engine="jit", **kw).fit(train)
    b = ResidualMF(engine="vectorized", **kw).fit(train)
    for key, value in a._get_state().items():
        np.testing.assert_allclose(value, b._get_state()[key], **F64)
    np.testing.assert_allclose(a.history_["train_loss"], b.history_["train_loss"], **F64)
    c = ResidualMF(engine="jit", **dict(kw, reg_per_rating=0.0)).fit(train)
    assert not np.allclose(a.net_.params["user_embedding/embeddings"], c.net_.params["user_embedding/embeddings"])


@pytest.mark.parametrize("reg", [0.0, 0.02])
def test_gradient_check_with_rating_reg(reg):
    rng = np.random.default_rng(0)
    net = ResidualNet(5, 6, 3, 7, np.random.default_rng(1), rating_reg=0.04)
    for w in net.params.values():
        w[...] = rng.normal(0, 0.5, w.shape)
    u, i, y = rng.integers(0, 5, 9), rng.integers(0, 6, 9), rng.normal(0, 1, 9)
    u[:3] = 2  # a repeated user: shrunk once per occurrence
    loss, grads = net.loss_and_grads(u, i, y, reg=reg)
    assert loss == pytest.approx(float(np.sum(net.loss_terms(u, i, y, reg=reg))), rel=1e-12)
    res = check_gradients(lambda: net.loss_terms(u, i, y, reg=reg), net.params, grads)
    assert res.max_rel < GRAD, res
    # the per-rating term adds 2 lambda_r / B * (occurrences) * row, nothing else
    net.rating_reg = 0.0
    _, plain = net.loss_and_grads(u, i, y, reg=reg)
    counts = np.bincount(u, minlength=5)[:, None]
    P = net.params["user_embedding/embeddings"]
    np.testing.assert_allclose(grads["user_embedding/embeddings"] - plain["user_embedding/embeddings"],
                               2 * 0.04 / 9 * counts * P, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(grads["dense_1/kernel"], plain["dense_1/kernel"])


def test_save_load_keeps_the_warm_start_model(tmp_path, planted_split):
    train, test = planted_split
    m = ResidualMF(n_epochs=2, reg_per_rating=0.03, mf_reg=0.08, **WARM).fit(train)
    path = m.save(tmp_path / "res.npz")
    back = load_model(path)
    assert isinstance(back, ResidualMF)
    assert back.get_params()["warm_start"] == "biased-mf" and back.mf_reg == 0.08 and back.reg_per_rating == 0.03
    np.testing.assert_array_equal(back.predict(test.users, test.items), m.predict(test.users, test.items))


@pytest.mark.parametrize("kw,err,word", [
    ({"warm_start": "mf"}, ValueError, "warm_start"),
    ({"warm_start": True}, ValueError, "warm_start"),
    ({"reg_per_rating": -0.1}, ValueError, "reg_per_rating"),
    ({"mf_epochs": 0}, ValueError, "mf_epochs"),
    ({"mf_epochs": 2.5}, TypeError, "mf_epochs"),
    ({"mf_lr": 0.0}, ValueError, "mf_lr"),
    ({"mf_reg": -1.0}, ValueError, "mf_reg"),
    ({"mf_init_std": "big"}, TypeError, "mf_init_std"),
])
def test_bad_warm_start_values_raise(kw, err, word, planted_split):
    train, _ = planted_split
    with pytest.raises(err, match=word):
        ResidualMF(**dict(WARM, **kw)).fit(train)


def test_defaults_stay_the_notebook_settings():
    p = ResidualMF().get_params()
    assert (p["n_factors"], p["hidden_units"], p["lr"], p["n_epochs"], p["batch_size"]) == (15, 512, 0.08, 15, 128)
    assert p["warm_start"] is None and p["reg_per_rating"] == 0.0


def test_generator_rng_warm_start_advances(planted_split):
    train, test = planted_split
    g = np.random.default_rng(5)
    kw = {k: v for k, v in WARM.items() if k != "rng"}
    a = ResidualMF(n_epochs=1, rng=g, **kw).fit(train).predict(test.users, test.items)
    b = ResidualMF(n_epochs=1, rng=g, **kw).fit(train).predict(test.users, test.items)
    assert not np.allclose(a, b)


def test_cli_param_reaches_the_warm_start(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(u, i, float(rng.integers(1, 6))) for u in range(1, 31) for i in range(1, 21) if rng.random() < 0.5]
    path = tmp_path / "r.csv"
    path.write_text("".join(f"{u},{i},{r}\n" for u, i, r in rows))
    out, model = tmp_path / "run.json", tmp_path / "m.npz"
    code = main(["train", "residual-mf", "--data", str(path), "--split", "random:0.2", "--quiet",
                 "--json", str(out), "--save", str(model), "--param", "warm_start=biased-mf",
                 "--param", "reg_per_rating=0.05", "--param", "mf_epochs=3", "--param", "n_factors=3",
                 "--param", "hidden_units=4", "--param", "n_epochs=2", "--param", "lr=0.01"])
    assert code == 0
    rec = json.loads(out.read_text())
    assert rec["params"]["warm_start"] == "biased-mf" and rec["params"]["mf_epochs"] == 3
    assert load_model(model).reg_per_rating == 0.05
    assert main(["train", "residual-mf", "--data", str(path), "--quiet", "--param", "warm_start=svd"]) == 2
