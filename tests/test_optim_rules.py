"""The update rules of mfcore.engines.optim_numpy and their Numba twins (optim_jit): bit-identical
in every mode, and each model's former formula (Keras l2 tables, the RBM's (R5), AutoRec's Adam)
reproduced to the last bit by the one rule. Hand-computed single steps are in test_nn_optim.py."""
import os

import numpy as np
import pytest

from mfcore.engines import autorec_jit, optim_jit, optim_numpy, rbm_jit, rbm_numpy

MODES = [dict(momentum=0.0, nesterov=False), dict(momentum=0.9, nesterov=False),
         dict(momentum=0.9, nesterov=True)]
L2 = [dict(c=0.0, n=1.0), dict(c=0.02, n=1.0), dict(c=0.01, n=-7.0)]  # none, Keras l2, the RBM's decay


def _arrays(dtype, k=5, shape=(13, 4)):
    rng = np.random.default_rng(k)
    return [rng.normal(size=shape).astype(dtype) for _ in range(k)]


def _run_twins(step, make, dtype):
    """Apply ``step`` (a function of the module) three times with both twins; return both states."""
    states = [[a.copy() for a in make()] for _ in range(2)]
    rng = np.random.default_rng(9)
    for _ in range(3):
        G = rng.normal(size=states[0][0].shape).astype(dtype)
        for mod, arrays in zip((optim_numpy, optim_jit), states):
            arrays[-1][...] = G  # the gradient slot, refilled (clear=True zeroes it)
            step(mod, *arrays)
    return states


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", MODES, ids=["plain", "momentum", "nesterov"])
@pytest.mark.parametrize("l2", L2, ids=["no-l2", "keras-l2", "rbm-decay"])
@pytest.mark.parametrize("clear", [False, True])
def test_sgd_twins_bit_identical(dtype, mode, l2, clear):
    c = np.dtype(dtype).type  # scalars in the weights' dtype, as nn.optim passes them
    a, b = _run_twins(lambda m, W, V, G: m.sgd_step(W, V, G, c(0.05), c(mode["momentum"]), mode["nesterov"],
                                                    c(l2["c"]), c(l2["n"]), clear),
                      lambda: _arrays(dtype, 3), dtype)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
        assert x.dtype == dtype
    assert (not clear) or not a[2].any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("l2", L2[:2], ids=["no-l2", "l2"])
@pytest.mark.parametrize("clear", [False, True])
def test_adam_and_adamax_twins_bit_identical(dtype, l2, clear):
    c = np.dtype(dtype).type
    alpha = optim_numpy.adam_step_size(c(0.01), c(0.9), c(0.999), c(3))
    corr = optim_numpy.adamax_correction(c(0.9), c(3))
    for step in (lambda m, W, M, V, G: m.adam_step(W, M, V, G, alpha, c(0.1), c(0.001), c(1e-7),
                                                   c(l2["c"]), c(l2["n"]), clear),
                 lambda m, W, M, U, G: m.adamax_step(W, M, U, G, c(0.01), c(0.1), c(0.999), c(1e-7), corr,
                                                     c(l2["c"]), c(l2["n"]), clear)):
        make = lambda: [x if j != 2 else np.abs(x) for j, x in enumerate(_arrays(dtype, 4))]  # second moment >= 0
        a, b = _run_twins(step, make, dtype)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_bias_corrections_compiled_agree_with_numpy():
    # Numba's x ** t (integer t) multiplies, NumPy calls pow: equal to the last bit or two
    for t in (1, 2, 7, 100, 12345):
        assert optim_jit.adam_step_size(0.001, 0.9, 0.999, t) == pytest.approx(
            optim_numpy.adam_step_size(0.001, 0.9, 0.999, np.float64(t)), rel=1e-14)
        assert optim_jit.adamax_correction(0.9, t) == pytest.approx(
            optim_numpy.adamax_correction(0.9, np.float64(t)), rel=1e-14)


