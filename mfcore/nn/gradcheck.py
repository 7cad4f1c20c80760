r"""Finite-difference gradient checks (used by the tests and the backprop tutorial).

Central differences in float64:

.. math:: \hat g_j = \frac{L(\theta + \epsilon e_j) - L(\theta - \epsilon e_j)}{2 \epsilon},
          \quad \epsilon = 10^{-6}

(truncation error O(eps^2)), compared
with the analytic gradient g entry by entry through the relative error

.. math:: \mathrm{rel}_j = \frac{|g_j - \hat g_j|}{\max(|g_j|, |\hat g_j|, \tau)},
          \quad \tau = \max(\rho \max_k |\hat g_k|, 10^{-8})

Rounding. Evaluated as one float64 number, L carries a rounding error of
about 1e-16 |L|, which the division by 2 eps turns into about 1e-10 |L| of
noise on every entry: fatal for entries whose gradient is small. So ``loss``
may return the TERMS of L (an array whose sum is L; e.g. the per-entry
products ``y * R`` or the per-rating squared errors): the two evaluations are
then summed together with :func:`math.fsum`, exactly, so every term that does
not depend on the perturbed entry cancels exactly, and what remains is
rounding in the few terms that moved.

The floor tau (rho = 1e-3 by default: a thousandth of the array's largest
gradient) keeps entries whose gradient is zero or tiny (an embedding row
outside the batch, a ReLU unit that is off, a factor near 0 in a product)
from dividing the rounding noise of the function itself by ~0: such entries
are judged against the scale of the array instead. A correct backward pass
gives max rel of about 1e-8 or less; a wrong one 1e-3 or (usually) far more. Keep inputs away from kinks (ReLU and ELU at 0), where the
central difference straddles two slopes.
"""
from dataclasses import dataclass, field

import math

import numpy as np

from .layers import RowGrad


def numerical_gradient(f, x, eps=1e-6):
    """dL/dx by central differences, perturbing ``x`` in place (restored after).

    ``f()`` returns L as a float, or the terms of L as an array (see the module
    docstring: exact cancellation). ``x`` must be a contiguous float64 array that
    ``f`` reads.
    """
    if x.dtype != np.float64 or not x.flags.c_contiguous:
        raise TypeError("numerical_gradient needs a C-contiguous float64 array; "
                        f"got {x.dtype}, contiguous={x.flags.c_contiguous}")
    flat = x.reshape(-1)  # (size,) view
    grad = np.zeros(flat.size)  # (size,)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + eps
        f_plus = f()
        flat[j] = old - eps
        f_minus = f()
        flat[j] = old
        grad[j] = _difference(f_plus, f_minus) / (2.0 * eps)
    return grad.reshape(x.shape)


def _difference(a, b):
    """a - b, summed exactly (math.fsum) when a and b are arrays of terms."""
    if np.ndim(a) == 0:
        return float(a) - float(b)
    return math.fsum(np.asarray(a, dtype=np.float64).ravel().tolist()
                     + (-np.asarray(b, dtype=np.float64).ravel()).tolist())


def relative_error(analytic, numeric, floor=1e-3):
    """Entrywise relative error (module docstring) as an array; ``floor`` is rho."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    tau = max(floor * float(np.max(np.abs(n), initial=0.0)), 1e-8)
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), tau)


@dataclass
class GradCheckResult:
    """Relative errors per checked array and over all entries together."""

    per_array: dict = field(default_factory=dict)  # name -> (max_rel, mean_rel)
    max_rel: float = 0.0
    mean_rel: float = 0.0

    def __repr__(self):
        rows = ", ".join(f"{k}: {v[0]:.2e}" for k, v in self.per_array.items())
        return f"GradCheckResult(max_rel={self.max_rel:.2e}, mean_rel={self.mean_rel:.2e}; {rows})"


def check_gradients(loss, arrays, analytic, eps=1e-6, floor=1e-3):
    """Compare ``analytic[name]`` with the central differences of ``loss()`` in ``arrays[name]``.

    ``loss`` is a zero-argument callable reading the arrays (which are
    perturbed in place and restored); it returns L or the array of its terms. A :class:`RowGrad` is made dense first.
    """
    result = GradCheckResult()
    errors = []
    for name, x in arrays.items():
        g = analytic[name]
        g = g.to_dense() if isinstance(g, RowGrad) else np.asarray(g)
        rel = relative_error(g, numerical_gradient(loss, x, eps), floor)  # x.shape
        result.per_array[name] = (float(rel.max()), float(rel.mean()))
        errors.append(rel.ravel())
    if errors:
        allrel = np.concatenate(errors)  # (total,)
        result.max_rel, result.mean_rel = float(allrel.max()), float(allrel.mean())
    return result


def check_layer(layer, x, rng=None, training=True, eps=1e-6, floor=1e-3, **forward_kwargs):
    """Gradient check of one layer: inputs (the float ones) and every parameter.

    The scalar checked is :math:`L = \\sum y \\odot R` with R a fixed random
    array of the output's shape, so every output entry matters.
    ``x`` is an array or a list of arrays (float64); ``forward_kwargs`` go to
    ``layer.forward`` (e.g. a fixed Dropout ``mask``).
    """
    rng = np.random.default_rng(rng)
    inputs = list(x) if isinstance(x, (list, tuple)) else [x]

    def forward():
        return layer.forward(inputs if isinstance(x, (list, tuple)) else inputs[0],
                             training=training, **forward_kwargs)

    R = rng.standard_normal(np.shape(forward()))  # output shape

    def loss():
        return forward() * R  # the terms of L

    loss()
    dx = layer.backward(R)
    dxs = list(dx) if isinstance(dx, (list, tuple)) else [dx]
    arrays, analytic = {}, {}
    for j, (xj, dj) in enumerate(zip(inputs, dxs)):
        if dj is not None and np.issubdtype(np.asarray(xj).dtype, np.floating):
            arrays[f"x{j}"], analytic[f"x{j}"] = xj, dj
    for name, p in layer.params.items():
        arrays[name], analytic[name] = p, layer.grads[name]
    return check_gradients(loss, arrays, analytic, eps, floor)
