"""AutoRec: gradients, masked loss, engines, properties, policies, and ML-100k bands."""
import numpy as np
import pytest

from mfcore import DivergenceError, Ratings, RatingScale, make_model
from mfcore.models.autorec import ACTIVATIONS, IAutoRec, UAutoRec, csr_rows, objective
from mfcore.models.deep_autorec import DeepAutoRec
from mfcore.nn import check_gradients
from helpers import F64, GRAD, assert_loads_back, assert_scores_match_predict


def _problem(rng, n_rows=6, d=7, k=4, density=0.5):
    mask = rng.random((n_rows, d)) < density
    mask[0, :] = False  # a row with no observed entry
    mask[1, 0] = True
    r, c = np.nonzero(mask)
    csr = csr_rows(r.astype(np.int64), c.astype(np.int64), rng.integers(1, 6, r.size).astype(float), n_rows)
    params = {"V": rng.normal(0, 0.5, (d, k)), "c": rng.normal(0, 0.1, k),
              "W": rng.normal(0, 0.5, (d, k)), "b": rng.normal(0, 0.1, d)}
    return csr, params, mask


def _dense_objective(csr, params, rows, lam, g, f, d):
    """Naive reference: densify each row, full forward, mask the squared error."""
    indptr, idx, val = csr
    act = {0: lambda z: z, 1: lambda z: 1 / (1 + np.exp(-z)), 2: lambda z: np.maximum(z, 0), 3: np.tanh}
    J = 0.0
    for r in rows:
        x, m = np.zeros(d), np.zeros(d)
        x[idx[indptr[r]:indptr[r + 1]]] = val[indptr[r]:indptr[r + 1]]
        m[idx[indptr[r]:indptr[r + 1]]] = 1
        h = act[g](params["V"].T @ x + params["c"])
        out = act[f](params["W"] @ h + params["b"])
        J += np.sum(m * (out - x) ** 2)
    return J + 0.5 * lam * (np.sum(params["V"] ** 2) + np.sum(params["W"] ** 2))


@pytest.mark.parametrize("engine", ["jit", "vectorized"])
@pytest.mark.parametrize("g,f", [("sigmoid", "identity"), ("tanh", "sigmoid"), ("relu", "identity"),
                                 ("identity", "tanh")])
def test_whole_model_gradient_check(engine, g, f):
    rng = np.random.default_rng(0)
    csr, params, _ = _problem(rng)
    rows = np.array([0, 1, 2, 4, 5])
    args = (ACTIVATIONS[g], ACTIVATIONS[f], engine)
    J, G = objective(params, csr, rows, 0.7, *args)
    assert J == pytest.approx(_dense_objective(csr, params, rows, 0.7, *args[:2], 7), rel=1e-12)
    res = check_gradients(lambda: objective(params, csr, rows, 0.7, *args)[0], params, G)
    assert res.max_rel < GRAD, res


def test_unobserved_entries_do_not_enter_the_loss():
    rng = np.random.default_rng(1)
    csr, params, mask = _problem(rng)
    rows = np.arange(6)
    unseen = np.flatnonzero(~mask.any(axis=0))
    if unseen.size == 0:  # make one column unobserved in every row
        unseen = np.array([6])
        keep = csr[1] != 6
        r = np.repeat(np.arange(6), np.diff(csr[0]))[keep]
        csr = csr_rows(r, csr[1][keep], csr[2][keep], 6)
    J0, G = objective(params, csr, rows, 0.0, 1, 0)
    # the decoder row and output bias of an output that is never observed get no gradient ...
    np.testing.assert_array_equal(G["W"][unseen], 0.0)
    np.testing.assert_array_equal(G["b"][unseen], 0.0)
    # ... and changing them (what the model predicts there) leaves the loss unchanged
    params["W"][unseen] += 5.0
    params["b"][unseen] -= 3.0
    assert objective(params, csr, rows, 0.0, 1, 0)[0] == J0


