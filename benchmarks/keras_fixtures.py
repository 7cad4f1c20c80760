"""Keras parity fixtures for mfcore's hand-rolled NN core (run by hand).

Like ``keras_reference.py`` this script needs TensorFlow and is never imported
by the package, its tests or CI; it runs in a separate environment::

    pip install -e ".[keras]"      # or any environment with TensorFlow and NumPy
    python benchmarks/keras_fixtures.py [--out-dir benchmarks/fixtures]

It builds small Keras layers and models with FIXED weights and inputs (drawn
from ``numpy.random.default_rng(<case seed>)``, float32), computes the forward
pass, the gradients with ``tf.GradientTape`` and the weights after Keras
optimizer steps, and writes one small ``.npz`` per case. The tests of
``mfcore.nn`` load them with ``numpy.load(path, allow_pickle=False)`` and
compare (float32 data: use rtol ~1e-5, atol ~1e-6; BatchNorm and Adam-type
first steps deserve atol ~1e-5).

Conventions common to every file
--------------------------------
* All arrays are float32 except ids (int32) and the metadata strings.
* ``meta_description`` (0-d str): a one-line description of the case;
  ``meta_tensorflow``, ``meta_keras`` (0-d str): the versions that produced it.
* "MSE" is ``keras.losses.MeanSquaredError()`` with its default reduction: the
  mean over ALL elements of the batch (for shape (B, 1): the mean over B).
* Where a layer is tested with an upstream gradient rather than a loss, the
  scalar is ``loss = sum(y * dout)`` so that ``dL/dy = dout``.
* "one step" means ``optimizer.apply_gradients`` once with the gradients
  stored in the file, from a freshly created optimizer (zero state).
* Embedding gradients come out of the tape as ``IndexedSlices``; the files hold
  them densified (``grad_table`` has one row per table row, repeated ids
  summed), but the optimizer is fed the raw ``IndexedSlices`` exactly as
  ``Model.fit`` would.

Files and keys
--------------
dense.npz             Dense(3) on x (8, 5); loss = MSE(y, target).
    x (8,5), w_kernel (5,3) glorot-uniform drawn by NumPy with limit
    sqrt(6/(fan_in+fan_out)), w_bias (3,), target (8,3), y (8,3) = x @ W + b,
    loss (), grad_y (8,3) = dL/dy, grad_kernel (5,3), grad_bias (3,),
    grad_x (8,5); optimizer SGD(learning_rate=0.1, momentum=0.9):
    kernel_after_step (5,3), bias_after_step (3,).

embedding.npz         Embedding(6, 4) on ids with repeats; loss = MSE(y, target).
    w_table (6,4) uniform(-0.05, 0.05), ids (8,) int32 (ids 2 and 0 repeat,
    row 3 absent), target (8,4), y (8,4) = table[ids], loss (),
    grad_table (6,4) dense (rows summed over repeats, zero for absent rows);
    optimizer SGD(learning_rate=0.1, momentum=0.9):
    table_after_step (6,4); then a second batch ids2 (8,) int32 with target2
    (8,4) and its grad_table2 (6,4) (computed at table_after_step):
    table_after_step2 (6,4). Rows absent from ids2 still move at step 2
    (Keras keeps a dense momentum table: dense update rule).

activations.npz       elementwise activations with an upstream gradient.
    x (8,4) (contains exact zeros at x[0,0] and x[1,1]), dout (8,4),
    for NAME in elu, relu, sigmoid, tanh: NAME_y (8,4), NAME_grad_x (8,4).
    (ELU alpha = 1; at x = 0 TF's gradient is 1 for ELU and 0 for ReLU.)

batchnorm.npz         BatchNormalization() (axis -1, momentum 0.99,
    epsilon 1e-3, center and scale) on x (8,5).
    x (8,5), gamma (5,), beta (5,), moving_mean (5,), moving_variance (5,)
    (initial values, not Keras' 0/1 so that inference is non-trivial),
    dout (8,5); training mode: y_train (8,5) normalised with the batch mean
    and the biased batch variance, grad_x (8,5), grad_gamma (5,),
    grad_beta (5,); moving_mean_after (5,), moving_variance_after (5,): the
    moving statistics after that ONE training-mode call (Keras updates them
    inside ``call``: m = 0.99 m + 0.01 batch_mean, v = 0.99 v + 0.01
    batch_var, batch_var biased); optimizer SGD(learning_rate=0.1,
    momentum=0.9): gamma_after_step (5,), beta_after_step (5,);
    inference mode with the INITIAL moving statistics: y_infer (8,5).

dropout.npz           Dropout(rate 0.5) with a fixed mask (Keras' rule
    y = x * mask / (1 - rate) in training, identity in inference).
    x (8,4), mask (8,4) of 0/1, rate (), dout (8,4), y_train (8,4),
    grad_x (8,4) = dout * mask / (1 - rate), y_infer (8,4) = x.

losses.npz            MSE and the AutoRec masked losses.
    y_true (8,1), y_pred (8,1): mse (), grad_mse (8,1) = dmse/dy_pred;
    m_true (8,6) with zeros = missing, m_pred (8,6):
    masked_mse () = sum(mask (m_pred - m_true)^2) / sum(mask) with
    mask = (m_true != 0) (deep AutoRec loss), grad_masked_mse (8,6);
    masked_sse () = sum(mask (m_pred - m_true)^2) (I-AutoRec loss),
    grad_masked_sse (8,6).

l2_dense.npz          Dense(3, kernel_regularizer=L2(0.01)) on x (8,5);
    loss = MSE(y, target) + 0.01 * sum(W^2) (Keras semantics: no 1/2, bias
    not regularised). Keys as dense.npz plus l2 (), reg_loss (),
    data_loss (), loss () = data_loss + reg_loss; grad_kernel includes the
    penalty gradient 2 * l2 * W; kernel_after_step, bias_after_step with
    SGD(learning_rate=0.1, momentum=0.9).

l2_embedding.npz      Embedding(6, 4, embeddings_regularizer=L2(0.02)) on
    ids (8,): loss = MSE(table[ids], target) + 0.02 * sum(table^2) over the
    WHOLE table (every row, also rows absent from the batch). Keys: w_table,
    ids, target, y, l2, reg_loss, data_loss, loss, grad_table (6,4) (dense:
    absent rows get 2 * l2 * w), table_after_step (SGD 0.1, momentum 0.9).

optimizers.npz        one weight vector, three steps of each optimizer with
    Keras defaults. w0 (4,), grads (3,4): the gradient fed at steps 1, 2, 3.
    For NAME in sgd_momentum (SGD(momentum=0.9), lr 0.01), sgd_nesterov
    (SGD(momentum=0.9, nesterov=True), lr 0.01), adam (Adam(): lr 0.001,
    beta_1 0.9, beta_2 0.999, epsilon 1e-7), adamax (Adamax(): lr 0.001,
    0.9, 0.999, 1e-7), rmsprop (RMSprop(): lr 0.001, rho 0.9, momentum 0,
    epsilon 1e-7, centered False):
    NAME_after_step (4,) = w after step 1, NAME_after_steps (3,4) = w after
    steps 1, 2, 3. Also sgd_lr008_m09_after_steps (3,4) for
    SGD(learning_rate=0.08, momentum=0.9), the MF notebooks' optimizer.
    The script checks each against a NumPy transcription of Keras' update
    rule (documented in ``numpy_reference_step``) and stores the largest
    deviation as NAME_numpy_max_abs_diff ().

residual_mf.npz       the residual MF model, K=3, side branch Dense(8) -> ELU
    -> Dense(1), n_users 5, n_items 6, batch 8, MSE, SGD(learning_rate=0.08,
    momentum=0.9). Weights (initial): user_factors (5,3), item_factors (6,3)
    (uniform(-0.5, 0.5), larger than Keras' +-0.05 so that every term
    matters), user_bias (5,1), item_bias (6,1),
    dense1_kernel (6,8), dense1_bias (8,), dense2_kernel (8,1),
    dense2_bias (1,). Inputs users (8,) int32, items (8,) int32, target (8,)
    (what fit receives as y, i.e. rating - mu). Forward: mf_out (8,1) =
    dot + b_u + b_i, side_out (8,1), y (8,1) = mf_out + side_out, loss ().
    Gradients grad_<weight name> for every weight above (embedding ones
    dense); <weight name>_after_step for every weight after one step; then a
    second batch users2, items2, target2 and <weight name>_after_step2 after
    the second step (momentum carried over). The concat order is
    [user_factors[u], item_factors[i]], i.e. dense1_kernel rows 0..2 act on
    the user factors and rows 3..5 on the item factors.
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "fixtures")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:
    import tensorflow as tf
except ImportError:
    raise SystemExit(f"TensorFlow is not installed in {sys.executable}: pip install -e \".[keras]\" "
                     "(or run this script with a Python that has it)") from None
import keras  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

F32 = np.float32
MSE = keras.losses.MeanSquaredError()


def _meta(description):
    return {"meta_description": np.array(description),
            "meta_tensorflow": np.array(tf.__version__),
            "meta_keras": np.array(keras.__version__)}


def _np(t):
    if isinstance(t, tf.IndexedSlices):
        t = tf.convert_to_tensor(t)
    return np.asarray(t, dtype=F32) if t.dtype != tf.int32 else np.asarray(t)


def _glorot(rng, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(F32)


def _save(out_dir, name, arrays):
    path = os.path.join(out_dir, name + ".npz")
    clean = {}
    for k, v in arrays.items():
        v = np.asarray(v)
        if v.dtype.kind == "f":
            v = v.astype(F32)
        assert v.dtype != object, k
        clean[k] = v
    tmp = path + ".tmp.npz"
    np.savez(tmp, **clean)
    os.replace(tmp, path)
    with np.load(path, allow_pickle=False) as check:   # must load without pickle
        assert set(check.files) == set(clean)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(clean)} keys)")


def _sgd():
    return keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)


# ---------------------------------------------------------------------------
def case_dense(rng, l2=None):
    x = rng.normal(size=(8, 5)).astype(F32)
    w = _glorot(rng, 5, 3)
    b = rng.normal(scale=0.1, size=3).astype(F32)
    target = rng.normal(size=(8, 3)).astype(F32)
    reg = keras.regularizers.L2(l2) if l2 else None
    layer = keras.layers.Dense(3, kernel_regularizer=reg)
    layer.build((None, 5))
    layer.set_weights([w, b])
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        data_loss = MSE(target, y)
        reg_loss = tf.add_n(layer.losses) if layer.losses else tf.constant(0.0)
        loss = data_loss + reg_loss
    g_y, g_kernel, g_bias, g_x = tape.gradient(loss, [y, layer.kernel, layer.bias, xt])
    opt = _sgd()
    opt.apply_gradients(zip([g_kernel, g_bias], [layer.kernel, layer.bias]))
    out = {"x": x, "w_kernel": w, "w_bias": b, "target": target, "y": _np(y),
           "loss": _np(loss), "grad_y": _np(g_y), "grad_kernel": _np(g_kernel),
           "grad_bias": _np(g_bias), "grad_x": _np(g_x),
           "kernel_after_step": _np(layer.kernel), "bias_after_step": _np(layer.bias)}
    if l2:
        out.update({"l2": np.array(l2, F32), "reg_loss": _np(reg_loss),
                    "data_loss": _np(data_loss)})
    return out


def case_embedding(rng, l2=None):
    table = rng.uniform(-0.05, 0.05, size=(6, 4)).astype(F32)
    ids = np.array([0, 2, 2, 5, 1, 2, 4, 0], dtype=np.int32)
    target = rng.normal(scale=0.5, size=(8, 4)).astype(F32)
    reg = keras.regularizers.L2(l2) if l2 else None
    layer = keras.layers.Embedding(6, 4, embeddings_regularizer=reg)
    layer.build((None,))
    layer.set_weights([table])
    opt = _sgd()

    def step(ids_, target_):
        with tf.GradientTape() as tape:
            y = layer(tf.constant(ids_))
            data_loss = MSE(target_, y)
            reg_loss = tf.add_n(layer.losses) if layer.losses else tf.constant(0.0)
            loss = data_loss + reg_loss
        (g,) = tape.gradient(loss, layer.trainable_variables)
        opt.apply_gradients([(g, layer.embeddings)])
        return y, data_loss, reg_loss, loss, g

    y, data_loss, reg_loss, loss, g = step(ids, target)
    out = {"w_table": table, "ids": ids, "target": target, "y": _np(y), "loss": _np(loss),
           "grad_table": _np(g), "table_after_step": _np(layer.embeddings)}
    if l2:
        out.update({"l2": np.array(l2, F32), "reg_loss": _np(reg_loss),
                    "data_loss": _np(data_loss)})
    else:
        ids2 = np.array([1, 1, 4, 4, 4, 1, 4, 1], dtype=np.int32)
        target2 = rng.normal(scale=0.5, size=(8, 4)).astype(F32)
        _, _, _, _, g2 = step(ids2, target2)
        out.update({"ids2": ids2, "target2": target2, "grad_table2": _np(g2),
                    "table_after_step2": _np(layer.embeddings)})
    return out


def case_activations(rng):
    x = rng.normal(scale=1.5, size=(8, 4)).astype(F32)
    x[0, 0] = 0.0
    x[1, 1] = 0.0
    dout = rng.normal(size=(8, 4)).astype(F32)
    out = {"x": x, "dout": dout}
    for name in ("elu", "relu", "sigmoid", "tanh"):
        layer = keras.layers.Activation(name)
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt)
            loss = tf.reduce_sum(y * dout)
        out[name + "_y"] = _np(y)
        out[name + "_grad_x"] = _np(tape.gradient(loss, xt))
    return out


def case_batchnorm(rng):
    x = rng.normal(loc=1.0, scale=2.0, size=(8, 5)).astype(F32)
    gamma = rng.uniform(0.5, 1.5, size=5).astype(F32)
    beta = rng.normal(scale=0.3, size=5).astype(F32)
    mm = rng.normal(scale=0.5, size=5).astype(F32)
    mv = rng.uniform(0.5, 2.0, size=5).astype(F32)
    dout = rng.normal(size=(8, 5)).astype(F32)
    layer = keras.layers.BatchNormalization()
    layer.build((None, 5))
    layer.set_weights([gamma, beta, mm, mv])     # order: gamma, beta, moving mean, moving var
    y_infer = layer(tf.constant(x), training=False)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=True)
        loss = tf.reduce_sum(y * dout)
    g = tape.gradient(loss, [xt, layer.gamma, layer.beta])
    mm_after, mv_after = _np(layer.moving_mean), _np(layer.moving_variance)
    opt = _sgd()
    opt.apply_gradients(zip(g[1:], [layer.gamma, layer.beta]))
    return {"x": x, "gamma": gamma, "beta": beta, "moving_mean": mm, "moving_variance": mv,
            "dout": dout, "y_train": _np(y), "grad_x": _np(g[0]), "grad_gamma": _np(g[1]),
            "grad_beta": _np(g[2]), "moving_mean_after": mm_after,
            "moving_variance_after": mv_after, "gamma_after_step": _np(layer.gamma),
            "beta_after_step": _np(layer.beta), "y_infer": _np(y_infer)}


def case_dropout(rng):
    rate = 0.5
    x = rng.normal(size=(8, 4)).astype(F32)
    mask = (rng.uniform(size=(8, 4)) >= rate).astype(F32)
    dout = rng.normal(size=(8, 4)).astype(F32)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = xt * mask / (1.0 - rate)        # Keras' inverted-dropout rule, mask fixed
        loss = tf.reduce_sum(y * dout)
    infer = keras.layers.Dropout(rate)(xt, training=False)
    return {"x": x, "mask": mask, "rate": np.array(rate, F32), "dout": dout,
            "y_train": _np(y), "grad_x": _np(tape.gradient(loss, xt)), "y_infer": _np(infer)}


def case_losses(rng):
    y_true = rng.normal(size=(8, 1)).astype(F32)
    y_pred = rng.normal(size=(8, 1)).astype(F32)
    pt = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(pt)
        mse = MSE(y_true, pt)
    grad_mse = tape.gradient(mse, pt)
    m_true = rng.integers(1, 6, size=(8, 6)).astype(F32) - F32(3.5)
    m_true[rng.uniform(size=(8, 6)) < 0.5] = 0.0
    m_pred = rng.normal(size=(8, 6)).astype(F32)
    out = {"y_true": y_true, "y_pred": y_pred, "mse": _np(mse), "grad_mse": _np(grad_mse),
           "m_true": m_true, "m_pred": m_pred}
    for name, divide in (("masked_mse", True), ("masked_sse", False)):
        mp = tf.constant(m_pred)
        with tf.GradientTape() as tape:
            tape.watch(mp)
            mask = tf.cast(tf.not_equal(m_true, 0.0), tf.float32)
            loss = tf.reduce_sum(mask * tf.square(mp - m_true))
            if divide:
                loss = loss / tf.reduce_sum(mask)
        out[name] = _np(loss)
        out["grad_" + name] = _np(tape.gradient(loss, mp))
    return out


def numpy_reference_step(name, w, g, state, t):
    """Keras 3 update rules in NumPy (t = 1-based step); returns the new w."""
    if name.startswith("sgd"):
        lr = 0.08 if name == "sgd_lr008_m09" else 0.01
        m = state.get("m", np.zeros_like(w))
        m = 0.9 * m - lr * g                   # velocity
        state["m"] = m
        if name == "sgd_nesterov":
            return w + 0.9 * m - lr * g
        return w + m
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    if name == "adam":
        m = state.get("m", np.zeros_like(w)); v = state.get("v", np.zeros_like(w))
        m = m + (g - m) * (1 - b1); v = v + (g * g - v) * (1 - b2)
        state.update(m=m, v=v)
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return w - alpha * m / (np.sqrt(v) + eps)      # eps outside the bias correction
    if name == "adamax":
        m = state.get("m", np.zeros_like(w)); u = state.get("u", np.zeros_like(w))
        m = m + (g - m) * (1 - b1); u = np.maximum(b2 * u, np.abs(g))
        state.update(m=m, u=u)
        return w - (lr / (1 - b1 ** t)) * m / (u + eps)
    if name == "rmsprop":
        v = state.get("v", np.zeros_like(w))
        v = 0.9 * v + 0.1 * g * g
        state["v"] = v
        return w - lr * g / (np.sqrt(v) + eps)
    raise ValueError(name)


def case_optimizers(rng):
    w0 = rng.normal(size=4).astype(F32)
    grads = rng.normal(size=(3, 4)).astype(F32)
    grads[1, 2] = 0.0   # a zero gradient entry (moments decay, weight may still move)
    makers = {
        "sgd_momentum": lambda: keras.optimizers.SGD(momentum=0.9),
        "sgd_nesterov": lambda: keras.optimizers.SGD(momentum=0.9, nesterov=True),
        "adam": keras.optimizers.Adam,
        "adamax": keras.optimizers.Adamax,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd_lr008_m09": lambda: keras.optimizers.SGD(learning_rate=0.08, momentum=0.9),
    }
    out = {"w0": w0, "grads": grads}
    for name, make in makers.items():
        opt = make()
        var = keras.Variable(w0.copy())
        traj = []
        ref_w, state, worst = w0.astype(np.float64), {}, 0.0
        for t in range(3):
            opt.apply_gradients([(tf.constant(grads[t]), var)])
            traj.append(_np(var))
            ref_w = numpy_reference_step(name, ref_w, grads[t].astype(np.float64), state, t + 1)
            worst = max(worst, float(np.max(np.abs(ref_w - traj[-1]))))
        key = "sgd_lr008_m09_after_steps" if name == "sgd_lr008_m09" else name + "_after_steps"
        out[key] = np.stack(traj)
        if name != "sgd_lr008_m09":
            out[name + "_after_step"] = traj[0]
        out[name + "_numpy_max_abs_diff"] = np.array(worst, F32)
        flag = "" if worst < 1e-6 else "  <-- NumPy transcription differs"
        print(f"  {name}: max |keras - numpy| over 3 steps = {worst:.2e}{flag}")
    return out


def case_residual_mf(rng):
    nu, ni, k, units = 5, 6, 3, 8
    uin = keras.Input(shape=(1,), dtype="int32")
    iin = keras.Input(shape=(1,), dtype="int32")
    KL = keras.layers
    emb = {"user_factors": KL.Embedding(nu, k), "item_factors": KL.Embedding(ni, k),
           "user_bias": KL.Embedding(nu, 1), "item_bias": KL.Embedding(ni, 1)}
    p, q = emb["user_factors"](uin), emb["item_factors"](iin)
    dot = KL.Dot(axes=2)([p, q])
    mf = KL.Flatten()(KL.Add()([dot, emb["user_bias"](uin), emb["item_bias"](iin)]))
    d1, d2 = KL.Dense(units), KL.Dense(1)
    h = KL.Concatenate()([KL.Flatten()(p), KL.Flatten()(q)])
    side = d2(KL.Activation("elu")(d1(h)))
    model = keras.Model([uin, iin], [KL.Add()([mf, side]), mf, side])
    weights = {
        "user_factors": rng.uniform(-0.5, 0.5, size=(nu, k)),
        "item_factors": rng.uniform(-0.5, 0.5, size=(ni, k)),
        "user_bias": rng.normal(scale=0.1, size=(nu, 1)),
        "item_bias": rng.normal(scale=0.1, size=(ni, 1)),
        "dense1_kernel": _glorot(rng, 2 * k, units),
        "dense1_bias": rng.normal(scale=0.1, size=units),
        "dense2_kernel": _glorot(rng, units, 1),
        "dense2_bias": rng.normal(scale=0.1, size=1),
    }
    weights = {n: np.asarray(v, F32) for n, v in weights.items()}
    for n in ("user_factors", "item_factors", "user_bias", "item_bias"):
        emb[n].set_weights([weights[n]])
    d1.set_weights([weights["dense1_kernel"], weights["dense1_bias"]])
    d2.set_weights([weights["dense2_kernel"], weights["dense2_bias"]])
    variables = {"user_factors": emb["user_factors"].embeddings,
                 "item_factors": emb["item_factors"].embeddings,
                 "user_bias": emb["user_bias"].embeddings, "item_bias": emb["item_bias"].embeddings,
                 "dense1_kernel": d1.kernel, "dense1_bias": d1.bias,
                 "dense2_kernel": d2.kernel, "dense2_bias": d2.bias}
    names = list(variables)
    opt = keras.optimizers.SGD(learning_rate=0.08, momentum=0.9)

    def step(users, items, target):
        with tf.GradientTape() as tape:
            y, mf_out, side_out = model([users.reshape(-1, 1), items.reshape(-1, 1)], training=True)
            loss = MSE(target.reshape(-1, 1), y)
        g = tape.gradient(loss, [variables[n] for n in names])
        opt.apply_gradients(zip(g, [variables[n] for n in names]))
        return y, mf_out, side_out, loss, g

    users = np.array([0, 1, 1, 4, 2, 0, 3, 1], dtype=np.int32)
    items = np.array([5, 0, 2, 2, 1, 5, 3, 2], dtype=np.int32)
    target = rng.normal(scale=1.0, size=8).astype(F32)
    out = dict(weights)
    out.update({"users": users, "items": items, "target": target})
    y, mf_out, side_out, loss, g = step(users, items, target)
    out.update({"y": _np(y), "mf_out": _np(mf_out), "side_out": _np(side_out), "loss": _np(loss)})
    for n, gi in zip(names, g):
        out["grad_" + n] = _np(gi)
        out[n + "_after_step"] = _np(variables[n])
    users2 = np.array([2, 2, 3, 3, 0, 2, 3, 0], dtype=np.int32)
    items2 = np.array([4, 4, 0, 1, 1, 3, 4, 0], dtype=np.int32)
    target2 = rng.normal(scale=1.0, size=8).astype(F32)
    step(users2, items2, target2)
    out.update({"users2": users2, "items2": items2, "target2": target2})
    for n in names:
        out[n + "_after_step2"] = _np(variables[n])
    return out


CASES = {
    "dense": (lambda rng: case_dense(rng), "Dense(3) on (8,5), MSE, one SGD(0.1, m 0.9) step"),
    "embedding": (lambda rng: case_embedding(rng), "Embedding(6,4) with repeated ids, MSE, two "
                  "SGD(0.1, m 0.9) steps"),
    "activations": (case_activations, "ELU, ReLU, sigmoid, tanh forward and input gradients"),
    "batchnorm": (case_batchnorm, "BatchNormalization training/inference, moving stats, "
                  "one SGD step"),
    "dropout": (case_dropout, "Dropout(0.5) with a fixed mask"),
    "losses": (case_losses, "MSE, masked MSE (deep AutoRec), masked SSE (I-AutoRec)"),
    "l2_dense": (lambda rng: case_dense(rng, l2=0.01), "Dense(3) with L2(0.01) kernel penalty"),
    "l2_embedding": (lambda rng: case_embedding(rng, l2=0.02), "Embedding(6,4) with L2(0.02)"),
    "optimizers": (case_optimizers, "three steps of SGD momentum/nesterov, Adam, Adamax, "
                   "RMSprop"),
    "residual_mf": (case_residual_mf, "residual MF K=3, Dense(8) ELU, batch 8, two "
                    "SGD(0.08, m 0.9) steps"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description="write Keras parity fixtures (.npz)")
    parser.add_argument("--out-dir", default=DEFAULT_OUT)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    for seed, name in enumerate(CASES):
        if name not in args.cases:
            continue
        keras.utils.set_random_seed(1000 + seed)
        make, description = CASES[name]
        arrays = make(np.random.default_rng(seed))
        arrays.update(_meta(description))
        _save(args.out_dir, name, arrays)


if __name__ == "__main__":
    sys.exit(main())
