"""RNCF: gradient checks of stages 2 and 3, the error target (bug and fix), properties, ML-100k."""
import numpy as np
import pytest

from mfcore import DivergenceError, make_model
from mfcore.models.keras_mf import BiasedMFKeras, MFNet
from mfcore.models.rncf import RNCF, RNCFNet
from mfcore.nn import check_gradients
from helpers import GRAD, assert_loads_back, assert_scores_match_predict


def _small(**kw):
    base = dict(n_factors=4, hidden_units=(8, 6, 6), n_epochs=3, batch_size=32, lr=0.02, rng=0,
                early_stopping=False)
    base.update(kw)
    return RNCF(**base)


@pytest.mark.parametrize("extra", [False, True], ids=["stage2", "stage3"])
@pytest.mark.parametrize("reg", [0.0, 0.02])
def test_stage_network_gradient_check(extra, reg):
    rng = np.random.default_rng(0)
    net = RNCFNet(5, 6, 3, (7, 5, 4), extra, np.random.default_rng(1))
    for w in net.params.values():
        w[...] = rng.normal(0, 0.5, w.shape)
    u, i = rng.integers(0, 5, 10), rng.integers(0, 6, 10)
    u[:3] = 4
    y, g = rng.normal(0, 1, 10), rng.uniform(0, 2, 10)
    ex = g if extra else None
    _, grads = net.loss_and_grads(u, i, y, ex, reg=reg)
    res = check_gradients(lambda: net.loss_terms(u, i, y, ex, reg=reg), net.params, grads)
    assert res.max_rel < GRAD, res


def test_stage1_network_gradient_check():
    # stage 1 is BiasedMFKeras' graph (MFNet): checked here too, so every stage is covered
    rng = np.random.default_rng(0)
    net = MFNet(5, 6, 3, True, np.random.default_rng(1), np.float64)
    for w in net.params.values():
        w[...] = rng.normal(0, 0.5, w.shape)
    u, i, y = rng.integers(0, 5, 10), rng.integers(0, 6, 10), rng.normal(0, 1, 10)
    _, grads = net.loss_and_grads(u, i, y, reg=0.01)
    res = check_gradients(lambda: net.loss_terms(u, i, y, reg=0.01), net.params, grads)
    assert res.max_rel < GRAD, res


def test_default_early_stopping_carves_validation_before_stage_1(planted_split):
    train, _ = planted_split
    m = _small(early_stopping=True).fit(train)
    assert m.n_valid_ == round(0.1 * len(train))
    fitted = len(train) - m.n_valid_
    assert int(m.stage1_.user_counts_.sum()) == int(m.user_counts_.sum()) == fitted
    assert "val_rmse" in m.history_ and "val_mse" in m.stage_histories_["stage2"]


def test_stage1_is_biased_mf_keras(planted_split):
    train, _ = planted_split
    m = _small().fit(train)
    ref = BiasedMFKeras(n_factors=4, n_epochs=3, batch_size=32, lr=0.02, rng=np.random.default_rng(0).spawn(3)[0])
    ref.fit(train)
    np.testing.assert_array_equal(m.stage1_.user_factors_, ref.user_factors_)


def test_error_target_bug_and_fix(planted_split):
    train, test = planted_split
    fixed = _small().fit(train, test)
    bug = _small(error_target="notebook").fit(train, test)
    # corrected: stage 1's training MSE, (r - (mu + f1))^2; notebook: (r - f1)^2 ~ mu^2 (mu ~ 3 here)
    s1 = fixed.stage1_
    mse1 = np.mean((train.values - s1.predict(train.users, train.items)) ** 2)
    assert fixed.error_target_mean_ == pytest.approx(mse1, rel=1e-9)
    assert bug.error_target_mean_ > 0.7 * train.global_mean ** 2
    assert bug.error_target_mean_ > 2 * fixed.error_target_mean_
    assert "val_mse" in fixed.stage_histories_["stage2"]
    assert len(fixed.stage_histories_["stage1"]) == len(fixed.history_) == 3


def test_stage3_uses_the_predicted_error(planted_split):
    train, test = planted_split
    m = _small().fit(train)
    u, i = test.users[:20], test.items[:20]
    before = m.predict(u, i)
    m.error_net_.params["output/bias"][0] += 1.0  # shift the predicted error: stage 3 output moves
    assert not np.allclose(m.predict(u, i), before)