def test_sum_squares_adds_in_order():
    W = np.random.default_rng(0).normal(size=(50, 3))
    expected = 0.0
    for x in W.ravel():
        expected += x * x
    assert optim_jit.sum_squares(W) == expected


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="compiled semantics: as plain Python, float32 * a Python float stays float32")
def test_keras_l2_table_step_in_float32_matches_the_former_kernel():
    # The Keras-regime kernels stored G + 2 reg W in the float32 table, then took the momentum step
    # in float64 (Python-float scalars), rounding at each store. The one rule with c = 2 reg does the same.
    W, V, G = _arrays(np.float32, 3)
    lr, m, reg = 0.08, 0.9, 0.013
    g32 = (G.astype(np.float64) + (2.0 * reg) * W.astype(np.float64)).astype(np.float32)
    v64 = V.astype(np.float64) * m - g32.astype(np.float64) * lr
    W_ref = (W.astype(np.float64) + v64).astype(np.float32)
    optim_jit.sgd_step(W, V, G, lr, m, False, 2.0 * reg, 1.0, True)
    np.testing.assert_array_equal(W, W_ref)
    np.testing.assert_array_equal(V, v64.astype(np.float32))
    assert not G.any()


@pytest.mark.parametrize("momentum", [0.5, 0.0])
@pytest.mark.parametrize("step", [rbm_jit.momentum_step, rbm_numpy.momentum_step_numpy], ids=["numba", "numpy"])
def test_rbm_r5_is_the_sgd_rule(step, momentum):
    # (R5) as the RBM wrote it: v = m v + lr (g / |B| - wd p); p += v; g = 0
    p, v, g = _arrays(np.float64, 3)
    p_ref, v_ref = p.copy(), v.copy()
    v_ref[...] = momentum * v_ref + 0.05 * (g / 20 - 0.01 * p_ref)
    p_ref += v_ref
    step(p, v, g, 0.05, momentum, 0.01, 20)
    np.testing.assert_array_equal(p, p_ref)
    if momentum:  # at momentum 0 the rule leaves v alone (v is only ever multiplied by 0)
        np.testing.assert_array_equal(v, v_ref)
    assert not g.any()


def test_autorec_adam_is_the_adam_rule():
    # the AutoRec kernel's former loop: g = G + reg W, Keras Adam with alpha_t, G zeroed, returns sum(W^2)
    W, M, U, G = _arrays(np.float64, 4)
    U = np.abs(U)
    t, reg, lr, b1, b2, eps = 3, 0.7, 0.01, 0.9, 0.999, 1e-7
    ssq_ref = float(np.sum(W * W))
    g = G + reg * W
    M_ref = M + (g - M) * (1.0 - b1)
    U_ref = U + (g * g - U) * (1.0 - b2)
    alpha = optim_jit.adam_step_size(lr, b1, b2, t)
    W_ref = W - (M_ref * alpha) / (np.sqrt(U_ref) + eps)
    ssq = autorec_jit.adam_dense(W, M, U, G, lr, b1, b2, eps, t, reg)
    assert ssq == pytest.approx(ssq_ref, rel=1e-14)
    for x, y in ((W, W_ref), (M, M_ref), (U, U_ref)):
        np.testing.assert_array_equal(x, y)
    assert not G.any()


