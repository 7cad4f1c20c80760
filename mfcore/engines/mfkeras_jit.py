"""Numba epochs of the Keras-regime MF models (:mod:`mfcore.models.keras_mf`).

One call trains one epoch of minibatches: per batch, ``mf_batch_grads`` (the
forward and backward of :class:`~mfcore.models.keras_mf.BiasedMFKeras`'s model
under the batch-mean squared error, into dense gradient tables), then one
update of EVERY entry of every table, as Keras 3 does: (K1)-(K2) of
BiasedMFKeras through :func:`~mfcore.engines.optim_jit.sgd_step`, or (A1)-(A3)
of DotMF through :func:`~mfcore.engines.optim_jit.adamax_step`, with Keras'
``l2(reg)`` on P and Q (c = 2 reg in the rules' (L2)). Both return the mean
batch loss, penalty included, as Keras reports it.

``mf_epoch_adamax_deferred`` gives ``mf_epoch_adamax``'s numbers (reg = 0 only)
at the cost of the batch's rows: see its docstring.

The NumPy twin is the layer graph :class:`mfcore.models.keras_mf.MFNet` with an
:mod:`mfcore.nn.optim` optimizer (the models' ``engine="vectorized"``; tested
to 1e-10); the models plug these epochs into the fit path of
:class:`~mfcore.models._neural.NeuralRecommender` (``_KerasMF._epoch_fn``). The update rules are compiled INTO these kernels, hence
``depends_on=(optim_jit,)`` (and optim_numpy for the deferred epoch, whose (X4)
reads optim_numpy's constants). Shapes: u, i (n,) int64; y (n,); order (n,) int64;
P (n_users, K), Q (n_items, K); bu (n_users, 1), bi (n_items, 1) (or (0, 1)
when ``has_bias`` is False); every slot and gradient table as its weight.
"""
import numpy as np

from .._jit import jit
from . import optim_jit, optim_numpy
from .optim_jit import adamax_correction, adamax_idle, adamax_step, sgd_step, sum_squares


@jit
def mf_batch_grads(P, Q, bu, bi, has_bias, u, i, y, GP, GQ, Gbu, Gbi):
    """Add dL/dP, dL/dQ (, dL/db) of L = mean_b (r_hat_b - y_b)^2 to G*; return L."""
    B = u.shape[0]
    k = P.shape[1]
    sse = 0.0
    for b in range(B):
        uu, ii = u[b], i[b]
        pred = 0.0
        for f in range(k):
            pred += P[uu, f] * Q[ii, f]
        if has_bias:
            pred += bu[uu, 0] + bi[ii, 0]
        e = pred - y[b]
        sse += e * e
        d = 2.0 * e / B  # dL/dr_hat_b
        for f in range(k):
            GP[uu, f] += d * Q[ii, f]
            GQ[ii, f] += d * P[uu, f]
        if has_bias:
            Gbu[uu, 0] += d
            Gbi[ii, 0] += d
    return sse / B


@jit(depends_on=(optim_jit,))
def mf_epoch_sgd(u, i, y, order, batch_size, P, Q, bu, bi, has_bias, VP, VQ, Vbu, Vbi,
                 GP, GQ, Gbu, Gbi, lr, momentum, nesterov, reg):
    n = order.shape[0]
    total = 0.0
    n_batches = 0
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size]  # (B,)
        loss = mf_batch_grads(P, Q, bu, bi, has_bias, u[rows], i[rows], y[rows], GP, GQ, Gbu, Gbi)
        for W, V, G in ((P, VP, GP), (Q, VQ, GQ)):
            if reg != 0.0:
                loss += reg * sum_squares(W)  # Keras' l2 term, before the step
            sgd_step(W, V, G, lr, momentum, nesterov, 2.0 * reg, 1.0, True)
        sgd_step(bu, Vbu, Gbu, lr, momentum, nesterov, 0.0, 1.0, True)
        sgd_step(bi, Vbi, Gbi, lr, momentum, nesterov, 0.0, 1.0, True)
        total += loss
        n_batches += 1
    return total / n_batches


@jit(depends_on=(optim_jit,))
def mf_epoch_adamax(u, i, y, order, batch_size, P, Q, bu, bi, has_bias, MP, MQ, Mbu, Mbi,
                    UP, UQ, Ubu, Ubi, GP, GQ, Gbu, Gbi, lr, beta1, beta2, eps, t0, reg):
    n = order.shape[0]
    total = 0.0
    n_batches = 0
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size]  # (B,)
        bc = adamax_correction(beta1, t0 + n_batches + 1)  # step t counts from 1
        loss = mf_batch_grads(P, Q, bu, bi, has_bias, u[rows], i[rows], y[rows], GP, GQ, Gbu, Gbi)
        for W, M, U, G in ((P, MP, UP, GP), (Q, MQ, UQ, GQ)):
            if reg != 0.0:
                loss += reg * sum_squares(W)
            adamax_step(W, M, U, G, lr, 1.0 - beta1, beta2, eps, bc, 2.0 * reg, 1.0, True)
        adamax_step(bu, Mbu, Ubu, Gbu, lr, 1.0 - beta1, beta2, eps, bc, 0.0, 1.0, True)
        adamax_step(bi, Mbi, Ubi, Gbi, lr, 1.0 - beta1, beta2, eps, bc, 0.0, 1.0, True)
        total += loss
        n_batches += 1
    return total / n_batches


