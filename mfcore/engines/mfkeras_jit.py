"""Numba epochs of the Keras-regime MF models (:mod:`mfcore.models.keras_mf`).

One call trains one epoch of minibatches: per batch, ``mf_batch_grads`` (the
forward and backward of :class:`~mfcore.models.keras_mf.BiasedMFKeras`'s model
under the batch-mean squared error, into dense gradient tables), then one
update of EVERY entry of every table, as Keras 3 does: (K1)-(K2) of
BiasedMFKeras through :func:`~mfcore.engines.optim_jit.sgd_step`, or (A1)-(A3)
of DotMF through :func:`~mfcore.engines.optim_jit.adamax_step`, with Keras'
``l2(reg)`` on P and Q (c = 2 reg in the rules' (L2)). Both return the mean
batch loss, penalty included, as Keras reports it.

The NumPy twin is the layer graph :class:`mfcore.nn.mfnet.MFNet` with an
:mod:`mfcore.nn.optim` optimizer (the models' ``engine="vectorized"``; tested
to 1e-10). The update rules are compiled INTO these kernels, hence
``depends_on=(optim_jit,)``. Shapes: u, i (n,) int64; y (n,); order (n,) int64;
P (n_users, K), Q (n_items, K); bu (n_users, 1), bi (n_items, 1) (or (0, 1)
when ``has_bias`` is False); every slot and gradient table as its weight.
"""
from .._jit import jit
from . import optim_jit
from .optim_jit import adamax_correction, adamax_step, sgd_step, sum_squares


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
