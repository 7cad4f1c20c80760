r"""Optimizers with Keras 3's update rules and defaults, in NumPy.

Usage: ``opt.step(params, grads)`` with two dicts keyed alike (see
:func:`mfcore.nn.layers.collect`); every weight is updated IN PLACE and
``opt.iterations`` (Keras' step counter, t - 1) goes up by one. State tables
("slots": momentum, velocity, ...) are full-size, created at the first step.

Scalars are cast to the weight's dtype before use, and each formula is
evaluated in Keras' order of operations, so float32 weights follow Keras'
float32 arithmetic as closely as NumPy allows.

Embedding gradients (:class:`~mfcore.nn.layers.RowGrad`)
--------------------------------------------------------
``lazy=False`` (default, the Keras reference): the row gradient is made dense,
so rows that are not in the batch get g = 0 and STILL MOVE (their momentum
decays and keeps pushing; Adam's moments decay). ``lazy=True``: only the
batch's rows and their slots are updated (TensorFlow's "lazy"/sparse update;
step t still counts every batch). The two follow different paths.
"""
import numpy as np

from .._jit import HAVE_NUMBA
from .kernels import adam_step, sgd_step
from .layers import RowGrad


def _jit_ok(use_jit, *arrays):
    """The Numba step applies: asked for, numba present, every array C-contiguous and of one dtype."""
    return (use_jit and HAVE_NUMBA and all(a.flags.c_contiguous for a in arrays)
            and all(a.dtype == arrays[0].dtype for a in arrays))


