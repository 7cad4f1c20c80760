"""Exercises of tutorial 06 (residual MF): ELU's backward, and the two paths into the user factors.

Checked against :class:`mfcore.nn.ELU` and
:class:`mfcore.models.residual.ResidualNet`'s backward pass.
"""
import numpy as np

from ..models.residual import ResidualNet
from ..nn import ELU
from ._core import Case, Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. ELU backward


def _ref_elu(z, delta):
    layer = ELU()
    layer.forward(z)
    return layer.backward(delta)


def _elu(z, delta, *, how="ok"):
    if how == "value":  # the function's value where its derivative belongs
        local = np.where(z > 0, 1.0, np.expm1(z))
    elif how == "relu":
        local = np.where(z > 0, 1.0, 0.0)
    elif how == "linear":
        local = np.ones_like(z)
    else:
        local = np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))
    return local if how == "no-delta" else delta * local


def _elu_cases():
    g = np.random.default_rng(21)
    z1 = g.normal(size=(3, 4))
    z1[np.abs(z1) < 0.1] += 0.3  # away from the kink at 0
    return [Case("z (3, 4) of both signs", (z1, g.normal(size=(3, 4)))),
            Case("z (2, 5), large negative entries", (g.uniform(-6, 2, (2, 5)), g.normal(size=(2, 5))))]


ELU_BACKWARD = Exercise("t06.elu_backward", """
The backward pass of ELU.

ELU(z) = z for z > 0, e^z - 1 otherwise (alpha = 1), elementwise.
z and delta = dL/dELU(z) have one shape; return dL/dz, elementwise
delta * ELU'(z).""",
    signature="elu_backward(z, delta)",
    reference=_ref_elu, cases=_elu_cases, outputs=("dz",),
    reference_name="mfcore.nn.ELU.backward",
    mistakes=catalogue(_elu, [
        ("value-not-derivative", dict(how="value"), """
for z <= 0 you used ELU's value e^z - 1; its derivative is e^z."""),
        ("relu-derivative", dict(how="relu"), """
that is ReLU's derivative (0 for z <= 0): ELU's is e^z there, never exactly 0, which is
why the side branch never goes silent."""),
        ("no-delta", dict(how="no-delta"), """
the local derivative was returned without multiplying by delta (the chain rule: dL/dz =
delta * ELU'(z))."""),
        ("identity", dict(how="linear"), """
the negative side was treated as linear (derivative 1): for z <= 0, ELU'(z) = e^z."""),
    ]))
check_elu_backward = ELU_BACKWARD.checker()

# ---------------------------------------------------------------- 2. the two paths into P

_NAMES = ("user_embedding", "item_embedding", "user_bias", "item_bias")


def _ref_user_grad(P, Q, bu, bi, W1, c1, w2, c2, u, i, y):
    net = ResidualNet(P.shape[0], Q.shape[0], P.shape[1], W1.shape[1], np.random.default_rng(0))
    prm = net.params
    for name, table in zip(_NAMES, (P, Q, bu[:, None], bi[:, None])):
        prm[f"{name}/embeddings"][...] = table
    prm["dense_1/kernel"][...], prm["dense_1/bias"][...] = W1, c1
    prm["dense_2/kernel"][...], prm["dense_2/bias"][...] = w2[:, None], c2
    _, grads = net.loss_and_grads(np.asarray(u), np.asarray(i), y)
    return np.asarray(grads["user_embedding/embeddings"])


def _user_grad(P, Q, bu, bi, W1, c1, w2, c2, u, i, y, *, dot=True, side=True, scatter="add",
               elu_grad=True, half=0):
    K = P.shape[1]
    h = np.hstack([P[u], Q[i]])                                  # (B, 2K)
    z = h @ W1 + c1                                              # (B, H)
    a = np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    y_hat = np.sum(P[u] * Q[i], axis=1) + bu[u] + bi[i] + a @ w2 + c2
    d = 2 * (y_hat - y) / len(y)                                 # (B,)
    local = np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))) if elu_grad else 1.0
    dh = (d[:, None] * w2 * local) @ W1.T                        # (B, 2K)
    rows = (d[:, None] * Q[i] if dot else 0) + (dh[:, half * K:(half + 1) * K] if side else 0)
    G = np.zeros_like(P)
    if scatter == "add":
        np.add.at(G, u, rows)
    else:
        G[u] += rows
    return G


def _user_grad_case(g, n_u, n_i, K, H, u, i):
    return (g.uniform(-0.5, 0.5, (n_u, K)), g.uniform(-0.5, 0.5, (n_i, K)),
            g.uniform(-0.2, 0.2, n_u), g.uniform(-0.2, 0.2, n_i),
            g.normal(0, 0.7, (2 * K, H)), g.normal(0, 0.3, H), g.normal(0, 0.7, H),
            0.1, np.array(u), np.array(i), (g.integers(1, 6, len(u)) - 3.5).astype(float))


_user_grad_cases = seeded_cases(_user_grad_case, 30, [
    ("4 users, 5 items, K = 2, H = 3, no repeated user", 4, 5, 2, 3, [0, 1, 2, 3], [4, 0, 2, 1]),
    ("3 users, 4 items, K = 3, H = 5, user 2 three times", 3, 4, 3, 5, [2, 0, 2, 1, 2], [0, 3, 1, 0, 2])])


USER_FACTOR_GRADIENT = Exercise("t06.user_factor_gradient", """
dL/dP of the residual model: the dot-product path plus the side-branch path.

For the batch (u[b], i[b], y[b]), with h_b = [p_u ; q_i] (2K,),
  z_b = h_b W1 + c1 (H,),  y_hat_b = p_u . q_i + b_u + b_i + ELU(z_b) . w2 + c2,
and the batch-mean loss L = (1/B) sum_b (y_hat_b - y_b)^2, return dL/dP, an
array of P's shape (n_users, K). With d_b = 2 (y_hat_b - y_b) / B, row u gets
d_b q_i (the dot product) PLUS the first K entries of
(d_b w2 * ELU'(z_b)) W1^T (the side branch), summed over the b with u[b] = u.
Shapes: P (n_users, K), Q (n_items, K), bu, bi 1-D, W1 (2K, H), c1 (H,),
w2 (H,), c2 a float.""",
    signature="user_factor_gradient(P, Q, bu, bi, W1, c1, w2, c2, u, i, y)",
    reference=_ref_user_grad, cases=_user_grad_cases, outputs=("GP",),
    reference_name="mfcore.models.residual.ResidualNet.backward",
    mistakes=catalogue(_user_grad, [
        ("dot-path-only", dict(side=False), """
only the dot product's gradient reached P: the side branch also reads p_u (through h =
[p_u ; q_i]), so P gets the sum of both paths."""),
        ("side-path-only", dict(dot=False), """
only the side branch's gradient reached P: add the dot product's d_b q_i."""),
        ("item-half", dict(half=1), """
P took the LAST K entries of dL/dh: h = [p_u ; q_i], so p_u's share is the first K."""),
        ("no-elu-derivative", dict(elu_grad=False), """
the side path skipped ELU'(z) between w2 and W1^T."""),
        ("fancy-index", dict(scatter="fancy"), """
`G[u] += rows` drops repeated users: np.add.at(G, u, rows)."""),
    ]))
check_user_factor_gradient = USER_FACTOR_GRADIENT.checker()

EXERCISES = {e.name: e for e in (ELU_BACKWARD, USER_FACTOR_GRADIENT)}
