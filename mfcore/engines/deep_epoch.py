r"""The "jit" engine of :class:`mfcore.models.deep.DeepMF`: one epoch, hand-fused.

One batch of B rows (u, i, y), blocks j = 1..J of widths n_j (n_0 = 2K), in
the steps below; symbols are those of DeepMF's docstring, the kernels those of
:mod:`mfcore.engines.nn_jit`, the matrix products BLAS (``np.matmul``):

Forward (training mode):

* (F1) :math:`x_0 = [P_u, Q_i]` (B, 2K), gathered into one buffer (``concat_rows``).
* (F2) block j: :math:`z_j = x_{j-1} W_j` (B, n_j), a bare product (the bias
  :math:`c_j` is folded into the next step).
* (F3) batch moments of :math:`z_j + c_j`: :math:`\mu_j`, :math:`\sigma^2_j` (n_j,)
  (``bn_moments``); moving averages :math:`m \leftarrow 0.99\, m + 0.01\, \mu_j`,
  :math:`v \leftarrow 0.99\, v + 0.01\, \sigma^2_j`; :math:`s_j = 1/\sqrt{\sigma^2_j + 10^{-3}}`.
* (F4) :math:`\hat x = (z_j + c_j - \mu_j) s_j`, :math:`x_j = \max(\gamma_j \hat x + \beta_j, 0)\,
  \mathrm{keep}/(1 - p)` (``bn_relu_dropout_forward``; dropout p on block 1 only: one
  64-bit seed s per batch from the noise stream; unit k of the row-major (B, n_1)
  array is kept iff the top 32 bits of SplitMix64's k-th output from state s
  (``splitmix_bits32``) are :math:`\ge \mathrm{round}(p\, 2^{32})` (``dropout_threshold``;
  the scheme is :mod:`mfcore.engines.nn_numpy`'s, which holds the constants).
* (F5) :math:`\hat y = x_J w_o + c_o` (B,); :math:`e = \hat y - y`, the batch loss
  :math:`L = \overline{e^2}` (+ :math:`\lambda (\lVert P\rVert^2 + \lVert Q\rVert^2)`),
  :math:`d = 2e/B`.

Backward (:math:`\delta` = dL/d(that array)):

* (B1) :math:`\partial L/\partial w_o = x_J^\top d`, :math:`\partial L/\partial c_o = \sum_b d_b`,
  :math:`\delta x_J = d\, w_o^\top` (B, n_J).
* (B2) block j (from J down to 1): with the gate :math:`g = \delta x_j\,[x_j > 0]/(1 - p)`,
  :math:`\partial L/\partial\beta_j = \sum_b g_b`, :math:`\partial L/\partial\gamma_j = \sum_b g_b \hat x_b`,
  :math:`\delta z_j = \frac{\gamma_j s_j}{B}(B g - \partial L/\partial\beta_j - \hat x\,
  \partial L/\partial\gamma_j)`, :math:`\partial L/\partial c_j = \sum_b \delta z_{j,b}`
  (``bn_relu_dropout_backward``; 0 up to rounding, since BN subtracts the batch mean).
* (B3) :math:`\partial L/\partial W_j = x_{j-1}^\top \delta z_j`,
  :math:`\delta x_{j-1} = \delta z_j W_j^\top`.
* (B4) :math:`\delta x_0` scattered into the zeroed tables: :math:`G_P[u_b] \mathrel{+}= \delta x_{0,b}[:K]`,
  :math:`G_Q[i_b] \mathrel{+}= \delta x_{0,b}[K:]` (``scatter_add_concat``; other rows stay 0).

Update:

* (U1) Keras SGD with momentum m on EVERY entry of every weight (rows of P, Q
  outside the batch too): :math:`g \leftarrow g + 2\lambda w` (P and Q only: Keras'
  ``l2(reg)``), :math:`v \leftarrow m v - \eta g`, :math:`w \leftarrow w + v`
  (Nesterov: :math:`w \leftarrow w + m v - \eta g`), one pass per weight
  (:func:`mfcore.engines.optim_jit.sgd_step`: its (L2), (S2), (S3)).

Each step is the same NumPy expression or kernel call, with the scalars in the
weights' dtype, as the fused layer graph (``DeepNet(fused=True)``, whose
BatchNorm blocks are :class:`mfcore.nn.fused.BNReLUDropout`) trained with
:class:`mfcore.nn.optim.SGD` through :func:`mfcore.models._neural.train_epoch_numpy`,
so the two give bit-identical numbers in float64 and float32 (tested); that
path without the fusing, the readable twin, is the layer graph of
:mod:`mfcore.nn` (``engine="vectorized"``, the same numbers to 1e-10).
What the epoch saves is the per-batch bookkeeping of the graph and the
optimizer: the dicts of weights and gradients, fresh gradient tables, the
dtype checks of every rule call. Python drives the batches, so no compiled
code here calls another module.
"""
import time

