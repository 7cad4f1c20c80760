"""Keras optimizer rules: one step of each computed by hand on a 4-vector (rtol 1e-12).

Common data: w0 = [1, -2, 0.5, 0], g = [0.5, -1, 2, 0] (the last entry has no
gradient, like an embedding row outside the batch).
"""
import numpy as np
import pytest

from mfcore.nn import SGD, Adam, Adamax, RMSprop, RowGrad

HAND = dict(rtol=1e-12, atol=1e-15)


def _w():
    return np.array([1.0, -2.0, 0.5, 0.0])


G = np.array([0.5, -1.0, 2.0, 0.0])


def _step(opt, grads):
    w = _w()
    for g in grads:
        opt.step({"w": w}, {"w": g.copy()})
    return w


def test_sgd_plain():
    # w - lr g with lr 0.1: [1 - 0.05, -2 + 0.1, 0.5 - 0.2, 0]
    np.testing.assert_allclose(_step(SGD(lr=0.1), [G]), [0.95, -1.9, 0.3, 0.0], **HAND)


def test_sgd_momentum_two_steps():
    # step 1: v = 0.9*0 - 0.1 g = [-0.05, 0.1, -0.2, 0];  w = [0.95, -1.9, 0.3, 0]
    # step 2 (same g): v = 0.9 v - 0.1 g = [-0.095, 0.19, -0.38, 0];  w = [0.855, -1.71, -0.08, 0]
    opt = SGD(lr=0.1, momentum=0.9)
    w = _step(opt, [G])
    np.testing.assert_allclose(w, [0.95, -1.9, 0.3, 0.0], **HAND)
    opt.step({"w": w}, {"w": G.copy()})
    np.testing.assert_allclose(w, [0.855, -1.71, -0.08, 0.0], **HAND)
    np.testing.assert_allclose(opt.state["w"]["momentum"], [-0.095, 0.19, -0.38, 0.0], **HAND)
    assert opt.iterations == 2


def test_sgd_momentum_keeps_moving_without_gradient():
    # step 1 as above; step 2 with g = 0: v = 0.9 v = [-0.045, 0.09, -0.18, 0]; w = [0.905, -1.81, 0.12, 0]
    w = _step(SGD(lr=0.1, momentum=0.9), [G, np.zeros(4)])
    np.testing.assert_allclose(w, [0.905, -1.81, 0.12, 0.0], **HAND)


def test_sgd_nesterov():
    # v = -0.1 g = [-0.05, 0.1, -0.2, 0]; w += 0.9 v - 0.1 g = [-0.095, 0.19, -0.38, 0]
    w = _step(SGD(lr=0.1, momentum=0.9, nesterov=True), [G])
    np.testing.assert_allclose(w, [0.905, -1.81, 0.12, 0.0], **HAND)


def test_adam_one_step():
    # t = 1: m = 0.1 g, v = 0.001 g^2, alpha = 0.001 sqrt(1 - 0.999) / (1 - 0.9) = 0.01 s
    # with s = sqrt(0.001); sqrt(v) = s|g|, so the step is
    # m alpha / (sqrt(v) + eps) = 0.001 sign(g) s|g| / (s|g| + 1e-7)  (0 where g = 0)
    s = np.sqrt(0.001)
    expected = _w() - 0.001 * np.sign(G) * s * np.abs(G) / (s * np.abs(G) + 1e-7)
    np.testing.assert_allclose(_step(Adam(), [G]), expected, **HAND)
    # for |g| = 1 that is 0.001 * 0.031622777 / 0.031622877 = 0.00099999683773234
    assert abs(_step(Adam(), [G])[1] - (-2.0 + 0.00099999683773234)) < 1e-15


def test_adamax_one_step_and_decay():
    # t = 1: m = 0.1 g; u = max(0, |g|) = |g|; w -= 0.001 * 0.1 g / ((1 - 0.9)(|g| + 1e-7))
    #      = w - 0.001 g / (|g| + 1e-7)
    w1 = _w() - 0.001 * G / (np.abs(G) + 1e-7)
    np.testing.assert_allclose(_step(Adamax(), [G]), w1, **HAND)
    # t = 2 with g = 0 (a row outside the batch, dense rule): m = 0.09 g, u = 0.999 |g|,
    # w -= 0.001 * 0.09 g / ((1 - 0.81)(0.999 |g| + 1e-7)): the row keeps moving
    w2 = w1 - 0.001 * 0.09 * G / (0.19 * (0.999 * np.abs(G) + 1e-7))
    np.testing.assert_allclose(_step(Adamax(), [G, np.zeros(4)]), w2, **HAND)