@pytest.mark.parametrize("threads", [1, None])
def test_autorec_adam_on_chunks_is_the_rule_on_the_whole_table_on_any_threads(threads):
    # adam_dense cuts the table into ADAM_CHUNK slices shared by Numba's threads:
    # the weights must be those of one call of the rule, however many threads run
    import numba

    rng = np.random.default_rng(11)
    W, M, G = (rng.normal(size=(7, autorec_jit.ADAM_CHUNK // 2 + 3)) for _ in range(3))  # 3.5 chunks and a bit
    U = np.abs(rng.normal(size=W.shape))
    ref = [a.copy() for a in (W, M, U, G)]
    ssq_ref = float(np.sum(W * W))
    alpha = optim_jit.adam_step_size(0.01, 0.9, 0.999, 3)
    optim_jit.adam_step(*ref, alpha, 1.0 - 0.9, 1.0 - 0.999, 1e-7, 0.7, 1.0, True)
    before = numba.get_num_threads()
    numba.set_num_threads(threads or numba.config.NUMBA_NUM_THREADS)
    try:
        ssq = autorec_jit.adam_dense(W, M, U, G, 0.01, 0.9, 0.999, 1e-7, 3, 0.7)
    finally:
        numba.set_num_threads(before)
    assert ssq == pytest.approx(ssq_ref, rel=1e-13)  # chunk sums added in chunk order
    for x, y in zip((W, M, U, G), ref):
        np.testing.assert_array_equal(x, y)
    assert not G.any() and W.size > 3 * autorec_jit.ADAM_CHUNK


def test_momentum_zero_never_reads_the_velocity():
    # nn.optim passes the weight itself as a placeholder velocity when momentum is 0
    for mod in (optim_numpy, optim_jit):
        W = np.array([1.0, -2.0, 0.5])
        mod.sgd_step(W, W, np.array([0.5, -1.0, 2.0]), 0.1, 0.0, False, 0.0, 1.0, False)
        np.testing.assert_allclose(W, [0.95, -1.9, 0.3], rtol=1e-15)


def _idle_arrays(shape=(5, 40), seed=0):
    """w, m, u with every kind of entry (X4) meets: large u (the series), u below 128 eps
    (term by term), m = 0, and m = u = 0 (a weight that never had a gradient)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape)
    m = rng.normal(size=shape) * 1e-2
    u = np.abs(rng.normal(size=shape)) * 10.0 ** rng.integers(-10, 0, size=shape)  # 1e-10 .. 1
    m[0, :4] = 0
    u[0, :2] = 0
    return w, m, u


@pytest.mark.parametrize("steps", [0, 1, 2, 7, 60, 500, 4000])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.99), (0.99, 0.999)], ids=["keras", "other", "edge"])
def test_adamax_idle_equals_repeated_idle_steps(steps, betas):
    # (X4) against `steps` dense steps (X1)-(X3) with g = 0 and correction 1, both twins
    b1, b2 = betas
    lr, eps = 0.001, 1e-7
    assert optim_numpy.adamax_idle_ok(1 - b1, b2) and optim_jit.adamax_idle_ok(1 - b1, b2)
    w0, m0, u0 = _idle_arrays()
    assert np.mean(u0 < 128 * eps) > 0.3  # both branches are exercised
    ref = [a.copy() for a in (w0, m0, u0)]
    for _ in range(steps):
        optim_jit.adamax_step(*ref, np.zeros_like(w0), lr, 1 - b1, b2, eps, 1.0, 0.0, 1.0, True)
    out = {}
    for mod in (optim_numpy, optim_jit):
        w, m, u = (a.copy() for a in (w0, m0, u0))
        if mod is optim_numpy:
            mod.adamax_idle(w, m, u, steps, lr, 1 - b1, b2, eps)
        else:  # the compiled rule takes one row (one idle count) at a time
            for r in range(w.shape[0]):
                mod.adamax_idle(w[r], m[r], u[r], steps, lr, 1 - b1, b2, eps)
        # the move to 1e-12, plus the dense rule's own rounding of w at each of its steps
        assert np.all(np.abs(w - ref[0]) <= 1e-12 * np.abs(ref[0] - w0) + (steps + 1) * 2.3e-16 * np.abs(w0))
        np.testing.assert_allclose(m, ref[1], rtol=1e-12, atol=1e-300)  # m underflows at beta_1 = 0.5
        np.testing.assert_allclose(u, ref[2], rtol=1e-12, atol=1e-300)
        out[mod] = (w, m, u)
    (wa, ma, ua), (wb, mb, ub) = out.values()  # the twins: the move to 1e-12, plus an ulp of w
    assert np.all(np.abs(wa - wb) <= 1e-12 * np.abs(wb - w0) + 2.3e-16 * np.maximum(np.abs(w0), np.abs(wb)))
    for x, y in ((ma, mb), (ua, ub)):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-300)
    assert np.array_equal(out[optim_jit][0][0, :4], w0[0, :4])  # m = 0: w stays put


def test_adamax_idle_ok_and_exact_from():
    assert optim_numpy.adamax_idle_ok(0.1, 0.999)  # Keras' defaults
    assert optim_numpy.adamax_idle_ok(1.0, 0.999)  # beta_1 = 0: m = g, nothing moves when idle
    assert optim_numpy.adamax_idle_ok(0.01, 0.999)  # beta_1 = 0.99: G_J / G_0 about 9
    assert not optim_numpy.adamax_idle_ok(0.005, 0.999)  # rho_J > 1
    assert not optim_numpy.adamax_idle_ok(0.009, 0.999)  # rho_J < 1 but G_J / G_0 above 64
    for b1 in (0.0, 0.5, 0.9, 0.99):
        t = optim_numpy.adamax_exact_from(b1)
        assert t >= 1
        for s in range(t, t + 3000, 7):  # exactly 1 from t on, in both twins
            assert optim_jit.adamax_correction(b1, s) == 1.0
            assert optim_numpy.adamax_correction(b1, np.float64(s)) == 1.0
    assert optim_numpy.adamax_exact_from(0.9) < 400  # the dense start of DotMF's "deferred" engine
