"""DeepMF (Netflix MLP and plain variant) and ResNetMF: gradient checks, Keras rules,
properties, policies, and the ML-100k band."""

import numpy as np
import pytest

from mfcore import DivergenceError, load_model, make_model
from mfcore.engines.deep_epoch import DeepJitEpoch
from mfcore.models._neural import NeuralRecommender
from mfcore.models.deep import DeepMF, DeepNet, ResNetMF, ResNetNet
from mfcore.nn import check_gradients, numerical_gradient
from helpers import F32, F64, GRAD, OldRecording, assert_loads_back, assert_scores_match_predict

CONFIGS = {
    "deep": (DeepMF, dict(hidden_units=(16, 8), batch_size=32)),
    "plain": (DeepMF, dict(hidden_units=(16,), plain=True, batch_size=32)),
    "resnet": (ResNetMF, dict(n_factors=4, hidden_units=8, batch_size=16)),
}


def _small(config, **kw):
    cls, base = CONFIGS[config]
    params = dict(n_factors=4, n_epochs=3, rng=0)
    params.update(base)
    params.update(kw)
    return cls(**params)


def _randomize(net, rng, scale=0.5):
    for name, w in net.params.items():
        if name.endswith("gamma"):
            w[...] = rng.uniform(0.5, 1.5, w.shape)
        else:
            w[...] = rng.normal(0, scale, w.shape)


def _batch(rng, B=12):
    u = rng.integers(0, 5, B)
    u[:3] = 1  # repeated ids
    return u, rng.integers(0, 6, B), rng.normal(0, 1, B)


@pytest.mark.parametrize("reg", [0.0, 0.02])
@pytest.mark.parametrize("units,batchnorm,dropout", [((7, 5), True, 0.5), ((6,), False, 0.0), ((5, 4, 3), True, 0.0)])
def test_deep_network_gradient_check_training_mode(units, batchnorm, dropout, reg):
    rng = np.random.default_rng(0)
    net = DeepNet(5, 6, 3, units, batchnorm, dropout, np.random.default_rng(1), np.random.default_rng(2))
    _randomize(net, rng)
    u, i, y = _batch(rng)

    def fixed_mask():  # the same dropout mask at every evaluation
        if "dropout" in net.layers:
            net.layers["dropout"].rng = np.random.default_rng(7)

    fixed_mask()
    _, grads = net.loss_and_grads(u, i, y, reg=reg)
    if dropout:
        assert not net.layers["dropout"].mask.all()  # the mask really drops units

    def loss():
        fixed_mask()
        return net.loss_terms(u, i, y, reg=reg)
    # a bias right before BatchNorm has gradient exactly 0 (BN subtracts the batch mean):
    # a relative error is meaningless there, so check those in absolute terms
    before_bn = {f"dense_{j}/bias" for j in range(1, len(units) + 1)} if batchnorm else set()
    checked = {k: v for k, v in net.params.items() if k not in before_bn}
    res = check_gradients(loss, checked, grads)
    assert res.max_rel < GRAD, res
    for name in before_bn:
        assert np.abs(grads[name]).max() < 1e-12
        assert np.abs(numerical_gradient(loss, net.params[name])).max() < 1e-8


@pytest.mark.parametrize("reg", [0.0, 0.02])
def test_resnet_network_gradient_check(reg):
    rng = np.random.default_rng(0)
    net = ResNetNet(5, 6, 3, 4, np.random.default_rng(1))
    _randomize(net, rng)
    u, i, y = _batch(rng)
    _, grads = net.loss_and_grads(u, i, y, reg=reg)
    res = check_gradients(lambda: net.loss_terms(u, i, y, reg=reg), net.params, grads)
    assert res.max_rel < GRAD, res


def test_resnet_forward_matches_the_formula():
    net = ResNetNet(4, 5, 2, 3, np.random.default_rng(0))
    _randomize(net, np.random.default_rng(1))
    p = net.params
    u, i = np.array([1, 3]), np.array([0, 4])
    out = net.forward(u, i)
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    for b in range(2):
        pu, qi = p["user_embedding/embeddings"][u[b]], p["item_embedding/embeddings"][i[b]]
        h = np.concatenate([pu, qi])
        x = relu(h @ p["dense_1/kernel"] + p["dense_1/bias"])
        x = relu(x @ p["dense_2/kernel"] + p["dense_2/bias"])
        s = relu(x @ p["dense_3/kernel"] + p["dense_3/bias"]) + h
        want = np.concatenate([[pu @ qi], s]) @ p["output/kernel"][:, 0] + p["output/bias"][0]
        assert out[b] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("kw", [{}, {"dropout": 0.0}, {"hidden_units": (8, 6, 5), "batch_size": 7}],
                         ids=["netflix", "nodropout", "three_blocks"])