def test_rating_of_zero_is_observed():
    train = Ratings.from_arrays([0, 0, 1, 1, 2], [0, 1, 0, 1, 1], [0.0, 5.0, 4.0, 0.0, 3.0],
                                scale=RatingScale(0, 5, 1))
    m = IAutoRec(hidden_units=3, n_epochs=1, rng=0).fit(train)
    assert m.history_["train_loss"][0] > 0  # zeros are fitted like any rating
    csr = csr_rows(train.items.astype(np.int64), train.users.astype(np.int64), train.values, 2)
    assert csr[0][-1] == 5  # all five ratings stored, the zeros included


@pytest.mark.parametrize("cls", [IAutoRec, UAutoRec])
def test_engines_agree_and_fit_is_repeatable(cls, planted_split):
    train, _ = planted_split
    kw = dict(hidden_units=8, n_epochs=2, batch_size=5, lr=0.01, reg=1.0, optimizer="adam", rng=0)
    a = cls(engine="jit", **kw).fit(train)
    b = cls(engine="vectorized", **kw).fit(train)
    for key, value in a._get_state().items():
        np.testing.assert_allclose(value, b._get_state()[key], **F64)
    np.testing.assert_allclose(a.history_["train_loss"], b.history_["train_loss"], **F64)
    c = cls(**kw).fit(train)
    np.testing.assert_array_equal(a.codes_, c.codes_)
    d = cls(**dict(kw, rng=1)).fit(train)
    assert not np.allclose(a.codes_, d.codes_)


def test_lbfgs_lowers_the_objective(planted_split):
    train, valid = planted_split
    m = IAutoRec(hidden_units=8, optimizer="lbfgs", lbfgs_iter=5, n_epochs=4, reg=1.0, rng=0).fit(train, valid)
    loss = m.history_["train_loss"]
    assert np.all(np.diff(loss) < 0)
    assert m.history_["val_rmse"][-1] < m.history_["val_rmse"][0]


@pytest.mark.parametrize("name", ["i-autorec", "u-autorec", "deep-autorec"])
def test_predict_score_users_save_load_and_fallback(name, planted_split, tmp_path):
    train, valid = planted_split
    small = {"deep-autorec": dict(hidden_units=(16, 4), n_epochs=2, batch_size=8)}.get(
        name, dict(hidden_units=6, n_epochs=2, lbfgs_iter=3))
    m = make_model(name, rng=0, **small).fit(train, valid)
    assert len(m.history_) == 2 and "val_rmse" in m.history_
    assert_scores_match_predict(m, np.array([0, 5, 7]))
    assert_loads_back(m, valid, tmp_path / "m.npz")
    fb = m.predict(np.array([-1]), np.array([0]))  # unknown user: mu + b_i
    assert fb[0] == pytest.approx(m.global_mean_ + m.fallback_item_bias_[0])


def test_deep_autorec_learns_and_diverges_loudly(planted_split):
    train, valid = planted_split
    m = DeepAutoRec(hidden_units=(32, 8), n_epochs=6, batch_size=8, rng=0).fit(train, valid)
    assert m.history_["train_loss"][-1] < m.history_["train_loss"][0]
    with pytest.raises(DivergenceError):
        DeepAutoRec(hidden_units=(32, 8), n_epochs=5, lr=1e4, reg=0.0, rng=0).fit(train)


def test_i_autorec_divergence_is_loud(planted_split):
    train, _ = planted_split
    with pytest.raises(DivergenceError, match="lower lr"):
        IAutoRec(optimizer="adam", lr=1e200, hidden_units=5, n_epochs=3, rng=0).fit(train)


def test_parameter_errors(planted_split):
    train, _ = planted_split
    with pytest.raises(ValueError, match="'activation' parameter of IAutoRec"):
        IAutoRec(activation="softplus").fit(train)
    with pytest.raises(ValueError, match="'optimizer' parameter of UAutoRec"):
        UAutoRec(optimizer="rprop").fit(train)
    with pytest.raises(TypeError, match="'hidden_units' parameter of DeepAutoRec"):
        DeepAutoRec(hidden_units=(7.5, 4)).fit(train)
    with pytest.raises(ValueError, match="'hidden_units' parameter of DeepAutoRec must be a tuple of 2"):
        DeepAutoRec(hidden_units=(8,)).fit(train)


