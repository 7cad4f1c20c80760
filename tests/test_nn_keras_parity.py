"""mfcore.nn against Keras 3: forward, gradients and optimizer steps on fixed cases.

The fixtures in benchmarks/fixtures/*.npz were produced by
benchmarks/keras_fixtures.py (TensorFlow, float32; its docstring documents every
key). Here the same cases run through mfcore.nn in float32 and must match at
float32 tolerance: rtol 1e-5, atol 1e-6, and atol 1e-5 for BatchNorm and the
Adam-type steps (normalised steps amplify float32 rounding), as that docstring
recommends.
"""
from pathlib import Path

import numpy as np
import pytest

from mfcore import nn

FIXTURES = Path(__file__).resolve().parents[1] / "benchmarks" / "fixtures"
TOL = dict(rtol=1e-5, atol=1e-6)
TOL_LOOSE = dict(rtol=1e-5, atol=1e-5)


def load(name):
    path = FIXTURES / f"{name}.npz"
    if not path.is_file():
        pytest.fail(f"missing Keras fixture {path}; regenerate with benchmarks/keras_fixtures.py")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _dense_case(f, l2=None):
    layer = nn.Dense(5, 3, dtype=np.float32)
    layer.params["kernel"][:] = f["w_kernel"]
    layer.params["bias"][:] = f["w_bias"]
    y = layer.forward(f["x"])
    np.testing.assert_allclose(y, f["y"], **TOL)
    loss, dy = nn.mse(y, f["target"])
    if l2 is not None:
        pen, dpen = nn.l2_penalty(layer.params["kernel"], l2)
        np.testing.assert_allclose(pen, f["reg_loss"], **TOL)
        np.testing.assert_allclose(loss, f["data_loss"], **TOL)
        loss += pen
    np.testing.assert_allclose(loss, f["loss"], **TOL)
    np.testing.assert_allclose(dy, f["grad_y"], **TOL)
    dx = layer.backward(dy)
    if l2 is not None:
        layer.grads["kernel"] = layer.grads["kernel"] + dpen
    np.testing.assert_allclose(dx, f["grad_x"], **TOL)
    np.testing.assert_allclose(layer.grads["kernel"], f["grad_kernel"], **TOL)
    np.testing.assert_allclose(layer.grads["bias"], f["grad_bias"], **TOL)
    nn.SGD(lr=0.1, momentum=0.9).step(layer.params, layer.grads)
    np.testing.assert_allclose(layer.params["kernel"], f["kernel_after_step"], **TOL)
    np.testing.assert_allclose(layer.params["bias"], f["bias_after_step"], **TOL)


def test_dense():
    _dense_case(load("dense"))


def test_dense_with_l2():
    f = load("l2_dense")
    _dense_case(f, l2=float(f["l2"]))


def test_embedding_two_steps_dense_momentum():
    f = load("embedding")
    emb = nn.Embedding(6, 4, dtype=np.float32)
    emb.params["embeddings"][:] = f["w_table"]
    opt = nn.SGD(lr=0.1, momentum=0.9)
    for ids, target, grad, after in (("ids", "target", "grad_table", "table_after_step"),
                                      ("ids2", "target2", "grad_table2", "table_after_step2")):
        y = emb.forward(f[ids])
        if ids == "ids":
            np.testing.assert_allclose(y, f["y"], **TOL)
        loss, dy = nn.mse(y, f[target])
        if ids == "ids":
            np.testing.assert_allclose(loss, f["loss"], **TOL)
        emb.backward(dy)
        np.testing.assert_allclose(emb.grads["embeddings"].to_dense(), f[grad], **TOL)
        opt.step(emb.params, emb.grads)
        np.testing.assert_allclose(emb.params["embeddings"], f[after], **TOL)
    # the lazy rule would leave rows absent from batch 2 where step 1 put them: Keras moves them
    absent = np.setdiff1d(np.arange(6), f["ids2"])
    assert not np.allclose(f["table_after_step2"][absent], f["table_after_step"][absent])


