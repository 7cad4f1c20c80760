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

(X4) Adamax over s steps at which g = 0 and :math:`1 - \beta_1^t = 1` (as rounded),
in one go (:func:`adamax_idle`: a row outside s batches, caught up when it is next read):

.. math::

    w \leftarrow w - \eta\, m \sum_{r=1}^{s} \frac{\tilde\beta_1^r}{\beta_2^r u + \epsilon}, \qquad
    m \leftarrow \tilde\beta_1^s m, \qquad u \leftarrow \beta_2^s u,

with :math:`\tilde\beta_1 = 1 - (1 - \beta_1)`, the factor by which (X1) shrinks m
when g = 0 (``1 - one_minus_b1``, rounded as it is), and (X2) reduced to
:math:`u \leftarrow \beta_2 u` (u >= 0). When :math:`y = \epsilon / u \le 2^{-7}` the
sum is the series :math:`u^{-1} \sum_{j<J} (-y)^j G_j(s)`, with
:math:`G_j(s) = \sum_{r=1}^s \rho_j^r = \rho_j (1 - \rho_j^s) / (1 - \rho_j)` and
:math:`\rho_j = \tilde\beta_1 / \beta_2^{j+1}` (:func:`adamax_idle_sums`; J = 8
terms). Its remainder is at most :math:`y^J G_J(s) / u`, a relative error below
:math:`2^{-56} G_J / G_0` (about 1e-17 at the Keras defaults), which
:func:`adamax_idle_ok` requires to be under :math:`2^{-50}` (:math:`\rho_J < 1`
and :math:`G_J / G_0 \le 64`: beta_1 up to about 0.99 at beta_2 = 0.999).
Otherwise (u < 128 epsilon: a weight that has seen only tiny gradients, or
none: m = 0 does not move w) the sum is added term by term, until
the bound :math:`\rho_0 / (1 - \rho_0)` times the last term on what is left falls
below :math:`2^{-60}` of the sum so far (the terms shrink at least by
:math:`\rho_0` each). So (X4) equals s applications of (X1)-(X3) with g = 0 up
to rounding (about s ulps on m and u, a few ulps on the step); tested.

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


ADAMAX_IDLE_TERMS = 8  # J, the terms of (X4)'s series
ADAMAX_IDLE_SERIES_MAX = 2.0 ** -7  # (X4) uses the series where epsilon / u <= this
ADAMAX_IDLE_TAIL = 2.0 ** -60  # (X4)'s term-by-term sum stops when what is left is below this share


def adamax_idle_ok(one_minus_b1, beta_2):
    """Whether (X4)'s bounds hold: rho_J < 1 and G_J / G_0 <= 64 for every s (its limit,
    (rho_J / rho_0)(1 - rho_0) / (1 - rho_J), bounds it), so the series is good to 2^-50."""
    b1 = 1 - one_minus_b1
    rho_0, rho_J = b1 / beta_2, b1 / beta_2 ** (ADAMAX_IDLE_TERMS + 1)
    return rho_J < 1 and rho_J * (1 - rho_0) <= 64 * rho_0 * (1 - rho_J)


def adamax_idle_sums(one_minus_b1, beta_2, steps):
    """G_j(s) of (X4) for j < J, shape (J,): the geometric sums of rho_j = beta~_1 / beta_2^(j+1)."""
    rho = (1 - one_minus_b1) / beta_2 ** np.arange(1, ADAMAX_IDLE_TERMS + 1)  # (J,)
    return rho * (1 - rho ** steps) / (1 - rho)


def adamax_idle(w, m, u, steps, lr, one_minus_b1, beta_2, eps):
    """(X4): ``steps`` Adamax steps with g = 0 and no bias correction, at once. Requires
    :func:`adamax_idle_ok`; every entry of w, m, u (one shape) was idle for the same ``steps``."""
    if steps <= 0:
        return
    b1 = 1 - one_minus_b1  # beta~_1
    G = adamax_idle_sums(one_minus_b1, beta_2, steps)  # (J,)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = eps / u  # (...,) inf where u = 0
        acc = np.full(w.shape, G[-1])
        for j in range(ADAMAX_IDLE_TERMS - 2, -1, -1):
            acc = G[j] - y * acc  # Horner: sum_j (-y)^j G_j
        total = acc / u  # sum_r beta~_1^r / (beta_2^r u + eps), where y is small enough
    slow = (y > ADAMAX_IDLE_SERIES_MAX) & (m != 0)  # term by term
    if slow.any():
        rho0 = b1 / beta_2
        mm, uu, s = np.ones(int(slow.sum())), u[slow], np.zeros(int(slow.sum()))  # mm: beta~_1^r
        for _ in range(steps):
            mm, uu = mm * b1, uu * beta_2
            term = mm / (uu + eps)
            s += term
            if np.all(term * (rho0 / (1 - rho0)) <= ADAMAX_IDLE_TAIL * s):
                break
        total[slow] = s
    total[m == 0] = 0  # no move (and no 0 * inf where u = 0)
    w -= (lr * m) * total  # (X4) on w
    m *= b1 ** steps  # (X4) on m
    u *= beta_2 ** steps  # (X4) on u


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


def adamax_exact_from(beta_1):
    """A step from which :func:`adamax_correction` is exactly 1 (and so (X4) applies): beta_1^t
    is below 2^-60 there on, far under the 2^-54 that 1 - beta_1^t needs to round to 1."""
    if beta_1 == 0:
        return 1
    return int(np.ceil(60 * np.log(2.0) / -np.log(beta_1)))
