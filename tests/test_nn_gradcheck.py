"""Finite-difference checks of every layer, every loss and both MF networks.

Central differences, float64, eps 1e-6; pass: max relative error < 1e-6 and
mean < 1e-7 (helpers.GRAD). Inputs are kept at least 0.1 from kinks.
"""
import numpy as np
import pytest

from mfcore import nn
from mfcore.models.keras_mf import MFNet
from mfcore.nn.gradcheck import check_gradients, relative_error
from helpers import GRAD

SIZES = [(1, 3, 2), (4, 5, 3), (16, 8, 6)]


def _away_from_zero(x):
    return x + 0.1 * np.sign(x) + (x == 0) * 0.1  # |x| >= 0.1


def _ok(result):
    assert result.max_rel < GRAD, result
    assert result.mean_rel < GRAD / 10, result


@pytest.mark.parametrize("B,n,m", SIZES)
def test_dense(B, n, m):
    rng = np.random.default_rng(B)
    layer = nn.Dense(n, m, rng=rng)
    layer.params["bias"][:] = rng.normal(size=m)
    _ok(nn.check_layer(layer, rng.normal(size=(B, n)), rng=1))


@pytest.mark.parametrize("B,n,m", SIZES)
@pytest.mark.parametrize("make", [nn.ELU, nn.ReLU, nn.Sigmoid, nn.Tanh], ids=lambda c: c.__name__)
def test_activations(make, B, n, m):
    rng = np.random.default_rng(B + n)
    _ok(nn.check_layer(make(), _away_from_zero(rng.normal(size=(B, n))), rng=2))