def test_fused_jit_and_layer_graph_engines_agree_float64(kw, planted_split):
    train, test = planted_split
    a = _small("deep", engine="jit", **kw).fit(train, test)
    b = _small("deep", engine="vectorized", **kw).fit(train, test)
    assert "relu_1" in b.net_.layers and "relu_1" not in a.net_.layers
    for key, value in a._get_state().items():
        np.testing.assert_allclose(value, b._get_state()[key], **F64)
    np.testing.assert_allclose(a.history_["train_loss"], b.history_["train_loss"], **F64)
    np.testing.assert_allclose(a.history_["val_rmse"], b.history_["val_rmse"], **F64)


class GraphSGD(DeepMF):
    """DeepMF whose "jit" engine trains the fused layer graph with nn.optim's SGD (train_epoch_numpy):
    the default path before DeepJitEpoch."""

    _epoch_fn = NeuralRecommender._epoch_fn


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", [{}, {"reg": 0.01}, {"nesterov": True}, {"momentum": 0.0}, {"dropout": 0.0},
                                {"batch_size": 7, "n_epochs": 2}, {"hidden_units": (8, 6, 5)}],
                         ids=["netflix", "reg", "nesterov", "nomomentum", "nodropout", "batch7", "three_blocks"])
def test_fused_epoch_is_bit_identical_to_the_fused_graph_with_sgd(kw, dtype, planted_split):
    train, test = planted_split
    a = _small("deep", dtype=dtype, **kw).fit(train, test)
    b = GraphSGD(**a.get_params()).fit(train, test)
    assert a._compile_seconds > 0 and b._compile_seconds == 0  # a ran DeepJitEpoch, b the graph
    for key, value in a._get_state().items():
        np.testing.assert_array_equal(value, b._get_state()[key], err_msg=key)
    for key in ("train_loss", "val_rmse"):
        np.testing.assert_array_equal(a.history_[key], b.history_[key])
    np.testing.assert_array_equal(a.predict_ratings(test), b.predict_ratings(test))
    for key in ("forward_seconds", "backward_seconds", "update_seconds"):
        assert (a.history_[key] > 0).all()


@pytest.mark.parametrize("reg", [0.0, 0.02])
@pytest.mark.parametrize("units,dropout", [((7, 5), 0.5), ((5, 4, 3), 0.0), ((6,), 0.3)])
def test_fused_epoch_gradient_check(units, dropout, reg):
    # DeepJitEpoch's hand-written backward (B1)-(B4) against central differences of its own
    # forward (F1)-(F5), the dropout mask held fixed; Keras' l2 enters in (U1) as 2 reg W
    rng = np.random.default_rng(0)
    net = DeepNet(5, 6, 3, units, True, dropout, np.random.default_rng(1), np.random.default_rng(2), fused=True)
    for name, w in net.params.items():
        w[...] = rng.uniform(0.5, 1.5, w.shape) if name.endswith("gamma") else rng.normal(0, 0.5, w.shape)
    u, i, y = rng.integers(0, 5, 12), rng.integers(0, 6, 12), rng.normal(0, 1, 12)
    u[:3] = 1  # repeated ids: their rows are summed
    epoch = DeepJitEpoch(net, 12, 0.1, 0.9, False, reg)

    def errors():
        net.layers["batch_norm_1"].rng = np.random.default_rng(7)  # the same mask at every evaluation
        return epoch.forward(u, i, y)

    def loss():
        e = errors()
        return np.concatenate([e * e / e.size] + [reg * w.ravel() ** 2 for w in epoch.W[:2]])

    e = errors()
    epoch.backward(u, i, (2.0 / e.size) * e)
    grads = {name: g + (2.0 * reg * w if j < 2 else 0.0)
             for j, (name, w, g) in enumerate(zip(epoch.names, epoch.W, epoch.G))}
    if dropout:
        assert (epoch.X[1] == 0).mean() > 0.2  # units really dropped
    before_bn = {f"dense_{j}/bias" for j in range(1, len(units) + 1)}  # gradient 0 up to rounding
    res = check_gradients(loss, {k: v for k, v in net.params.items() if k not in before_bn}, grads)
    assert res.max_rel < GRAD, res
    for name in before_bn:
        assert np.abs(grads[name]).max() < 1e-12
        assert np.abs(numerical_gradient(loss, net.params[name])).max() < 1e-8


def test_fused_float32_engines_agree_and_dtype_kept(planted_split):
    train, _ = planted_split
    a = _small("deep", engine="jit", dtype="float32").fit(train)
    b = _small("deep", engine="vectorized", dtype="float32").fit(train)
    for key, value in a._get_state().items():
        assert value.dtype == np.float32 or key.startswith(("fallback", "arch")), key
        np.testing.assert_allclose(value, b._get_state()[key], rtol=1e-3, atol=1e-5)  # 3 epochs of BN in f32