@pytest.mark.slow
def test_ml100k_i_autorec_default_and_deep_autorec(ml100k_80_20):
    split = ml100k_80_20
    i_rmse = IAutoRec(rng=0).fit(split.train).evaluate(split.test)["rmse"]
    assert i_rmse <= 0.905  # measured 0.8978 (rng=0; Keras I-AutoRec, lambda 100, Adam: 0.9082)
    d_rmse = DeepAutoRec(rng=0).fit(split.train).evaluate(split.test)["rmse"]
    assert abs(d_rmse - 0.9909) <= 0.01  # Keras 0.9909 @ 50; measured 0.9874 (rng=0)


def _dense_deep_autorec(train, **kw):
    """The deep AutoRec as the layer graph computed it before the sparse kernels: every batch
    densified to (B, n_items), Dense layers, masked_mse, Keras' L2 added to the kernels' gradients,
    SGD on every weight. Returns (layers, per-epoch loss)."""
    from mfcore._random import spawn
    from mfcore.nn import SGD, collect, l2_penalty, masked_mse

    m = DeepAutoRec(**kw)
    init_rng, order_rng, noise_rng = spawn(m.rng, 3)
    m._build(train.n_items, init_rng, noise_rng)
    X = np.zeros((train.n_users, train.n_items))
    X[train.users, train.items] = train.values - train.global_mean
    M = np.zeros_like(X, dtype=bool)
    M[train.users, train.items] = True
    opt, losses = SGD(lr=m.lr, momentum=m.momentum), []
    for _ in range(m.n_epochs):
        order, total, n = order_rng.permutation(train.n_users), 0.0, 0
        for start in range(0, train.n_users, m.batch_size):
            rows = order[start:start + m.batch_size]
            Y = X[rows]
            for layer in m.layers_.values():
                Y = layer.forward(Y, training=True)
            loss, dY = masked_mse(Y, X[rows], M[rows])
            for name in reversed(m.layers_):
                dY = m.layers_[name].backward(dY)
            for name in ("dense1", "dense2", "out"):
                pen, g = l2_penalty(m.layers_[name].params["kernel"], m.reg)
                m.layers_[name].grads["kernel"] += g
                loss += pen
            opt.step(*collect(m.layers_))
            total, n = total + loss, n + 1
        losses.append(total / n)
    return m.layers_, losses


@pytest.mark.parametrize("engine", ["jit", "vectorized"])
def test_deep_autorec_sparse_batches_equal_the_dense_layer_graph(engine, planted_split):
    """(D1)-(D6) read only the observed entries; the numbers are the dense graph's up to rounding."""
    train, _ = planted_split
    kw = dict(hidden_units=(16, 4), n_epochs=3, batch_size=8, rng=0)
    m = DeepAutoRec(engine=engine, **kw).fit(train)
    layers, losses = _dense_deep_autorec(train, **kw)
    np.testing.assert_allclose(m.history_["train_loss"], losses, **F64)
    for name, layer in layers.items():
        for pname, value in layer.params.items():
            np.testing.assert_allclose(m.layers_[name].params[pname], value, **F64)


def test_deep_autorec_batch_gradient_check(planted_split):
    """The hand-written backward of a sparse batch (dropout off, BatchNorm in training mode)."""
    from mfcore._random import spawn

    train, _ = planted_split
    m = DeepAutoRec(hidden_units=(6, 3), dropout=0.0, rng=0)
    m.global_mean_ = train.global_mean  # what fit sets before _fit
    m._setup(train, *spawn(m.rng, 2))
    rows = np.array([3, 0, 7, 11, 5])
    L = m.layers_
    arrays = {"dense1": L["dense1"].params["kernel"], "b1": L["dense1"].params["bias"],
              "gamma": L["bn"].params["gamma"], "dense2": L["dense2"].params["kernel"],
              "out": m._out_t, "b3": L["out"].params["bias"]}
    for a in arrays.values():  # away from the zero initial biases and unit gamma
        a += np.random.default_rng(1).normal(0, 0.3, a.shape)
    m._G1[...] = 0.0
    m._G3t[...] = 0.0
    m._batch(rows)
    analytic = {"dense1": m._G1.copy(), "b1": L["dense1"].grads["bias"].copy(),
                "gamma": L["bn"].grads["gamma"].copy(), "dense2": L["dense2"].grads["kernel"].copy(),
                "out": m._G3t.copy(), "b3": L["out"].grads["bias"].copy()}
    assert np.any(analytic["dense1"] == 0) and np.any(analytic["dense1"] != 0)  # rows of unseen items: 0
    res = check_gradients(lambda: m._batch(rows), arrays, analytic)
    assert res.max_rel < GRAD, res


