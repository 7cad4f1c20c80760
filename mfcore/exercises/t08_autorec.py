"""Exercises of tutorial 08 (AutoRec): the masked loss, and I-AutoRec's objective with its gradients.

Checked against :func:`mfcore.nn.masked_mse` and :func:`mfcore.models.autorec.objective`.
"""
import numpy as np

from ..engines.autorec_numpy import csr_rows
from ..models import autorec
from ..nn import masked_mse
from ._core import Case, Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. the masked loss


def _masked(y_pred, y_true, mask, *, mask_rule=None, norm="observed", two=2.0, grad_mask=True, guard=True):
    m = (mask_rule(y_true) if mask_rule else mask).astype(float)
    if guard and m.sum() == 0:
        return 0.0, np.zeros_like(y_pred)
    e = y_pred - y_true
    if norm == "all":
        count = e.size
    elif norm == "rows":
        count = np.maximum(m.sum(axis=1, keepdims=True), 1) * len(e)
    else:
        count = m.sum()
    loss = float(np.sum(m * e * e / count))
    return loss, two * (m * e if grad_mask else e) / count


def _masked_cases():
    g = np.random.default_rng(51)

    def case(label, B, n, p_obs, zero_obs=False):
        mask = g.random((B, n)) < p_obs
        y_true = np.where(mask, g.integers(1, 6, (B, n)) - 3.5, 0.0)
        if zero_obs:
            mask[0, 0], y_true[0, 0] = True, 0.0  # an observed (centred) rating of exactly 0
        return Case(label, (y_true + g.normal(0, 0.7, (B, n)), y_true, mask))

    return [case("3 rows x 5, half observed", 3, 5, 0.5),
            case("4 rows x 6, an observed target equal to 0", 4, 6, 0.4, zero_obs=True),
            Case("2 rows x 4, row 1 has no observed entry",
                 (np.array([[1.2, -0.3, 0.5, 2.0], [0.4, 0.1, -1.0, 0.7]]),
                  np.array([[1.5, 0.0, 0.0, 1.5], [0.0, 0.0, 0.0, 0.0]]),
                  np.array([[True, False, False, True], [False, False, False, False]]))),
            Case("a batch with no observed entry at all", (np.array([[0.5, -1.0]]), np.zeros((1, 2)),
                                                          np.zeros((1, 2), bool)))]


MASKED_MSE = Exercise("t08.masked_mse", """
AutoRec's masked loss and its gradient.

y_pred, y_true (B, n) floats, mask (B, n) bool (True = observed). Return
(loss, grad):
  loss = sum over observed j of (y_pred_j - y_true_j)^2 / (number of observed)
  grad = dloss/dy_pred, (B, n): 2 (y_pred_j - y_true_j) / (number observed) where
         observed, exactly 0 elsewhere.
The count is over the whole batch; a batch with no observed entry has loss 0
and gradient 0. Use the mask you are given: an observed target can be 0.""",
    signature="masked_mse(y_pred, y_true, mask)",
    reference=masked_mse, cases=_masked_cases, outputs=("loss", "grad"),
    reference_name="mfcore.nn.masked_mse",
    mistakes=catalogue(_masked, [
        ("mask-from-values", dict(mask_rule=lambda y: y != 0), """
the mask was rebuilt from y_true != 0, which loses an observed target of 0: use the mask
argument."""),
        ("mean-over-all-entries", dict(norm="all"), """
the loss was divided by every entry of the batch: divide by the number of OBSERVED
entries, so that missing ratings do not dilute it."""),
        ("gradient-not-masked", dict(grad_mask=False), """
the loss is right but unobserved entries got a gradient: they are not in the loss, so
their gradient is exactly 0 (multiply by the mask)."""),
        ("no-factor-2", dict(two=1.0), """
the gradient lacks the factor 2 of the square."""),
        ("per-row-mean", dict(norm="rows"), """
each row was averaged over its own observed entries: the count is over the whole batch."""),
        ("empty-batch", dict(guard=False), """
a batch with no observed entry divided 0 by 0: its loss and gradient are 0 (nothing was
observed, nothing to learn)."""),
    ]))
check_masked_mse = MASKED_MSE.checker()

# ---------------------------------------------------------------- 2. I-AutoRec's objective