@pytest.mark.parametrize("B,n,m", [(2, 3, 0), (5, 4, 0), (32, 6, 0)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm(B, n, m, training):
    rng = np.random.default_rng(B)
    bn = nn.BatchNormalization(n)
    bn.params["gamma"][:] = rng.uniform(0.5, 1.5, n)
    bn.params["beta"][:] = rng.normal(size=n)
    bn.moving_mean[:] = rng.normal(size=n)
    bn.moving_variance[:] = rng.uniform(0.5, 2, n)
    _ok(nn.check_layer(bn, 2 * rng.normal(size=(B, n)) + 1, rng=3, training=training))


@pytest.mark.parametrize("B,n,m", SIZES)
def test_dropout_fixed_mask(B, n, m):
    rng = np.random.default_rng(B)
    x = rng.normal(size=(B, n))
    _ok(nn.check_layer(nn.Dropout(0.4), x, rng=4, mask=rng.random(x.shape) >= 0.4))


@pytest.mark.parametrize("B,n,m", SIZES)
def test_embedding_with_repeated_ids(B, n, m):
    rng = np.random.default_rng(B)
    layer = nn.Embedding(7, n, rng=rng, initializer="normal")
    ids = np.concatenate([[3, 3], rng.integers(0, 7, B)])  # id 3 at least twice
    _ok(nn.check_layer(layer, ids, rng=5))


@pytest.mark.parametrize("B,n,m", SIZES)
@pytest.mark.parametrize("make", [nn.Dot, nn.Add, nn.Concatenate], ids=lambda c: c.__name__)
def test_merge_layers(make, B, n, m):
    rng = np.random.default_rng(B)
    if make is nn.Concatenate:
        x = [rng.normal(size=(B, n)), rng.normal(size=(B, m))]
    else:
        x = [rng.normal(size=(B, n)), rng.normal(size=(B, n))]
    _ok(nn.check_layer(make(), x, rng=6))


@pytest.mark.parametrize("B,n", [(1, 1), (4, 3), (16, 8)])
def test_losses(B, n):
    rng = np.random.default_rng(B)
    y_true = rng.normal(size=(B, n))
    y_true[rng.random((B, n)) < 0.3] = 0.0  # missing entries for the masked losses
    y_true.flat[0] = 1.0                    # at least one observed
    w = rng.normal(size=(n, 2))
    for loss_fn in (nn.mse, nn.masked_mse, nn.masked_sse):
        y_pred = rng.normal(size=(B, n))
        value, grad = loss_fn(y_pred, y_true)
        _ok(check_gradients(lambda: loss_fn(y_pred, y_true)[0], {"y": y_pred}, {"y": grad}))
    value, grad = nn.l2_penalty(w, 0.05)
    _ok(check_gradients(lambda: nn.l2_penalty(w, 0.05)[0], {"w": w}, {"w": grad}))


def _mfnet_case(bias, reg, n_users, n_items, k, B, seed):
    rng = np.random.default_rng(seed)
    net = MFNet(n_users, n_items, k, bias, rng, np.float64)
    for W in net.params.values():
        W[:] = rng.uniform(-0.5, 0.5, W.shape)  # larger than Keras' init: every term matters
    u = rng.integers(0, n_users, B)
    i = rng.integers(0, n_items, B)
    y = rng.normal(size=B)
    _, grads = net.loss_and_grads(u, i, y, reg=reg)
    loss, _ = net.loss_and_grads(u, i, y, reg=reg)
    assert np.isclose(loss, net.loss_terms(u, i, y, reg=reg).sum(), rtol=1e-12)
    return check_gradients(lambda: net.loss_terms(u, i, y, reg=reg), net.params, grads)


@pytest.mark.parametrize("bias", [True, False], ids=["biased-mf-keras", "dot-mf"])
@pytest.mark.parametrize("reg", [0.0, 0.02])
@pytest.mark.parametrize("n_users,n_items,k,B", [(3, 4, 1, 2), (6, 5, 3, 8), (20, 30, 15, 64)])
def test_whole_mf_networks(bias, reg, n_users, n_items, k, B):
    _ok(_mfnet_case(bias, reg, n_users, n_items, k, B, seed=n_users + B))


def test_small_mlp_stack():
    """Embeddings -> concat -> Dense -> ELU -> BN -> Dense, checked end to end (the residual branch shape)."""
    rng = np.random.default_rng(9)
    layers = {"P": nn.Embedding(5, 3, rng=rng, initializer="normal"),
              "Q": nn.Embedding(6, 3, rng=rng, initializer="normal"),
              "d1": nn.Dense(6, 8, rng=rng), "elu": nn.ELU(), "bn": nn.BatchNormalization(8),
              "d2": nn.Dense(8, 1, rng=rng)}
    cat = nn.Concatenate()
    u, i, y = rng.integers(0, 5, 10), rng.integers(0, 6, 10), rng.normal(size=(10, 1))

    def forward():
        h = cat.forward([layers["P"].forward(u), layers["Q"].forward(i)])
        for name in ("d1", "elu", "bn", "d2"):
            h = layers[name].forward(h)
        return h

    _, dy = nn.mse(forward(), y)
    for name in ("d2", "bn", "elu", "d1"):
        dy = layers[name].backward(dy)
    dp, dq = cat.backward(dy)
    layers["P"].backward(dp)
    layers["Q"].backward(dq)
    params, grads = nn.collect(layers)
    _ok(check_gradients(lambda: (forward() - y) ** 2 / y.size, params, grads))  # the MSE's terms


def test_gradcheck_catches_a_wrong_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))

    class HalfTanh(nn.Tanh):
        def backward(self, dout):
            return 0.5 * super().backward(dout)  # wrong by a factor 2

    assert nn.check_layer(HalfTanh(), x, rng=1).max_rel > 0.1
    # and the classic embedding bug: G[ids] += dout loses repeated ids
    emb = nn.Embedding(3, 2, rng=rng)

    class BuggyEmbedding(nn.Embedding):
        def backward(self, dout):
            G = np.zeros_like(self.params["embeddings"])
            G[self.ids] += dout
            self.grads["embeddings"] = G

    bug = BuggyEmbedding(3, 2, rng=rng)
    bug.params["embeddings"][:] = emb.params["embeddings"]
    assert nn.check_layer(bug, np.array([1, 1, 2]), rng=1).max_rel > 0.1


def test_numerical_gradient_requires_float64_and_restores():
    x = np.array([1.0, 2.0])
    g = nn.numerical_gradient(lambda: float(np.sum(x ** 3)), x)
    np.testing.assert_allclose(g, [3.0, 12.0], rtol=1e-9)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    with pytest.raises(TypeError, match="float64"):
        nn.numerical_gradient(lambda: 0.0, np.ones(2, dtype=np.float32))


def test_relative_error_floor():
    # a tiny entry is judged against a thousandth of the largest one
    rel = relative_error(np.array([1.0, 1e-9]), np.array([1.0, 2e-9]))
    assert rel[1] < 1e-5
    assert relative_error(np.array([1.0]), np.array([1.1]))[0] > 0.05
