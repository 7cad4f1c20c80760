"""The deep model's fast path: SplitMix64 dropout masks, the fused BatchNorm -> ReLU (-> Dropout)
layer with a folded bias, the concat gather/scatter kernels and the jitted optimizer steps,
each against its NumPy twin, plus float64 gradient checks."""
import numpy as np
import pytest

from mfcore import nn
from mfcore.engines import nn_jit, nn_numpy
from mfcore.models.deep import DeepNet
from mfcore.nn.fused import BNReLUDropout
from helpers import EXACT, F64, GRAD


def _splitmix64_reference(state, count):
    """Textbook SplitMix64 in Python integers: the successive 64-bit outputs."""
    out, mask = [], (1 << 64) - 1
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return out


def test_splitmix_bits_are_splitmix64_outputs():
    # the published first output of SplitMix64 from state 0 is 0xE220A8397B1DCDAF
    assert _splitmix64_reference(0, 1)[0] == 0xE220A8397B1DCDAF
    for seed in (0, 12345, 2 ** 64 - 1):
        ref = _splitmix64_reference(seed, 6)
        got = [int(nn_jit.splitmix_bits32(np.uint64(seed), np.uint64(k))) for k in range(6)]
        assert got == [r >> 32 for r in ref]


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
def test_splitmix_mask_kernel_matches_numpy_and_rate(rate):
    seed, thr = np.uint64(987654321), nn_numpy.dropout_threshold(rate)
    a = nn_jit.splitmix_keep_mask(seed, thr, 300, 70)
    b = nn_numpy.splitmix_keep_mask(seed, thr, (300, 70))
    np.testing.assert_array_equal(a, b)
    assert abs((~a).mean() - rate) < 0.01  # 21000 units
    other = nn_jit.splitmix_keep_mask(np.uint64(987654322), thr, 300, 70)
    if 0 < rate:
        assert not np.array_equal(a, other)  # a neighbouring seed gives another mask


def test_dropout_threshold_edges():
    assert nn_numpy.dropout_threshold(0.0) == 0  # keep everything
    assert nn_numpy.dropout_threshold(0.5) == 2 ** 31
    assert nn_numpy.dropout_threshold(1.0) == 2 ** 32  # 32 bits are never >= 2**32


def test_dropout_splitmix_draw():
    x = np.ones((200, 50))
    d = nn.Dropout(0.25, rng=5, draw="splitmix")
    y = d.forward(x)
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.02
    seed = np.random.default_rng(5).integers(0, 2 ** 64, dtype=np.uint64)  # the layer's one draw
    np.testing.assert_array_equal(d.mask, nn_jit.splitmix_keep_mask(seed, nn_numpy.dropout_threshold(0.25), 200, 50))
    assert not np.array_equal(d.forward(x), y)  # the next batch draws a new seed
    with pytest.raises(ValueError, match="'draw' parameter of Dropout"):
        nn.Dropout(0.5, draw="bernoulli")


def _chain(n, rate, seed_rng):
    return [nn.BatchNormalization(n), nn.ReLU(), nn.Dropout(rate, seed_rng, draw="splitmix")]


def _run_chain(layers, x, training=True):
    for layer in layers:
        x = layer.forward(x, training=training)
    return x


def _back_chain(layers, d):
    for layer in reversed(layers):
        d = layer.backward(d)
    return d


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("rate", [0.0, 0.5, 0.3])
def test_bn_relu_dropout_matches_the_layer_chain(rate, training):
    rng = np.random.default_rng(0)
    B, n = 37, 11
    z = rng.normal(size=(B, n)) * 2 + 1
    bias = rng.normal(size=n)
    gamma, beta = rng.uniform(0.5, 1.5, n), rng.normal(size=n)
    fused = BNReLUDropout(n, rate, np.random.default_rng(9))
    chain = _chain(n, rate, np.random.default_rng(9))
    moving_mean, moving_variance = rng.normal(size=n), rng.uniform(0.5, 2, n)
    for layer in (fused, chain[0]):
        layer.params["gamma"][:], layer.params["beta"][:] = gamma, beta
        layer.moving_mean[:], layer.moving_variance[:] = moving_mean, moving_variance
    a = fused.forward(z, training, bias=bias)
    want = _run_chain(chain, z + bias, training)
    np.testing.assert_allclose(a, want, **F64)
    if training and rate:
        assert (a == 0).mean() > rate * 0.7  # units really dropped (and ReLU zeros on top)
    np.testing.assert_allclose(fused.moving_mean, chain[0].moving_mean, **F64)
    np.testing.assert_allclose(fused.moving_variance, chain[0].moving_variance, **F64)
    dout = rng.normal(size=(B, n))
    dz = fused.backward(dout)
    np.testing.assert_allclose(dz, _back_chain(chain, dout), **F64)
    for key in ("gamma", "beta"):
        np.testing.assert_allclose(fused.grads[key], chain[0].grads[key], **F64)
    np.testing.assert_allclose(fused.bias_grad, dz.sum(axis=0), **F64)  # Dense's bias: sum of dL/dz
    # in place gives the same numbers (only slower); reseeding redraws the same mask
    fused.rng = np.random.default_rng(9)
    np.testing.assert_array_equal(fused.forward(z, training, bias=bias), a)
    d2 = dout.copy()
    np.testing.assert_array_equal(fused.backward(d2, out=d2), dz)


