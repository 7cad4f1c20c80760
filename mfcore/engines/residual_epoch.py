"""The "jit" engine of :class:`mfcore.models.residual.ResidualMF`: one epoch, hand-fused.

Per batch, the steps of :class:`~mfcore.models.residual.ResidualNet` (forward,
then (G1)-(G3) of ResidualMF) with the Numba kernels of
:mod:`mfcore.engines.residual_jit` for the gathers, the ELU head and the
scatter-adds, BLAS for the three products and NumPy's SIMD ``exp``; then Keras
SGD on EVERY entry of every table (:func:`mfcore.engines.optim_jit.sgd_step`,
Keras' ``l2(reg)`` on P and Q: c = 2 reg in the rule's (L2)). The NumPy twin is
the layer graph with :class:`mfcore.nn.optim.SGD` (same numbers, tested to 1e-10).
Python drives the batches, so no compiled code here calls another module.
"""
import time

import numpy as np

from . import residual_jit as rk
from .optim_jit import sgd_step, sum_squares

WEIGHTS = ("user_embedding/embeddings", "item_embedding/embeddings", "user_bias/embeddings",
           "item_bias/embeddings", "dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias")


class ResidualJitEpoch:
    """``epoch(u, i, y, order, timing) -> mean batch loss``; updates ``net``'s weights in place.

    Holds the SGD momentum slots and the gradient tables (zeroed by the step)
    and reuses its (B, .) work arrays from batch to batch.
    """

    def __init__(self, net, dtype, batch, lr, momentum, nesterov, reg, rating_reg=0.0):
        self.W = [net.params[n] for n in WEIGHTS]  # P, Q, b_u, b_i, W1, c1, w2, c2
        self.V = [np.zeros_like(w) for w in self.W]  # momentum slots
        self.G = [np.zeros_like(w) for w in self.W]  # gradients
        k, hidden = self.W[0].shape[1], self.W[4].shape[1]
        self.h = np.empty((batch, 2 * k), dtype)  # (B, 2K)
        self.dh = np.empty((batch, 2 * k), dtype)  # (B, 2K) dL/dh
        self.Z = np.empty((batch, hidden), dtype)  # (B, H) z, then a = ELU(z)
        self.E = np.empty((batch, hidden), dtype)  # (B, H) exp(min(z, 0)), ELU'(z), dL/dz
        self.mf = np.empty(batch, dtype)  # (B,)
        self.d = np.empty(batch, dtype)  # (B,)
        self.batch, self.hyper = batch, (lr, momentum, nesterov)
        self.reg, self.rating_reg = reg, rating_reg

    def __call__(self, u, i, y, order, timing):
        P, Q, bu, bi, W1, c1, w2, c2 = self.W
        GP, GQ, Gbu, Gbi, GW1, Gc1, Gw2, Gc2 = self.G
        clock = time.perf_counter
        total, n_batches, t_fwd, t_bwd, t_upd = 0.0, 0, 0.0, 0.0, 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, order.size, self.batch):
                t0 = clock()
                rows = order[start:start + self.batch]  # (B,)
                ub, ib, B = u[rows], i[rows], rows.size
                h, Z, E, mf, d = self.h[:B], self.Z[:B], self.E[:B], self.mf[:B], self.d[:B]
                rk.gather_and_dot(P, Q, bu, bi, ub, ib, h, mf)
                np.dot(h, W1, out=Z)  # (B, H)
                rk.add_bias_and_clip(Z, c1, E)
                np.exp(E, out=E)  # (B, H)
                loss = rk.elu_head(Z, E, w2, c2, mf, y[rows], d)
                t1 = clock()
                rk.elu_backward(Z, E, d, w2, Gw2, Gc1, Gc2)
                np.dot(h.T, E, out=GW1)  # (2K, H)
                dh = np.dot(E, W1.T, out=self.dh[:B])  # (B, 2K)
                rk.scatter_factors(GP, GQ, Gbu, Gbi, ub, ib, h, d, dh, bu, bi, 2.0 * self.rating_reg / B)
                t2 = clock()
                for j in range(8):  # Keras' l2 on P and Q only
                    reg = self.reg if j < 2 else 0.0
                    if reg != 0.0:
                        loss += reg * sum_squares(self.W[j])  # the penalty, before the step
                    sgd_step(self.W[j], self.V[j], self.G[j], *self.hyper, 2.0 * reg, 1.0, True)
                t3 = clock()
                t_fwd, t_bwd, t_upd = t_fwd + t1 - t0, t_bwd + t2 - t1, t_upd + t3 - t2
                total, n_batches = total + loss, n_batches + 1
        timing.update(forward_seconds=t_fwd, backward_seconds=t_bwd, update_seconds=t_upd)
        return total / n_batches
