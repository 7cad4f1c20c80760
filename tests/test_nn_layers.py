"""Layers: forward formulas against naive references, Keras behaviours, kernels vs NumPy."""
import numpy as np
import pytest

from mfcore import nn
from helpers import F64
from mfcore.engines import nn_jit, nn_numpy
from mfcore.nn import init


def test_embedding_lookup_and_scatter_add_with_repeats():
    rng = np.random.default_rng(0)
    emb = nn.Embedding(6, 3, rng=rng)
    ids = np.array([2, 0, 2, 5, 2])
    y = emb.forward(ids)
    np.testing.assert_array_equal(y, emb.params["embeddings"][ids])
    dout = rng.normal(size=(5, 3))
    assert emb.backward(dout) is None
    g = emb.grads["embeddings"]
    assert isinstance(g, nn.RowGrad)
    np.testing.assert_array_equal(g.rows, [0, 2, 5])
    # naive reference: one row at a time
    ref = np.zeros((6, 3))
    for b, r in enumerate(ids):
        ref[r] += dout[b]
    np.testing.assert_allclose(g.to_dense(), ref, **F64)
    assert not g.to_dense()[[1, 3, 4]].any()   # rows not in the batch: zero gradient
    # the bug this catches: G[ids] += dout keeps only one of the three id-2 rows
    wrong = np.zeros((6, 3))
    wrong[ids] += dout
    assert not np.allclose(wrong, ref)


@pytest.mark.parametrize("use_jit", [True, False])
def test_embedding_dense_grad_option(use_jit):
    rng = np.random.default_rng(1)
    emb = nn.Embedding(4, 2, rng=rng, dense_grad=True, use_jit=use_jit)
    ids = np.array([1, 1, 3])
    emb.forward(ids)
    emb.backward(np.ones((3, 2)))
    np.testing.assert_array_equal(emb.grads["embeddings"], [[0, 0], [2, 2], [0, 0], [1, 1]])


def test_kernels_match_numpy_twins():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(50, 7))
    ids = rng.integers(0, 50, 200)  # many repeats
    np.testing.assert_array_equal(nn_jit.gather_rows(W, ids), nn_numpy.gather_rows(W, ids))
    D = rng.normal(size=(200, 7))
    a, b = np.zeros_like(W), np.zeros_like(W)
    nn_jit.scatter_add_rows(a, ids, D)
    nn_numpy.scatter_add_rows(b, ids, D)
    np.testing.assert_allclose(a, b, **F64)  # both add in batch order: in practice bit-equal
    # float32 as well, dtype kept
    W32 = W.astype(np.float32)
    assert nn_jit.gather_rows(W32, ids).dtype == np.float32


def test_dense_forward_and_glorot_init():
    rng = np.random.default_rng(3)
    layer = nn.Dense(5, 3, rng=rng)
    limit = np.sqrt(6 / 8)
    K = layer.params["kernel"]
    assert K.shape == (5, 3) and np.abs(K).max() <= limit and not layer.params["bias"].any()
    x = rng.normal(size=(4, 5))
    layer.params["bias"][:] = [1.0, 2.0, 3.0]
    ref = np.array([[sum(x[b, j] * K[j, o] for j in range(5)) + o + 1 for o in range(3)] for b in range(4)])
    np.testing.assert_allclose(layer.forward(x), ref, **F64)