import numpy as np

from .nn_jit import bn_moments, bn_relu_dropout_backward, bn_relu_dropout_forward, concat_rows, scatter_add_concat
from .nn_numpy import dropout_threshold
from .optim_jit import sgd_step


class DeepJitEpoch:
    """``epoch(u, i, y, order, timing) -> mean batch loss``; updates ``net``'s weights and
    BatchNorm moving statistics in place.

    ``net`` is a fused :class:`~mfcore.models.deep.DeepNet` (``fused=True``): the
    epoch reads its weight arrays, moving statistics, dropout rate and noise
    stream, and keeps the SGD momentum slots, the gradient tables and the
    (B, n) work arrays, reused from batch to batch.
    """

    def __init__(self, net, batch, lr, momentum, nesterov, reg):
        p, L = net.params, net.layers
        # every weight (named as in net.params), in the order of self.G below
        self.names = ["user_embedding/embeddings", "item_embedding/embeddings"] + [
            f"{layer}/{w}" for dense_name, bn_name in net.blocks
            for layer, w in ((dense_name, "kernel"), (dense_name, "bias"), (bn_name, "gamma"), (bn_name, "beta"))
        ] + ["output/kernel", "output/bias"]
        self.W = [p[name] for name in self.names]
        self.P, self.Q = self.W[:2]  # (n_users, K), (n_items, K)
        # per block j: W_j (n_{j-1}, n_j), c_j, gamma_j, beta_j (n_j,) and its BNReLUDropout layer
        self.blocks = [(*self.W[2 + 4 * j: 6 + 4 * j], L[bn_name]) for j, (_, bn_name) in enumerate(net.blocks)]
        self.wo, self.co = self.W[-2:]  # (n_J, 1), (1,)
        c = self.dtype = self.P.dtype.type
        self.V = [np.zeros_like(w) for w in self.W]
        self.G = [np.zeros_like(w) for w in self.W]
        widths = [self.P.shape[1] + self.Q.shape[1]] + [blk[0].shape[1] for blk in self.blocks]
        self.X = [np.empty((batch, n), c) for n in widths]  # x_0 .. x_J (B, n_j)
        self.Z = [np.empty((batch, n), c) for n in widths[1:]]  # z_j (B, n_j)
        self.DX = [np.empty((batch, n), c) for n in widths]  # delta x_0 .. delta x_J
        self.DZ = [np.empty((batch, n), c) for n in widths[1:]]  # delta z_j
        self.stats = [(np.empty(n, c), np.empty(n, c)) for n in widths[1:]]  # mu_j, sigma^2_j
        self.batch, self.hyper, self.reg = batch, (c(lr), c(momentum), bool(nesterov)), reg

    def __call__(self, u, i, y, order, timing):
        c = self.dtype
        clock = time.perf_counter
        total, n_batches, t_fwd, t_bwd, t_upd = 0.0, 0, 0.0, 0.0, 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, order.size, self.batch):
                t0 = clock()
                rows = order[start:start + self.batch]  # (B,)
                ub, ib = u[rows], i[rows]
                e = self.forward(ub, ib, y[rows])  # (F1)-(F5) (B,)
                loss, d = float(np.mean(e * e)), (2.0 / e.size) * e
                t1 = clock()
                self.backward(ub, ib, d)  # (B1)-(B4): the gradients in self.G
                t2 = clock()
                for j, (w, v, g) in enumerate(zip(self.W, self.V, self.G)):  # (U1)
                    reg = self.reg if j < 2 else 0.0  # Keras' l2 on P and Q only
                    if reg:
                        loss += float(reg * np.sum(w * w))  # the penalty, before the step
                    sgd_step(w, v, g, *self.hyper, c(2.0 * reg), c(1), False)
                t3 = clock()
                t_fwd, t_bwd, t_upd = t_fwd + t1 - t0, t_bwd + t2 - t1, t_upd + t3 - t2
                total, n_batches = total + loss, n_batches + 1
        timing.update(forward_seconds=t_fwd, backward_seconds=t_bwd, update_seconds=t_upd)
        return total / n_batches

    def forward(self, u, i, y):
        """(F1)-(F5) on one training batch: the errors e = y_hat - y (B,); keeps what backward reads."""
        c, B = self.dtype, u.size
        x = concat_rows(self.P, self.Q, u, i, self.X[0][:B])  # (F1) (B, 2K)
        self._invs, self._scales = [], []
        for j, (W, cb, gamma, beta, bn) in enumerate(self.blocks):
            z = np.matmul(x, W, out=self.Z[j][:B])  # (F2) (B, n_j)
            mean, var = self.stats[j]
            bn_moments(z, cb, c(B), mean, var)  # (F3)
            m, m1 = c(bn.momentum), c(1 - bn.momentum)
            bn.moving_mean[:] = bn.moving_mean * m + mean * m1
            bn.moving_variance[:] = bn.moving_variance * m + var * m1
            inv = c(1) / np.sqrt(var + c(bn.epsilon))  # s_j (n_j,)
            drop = bn.rate > 0
            seed = bn.rng.integers(0, 2 ** 64, dtype=np.uint64) if drop else np.uint64(0)
            keep_scale = c(1) / c(1.0 - bn.rate) if drop else c(1)
            x = self.X[j + 1][:B]
            bn_relu_dropout_forward(z, cb, gamma, beta, mean, inv, seed, dropout_threshold(bn.rate), drop,
                                    keep_scale, x)  # (F4) (B, n_j)
            self._invs.append(inv)
            self._scales.append(keep_scale)
        return (x @ self.wo[:, 0] + self.co[0]) - y  # (F5) (B,)

    def backward(self, u, i, d):
        """(B1)-(B4) from d = dL/dy_hat (B,): every gradient, in ``self.G`` (the order of ``self.W``)."""
        c, B, J, G = self.dtype, u.size, len(self.blocks), self.G
        G[-2][:, 0] = d @ self.X[J][:B]  # (B1) (n_J,)
        G[-1][0] = d.sum()
        dx = np.multiply(d[:, None], self.wo[:, 0], out=self.DX[J][:B])  # (B, n_J)
        for j in range(J - 1, -1, -1):
            W, cb, gamma = self.blocks[j][:3]
            Gw, Gc, Ggamma, Gbeta = G[2 + 4 * j: 6 + 4 * j]
            dz = self.DZ[j][:B]
            bn_relu_dropout_backward(dx, self.X[j + 1][:B], self.Z[j][:B], cb, gamma, self.stats[j][0],
                                     self._invs[j], self._scales[j], True, c(B), dz, Ggamma, Gbeta, Gc)  # (B2)
            np.matmul(self.X[j][:B].T, dz, out=Gw)  # (B3) (n_{j-1}, n_j)
            dx = np.matmul(dz, W.T, out=self.DX[j][:B])  # (B, n_{j-1})
        G[0][...] = 0.0
        G[1][...] = 0.0
        scatter_add_concat(G[0], G[1], u, i, dx)  # (B4)
