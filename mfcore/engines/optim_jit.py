"""The update rules in Numba: the twins of :mod:`mfcore.engines.optim_numpy` (maths and labels there).

Same names, same arguments, same steps in the same order, so the same numbers
(bit-identical when the scalars come in the weights' dtype, as
:mod:`mfcore.nn.optim` passes them; tested). Each rule loops over the flat
entries of its arrays, without temporaries. Momentum 0, Nesterov and an (L2)
term each pick their own loop, because LLVM does not reliably vectorize a loop
with such a test inside (several times slower); hence a few loops per rule.
``clear=True`` zeroes ``G`` in the same pass. SGD folds (L2) into its pass (the
RBM's (R5) runs it every batch); Adam and Adamax give (L2) a pass of its own,
``_l2``, as optim_numpy does.

``sum_squares`` (sum of W^2, added in order) gives the penalty's value for the
reported loss; ``adam_step_size``, ``adamax_correction`` and ``adamax_idle_ok`` are
optim_numpy's functions compiled. ``adamax_idle`` ((X4)) works on one row at a time
(the caller loops over rows, each with its own idle count) and is not bit-identical
to its twin: its sums are written out as loops, and Numba's ``x ** s`` multiplies
where NumPy calls ``pow`` (equal to about 1e-15, tested). Kernels draw no random numbers, read no globals and never raise.
"""
import numpy as np

from .. import _jit
from . import optim_numpy
from .optim_numpy import ADAMAX_IDLE_SERIES_MAX, ADAMAX_IDLE_TAIL, ADAMAX_IDLE_TERMS

adam_step_size = _jit.jit(optim_numpy.adam_step_size)
adamax_correction = _jit.jit(optim_numpy.adamax_correction)
adamax_idle_ok = _jit.jit(optim_numpy.adamax_idle_ok)


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


@_jit.jit(inline=True)
def _l2(Wf, Gf, c, n):
    if c != 0 or n != 1:  # a pass of its own (Adam, Adamax)
        for j in range(Wf.shape[0]):
            Gf[j] = Gf[j] / n + c * Wf[j]  # (L2)


@_jit.jit
def adam_step(W, M, V, G, alpha, one_minus_b1, one_minus_b2, eps, c, n, clear):
    Wf, Mf, Vf, Gf = W.reshape(-1), M.reshape(-1), V.reshape(-1), G.reshape(-1)  # (N,) views
    _l2(Wf, Gf, c, n)
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
    _l2(Wf, Gf, c, n)
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


@_jit.jit(depends_on=(optim_numpy,))  # its (X4) constants
def adamax_idle_sums(one_minus_b1, beta_2, steps):
    G = np.empty(ADAMAX_IDLE_TERMS)  # (J,)
    b1 = 1 - one_minus_b1
    for j in range(ADAMAX_IDLE_TERMS):
        rho = b1 / beta_2 ** (j + 1)
        G[j] = rho * (1 - rho ** steps) / (1 - rho)
    return G


@_jit.jit(depends_on=(optim_numpy,))  # its (X4) constants
def adamax_idle(w, m, u, steps, lr, one_minus_b1, beta_2, eps):
    if steps <= 0:
        return
    wf, mf, uf = w.reshape(-1), m.reshape(-1), u.reshape(-1)  # (N,) views
    b1 = 1 - one_minus_b1
    G = adamax_idle_sums(one_minus_b1, beta_2, steps)  # (J,)
    rho0 = b1 / beta_2
    tail = rho0 / (1 - rho0)
    m_decay, u_decay = b1 ** steps, beta_2 ** steps
    for j in range(wf.shape[0]):
        mj, uj = mf[j], uf[j]
        if mj != 0:
            if eps <= ADAMAX_IDLE_SERIES_MAX * uj:  # the series (also false when u = 0)
                y = eps / uj
                acc = G[ADAMAX_IDLE_TERMS - 1]
                for q in range(ADAMAX_IDLE_TERMS - 2, -1, -1):
                    acc = G[q] - y * acc  # Horner
                total = acc / uj
            else:  # term by term
                mm, uu, total = 1.0, uj, 0.0
                for _ in range(steps):
                    mm, uu = mm * b1, uu * beta_2
                    term = mm / (uu + eps)
                    total += term
                    if term * tail <= ADAMAX_IDLE_TAIL * total:
                        break
            wf[j] -= (lr * mj) * total  # (X4) on w
        mf[j] = mj * m_decay  # (X4) on m
        uf[j] = uj * u_decay  # (X4) on u