def test_initializers_are_seeded_and_bounded():
    a = init.uniform((100, 4), np.random.default_rng(7))
    b = init.uniform((100, 4), np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.min() >= -0.05 and a.max() < 0.05 and a.std() > 0.02
    g = init.glorot_uniform((30, 10), np.random.default_rng(7), dtype=np.float32)
    assert g.dtype == np.float32 and np.abs(g).max() <= np.sqrt(6 / 40)
    assert not init.zeros((2, 2)).any()
    with pytest.raises(ValueError, match="unknown initializer"):
        init.get("he_normal")


def test_activations_forward():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    np.testing.assert_allclose(nn.ELU().forward(x), [[np.expm1(-2), np.expm1(-0.5), 0, 0.5, 2]], **F64)
    np.testing.assert_array_equal(nn.ReLU().forward(x), [[0, 0, 0, 0.5, 2]])
    np.testing.assert_allclose(nn.Sigmoid().forward(x), 1 / (1 + np.exp(-x)), **F64)
    np.testing.assert_allclose(nn.Tanh().forward(x), np.tanh(x), **F64)
    # no overflow warning for large |x| (filterwarnings=error would raise)
    big = np.array([[-800.0, 800.0]])
    np.testing.assert_array_equal(nn.Sigmoid().forward(big), [[0.0, 1.0]])


def test_kink_gradients_follow_tensorflow():
    # at exactly 0: ReLU' = 0 and ELU' = 1 (TensorFlow's choice)
    x = np.zeros((1, 1))
    relu, elu = nn.ReLU(), nn.ELU()
    relu.forward(x)
    elu.forward(x)
    assert relu.backward(np.ones((1, 1)))[0, 0] == 0.0
    assert elu.backward(np.ones((1, 1)))[0, 0] == 1.0


def test_batchnorm_training_and_moving_averages():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 13.0]])
    bn = nn.BatchNormalization(2)
    y = bn.forward(x, training=True)
    # column 0: mean 3, biased variance 8/3; column 1: mean 11, variance 2
    mean, var = np.array([3.0, 11.0]), np.array([8 / 3, 2.0])
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), **F64)
    # moving = moving * 0.99 + batch * 0.01, from 0 and 1
    np.testing.assert_allclose(bn.moving_mean, 0.01 * mean, **F64)
    np.testing.assert_allclose(bn.moving_variance, 0.99 + 0.01 * var, **F64)
    # inference uses the moving statistics and leaves them alone
    bn.params["gamma"][:] = [2.0, 1.0]
    bn.params["beta"][:] = [0.5, -1.0]
    y_inf = bn.forward(x, training=False)
    ref = np.array([2.0, 1.0]) * (x - 0.01 * mean) / np.sqrt(0.99 + 0.01 * var + 1e-3) + [0.5, -1.0]
    np.testing.assert_allclose(y_inf, ref, **F64)
    np.testing.assert_allclose(bn.moving_mean, 0.01 * mean, **F64)


def test_dropout_inverted_and_seeded():
    x = np.ones((200, 50))
    a = nn.Dropout(0.25, rng=5).forward(x)
    b = nn.Dropout(0.25, rng=5).forward(x)
    np.testing.assert_array_equal(a, b)                    # same Generator seed, same mask
    assert set(np.unique(a)) == {0.0, 1 / 0.75}            # kept units scaled by 1/(1-p)
    assert abs((a == 0).mean() - 0.25) < 0.02
    d = nn.Dropout(0.25, rng=5)
    np.testing.assert_array_equal(d.forward(x, training=False), x)
    np.testing.assert_array_equal(d.backward(np.full_like(x, 2.0)), np.full_like(x, 2.0))
    d.forward(x)
    np.testing.assert_array_equal(d.backward(np.ones_like(x)), d.mask / 0.75)
    with pytest.raises(ValueError, match="'rate' parameter of Dropout"):
        nn.Dropout(1.0)


def test_concat_add_dot_and_collect():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 4))
    cat = nn.Concatenate()
    np.testing.assert_array_equal(cat.forward([a, b]), np.hstack([a, b]))
    da, db = cat.backward(np.arange(18.0).reshape(3, 6))
    assert da.shape == (3, 2) and db.shape == (3, 4) and da[1, 0] == 6.0
    add = nn.Add()
    np.testing.assert_array_equal(add.forward([a, a, a]), 3 * a)
    assert len(add.backward(a)) == 3
    c = rng.normal(size=(3, 2))
    np.testing.assert_allclose(nn.Dot().forward([a, c])[:, 0], [a[k] @ c[k] for k in range(3)], **F64)
    dense = nn.Dense(2, 1, rng=rng)
    dense.forward(a)
    dense.backward(np.ones((3, 1)))
    params, grads = nn.collect({"d": dense})
    assert set(params) == set(grads) == {"d/kernel", "d/bias"}
    assert params["d/kernel"] is dense.params["kernel"]
