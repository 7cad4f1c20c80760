"""The update rules in Numba: the twins of :mod:`mfcore.engines.optim_numpy` (maths and labels there).

Same names, same arguments, same steps in the same order, so the same numbers
(bit-identical when the scalars come in the weights' dtype, as
:mod:`mfcore.nn.optim` passes them; tested). Each rule loops over the flat
entries of its arrays, without temporaries. Momentum 0, Nesterov and an (L2)
term each pick their own loop, because LLVM does not reliably vectorize a loop
with such a test inside (several times slower); hence a few loops per rule.
``clear=True`` zeroes ``G`` in the same pass. SGD folds (L2) into its pass (the
RBM's (R5) runs it every batch); Adam and Adamax give (L2) a pass of its own.

``sum_squares`` (sum of W^2, added in order) gives the penalty's value for the
reported loss; ``adam_step_size`` and ``adamax_correction`` are optim_numpy's
functions compiled. Kernels draw no random numbers, read no globals and never raise.
"""
import numpy as np

from .. import _jit
from . import optim_numpy

adam_step_size = _jit.jit(optim_numpy.adam_step_size)
adamax_correction = _jit.jit(optim_numpy.adamax_correction)


@_jit.jit
def sum_squares(W):
    Wf = W.reshape(-1)  # (N,) view
    s = 0.0
    for j in range(Wf.shape[0]):
        s += Wf[j] * Wf[j]
    return s


@_jit.jit
def sgd_step(W, V, G, lr, momentum, nesterov, c, n, clear):
    Wf, Vf, Gf = W.reshape(-1), V.reshape(-1), G.reshape(-1)  # (N,) views
    if c != 0 or n != 1:  # (L2) in the same pass as the step (the RBM's (R5) every batch)
        if momentum == 0:
            for j in range(Wf.shape[0]):
                Gf[j] = Gf[j] / n + c * Wf[j]  # (L2), stored: rounded to G's dtype
                Wf[j] -= Gf[j] * lr  # (S1)
                if clear:
                    Gf[j] = 0
        else:
            for j in range(Wf.shape[0]):
                Gf[j] = Gf[j] / n + c * Wf[j]  # (L2)
                g = Gf[j]
                v = Vf[j] * momentum - g * lr  # (S2)
                Vf[j] = v
                Wf[j] += v * momentum - g * lr if nesterov else v  # (S3)
                if clear:
                    Gf[j] = 0
    elif momentum == 0:
        for j in range(Wf.shape[0]):
            Wf[j] -= Gf[j] * lr  # (S1)
            if clear:
                Gf[j] = 0
    elif nesterov:
        for j in range(Wf.shape[0]):
            g = Gf[j]
            v = Vf[j] * momentum - g * lr  # (S2)
            Vf[j] = v
            Wf[j] += v * momentum - g * lr  # (S3), Nesterov
            if clear:
                Gf[j] = 0
    else:
        for j in range(Wf.shape[0]):
            v = Vf[j] * momentum - Gf[j] * lr  # (S2)
            Vf[j] = v
            Wf[j] += v  # (S3)
            if clear:
                Gf[j] = 0


@_jit.jit
def adam_step(W, M, V, G, alpha, one_minus_b1, one_minus_b2, eps, c, n, clear):
    Wf, Mf, Vf, Gf = W.reshape(-1), M.reshape(-1), V.reshape(-1), G.reshape(-1)  # (N,) views
    if c != 0 or n != 1:
        for j in range(Wf.shape[0]):
            Gf[j] = Gf[j] / n + c * Wf[j]  # (L2)
    for j in range(Wf.shape[0]):
        g = Gf[j]
        m = Mf[j] + (g - Mf[j]) * one_minus_b1  # (M1)
        v = Vf[j] + (g * g - Vf[j]) * one_minus_b2  # (M2)
        Mf[j] = m
        Vf[j] = v
        Wf[j] -= np.divide(m * alpha, np.sqrt(v) + eps)  # (M3); np.divide: no zero check, so it vectorizes
        if clear:
            Gf[j] = 0


@_jit.jit
def adamax_step(W, M, U, G, lr, one_minus_b1, beta_2, eps, correction, c, n, clear):
    Wf, Mf, Uf, Gf = W.reshape(-1), M.reshape(-1), U.reshape(-1), G.reshape(-1)  # (N,) views
    if c != 0 or n != 1:
        for j in range(Wf.shape[0]):
            Gf[j] = Gf[j] / n + c * Wf[j]  # (L2)
    for j in range(Wf.shape[0]):
        g = Gf[j]
        m = Mf[j] + (g - Mf[j]) * one_minus_b1  # (X1)
        b2u, ag = beta_2 * Uf[j], abs(g)
        u = b2u if b2u > ag else ag  # (X2), written so that it vectorizes (NaN aside, = np.maximum)
        Mf[j] = m
        Uf[j] = u
        Wf[j] -= np.divide(lr * m, correction * (u + eps))  # (X3)
        if clear:
            Gf[j] = 0
