"""Exercises of tutorial 04 (biased MF in the Keras regime): the batch gradient and the momentum step.

Checked against :class:`mfcore.models.keras_mf.MFNet` and :class:`mfcore.nn.SGD`.
"""
import numpy as np

from ..models.keras_mf import MFNet
from ..nn import SGD
from ._core import Case, Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. the batch gradient


def _ref_grads(P, Q, bu, bi, u, i, y):
    net = MFNet(P.shape[0], Q.shape[0], P.shape[1], True, np.random.default_rng(0), np.float64)
    for name, table in (("user_embedding", P), ("item_embedding", Q),
                        ("user_bias", bu[:, None]), ("item_bias", bi[:, None])):
        net.params[f"{name}/embeddings"][...] = table
    _, grads = net.loss_and_grads(np.asarray(u), np.asarray(i), y)
    G = {k.split("/")[0]: g.to_dense() if hasattr(g, "to_dense") else g for k, g in grads.items()}
    return G["user_embedding"], G["item_embedding"], G["user_bias"][:, 0], G["item_bias"][:, 0]


def _grads(P, Q, bu, bi, u, i, y, *, mean=True, two=2.0, scatter="add", sign=1.0):
    d = sign * two * (np.sum(P[u] * Q[i], axis=1) + bu[u] + bi[i] - y) / (len(y) if mean else 1)  # (B,)
    G = [np.zeros_like(P), np.zeros_like(Q), np.zeros_like(bu), np.zeros_like(bi)]
    parts = [(u, d[:, None] * Q[i]), (i, d[:, None] * P[u]), (u, d), (i, d)]
    for g, (rows, val) in zip(G, parts):
        if scatter == "add":
            np.add.at(g, rows, val)
        else:
            g[rows] += val
    return tuple(G)


def _grad_case(g, n_u, n_i, K, u, i):
    y = g.integers(1, 6, len(u)) - 3.5
    return (g.uniform(-0.5, 0.5, (n_u, K)), g.uniform(-0.5, 0.5, (n_i, K)),
            g.uniform(-0.3, 0.3, n_u), g.uniform(-0.3, 0.3, n_i), np.array(u), np.array(i), y.astype(float))


_grad_cases = seeded_cases(_grad_case, 0, [
    ("batch of 4, no repeated id", 4, 5, 3, [0, 1, 2, 3], [4, 2, 0, 1]),
    ("batch of 6, user 1 three times, item 0 twice", 3, 4, 2, [1, 0, 1, 2, 1, 0], [0, 3, 2, 0, 1, 2]),
    ("batch of 5, K = 4, every id repeated", 2, 2, 4, [0, 1, 1, 0, 0], [1, 1, 0, 0, 1])])


BATCH_GRADIENTS = Exercise("t04.batch_gradients", """
Gradients of the Keras-regime batch loss in every table.

The network predicts y_hat_b = p_u . q_i + b_u + b_i for the batch's pairs
(u[b], i[b]) and is trained on the batch-MEAN squared error
  L = (1/B) sum_b (y_hat_b - y_b)^2.
Return (GP, GQ, Gbu, Gbi): dL/dP (n_users, K), dL/dQ (n_items, K), dL/dbu
(n_users,), dL/dbi (n_items,), full tables with 0 in rows outside the batch. With
d_b = 2 (y_hat_b - y_b) / B: row u of GP gets d_b q_i for every b with u[b] = u
(a SUM when u repeats), and so on.""",
    signature="batch_gradients(P, Q, bu, bi, u, i, y)",
    reference=_ref_grads, cases=_grad_cases, outputs=("GP", "GQ", "Gbu", "Gbi"),
    reference_name="mfcore.models.keras_mf.MFNet.loss_and_grads",
    mistakes=catalogue(_grads, [
        ("fancy-index", dict(scatter="fancy"), """
`G[u] += ...` keeps one contribution per repeated id: use np.add.at(G, u, ...), which sums
them."""),
        ("sum-not-mean", dict(mean=False), """
the gradient is B times too large: the Keras loss is a MEAN over the batch, so d_b carries
1/B."""),
        ("no-factor-2", dict(two=1.0), """
the factor 2 of the square is missing: d(e^2)/de = 2e (Keras' mse has no 1/2)."""),
        ("sign", dict(sign=-1.0), """
the gradient has the wrong sign: dL/dy_hat = 2 (y_hat - y) / B, prediction minus target."""),
    ]))
check_batch_gradients = BATCH_GRADIENTS.checker()

# ---------------------------------------------------------------- 2. the momentum step


def _ref_momentum(w, v, g, lr, momentum):
    opt = SGD(lr=lr, momentum=momentum, use_jit=False)
    opt.state["w"] = {"momentum": v}
    opt.step({"w": w}, {"w": g})
    return w, v


def _momentum(w, v, g, lr, momentum, *, old_v=False, convention=False, keep_v=True, nesterov=False):
    v_new = momentum * v - lr * g if keep_v else -lr * g
    if convention:  # the other textbook form: v = m v + lr g, w -= v
        v_other = momentum * v + lr * g
        return w - v_other, v_other
    if old_v:
        return w + v, v_new
    if nesterov:
        return w + momentum * v_new - lr * g, v_new
    return w + v_new, v_new


def _momentum_cases():
    g = np.random.default_rng(4)
    return [
        Case("first step: v = 0", (g.normal(size=3), np.zeros(3), g.normal(size=3), 0.08, 0.9)),
        Case("a running velocity, lr 0.1, momentum 0.5", (g.normal(size=4), g.normal(0, 0.1, 4),
                                                          g.normal(size=4), 0.1, 0.5)),
        Case("a (3, 2) table, g = 0 in one row (not in the batch)",
             (g.normal(size=(3, 2)), g.normal(0, 0.1, (3, 2)),
              np.array([[0.5, -1.0], [0.0, 0.0], [2.0, 0.3]]), 0.08, 0.9)),
    ]


MOMENTUM_STEP = Exercise("t04.momentum_step", """
One step of SGD with momentum, Keras' rule.

w: weights, v: their velocity, g: the gradient (arrays of one shape). Keras' SGD:
  (K1) v <- momentum * v - lr * g
  (K2) w <- w + v          (with the NEW v)
Return the new (w, v). A row whose gradient is 0 still moves: its velocity
carries it.""",
    signature="momentum_step(w, v, g, lr, momentum)",
    reference=_ref_momentum, cases=_momentum_cases, outputs=("w", "v"),
    reference_name="mfcore.nn.SGD(momentum=...)",
    mistakes=catalogue(_momentum, [
        ("old-velocity", dict(old_v=True), """
w moved by the OLD velocity: update v first (K1), then add the new v to w (K2)."""),
        ("sign-convention", dict(convention=True), """
your velocity has the other sign convention: v = m v + lr g, subtracted from w. Keras (and
the v this exercise passes in) keep v = m v - lr g and ADD it to w: flip the sign of your
velocity."""),
        ("no-momentum", dict(keep_v=False), """
the old velocity was dropped (v = -lr g): momentum keeps m * v of the previous step."""),
        ("nesterov", dict(nesterov=True), """
that is Nesterov's variant (w += m v - lr g); Keras' default is the plain rule w += v."""),
    ]))
check_momentum_step = MOMENTUM_STEP.checker()

EXERCISES = {e.name: e for e in (BATCH_GRADIENTS, MOMENTUM_STEP)}