def _ref_objective(X, M, V, c, W, b, lam):
    rows, cols = np.nonzero(M)
    csr = csr_rows(rows, cols, X[rows, cols], X.shape[0])
    params = {"V": V, "c": c, "W": W, "b": b}
    sig, ident = autorec.ACTIVATIONS["sigmoid"], autorec.ACTIVATIONS["identity"]
    J, G = autorec.objective(params, csr, np.arange(X.shape[0]), lam, sig, ident, engine="vectorized")
    return J, G["V"], G["c"], G["W"], G["b"]


def _objective(X, M, V, c, W, b, lam, *, half=0.5, masked=True, pen_bias=False, dsig=True, mean=False):
    Xm = np.where(M, X, 0.0)
    H = 1 / (1 + np.exp(-(Xm @ V + c)))                       # (rows, k)
    O = H @ W.T + b                                            # (rows, d)
    m = M if masked else np.ones_like(M)
    E = (O - Xm) * m
    n = m.sum() if mean else 1.0
    J = np.sum(E * E) / n + half * lam * (np.sum(V * V) + np.sum(W * W))
    D = 2 * E / n                                              # dJ/dO
    dZ = (D @ W) * (H * (1 - H) if dsig else 1.0)
    gV, gW = Xm.T @ dZ + 2 * half * lam * V, D.T @ H + 2 * half * lam * W
    gc, gb = dZ.sum(0), D.sum(0)
    if pen_bias:
        J += half * lam * (np.sum(c * c) + np.sum(b * b))
        gc, gb = gc + 2 * half * lam * c, gb + 2 * half * lam * b
    return J, gV, gc, gW, gb


def _objective_case(g, rows, d, k, lam):
    M = g.random((rows, d)) < 0.5
    M[:, 0] = True
    X = np.where(M, g.integers(1, 6, (rows, d)), 0).astype(float)
    return X, M, g.normal(0, 0.3, (d, k)), g.normal(0, 0.3, k), g.normal(0, 0.3, (d, k)), g.normal(3, 0.3, d), lam


_objective_cases = seeded_cases(_objective_case, 60, [("4 item rows over 5 users, k = 2, lambda 1", 4, 5, 2, 1.0),
                                                      ("6 item rows over 4 users, k = 3, lambda 0.3", 6, 4, 3, 0.3)])


AUTOREC_OBJECTIVE = Exercise("t08.autorec_objective", """
I-AutoRec's objective J and its gradients (sigmoid hidden layer, identity output).

X (n_rows, d): one row per item, its ratings over the d users, 0 where missing;
M (n_rows, d) bool, the observed-mask. V, W (d, k); c (k,); b (d,). For each row x:
  h = sigmoid(V^T x + c),   x_hat = W h + b
  J = sum over rows and observed j of (x_hat_j - x_j)^2 + lam/2 (|W|^2 + |V|^2)
(a sum, not a mean; the biases c and b are not penalised). Return
(J, dJ/dV, dJ/dc, dJ/dW, dJ/db).""",
    signature="autorec_objective(X, M, V, c, W, b, lam)",
    reference=_ref_objective, cases=_objective_cases, outputs=("J", "dV", "dc", "dW", "db"),
    reference_name="mfcore.models.autorec.objective",
    mistakes=catalogue(_objective, [
        ("keras-l2", dict(half=1.0), """
the penalty is lam (|W|^2 + |V|^2), Keras' L2: the paper's weight decay is lam/2 (...),
whose gradient is lam W."""),
        ("unmasked-error", dict(masked=False), """
the reconstruction error ran over every entry: missing ratings (stored as 0) must not
enter J; only observed j do."""),
        ("penalised-biases", dict(pen_bias=True), """
the biases c and b were penalised: the weight decay covers W and V only."""),
        ("no-sigmoid-derivative", dict(dsig=False), """
dJ/dz skipped the sigmoid's derivative h (1 - h)."""),
        ("mean-not-sum", dict(mean=True), """
the error term was averaged over the observed entries: the paper's J is a sum."""),
    ]))
check_autorec_objective = AUTOREC_OBJECTIVE.checker()

EXERCISES = {e.name: e for e in (MASKED_MSE, AUTOREC_OBJECTIVE)}
