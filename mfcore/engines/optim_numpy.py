r"""The update rules, once, in NumPy: Keras 3's SGD (momentum, Nesterov), Adam, Adamax, RMSprop.

Every rule updates its arrays IN PLACE: the weight ``w``, its state ("slots")
and the gradient ``g``, all of one shape. Scalars are given by the caller, in
the weights' dtype when float32 must stay float32 (:mod:`mfcore.nn.optim` casts
them). The Numba twins in :mod:`mfcore.engines.optim_jit` have the same
signatures and give the same numbers (bit-identical, tested).

(L2) One L2 convention for every objective. Before the rule, the gradient is

.. math:: g \leftarrow g / n + c\, w

the gradient of :math:`\frac{1}{n} \sum(\text{per-case terms}) + \frac{c}{2} \lVert w \rVert^2`
when ``g`` holds the per-case gradients summed over n cases (n = 1: ``g`` is
already the gradient). Each objective names its c:

* Keras ``l2(reg)`` (the Keras-regime MF, residual, deep models): penalty
  :math:`\mathrm{reg} \lVert W \rVert^2` on every batch, so c = 2 reg, n = 1;
* AutoRec's :math:`\frac{\lambda}{2} (\lVert W \rVert^2 + \lVert V \rVert^2)`: c = lambda's share of the batch;
* the RBM's weight decay (R5): c = wd, and n = -|B|, because the CD statistic
  summed over the batch points UPHILL (it estimates minus the gradient).

``g`` then holds that gradient (``clear=True``: zeros, ready for the next batch).
Rules (t is the step number, from 1; the bias corrections are computed by
:func:`adam_step_size` and :func:`adamax_correction`):

(S1) momentum 0: :math:`w \leftarrow w - \eta g` (``v`` is not touched; it may be any array);
(S2) :math:`v \leftarrow m v - \eta g`; (S3) :math:`w \leftarrow w + v`, or with
Nesterov :math:`w \leftarrow w + m v - \eta g`.

(M1) :math:`m \leftarrow m + (g - m)(1 - \beta_1)`, (M2) :math:`v \leftarrow v + (g^2 - v)(1 - \beta_2)`,
(M3) :math:`w \leftarrow w - \alpha_t m / (\sqrt v + \epsilon)`, :math:`\alpha_t = \eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t)`.

(X1) as (M1), (X2) :math:`u \leftarrow \max(\beta_2 u, |g|)`,
(X3) :math:`w \leftarrow w - \eta m / ((1 - \beta_1^t)(u + \epsilon))`.

(P1) :math:`v \leftarrow \rho v + (1 - \rho) g^2`, (P2) :math:`\Delta = \eta g / \sqrt{v - \bar g^2 + \epsilon}`
(:math:`\bar g \leftarrow \rho \bar g + (1 - \rho) g` if centred, else :math:`\bar g = 0`),
(P3) :math:`w \leftarrow w - \Delta`, or with momentum :math:`s \leftarrow m s + \Delta,\ w \leftarrow w - s`.
"""
import numpy as np


def _l2(w, g, c, n):
    if c != 0 or n != 1:
        g[...] = g / n + c * w  # (L2)


def sgd_step(w, v, g, lr, momentum, nesterov, c, n, clear):
    """Keras SGD, (L2) then (S1) or (S2)-(S3)."""
    _l2(w, g, c, n)
    if momentum == 0:
        w -= g * lr  # (S1)
    else:
        v[...] = v * momentum - g * lr  # (S2)
        w += v * momentum - g * lr if nesterov else v  # (S3)
    if clear:
        g[...] = 0


def adam_step(w, m, v, g, alpha, one_minus_b1, one_minus_b2, eps, c, n, clear):
    """Keras Adam, (L2) then (M1)-(M3); ``alpha`` from :func:`adam_step_size`."""
    _l2(w, g, c, n)
    m += (g - m) * one_minus_b1  # (M1)
    v += (np.square(g) - v) * one_minus_b2  # (M2)
    w -= (m * alpha) / (np.sqrt(v) + eps)  # (M3)
    if clear:
        g[...] = 0


def adamax_step(w, m, u, g, lr, one_minus_b1, beta_2, eps, correction, c, n, clear):
    """Keras Adamax, (L2) then (X1)-(X3); ``correction`` from :func:`adamax_correction`."""
    _l2(w, g, c, n)
    m += (g - m) * one_minus_b1  # (X1)
    u[...] = np.maximum(beta_2 * u, np.abs(g))  # (X2)
    w -= (lr * m) / (correction * (u + eps))  # (X3)
    if clear:
        g[...] = 0


def rmsprop_step(w, v, s, a, g, lr, rho, one_minus_rho, momentum, eps, centered):
    """Keras RMSprop, (P1)-(P3); ``s`` (momentum) and ``a`` (centred mean) are used only when asked."""
    v[...] = rho * v + one_minus_rho * np.square(g)  # (P1)
    if centered:
        a[...] = rho * a + one_minus_rho * g
        increment = (lr * g) / np.sqrt(v - np.square(a) + eps)  # (P2)
    else:
        increment = (lr * g) / np.sqrt(v + eps)  # (P2)
    if momentum > 0:
        s[...] = momentum * s + increment
        w -= s  # (P3)
    else:
        w -= increment  # (P3)


def adam_step_size(lr, beta_1, beta_2, t):
    """alpha_t of (M3). (Compiled by optim_jit: Numba's ``x ** t`` for an integer t multiplies
    where NumPy calls ``pow``, so the two can differ in the last bit.)"""
    return lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)


def adamax_correction(beta_1, t):
    """1 - beta_1^t of (X3) (compiled by optim_jit, like :func:`adam_step_size`)."""
    return 1 - beta_1 ** t