def test_rmsprop_one_step():
    # v = 0.1 g^2;  w -= 0.001 g / sqrt(0.1 g^2 + 1e-7)   (epsilon inside the root)
    expected = _w() - 0.001 * G / np.sqrt(0.1 * G ** 2 + 1e-7)
    np.testing.assert_allclose(_step(RMSprop(), [G]), expected, **HAND)


def test_rmsprop_momentum_and_centered():
    # momentum 0.5, centered: a = 0.1 g, v = 0.1 g^2, denominator = v - a^2 + eps = 0.09 g^2 + 1e-7
    # s = 0.5*0 + 0.001 g / sqrt(denominator); w -= s
    expected = _w() - 0.001 * G / np.sqrt(0.09 * G ** 2 + 1e-7)
    np.testing.assert_allclose(_step(RMSprop(momentum=0.5, centered=True), [G]), expected, **HAND)


def test_keras_defaults():
    assert (SGD().lr, SGD().momentum, SGD().nesterov) == (0.01, 0.0, False)
    for cls in (Adam, Adamax):
        o = cls()
        assert (o.lr, o.beta_1, o.beta_2, o.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    o = RMSprop()
    assert (o.lr, o.rho, o.momentum, o.epsilon, o.centered) == (0.001, 0.9, 0.0, 1e-7, False)


@pytest.mark.parametrize("make", [lambda: SGD(0.1, momentum=0.9), Adam, Adamax, RMSprop])
def test_rowgrad_dense_equals_dense_gradient(make):
    """A RowGrad applied with lazy=False is exactly the dense gradient (Keras)."""
    rng = np.random.default_rng(0)
    W0 = rng.normal(size=(5, 3))
    grads = [RowGrad(np.array(rows), rng.normal(size=(len(rows), 3)), (5, 3))
             for rows in ([0, 3], [1], [1, 2])]
    a, b = W0.copy(), W0.copy()
    oa, ob = make(), make()
    for g in grads:
        oa.step({"W": a}, {"W": g})
        ob.step({"W": b}, {"W": g.to_dense()})
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[4], W0[4])  # a row never in a batch has no state: it stays


@pytest.mark.parametrize("make", [lambda lazy: SGD(0.1, momentum=0.9, lazy=lazy),
                                  lambda lazy: Adam(lazy=lazy), lambda lazy: Adamax(lazy=lazy)])
def test_lazy_updates_only_batch_rows(make):
    rng = np.random.default_rng(1)
    W0 = rng.normal(size=(5, 3))
    g1 = RowGrad(np.array([0, 3]), rng.normal(size=(2, 3)), (5, 3))
    g2 = RowGrad(np.array([1]), rng.normal(size=(1, 3)), (5, 3))
    lazy, dense = W0.copy(), W0.copy()
    ol, od = make(True), make(False)
    for g in (g1, g2):
        ol.step({"W": lazy}, {"W": g})
        od.step({"W": dense}, {"W": g})
    np.testing.assert_array_equal(lazy[[2, 4]], W0[[2, 4]])  # never in a batch: untouched
    # row 0 was in batch 1 only: the lazy rule froze it at step 2, the dense rule did not
    assert not np.allclose(lazy[0], dense[0])
    # and after step 1 alone both rules agree on the batch rows
    l1, d1 = W0.copy(), W0.copy()
    make(True).step({"W": l1}, {"W": g1})
    make(False).step({"W": d1}, {"W": g1})
    np.testing.assert_allclose(l1[[0, 3]], d1[[0, 3]], rtol=1e-15)


@pytest.mark.parametrize("cls", [SGD, Adam, Adamax, RMSprop])
def test_float32_weights_stay_float32(cls):
    w = np.ones(4, dtype=np.float32)
    opt = cls()
    opt.step({"w": w}, {"w": G.astype(np.float32)})
    assert w.dtype == np.float32 and all(v.dtype == np.float32 for v in opt.state["w"].values())
    ref = np.ones(4)
    cls().step({"w": ref}, {"w": G.copy()})
    np.testing.assert_allclose(w, ref, rtol=1e-6)  # float32 rounding of the same step