def test_bn_relu_dropout_float32_stays_float32():
    rng = np.random.default_rng(1)
    layer = BNReLUDropout(8, 0.5, rng=2, dtype=np.float32)
    z = rng.normal(size=(16, 8)).astype(np.float32)
    a = layer.forward(z, bias=np.zeros(8, np.float32))
    dz = layer.backward(rng.normal(size=(16, 8)).astype(np.float32))
    arrays = [a, dz, layer.inv_std, layer.moving_mean, layer.moving_variance, layer.bias_grad,
              *layer.grads.values(), *layer.params.values()]
    assert all(v.dtype == np.float32 for v in arrays)
    assert layer.keep_scale.dtype == np.float32
    with pytest.raises(ValueError, match="'rate' parameter of BNReLUDropout"):
        BNReLUDropout(4, 1.0)


@pytest.mark.parametrize("rate", [0.0, 0.4])
def test_bn_relu_dropout_gradient_check_with_folded_bias(rate):
    rng = np.random.default_rng(3)
    B, n = 9, 5
    layer = BNReLUDropout(n, rate, rng=4)
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, n)
    layer.params["beta"][:] = rng.normal(size=n)
    z, bias = rng.normal(size=(B, n)), rng.normal(size=n)
    R = rng.normal(size=(B, n))

    def loss():
        layer.rng = np.random.default_rng(4)  # the same dropout mask at every evaluation
        return layer.forward(z, bias=bias) * R
    loss()
    dz = layer.backward(R)
    grads = {"z": dz, "gamma": layer.grads["gamma"], "beta": layer.grads["beta"]}
    arrays = {"z": z, "gamma": layer.params["gamma"], "beta": layer.params["beta"]}
    res = nn.check_gradients(loss, arrays, grads)
    assert res.max_rel < GRAD, res
    # the bias right before BN: gradient 0 in training mode, analytically and numerically
    assert np.abs(layer.bias_grad).max() < 1e-12
    assert np.abs(nn.numerical_gradient(loss, bias)).max() < 1e-8


def test_bn_relu_dropout_gradient_check_inference_mode():
    rng = np.random.default_rng(5)
    layer = BNReLUDropout(4, 0.5, rng=1)
    layer.moving_mean[:], layer.moving_variance[:] = rng.normal(size=4), rng.uniform(0.5, 2, 4)
    res = nn.check_layer(layer, rng.normal(size=(6, 4)), rng=2, training=False)
    assert res.max_rel < GRAD, res


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_concat_rows_and_scatter_add_concat_match_numpy(dtype):
    rng = np.random.default_rng(6)
    P, Q = rng.normal(size=(7, 3)).astype(dtype), rng.normal(size=(9, 2)).astype(dtype)
    u, i = rng.integers(0, 7, 50), rng.integers(0, 9, 50)  # repeats
    a = nn_jit.concat_rows(P, Q, u, i, np.empty((50, 5), dtype))
    np.testing.assert_array_equal(a, np.concatenate([P[u], Q[i]], axis=1))
    np.testing.assert_array_equal(a, nn_numpy.concat_rows(P, Q, u, i, np.empty((50, 5), dtype)))
    D = rng.normal(size=(50, 5)).astype(dtype)
    G1 = [np.zeros_like(P), np.zeros_like(Q)]
    G2 = [np.zeros_like(P), np.zeros_like(Q)]
    nn_jit.scatter_add_concat(*G1, u, i, D)
    nn_numpy.scatter_add_concat(*G2, u, i, D)
    for g1, g2 in zip(G1, G2):
        np.testing.assert_allclose(g1, g2, **F64)
        assert g1.dtype == dtype
    ref = np.zeros_like(P)
    for b in range(50):
        ref[u[b]] += D[b, :3]
    np.testing.assert_allclose(G1[0], ref, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make", [lambda j: nn.SGD(lr=0.1, use_jit=j),
                                  lambda j: nn.SGD(lr=0.08, momentum=0.9, use_jit=j),
                                  lambda j: nn.SGD(lr=0.05, momentum=0.5, nesterov=True, use_jit=j),
                                  lambda j: nn.Adam(lr=0.01, use_jit=j)],
                         ids=["sgd", "momentum", "nesterov", "adam"])