def test_embedding_with_l2_over_the_whole_table():
    f = load("l2_embedding")
    l2 = float(f["l2"])
    emb = nn.Embedding(6, 4, dtype=np.float32)
    emb.params["embeddings"][:] = f["w_table"]
    y = emb.forward(f["ids"])
    np.testing.assert_allclose(y, f["y"], **TOL)
    loss, dy = nn.mse(y, f["target"])
    pen, dpen = nn.l2_penalty(emb.params["embeddings"], l2)
    np.testing.assert_allclose([loss, pen, loss + pen], [f["data_loss"], f["reg_loss"], f["loss"]], **TOL)
    emb.backward(dy)
    grad = emb.grads["embeddings"].to_dense() + dpen
    np.testing.assert_allclose(grad, f["grad_table"], **TOL)
    nn.SGD(lr=0.1, momentum=0.9).step(emb.params, {"embeddings": grad})
    np.testing.assert_allclose(emb.params["embeddings"], f["table_after_step"], **TOL)


@pytest.mark.parametrize("name,make", [("elu", nn.ELU), ("relu", nn.ReLU),
                                       ("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh)])
def test_activations(name, make):
    f = load("activations")
    layer = make()
    np.testing.assert_allclose(layer.forward(f["x"]), f[f"{name}_y"], **TOL)
    np.testing.assert_allclose(layer.backward(f["dout"]), f[f"{name}_grad_x"], **TOL)  # incl. x = 0


def _bn(f):
    bn = nn.BatchNormalization(5, dtype=np.float32)
    bn.params["gamma"][:] = f["gamma"]
    bn.params["beta"][:] = f["beta"]
    bn.moving_mean[:] = f["moving_mean"]
    bn.moving_variance[:] = f["moving_variance"]
    return bn


def test_batchnorm():
    f = load("batchnorm")
    bn = _bn(f)
    np.testing.assert_allclose(bn.forward(f["x"], training=True), f["y_train"], **TOL_LOOSE)
    np.testing.assert_allclose(bn.moving_mean, f["moving_mean_after"], **TOL_LOOSE)
    np.testing.assert_allclose(bn.moving_variance, f["moving_variance_after"], **TOL_LOOSE)
    np.testing.assert_allclose(bn.backward(f["dout"]), f["grad_x"], **TOL_LOOSE)
    np.testing.assert_allclose(bn.grads["gamma"], f["grad_gamma"], **TOL_LOOSE)
    np.testing.assert_allclose(bn.grads["beta"], f["grad_beta"], **TOL_LOOSE)
    nn.SGD(lr=0.1, momentum=0.9).step(bn.params, bn.grads)
    np.testing.assert_allclose(bn.params["gamma"], f["gamma_after_step"], **TOL_LOOSE)
    np.testing.assert_allclose(bn.params["beta"], f["beta_after_step"], **TOL_LOOSE)
    np.testing.assert_allclose(_bn(f).forward(f["x"], training=False), f["y_infer"], **TOL_LOOSE)


def test_dropout():
    f = load("dropout")
    d = nn.Dropout(float(f["rate"]))
    np.testing.assert_allclose(d.forward(f["x"], mask=f["mask"] != 0), f["y_train"], **TOL)
    np.testing.assert_allclose(d.backward(f["dout"]), f["grad_x"], **TOL)
    np.testing.assert_array_equal(d.forward(f["x"], training=False), f["y_infer"])


def test_losses():
    f = load("losses")
    for fn, pred, true, key in ((nn.mse, "y_pred", "y_true", "mse"),
                                (nn.masked_mse, "m_pred", "m_true", "masked_mse"),
                                (nn.masked_sse, "m_pred", "m_true", "masked_sse")):
        value, grad = fn(f[pred], f[true])
        np.testing.assert_allclose(value, f[key], **TOL)
        np.testing.assert_allclose(grad, f[f"grad_{key}"], **TOL)


@pytest.mark.parametrize("name,make,tol", [
    ("sgd_momentum", lambda: nn.SGD(momentum=0.9), TOL),
    ("sgd_nesterov", lambda: nn.SGD(momentum=0.9, nesterov=True), TOL),
    ("sgd_lr008_m09", lambda: nn.SGD(lr=0.08, momentum=0.9), TOL),
    ("adam", nn.Adam, TOL_LOOSE), ("adamax", nn.Adamax, TOL_LOOSE), ("rmsprop", nn.RMSprop, TOL_LOOSE)])
def test_optimizer_three_steps(name, make, tol):
    f = load("optimizers")
    w = f["w0"].astype(np.float32)
    opt = make()
    for t in range(3):
        opt.step({"w": w}, {"w": f["grads"][t]})
        np.testing.assert_allclose(w, f[f"{name}_after_steps"][t], **tol)
        if t == 0 and f"{name}_after_step" in f:
            np.testing.assert_allclose(w, f[f"{name}_after_step"], **tol)


WEIGHTS = ["user_factors", "item_factors", "user_bias", "item_bias",
           "dense1_kernel", "dense1_bias", "dense2_kernel", "dense2_bias"]


def test_residual_mf_two_sgd_steps():
    """The residual notebook's graph from mfcore layers: forward, every gradient, two steps."""
    f = load("residual_mf")
    L = {"user_factors": nn.Embedding(5, 3, dtype=np.float32), "item_factors": nn.Embedding(6, 3, dtype=np.float32),
         "user_bias": nn.Embedding(5, 1, dtype=np.float32), "item_bias": nn.Embedding(6, 1, dtype=np.float32),
         "dense1": nn.Dense(6, 8, dtype=np.float32), "elu": nn.ELU(), "dense2": nn.Dense(8, 1, dtype=np.float32)}
    dot, add, cat = nn.Dot(), nn.Add(), nn.Concatenate()

    def where(w):  # fixture weight name -> (layer, param name)
        if w.startswith("dense"):
            layer, pname = w.split("_")
            return L[layer], pname
        return L[w], "embeddings"

    def weights():
        return {w: where(w)[0].params[where(w)[1]] for w in WEIGHTS}

    def grads():
        return {w: where(w)[0].grads[where(w)[1]] for w in WEIGHTS}

    for w, value in weights().items():
        value[:] = f[w]
    opt = nn.SGD(lr=0.08, momentum=0.9)
    for users, items, target, suffix in (("users", "items", "target", "_after_step"),
                                         ("users2", "items2", "target2", "_after_step2")):
        u, i = f[users], f[items]
        p, q = L["user_factors"].forward(u), L["item_factors"].forward(i)
        mf_out = add.forward([dot.forward([p, q]), L["user_bias"].forward(u), L["item_bias"].forward(i)])
        side = L["dense2"].forward(L["elu"].forward(L["dense1"].forward(cat.forward([p, q]))))
        y = mf_out + side  # (B, 1)
        loss, dy = nn.mse(y, f[target])
        if suffix == "_after_step":
            np.testing.assert_allclose(mf_out, f["mf_out"], **TOL)
            np.testing.assert_allclose(side, f["side_out"], **TOL)
            np.testing.assert_allclose(y, f["y"], **TOL)
            np.testing.assert_allclose(loss, f["loss"], **TOL)
        d_dot, d_bu, d_bi = add.backward(dy)
        L["user_bias"].backward(d_bu)
        L["item_bias"].backward(d_bi)
        dp, dq = dot.backward(d_dot)
        dp2, dq2 = cat.backward(L["dense1"].backward(L["elu"].backward(L["dense2"].backward(dy))))
        L["user_factors"].backward(dp + dp2)
        L["item_factors"].backward(dq + dq2)
        g = grads()
        if suffix == "_after_step":
            for w in WEIGHTS:
                gw = g[w].to_dense() if isinstance(g[w], nn.RowGrad) else g[w]
                np.testing.assert_allclose(gw, f[f"grad_{w}"], **TOL, err_msg=w)
        opt.step(weights(), g)
        for w, value in weights().items():
            np.testing.assert_allclose(value, f[w + suffix], **TOL, err_msg=w + suffix)