def test_batchnorm_inference_uses_moving_statistics(planted_split):
    train, test = planted_split
    m = _small("deep").fit(train)
    bn = m.net_.layers["batch_norm_1"]
    assert not np.allclose(bn.moving_mean, 0) and not np.allclose(bn.moving_variance, 1)
    # inference is per-row: a pair's prediction does not depend on the rest of the batch
    one = m.predict(test.users[:1], test.items[:1])
    many = m.predict(test.users[:50], test.items[:50])
    assert one[0] == pytest.approx(many[0], rel=1e-12)


def test_dropout_uses_its_own_stream(planted_split):
    train, _ = planted_split
    # dropout does not change the shuffle order or the init: with dropout 0 vs 0.5
    # the first forward weights are identical and the orders are the same stream
    a = _small("deep", dropout=0.0, n_epochs=1)
    b = _small("deep", dropout=0.5, n_epochs=1)
    na = a._check_common() or a._build_net(train.n_users, train.n_items, *np.random.default_rng(0).spawn(3)[::2])
    nb = b._check_common() or b._build_net(train.n_users, train.n_items, *np.random.default_rng(0).spawn(3)[::2])
    for key in na.params:
        np.testing.assert_array_equal(na.params[key], nb.params[key])
    assert not np.allclose(a.fit(train).net_.params["dense_1/kernel"], b.fit(train).net_.params["dense_1/kernel"])


@pytest.mark.parametrize("config", list(CONFIGS))
def test_int_seed_is_idempotent_and_seeds_differ(config, planted_split):
    train, test = planted_split
    m = _small(config)
    a = m.fit(train).predict_ratings(test)
    np.testing.assert_array_equal(m.fit(train).predict_ratings(test), a)
    assert not np.allclose(_small(config, rng=1).fit(train).predict_ratings(test), a)


@pytest.mark.parametrize("config,param,value", [
    ("deep", "hidden_units", (16, 4)), ("deep", "dropout", 0.2), ("deep", "lr", 0.05), ("deep", "batch_size", 16),
    ("deep", "momentum", 0.5), ("deep", "reg", 0.01), ("plain", "hidden_units", 9), ("plain", "n_factors", 3),
    ("resnet", "hidden_units", 5), ("resnet", "lr", 0.003), ("resnet", "optimizer", "sgd"), ("resnet", "reg", 0.01)])
def test_every_hyperparameter_changes_the_result(config, param, value, planted_split):
    train, test = planted_split
    base = _small(config).fit(train).evaluate(test)["rmse_unclipped"]
    assert _small(config, **{param: value}).fit(train).evaluate(test)["rmse_unclipped"] != base


@pytest.mark.parametrize("config,kw", [
    ("plain", dict(hidden_units=(64,), optimizer="adam", lr=0.01, batch_size=16)),
    ("resnet", dict(n_factors=6, hidden_units=16, lr=0.01, batch_size=32, n_epochs=20)),
    ("deep", dict(hidden_units=(32, 16), dropout=0.0, lr=0.03, batch_size=32))])
def test_learns_planted_structure(config, kw, planted_split):
    train, test = planted_split
    m = _small(config, **dict(dict(n_factors=8, n_epochs=30), **kw)).fit(train, test)
    loss = m.history_["train_loss"]
    assert loss[-1] < 0.5 * loss[0]
    baseline = np.sqrt(np.mean((test.values - train.global_mean) ** 2))
    assert m.evaluate(test)["rmse_unclipped"] < 0.75 * baseline


@pytest.mark.parametrize("config", list(CONFIGS))
def test_history_early_stopping_and_divergence(config, planted_split):
    train, test = planted_split
    m = _small(config, n_epochs=4).fit(train, test)
    assert len(m.history_) == 4
    assert set(m.history_.metrics) >= {"train_loss", "val_rmse", "seconds", "forward_seconds",
                                       "backward_seconds", "update_seconds"}
    es = _small(config, n_epochs=30, lr=0.05, early_stopping=True, patience=1).fit(train, test)
    h = es.history_
    assert h.best_epoch == h.best("val_rmse")[0]
    if h.stopped_epoch is not None:
        assert es.evaluate(test)["rmse_unclipped"] == pytest.approx(h.best("val_rmse")[1], rel=1e-12)
    with pytest.raises(DivergenceError):
        _small(config, optimizer="sgd", lr=1e6, momentum=0.9, n_epochs=5).fit(train)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_fallback_score_users_and_save_load(config, tiny_ratings, tmp_path):
    m = _small(config, batch_size=4, n_epochs=2).fit(tiny_ratings)
    p = m.predict(np.array([0]), np.array([4]))  # item "z" has no training rating
    assert p[0] == pytest.approx(m.global_mean_ + m.fallback_user_bias_[0])
    assert_scores_match_predict(m, np.array([0, 3]))
    assert_loads_back(m, tiny_ratings, tmp_path / "m.npz")