def test_jitted_optimizer_steps_are_bit_identical_to_numpy(make, dtype):
    rng = np.random.default_rng(7)
    w0 = {"a": rng.normal(size=(13, 4)).astype(dtype), "b": rng.normal(size=6).astype(dtype)}
    ws = [{k: v.copy() for k, v in w0.items()} for _ in range(2)]
    opts = [make(True), make(False)]
    for _ in range(4):
        g = {k: rng.normal(size=v.shape).astype(dtype) for k, v in w0.items()}
        for w, opt in zip(ws, opts):
            opt.step(w, {k: v.copy() for k, v in g.items()})
    for k in w0:
        assert ws[0][k].dtype == dtype
        assert not np.array_equal(ws[0][k], w0[k])
        np.testing.assert_allclose(ws[0][k], ws[1][k], **EXACT)
        for s in opts[0].state[k]:
            np.testing.assert_allclose(opts[0].state[k][s], opts[1].state[k][s], **EXACT)


@pytest.mark.parametrize("reg", [0.0, 0.02])
@pytest.mark.parametrize("units,dropout", [((7, 5), 0.5), ((5, 4, 3), 0.0)])
def test_fused_deep_network_gradient_check(units, dropout, reg):
    rng = np.random.default_rng(0)
    net = DeepNet(5, 6, 3, units, True, dropout, np.random.default_rng(1), np.random.default_rng(2), fused=True)
    assert net.fused and "relu_1" not in net.layers
    for name, w in net.params.items():
        w[...] = rng.uniform(0.5, 1.5, w.shape) if name.endswith("gamma") else rng.normal(0, 0.5, w.shape)
    u, i, y = rng.integers(0, 5, 12), rng.integers(0, 6, 12), rng.normal(0, 1, 12)
    u[:3] = 1  # repeated ids

    def fixed_mask():
        net.layers["batch_norm_1"].rng = np.random.default_rng(7)

    fixed_mask()
    _, grads = net.loss_and_grads(u, i, y, reg=reg)

    def loss():
        fixed_mask()
        return net.loss_terms(u, i, y, reg=reg)
    before_bn = {f"dense_{j}/bias" for j in range(1, len(units) + 1)}
    res = nn.check_gradients(loss, {k: v for k, v in net.params.items() if k not in before_bn}, grads)
    assert res.max_rel < GRAD, res
    for name in before_bn:
        assert np.abs(grads[name]).max() < 1e-12


def test_fused_and_layer_graph_networks_agree_on_one_batch():
    rng = np.random.default_rng(1)
    nets = [DeepNet(8, 9, 4, (16, 6), True, 0.5, np.random.default_rng(3), np.random.default_rng(4), fused=f)
            for f in (True, False)]
    u, i, y = rng.integers(0, 8, 40), rng.integers(0, 9, 40), rng.normal(size=40)
    out = [net.loss_and_grads(u, i, y) for net in nets]
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-12)
    assert set(out[0][1]) == set(out[1][1])
    for k, g in out[0][1].items():
        np.testing.assert_allclose(g, out[1][1][k], **F64)
    # inference mode (moving statistics, no dropout) agrees too, on a fresh batch size
    np.testing.assert_allclose(nets[0].forward(u[:7], i[:7], training=False),
                               nets[1].forward(u[:7], i[:7], training=False), **F64)