@jit(depends_on=(optim_jit, optim_numpy))  # adamax_idle reads optim_numpy's (X4) constants
def _catch_up(W, M, U, r, steps, lr, one_minus_b1, beta2, eps):
    """(X4) on row r of one table: ``steps`` idle Adamax steps."""
    if steps > 0:
        adamax_idle(W[r], M[r], U[r], steps, lr, one_minus_b1, beta2, eps)


@jit(depends_on=(optim_jit, optim_numpy))
def mf_epoch_adamax_deferred(u, i, y, order, batch_size, P, Q, bu, bi, has_bias, MP, MQ, Mbu, Mbi,
                             UP, UQ, Ubu, Ubi, GP, GQ, Gbu, Gbi, lr, beta1, beta2, eps, t0, t_exact):
    """``mf_epoch_adamax`` with reg = 0, each row's idle steps deferred until the row is read.

    A row outside batch t has g = 0 there, so its dense step (X1)-(X3) only
    decays m and u and moves w along m: s such steps in a row are (X4) of
    :mod:`mfcore.engines.optim_numpy`, computed at once, provided the bias
    correction 1 - beta_1^t is exactly 1 at each (true from step ``t_exact``
    on; earlier steps are taken densely, as in ``mf_epoch_adamax``). At step t:

    (D1) each row of the batch (user rows of P and b_u, item rows of Q and b_i;
         each once) is brought from the step it was last updated, ``last``, to
         step t - 1 by (X4) over t - 1 - last steps;
    (D2) the batch's gradients (``mf_batch_grads``), with the tables as the
         dense rule has them after step t - 1;
    (D3) (X1)-(X3) on the batch's rows only (correction 1), G cleared.

    (D4) At the end every row is brought to the epoch's last step, so the tables
    and their m, u are the dense rule's, to rounding (the drift of a 1-ulp change
    of the initial weights; tested to 1e-9).
    Cost per batch: O(batch rows x K) instead of O(all rows x K). Requires
    ``optim_jit.adamax_idle_ok(1 - beta1, beta2)``; ``t0`` is the number of
    steps taken before this epoch, and every row is current at step t0.
    """
    n = order.shape[0]
    omb1 = 1.0 - beta1
    last_u = np.full(P.shape[0], t0, np.int64)  # the step each user row was last updated at
    last_i = np.full(Q.shape[0], t0, np.int64)
    rows_u = np.empty(batch_size, np.int64)  # the batch's distinct user rows
    rows_i = np.empty(batch_size, np.int64)
    total = 0.0
    n_batches = 0
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size]  # (B,)
        t = t0 + n_batches + 1
        if t < t_exact:  # correction below 1: the dense step of mf_epoch_adamax
            bc = adamax_correction(beta1, t)
            loss = mf_batch_grads(P, Q, bu, bi, has_bias, u[rows], i[rows], y[rows], GP, GQ, Gbu, Gbi)
            for W, M, U, G in ((P, MP, UP, GP), (Q, MQ, UQ, GQ), (bu, Mbu, Ubu, Gbu), (bi, Mbi, Ubi, Gbi)):
                adamax_step(W, M, U, G, lr, omb1, beta2, eps, bc, 0.0, 1.0, True)
            last_u[:] = t
            last_i[:] = t
        else:
            n_u = 0
            n_i = 0
            for b in rows:  # (D1)
                uu, ii = u[b], i[b]
                if last_u[uu] != t:
                    _catch_up(P, MP, UP, uu, t - 1 - last_u[uu], lr, omb1, beta2, eps)
                    if has_bias:
                        _catch_up(bu, Mbu, Ubu, uu, t - 1 - last_u[uu], lr, omb1, beta2, eps)
                    last_u[uu] = t
                    rows_u[n_u] = uu
                    n_u += 1
                if last_i[ii] != t:
                    _catch_up(Q, MQ, UQ, ii, t - 1 - last_i[ii], lr, omb1, beta2, eps)
                    if has_bias:
                        _catch_up(bi, Mbi, Ubi, ii, t - 1 - last_i[ii], lr, omb1, beta2, eps)
                    last_i[ii] = t
                    rows_i[n_i] = ii
                    n_i += 1
            loss = mf_batch_grads(P, Q, bu, bi, has_bias, u[rows], i[rows], y[rows], GP, GQ, Gbu, Gbi)  # (D2)
            for a in range(n_u):  # (D3)
                r = rows_u[a]
                adamax_step(P[r], MP[r], UP[r], GP[r], lr, omb1, beta2, eps, 1.0, 0.0, 1.0, True)
                if has_bias:
                    adamax_step(bu[r], Mbu[r], Ubu[r], Gbu[r], lr, omb1, beta2, eps, 1.0, 0.0, 1.0, True)
            for a in range(n_i):
                r = rows_i[a]
                adamax_step(Q[r], MQ[r], UQ[r], GQ[r], lr, omb1, beta2, eps, 1.0, 0.0, 1.0, True)
                if has_bias:
                    adamax_step(bi[r], Mbi[r], Ubi[r], Gbi[r], lr, omb1, beta2, eps, 1.0, 0.0, 1.0, True)
        total += loss
        n_batches += 1
    t_end = t0 + n_batches
    for r in range(P.shape[0]):  # (D4)
        _catch_up(P, MP, UP, r, t_end - last_u[r], lr, omb1, beta2, eps)
        if has_bias:
            _catch_up(bu, Mbu, Ubu, r, t_end - last_u[r], lr, omb1, beta2, eps)
    for r in range(Q.shape[0]):
        _catch_up(Q, MQ, UQ, r, t_end - last_i[r], lr, omb1, beta2, eps)
        if has_bias:
            _catch_up(bi, Mbi, Ubi, r, t_end - last_i[r], lr, omb1, beta2, eps)
    return total / n_batches