@pytest.mark.parametrize("cls", [IAutoRec, UAutoRec])
def test_lbfgs_fit_equals_scipy_lbfgsb(cls, planted_split, monkeypatch):
    """The model's L-BFGS (mfcore.nn.lbfgs) against the scipy L-BFGS-B it replaced, on the same
    fit: 2 epochs of 8 iterations, every weight equal to rounding (measured 1e-11). Longer runs
    drift apart as L-BFGS amplifies rounding on this small non-convex problem: after 2 x 15
    iterations 2e-9, where relative noise of 1e-16 on scipy's own gradient moves it 8e-11."""
    from scipy.optimize import minimize

    import mfcore.models.autorec as mod

    train, _ = planted_split
    kw = dict(hidden_units=7, n_epochs=2, lbfgs_iter=8, lbfgs_memory=6, reg=1.0, rng=0)
    ours = cls(**kw).fit(train)

    def scipy_lbfgsb(fun, x0, maxiter, maxcor, engine):
        def f_and_g(x):
            g = np.empty_like(x)
            return fun(x, g), g
        return minimize(f_and_g, x0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter, "maxcor": maxcor})

    monkeypatch.setattr(mod, "minimize_lbfgs", scipy_lbfgsb)
    ref = cls(**kw).fit(train)
    for m in ref.params_:
        np.testing.assert_allclose(ours.params_[m], ref.params_[m], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.history_["train_loss"], ref.history_["train_loss"], rtol=1e-10)


@pytest.mark.parametrize("g,f", [("sigmoid", "identity"), ("relu", "tanh")])
def test_column_order_kernel_is_bit_identical(g, f):
    """autorec_grads_by_column (U-AutoRec's full batch) == autorec_grads over every row, bit for bit."""
    from mfcore.engines import autorec_jit
    from mfcore.engines.autorec_numpy import csc_of

    rng = np.random.default_rng(3)
    csr, params, _ = _problem(rng, n_rows=9, d=13, k=5, density=0.4)
    args = (params["V"], params["c"], params["W"], params["b"], ACTIVATIONS[g], ACTIVATIONS[f])
    G1 = [np.zeros_like(params[m]) for m in ("V", "c", "W", "b")]
    G2 = [np.zeros_like(a) for a in G1]
    sse1 = autorec_jit.autorec_grads(*csr, np.arange(9), *args, *G1)
    sse2 = autorec_jit.autorec_grads_by_column(*csc_of(csr, 13), 9, *args, *G2)
    assert sse1 == sse2
    for a, b in zip(G1, G2):
        np.testing.assert_array_equal(a, b)


def test_a_setting_the_chosen_optimizer_ignores_is_said_not_silently_dropped():
    import warnings

    from mfcore.data.synthetic import make_ratings

    train = make_ratings(80, 50, 800, rng=0)
    with pytest.warns(UserWarning, match="lr has no effect with optimizer='lbfgs'"):
        IAutoRec(hidden_units=4, n_epochs=1, lr=0.5, lbfgs_iter=2, rng=0).fit(train)
    with pytest.warns(UserWarning, match="lbfgs_memory has no effect with optimizer='adam'"):
        IAutoRec(hidden_units=4, n_epochs=1, optimizer="adam", lbfgs_memory=3, rng=0).fit(train)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        IAutoRec(hidden_units=4, n_epochs=1, lbfgs_iter=2, rng=0).fit(train)  # lbfgs_iter serves lbfgs
    assert not [w for w in caught if "has no effect" in str(w.message)]