class Optimizer:
    """Base class: slot bookkeeping, dense/lazy dispatch, the step counter."""

    slot_names = ()

    def __init__(self, lr, lazy=False):
        self.lr = lr
        self.lazy = lazy
        self.iterations = 0
        self.state = {}

    def step(self, params, grads):
        """Apply one update to every weight of ``params`` that has a gradient."""
        t = self.iterations + 1
        for name, w in params.items():
            if name not in grads:
                continue
            g = grads[name]
            slots = self.state.get(name)
            if slots is None:
                slots = self.state[name] = {s: np.zeros_like(w) for s in self.slot_names}
            if isinstance(g, RowGrad):
                if self.lazy:
                    r = g.rows
                    w_r = w[r]  # (R, k) copy
                    slots_r = {s: v[r] for s, v in slots.items()}  # (R, k) copies
                    self._update(w_r, g.values, slots_r, t)
                    w[r] = w_r
                    for s, v in slots.items():
                        v[r] = slots_r[s]
                    continue
                g = g.to_dense()  # (n, k)
            self._update(w, np.asarray(g, dtype=w.dtype), slots, t)
        self.iterations += 1

    def _update(self, w, g, slots, t):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional (Nesterov) momentum: Keras ``SGD``.

    Without momentum: :math:`w \leftarrow w - \eta g`. With momentum m:

    .. math:: v \leftarrow m v - \eta g, \qquad w \leftarrow w + v

    and with ``nesterov=True`` the weight step is :math:`w \leftarrow w + m v - \eta g`
    (v already updated). Keras defaults: lr 0.01, momentum 0, nesterov False.
    ``use_jit=True`` (default) runs the step as one Numba loop per weight
    (:func:`~mfcore.nn.kernels.sgd_step`: same operations, same numbers as the
    NumPy lines below, without their temporaries).
    """

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, lazy=False, use_jit=True):
        super().__init__(lr, lazy)
        self.momentum = momentum
        self.nesterov = nesterov
        self.use_jit = use_jit
        self.slot_names = ("momentum",) if momentum else ()

    def _update(self, w, g, slots, t):
        c = w.dtype.type
        lr = c(self.lr)
        v = slots.get("momentum", w)  # (w: a placeholder when there is no momentum slot)
        if _jit_ok(self.use_jit, w, g, v):
            sgd_step(w, v, g, lr, c(self.momentum), bool(self.nesterov))
            return
        if not self.momentum:
            w -= g * lr
            return
        m = c(self.momentum)
        v = slots["momentum"]
        v[...] = v * m - g * lr
        if self.nesterov:
            w += v * m - g * lr
        else:
            w += v


class Adam(Optimizer):
    r"""Adam as Keras 3 computes it (bias correction folded into the step size).

    With t = iterations + 1 and :math:`\alpha_t = \eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t)`:

    .. math::

        m \leftarrow m + (g - m)(1 - \beta_1), \quad
        v \leftarrow v + (g^2 - v)(1 - \beta_2), \quad
        w \leftarrow w - \alpha_t\, m / (\sqrt{v} + \epsilon)

    (epsilon outside the square root and NOT bias-corrected: Keras' "epsilon
    hat"). Defaults lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7.
    ``use_jit=True`` (default): one Numba loop per weight
    (:func:`~mfcore.nn.kernels.adam_step`; same numbers as the NumPy lines below).
    """

    slot_names = ("momentum", "velocity")

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, lazy=False, use_jit=True):
        super().__init__(lr, lazy)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.use_jit = use_jit

    def _update(self, w, g, slots, t):
        c = w.dtype.type
        step = c(t)
        b1p, b2p = c(self.beta_1) ** step, c(self.beta_2) ** step
        alpha = c(self.lr) * np.sqrt(c(1) - b2p) / (c(1) - b1p)
        m, v = slots["momentum"], slots["velocity"]
        if _jit_ok(self.use_jit, w, g, m, v):
            adam_step(w, m, v, g, c(alpha), c(1 - self.beta_1), c(1 - self.beta_2), c(self.epsilon))
            return
        m += (g - m) * c(1 - self.beta_1)
        v += (np.square(g) - v) * c(1 - self.beta_2)
        w -= (m * alpha) / (np.sqrt(v) + c(self.epsilon))


class Adamax(Optimizer):
    r"""Adamax (Adam with the infinity norm) as Keras 3 computes it.

    With t = iterations + 1:

    .. math::

        m \leftarrow m + (g - m)(1 - \beta_1), \quad
        u \leftarrow \max(\beta_2 u, |g|), \quad
        w \leftarrow w - \frac{\eta\, m}{(1 - \beta_1^t)(u + \epsilon)}

    Defaults lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7. For an
    embedding row outside the batch (dense rule) g = 0, so m and u decay by
    beta_1 and beta_2 and the row keeps moving.
    """

    slot_names = ("momentum", "norm")

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, lazy=False):
        super().__init__(lr, lazy)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _update(self, w, g, slots, t):
        c = w.dtype.type
        b1p = c(self.beta_1) ** c(t)
        m, u = slots["momentum"], slots["norm"]
        m += (g - m) * c(1 - self.beta_1)
        u[...] = np.maximum(c(self.beta_2) * u, np.abs(g))
        w -= (c(self.lr) * m) / ((c(1) - b1p) * (u + c(self.epsilon)))


class RMSprop(Optimizer):
    r"""RMSprop as Keras 3 computes it (not centered unless asked).

    .. math::

        v \leftarrow \rho v + (1 - \rho) g^2, \quad
        \Delta = \eta\, g / \sqrt{v + \epsilon}, \quad
        w \leftarrow w - \Delta

    (epsilon INSIDE the square root, unlike Adam). With momentum m > 0:
    :math:`s \leftarrow m s + \Delta,\ w \leftarrow w - s`. ``centered=True``
    uses :math:`v - \bar g^2 + \epsilon` with :math:`\bar g \leftarrow \rho \bar g + (1 - \rho) g`.
    Defaults lr 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered False.
    """

    def __init__(self, lr=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, lazy=False):
        super().__init__(lr, lazy)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered
        self.slot_names = ("velocity",) + (("momentum",) if momentum > 0 else ()) \
            + (("average_gradient",) if centered else ())

    def _update(self, w, g, slots, t):
        c = w.dtype.type
        v = slots["velocity"]
        v[...] = c(self.rho) * v + c(1 - self.rho) * np.square(g)
        if self.centered:
            a = slots["average_gradient"]
            a[...] = c(self.rho) * a + c(1 - self.rho) * g
            denominator = v - np.square(a) + c(self.epsilon)
        else:
            denominator = v + c(self.epsilon)
        increment = (c(self.lr) * g) / np.sqrt(denominator)
        if self.momentum > 0:
            s = slots["momentum"]
            s[...] = c(self.momentum) * s + increment
            w -= s
        else:
            w -= increment


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamax": Adamax, "rmsprop": RMSprop}