def test_int_seed_is_idempotent_and_seeds_differ(planted_split):
    train, test = planted_split
    m = _small()
    a = m.fit(train).predict_ratings(test)
    np.testing.assert_array_equal(m.fit(train).predict_ratings(test), a)
    assert not np.allclose(_small(rng=1).fit(train).predict_ratings(test), a)


@pytest.mark.parametrize("param,value", [("mlp_lr", 0.02), ("hidden_units", (8, 6, 5)), ("n_factors", 3),
                                         ("error_target", "notebook"), ("lr", 0.03), ("reg", 0.01)])
def test_every_hyperparameter_changes_the_result(param, value, planted_split):
    train, test = planted_split
    base = _small().fit(train).evaluate(test)["rmse_unclipped"]
    assert _small(**{param: value}).fit(train).evaluate(test)["rmse_unclipped"] != base


def test_history_early_stopping_and_divergence(planted_split):
    train, test = planted_split
    m = _small(n_epochs=20, early_stopping=True, patience=1).fit(train, test)
    h = m.history_
    assert set(h.metrics) >= {"train_loss", "val_rmse", "seconds", "forward_seconds"}
    assert h.best_epoch == h.best("val_rmse")[0]
    if h.stopped_epoch is not None:
        assert m.evaluate(test)["rmse_unclipped"] == pytest.approx(h.best("val_rmse")[1], rel=1e-12)
    with pytest.raises(DivergenceError, match="lower lr"):
        _small(lr=50.0).fit(train)  # stage 1 blows up


def test_fallback_score_users_and_save_load(tiny_ratings, tmp_path):
    m = _small(batch_size=4, n_epochs=2).fit(tiny_ratings)
    p = m.predict(np.array([0]), np.array([4]))  # item "z" has no training rating
    assert p[0] == pytest.approx(m.global_mean_ + m.fallback_user_bias_[0])
    assert_scores_match_predict(m, np.array([0, 3]))
    assert type(assert_loads_back(m, tiny_ratings, tmp_path / "m.npz")) is RNCF


def test_notebook_settings_are_the_notebooks():
    m = make_model("rncf", **RNCF.NOTEBOOK_SETTINGS)
    assert isinstance(m, RNCF)
    assert (m.n_factors, m.hidden_units, m.n_epochs, m.lr, m.momentum, m.mlp_lr, m.batch_size, m.error_target,
            m.early_stopping) == (15, (512, 256, 256), 15, 0.08, 0.9, 0.01, 128, "corrected", False)
    stable = make_model("rncf")  # the defaults: Adam's own lr, stage 3 stopped on validation
    assert (stable.mlp_lr, stable.early_stopping) == (0.001, True)


@pytest.mark.parametrize("param,value,exc", [
    ("error_target", "raw", ValueError), ("mlp_lr", -1.0, ValueError), ("hidden_units", [], ValueError),
    ("batch_size", 0, ValueError), ("n_factors", 2.0, TypeError)])
def test_parameter_errors(param, value, exc, tiny_ratings):
    with pytest.raises(exc, match=f"'{param}' parameter of RNCF"):
        RNCF(**{param: value}).fit(tiny_ratings)


# ----------------------------------------------------------------- ML-100k
@pytest.mark.slow
def test_rncf_ml100k_80_20_behaviour(ml100k_80_20):
    """The point of the Keras reference (unstable there too): stage 3 peaks early, then ends
    worse than stage 1 alone and worse than the biases baseline (0.951)."""
    train, test = ml100k_80_20
    # measured with the notebook's 15 epochs per stage (float64, rng=42; benchmarks/bench_neural.py):
    # corrected 0.9967 @ 1 / 1.1338 (Keras 0.9624 @ 1 / 1.1401), stage 1 alone 0.9263 / 0.9271.
    # 8 epochs per stage keep this test shorter; the shape is the same by then.
    m = RNCF(rng=42, n_epochs=8, **RNCF.NOTEBOOK_SETTINGS).fit(train, monitor=test)
    v = m.history_["test_rmse_clipped"]
    stage1_best = m.stage_histories_["stage1"].best("test_rmse_clipped")[1]
    assert int(np.argmin(v)) + 1 <= 3
    assert v[-1] > stage1_best and v[-1] > 0.951


def test_a_diverging_first_stage_names_rncf():
    from mfcore.data.synthetic import make_ratings

    with pytest.raises(DivergenceError, match=r"^RNCF stage 1: BiasedMFKeras diverged .* fit RNCF again"):
        make_model("rncf", lr=1000.0, n_epochs=2, rng=0).fit(make_ratings(100, 60, 1500, rng=0))