def test_registry_defaults_are_the_notebooks():
    d = make_model("deep")
    assert isinstance(d, DeepMF)
    assert (d.n_factors, d.hidden_units, d.dropout, d.lr, d.momentum, d.batch_size, d.n_epochs) == \
        (10, (512, 128), 0.5, 0.08, 0.9, 1024, 25)
    r = make_model("resnet-mf")
    assert isinstance(r, ResNetMF)
    assert (r.n_factors, r.hidden_units, r.optimizer, r.lr, r.batch_size, r.n_epochs) == (20, 64, "adam", 0.001, 32, 10)


@pytest.mark.parametrize("cls,param,value,exc", [
    (DeepMF, "hidden_units", (0, 4), ValueError), (DeepMF, "dropout", 1.0, ValueError), (DeepMF, "lr", 0, ValueError),
    (DeepMF, "engine", "loop", ValueError), (ResNetMF, "engine", "jit", ValueError),
    (ResNetMF, "hidden_units", 1.5, TypeError), (ResNetMF, "optimizer", "adagrad", ValueError),
    (ResNetMF, "n_factors", 0, ValueError)])
def test_parameter_errors(cls, param, value, exc, tiny_ratings):
    with pytest.raises(exc, match=f"'{param}' parameter of {cls.__name__}"):
        cls(**{param: value}).fit(tiny_ratings)


# ------------------------------------------ the numbers of the code before DeepMF's fused epoch
OLD = OldRecording("deep_old")
CASES = OLD.cases  # {"engine/variant": record}


@pytest.mark.parametrize("name", [n for n in sorted(CASES) if n.startswith("jit/")]
                         + ["vectorized/default", "vectorized/float32"])
def test_same_numbers_as_the_code_before_the_fused_epoch(name):
    # cases.json was written by the code before DeepJitEpoch (record.py): the same numbers, bit for
    # bit on the machine that recorded them; here to 1e-12 in float64, to allow another CPU's libm
    rec = OLD.recorder()
    old = CASES[name]
    kw, how = {n: (k, h) for n, k, h in rec.small_cases()}[name]
    new = rec.run_case(kw, how, *rec.small_data())
    tol = F32 if kw.get("dtype") == "float32" else dict(rtol=1e-12, atol=0)
    assert (new["best_epoch"], new["stopped_epoch"]) == (old["best_epoch"], old["stopped_epoch"])
    assert new["history"].keys() == old["history"].keys() and new["state"].keys() == old["state"].keys()
    for key, values in old["history"].items():
        np.testing.assert_allclose(new["history"][key], values, **tol, err_msg=key)
    for key, value in old["test"].items():
        np.testing.assert_allclose(new["test"][key], value, **tol, err_msg=key)
    np.testing.assert_allclose(new["predictions"], old["predictions"], **tol)


@pytest.mark.parametrize("path", OLD.model_files(), ids=lambda p: p.stem)
def test_model_files_of_the_old_code_load(path, tmp_path):
    # saved by the code before DeepJitEpoch: they load, and predict what the same fit predicts now
    from mfcore.data.synthetic import make_ratings

    dtype = path.stem.rsplit("-", 1)[1]
    old = load_model(path)
    assert old.name == "deep" and old.net_.params["dense_1/kernel"].dtype == np.dtype(dtype)
    train = make_ratings(30, 20, 250, rng=1)
    new = make_model("deep", n_factors=3, hidden_units=(8, 4), n_epochs=2, batch_size=16, dtype=dtype,
                     rng=0).fit(train)
    tol = F32 if dtype == "float32" else dict(rtol=1e-12, atol=0)
    np.testing.assert_allclose(old.predict_ratings(train), new.predict_ratings(train), **tol)
    for key, value in new._get_state().items():
        np.testing.assert_allclose(old._get_state()[key], value, **tol, err_msg=key)
    assert_loads_back(old, train, tmp_path / "again.npz")


# ----------------------------------------------------------------- ML-100k
@pytest.mark.slow
def test_deep_ml100k_80_20_matches_keras(ml100k_80_20):
    train, test = ml100k_80_20
    m = DeepMF(rng=42).fit(train, test)
    h = m.history_
    assert len(h) == 25
    # Keras (benchmarks/results/keras_reference.json): best 0.9432 @ 11, final 0.9596.
    # mfcore measured (float64, rng=42, SplitMix64 dropout masks): best 0.9379 @ 10, final 0.9542
    # (float32: 0.9382 @ 10, 0.9534).
    assert h.best("val_rmse_clipped")[1] == pytest.approx(0.9432, abs=0.01)
    assert m.evaluate(test)["rmse"] == pytest.approx(0.9596, abs=0.01)
