r"""Optimizers with Keras 3's update rules and defaults, in NumPy.

Usage: ``opt.step(params, grads)`` with two dicts keyed alike (see
:func:`mfcore.nn.layers.collect`); every weight is updated IN PLACE and
``opt.iterations`` (Keras' step counter, t - 1) goes up by one. State tables
("slots": momentum, velocity, ...) are full-size, created at the first step.

The update rules themselves are written once, in
:mod:`mfcore.engines.optim_numpy` (maths and labels there), and compiled in
:mod:`mfcore.engines.optim_jit`; an optimizer here keeps the state and the step
counter and calls them. Scalars are cast to the weight's dtype first, and each
formula follows Keras' order of operations, so float32 weights follow Keras'
float32 arithmetic as closely as NumPy allows. ``use_jit=True`` (default) runs
the Numba rule (one loop, no temporaries, the same numbers); gradients are
never modified (the rules' ``clear`` and (L2) are not used here).

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
from ..engines import optim_jit, optim_numpy
from .layers import RowGrad


def _rules(use_jit, *arrays):
    """optim_jit when asked, available and every array is C-contiguous and of one dtype; else optim_numpy."""
    ok = (use_jit and HAVE_NUMBA and all(a.flags.c_contiguous for a in arrays)
          and all(a.dtype == arrays[0].dtype for a in arrays))
    return optim_jit if ok else optim_numpy


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
    (v already updated): (S1)-(S3) of :mod:`mfcore.engines.optim_numpy`.
    Keras defaults: lr 0.01, momentum 0, nesterov False.
    """

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, lazy=False, use_jit=True):
        super().__init__(lr, lazy)
        self.momentum = momentum
        self.nesterov = nesterov
        self.use_jit = use_jit
        self.slot_names = ("momentum",) if momentum else ()

    def _update(self, w, g, slots, t):
        c = w.dtype.type
        v = slots.get("momentum", w)  # without momentum the rule never reads it
        _rules(self.use_jit, w, g, v).sgd_step(w, v, g, c(self.lr), c(self.momentum), bool(self.nesterov),
                                               c(0), c(1), False)


class Adam(Optimizer):
    r"""Adam as Keras 3 computes it (bias correction folded into the step size).

    With t = iterations + 1 and :math:`\alpha_t = \eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t)`:

    .. math::

        m \leftarrow m + (g - m)(1 - \beta_1), \quad
        v \leftarrow v + (g^2 - v)(1 - \beta_2), \quad
        w \leftarrow w - \alpha_t\, m / (\sqrt{v} + \epsilon)

    (epsilon outside the square root and NOT bias-corrected: Keras' "epsilon
    hat"; (M1)-(M3) of :mod:`mfcore.engines.optim_numpy`). Defaults lr 0.001,
    beta_1 0.9, beta_2 0.999, epsilon 1e-7.
    """

    slot_names = ("momentum", "velocity")

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, lazy=False, use_jit=True):
        super().__init__(lr, lazy)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.use_jit = use_jit

    def _update(self, w, g, slots, t):
        c = w.dtype.type
        alpha = optim_numpy.adam_step_size(c(self.lr), c(self.beta_1), c(self.beta_2), c(t))
        m, v = slots["momentum"], slots["velocity"]
        _rules(self.use_jit, w, g, m, v).adam_step(w, m, v, g, c(alpha), c(1 - self.beta_1), c(1 - self.beta_2),
                                                   c(self.epsilon), c(0), c(1), False)


class Adamax(Adam):
    r"""Adamax (Adam with the infinity norm) as Keras 3 computes it.

    With t = iterations + 1:

    .. math::

        m \leftarrow m + (g - m)(1 - \beta_1), \quad
        u \leftarrow \max(\beta_2 u, |g|), \quad
        w \leftarrow w - \frac{\eta\, m}{(1 - \beta_1^t)(u + \epsilon)}

    ((X1)-(X3) of :mod:`mfcore.engines.optim_numpy`.) Defaults lr 0.001,
    beta_1 0.9, beta_2 0.999, epsilon 1e-7. For an embedding row outside the
    batch (dense rule) g = 0, so m and u decay by beta_1 and beta_2 and the row
    keeps moving. Adam's constructor and hyperparameters; its own slots and step.
    """

    slot_names = ("momentum", "norm")

    def _update(self, w, g, slots, t):
        c = w.dtype.type
        m, u = slots["momentum"], slots["norm"]
        _rules(self.use_jit, w, g, m, u).adamax_step(
            w, m, u, g, c(self.lr), c(1 - self.beta_1), c(self.beta_2), c(self.epsilon),
            optim_numpy.adamax_correction(c(self.beta_1), c(t)), c(0), c(1), False)


class RMSprop(Optimizer):
    r"""RMSprop as Keras 3 computes it (not centered unless asked).

    .. math::

        v \leftarrow \rho v + (1 - \rho) g^2, \quad
        \Delta = \eta\, g / \sqrt{v + \epsilon}, \quad
        w \leftarrow w - \Delta

    (epsilon INSIDE the square root, unlike Adam). With momentum m > 0:
    :math:`s \leftarrow m s + \Delta,\ w \leftarrow w - s`. ``centered=True``
    uses :math:`v - \bar g^2 + \epsilon` with :math:`\bar g \leftarrow \rho \bar g + (1 - \rho) g`
    ((P1)-(P3) of :mod:`mfcore.engines.optim_numpy`; NumPy only).
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
        optim_numpy.rmsprop_step(w, v, slots.get("momentum"), slots.get("average_gradient"), g, c(self.lr),
                                 c(self.rho), c(1 - self.rho), c(self.momentum), c(self.epsilon), self.centered)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamax": Adamax, "rmsprop": RMSprop}
