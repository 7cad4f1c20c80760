r"""Residual MF: biased MF plus an MLP side branch on the concatenated factors.

The model of the residual-learning notebooks (000: K = 15, 512 units; 004:
K = 10, 400 units), trained end to end in the Keras regime of
:mod:`mfcore.models._neural`. Two engines give the same numbers:
``"vectorized"`` runs the layer graph (:class:`ResidualNet`) and an
:mod:`mfcore.nn.optim` optimizer; ``"jit"`` runs one Numba call per epoch
(:func:`mfcore.nn.residual_kernels.residual_epoch_sgd`, SGD only).
"""
import time

import numpy as np

from .._validation import check_number
from ..nn import ELU, Add, Concatenate, Dense, Dot, Embedding
from ..nn import residual_kernels as rk
from ._neural import Net, NeuralRecommender, make_optimizer, train_epoch_numpy
from .registry import register


class ResidualNet(Net):
    r"""The Keras graph of the residual notebooks, from mfcore layers.

    .. math::

        h = [p_u, q_i] \in \mathbb R^{2K}, \quad z = h W_1 + c_1, \quad a = \mathrm{ELU}(z),
        \quad \hat y = p_u \cdot q_i + b_u + b_i + a\, w_2 + c_2

    with W_1 (2K, H), w_2 (H, 1). Keras: ``Add()([Flatten()(Add()([Dot(axes=2)([p, q]),
    bu, bi])), Dense(1)(Activation("elu")(Dense(H)(Concatenate()([p, q]))))])``.
    Initial draws, in Keras' layer order: P, Q, b_u, b_i ~ U(-0.05, 0.05), then
    W_1, w_2 glorot-uniform; c_1, c_2 = 0.
    """

    def __init__(self, n_users, n_items, n_factors, hidden, rng, dtype=np.float64):
        k, h = n_factors, hidden
        self.layers = {
            "user_embedding": Embedding(n_users, k, rng, dtype=dtype, dense_grad=True),
            "item_embedding": Embedding(n_items, k, rng, dtype=dtype, dense_grad=True),
            "user_bias": Embedding(n_users, 1, rng, dtype=dtype, dense_grad=True),
            "item_bias": Embedding(n_items, 1, rng, dtype=dtype, dense_grad=True),
            "dense_1": Dense(2 * k, h, rng, dtype=dtype),
            "elu": ELU(),
            "dense_2": Dense(h, 1, rng, dtype=dtype),
        }
        self.dot, self.concat, self.add = Dot(), Concatenate(), Add()

    def forward(self, u, i, extra=None, training=True):
        L = self.layers
        p, q = L["user_embedding"].forward(u), L["item_embedding"].forward(i)  # (B, K), (B, K)
        mf = self.dot.forward([p, q])  # (B, 1)
        z = L["dense_1"].forward(self.concat.forward([p, q]))  # (B, H)
        side = L["dense_2"].forward(L["elu"].forward(z))  # (B, 1)
        y = self.add.forward([mf, L["user_bias"].forward(u), L["item_bias"].forward(i), side])  # (B, 1)
        return y[:, 0]  # (B,)

    def backward(self, dy):
        L = self.layers
        d = dy[:, None]  # (B, 1): the Add passes it to all four terms
        dz = L["elu"].backward(L["dense_2"].backward(d))  # (B, H)
        dp_side, dq_side = self.concat.backward(L["dense_1"].backward(dz))  # (B, K) each
        dp_mf, dq_mf = self.dot.backward(d)  # (B, K) each
        L["user_embedding"].backward(dp_side + dp_mf)  # both branches reach the factors
        L["item_embedding"].backward(dq_side + dq_mf)
        L["user_bias"].backward(d)
        L["item_bias"].backward(d)


@register
class ResidualMF(NeuralRecommender):
    r"""Biased MF plus a dense ELU side branch, trained end to end (Keras regime).

    Model (target :math:`r - \mu`; :class:`ResidualNet`):

    .. math::

        \hat r_{ui} = \mu + b_u + b_i + p_u \cdot q_i
                     + w_2^\top \mathrm{ELU}(W_1^\top [p_u; q_i] + c_1) + c_2

    Loss per minibatch :math:`\mathcal B` (Keras ``mse`` plus optional ``l2`` on P, Q):

    .. math::

        L_{\mathcal B} = \frac1{|\mathcal B|}\sum_{(u,i)\in\mathcal B} (\hat r_{ui} - r_{ui})^2
                        + \lambda (\lVert P\rVert_F^2 + \lVert Q\rVert_F^2)

    Gradients (:math:`d_b = 2 (\hat r_b - r_b)/|\mathcal B|`, :math:`a = \mathrm{ELU}(z)`):

    (G1) :math:`\partial L/\partial w_2 = \sum_b d_b a_b`,
    :math:`\partial L/\partial z_b = d_b\, w_2 \odot \mathrm{ELU}'(z_b)`
    (G2) :math:`\partial L/\partial W_1 = \sum_b h_b^\top \partial L/\partial z_b`,
    :math:`\partial L/\partial h_b = W_1\, \partial L/\partial z_b`
    (G3) :math:`\partial L/\partial p_u \mathrel{+}= d_b q_i + [\partial L/\partial h_b]_{1..K}`
    (the factors get gradients from the dot product AND the side branch),
    :math:`\partial L/\partial b_u \mathrel{+}= d_b`; likewise for :math:`q_i, b_i`.

    Updates: Keras SGD with momentum on every entry of every weight
    (:math:`V \leftarrow m V - \eta g`, :math:`W \leftarrow W + V`), rows outside
    the batch included; or Adam/Adamax/RMSprop with ``optimizer=``.

    Parameters
    ----------
    n_factors : int, default 15
        K (the notebook-004 variant: ``n_factors=10, hidden=400``).
    hidden : int, default 512
        H, units of the side branch.
    n_epochs : int, default 15
    lr : float, default 0.08
    momentum : float, default 0.9
        SGD only.
    nesterov : bool, default False
    optimizer : {"sgd", "adam", "adamax", "rmsprop"}, default "sgd"
    batch_size : int, default 128
    reg : float, default 0.0
        lambda of Keras' ``l2`` on P and Q (whole tables, every batch).
    early_stopping : bool, default False
        With validation ratings: stop when ``val_rmse`` has not improved for
        ``patience`` epochs and restore the best epoch's weights.
    patience : int, default 2
    engine : {"jit", "vectorized"}, default "jit"
        Same numbers (tested to 1e-10); "jit" is one Numba call per epoch and
        needs ``optimizer="sgd"`` (it falls back to "vectorized" otherwise).
    rng : None, int or Generator
        Spawned into init, order and noise streams; an int makes ``fit`` repeatable,
        a Generator advances, so refitting differs.
    dtype : "float64" or "float32"
    verbose : int, default 0

    Attributes
    ----------
    net_ : ResidualNet   its ``params`` dict holds every weight (P = ``user_embedding/embeddings``).
    history_ : History   ``train_loss``, ``val_rmse``, ``val_rmse_clipped``, ``seconds`` and
        its ``forward_seconds``/``backward_seconds``/``update_seconds`` split
        (vectorized engine only).

    Unknown users or items get the known part of mu + b_u + b_i.

    References
    ----------
    He, Zhang, Ren, Sun (2016), "Deep residual learning for image recognition", CVPR
    (the skip-connection idea; here the MF term is the identity path).

    Examples
    --------
    >>> from mfcore.data.synthetic import make_ratings
    >>> train = make_ratings(200, 100, 4000, rng=0)
    >>> ResidualMF(hidden=32, n_epochs=3, rng=0).fit(train).evaluate(train)["rmse"] < 1.2
    True
    """

    name = "residual-mf"
    _own_biases = True
    _engines = ("jit", "vectorized")

    def __init__(self, n_factors=15, hidden=512, n_epochs=15, lr=0.08, momentum=0.9, nesterov=False,
                 optimizer="sgd", batch_size=128, reg=0.0, early_stopping=False, patience=2,
                 engine="jit", rng=None, dtype="float64", verbose=0):
        self.n_factors = n_factors
        self.hidden = hidden
        self.n_epochs = n_epochs
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.reg = reg
        self.early_stopping = early_stopping
        self.patience = patience
        self.engine = engine
        self.rng = rng
        self.dtype = dtype
        self.verbose = verbose

    def _check_extra(self):
        self._hidden = check_number(self.hidden, "hidden", self, kind="int", low=1, low_inclusive=True)

    def _build_net(self, n_users, n_items, init_rng, noise_rng):
        return ResidualNet(n_users, n_items, self._k, self._hidden, init_rng, self._dtype)

    def _epoch_fn(self, inputs, y):
        opt = make_optimizer(self._optimizer, self._lr, self._momentum, bool(self.nesterov))
        if self.engine != "jit" or self._optimizer != "sgd":
            return lambda order, timing: train_epoch_numpy(self.net_, opt, inputs, y, order,
                                                           self._batch, self._reg, timing)
        t0 = time.perf_counter()
        fast_epoch = _FastEpoch(self.net_, y.dtype, self._batch, self._lr, self._momentum,
                                bool(self.nesterov), self._reg)
        one = np.zeros(1, np.int64)
        _FastEpoch(ResidualNet(1, 1, self._k, 1, 0, y.dtype), y.dtype, 1, 0.0, 0.0, False,
                   0.0)(one, one, np.zeros(1, y.dtype), one, {})  # compile on a dummy
        self._compile_seconds = time.perf_counter() - t0
        u, i = inputs
        return lambda order, timing: fast_epoch(u, i, y, order, timing)


class _FastEpoch:
    """The "jit" engine: per batch, Numba kernels (:mod:`mfcore.nn.residual_kernels`)
    for the gathers, the ELU head and the scatter-adds, BLAS for the three products,
    NumPy's SIMD exp, then Keras SGD on every table. Same steps as ResidualNet."""

    def __init__(self, net, dtype, batch, lr, momentum, nesterov, reg):
        p = net.params
        self.W = [p[n] for n in ("user_embedding/embeddings", "item_embedding/embeddings",
                                 "user_bias/embeddings", "item_bias/embeddings", "dense_1/kernel",
                                 "dense_1/bias", "dense_2/kernel", "dense_2/bias")]
        self.V = [np.zeros_like(w) for w in self.W]  # momentum slots
        self.G = [np.zeros_like(w) for w in self.W]  # gradients (tables zeroed by the step)
        k, hidden = self.W[0].shape[1], self.W[4].shape[1]
        self.h = np.empty((batch, 2 * k), dtype)  # (B, 2K)
        self.Z = np.empty((batch, hidden), dtype)  # (B, H) z, then a = ELU(z)
        self.E = np.empty((batch, hidden), dtype)  # (B, H) exp(min(z, 0)), ELU'(z), dL/dz
        self.mf = np.empty(batch, dtype)  # (B,)
        self.d = np.empty(batch, dtype)  # (B,)
        self.batch, self.hyper = batch, (lr, momentum, nesterov)
        self.reg = reg

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
                rk.gather_concat(P, Q, bu, bi, ub, ib, h, mf)
                np.dot(h, W1, out=Z)  # (B, H)
                Z += c1
                np.exp(np.minimum(Z, 0.0, out=E), out=E)  # (B, H)
                loss = rk.elu_head(Z, E, w2, c2, mf, y[rows], d)
                t1 = clock()
                Gw2[:, 0] = Z.T @ d  # (H,)
                Gc2[0] = d.sum()
                rk.elu_backward(E, d, w2, Gc1)
                np.dot(h.T, E, out=GW1)  # (2K, H)
                rk.scatter_factors(GP, GQ, Gbu, Gbi, ub, ib, h, d, E @ W1.T)  # dh (B, 2K)
                t2 = clock()
                loss += rk.sgd_dense_table(P, self.V[0], GP, *self.hyper, self.reg)
                loss += rk.sgd_dense_table(Q, self.V[1], GQ, *self.hyper, self.reg)
                for j in range(2, 8):
                    rk.sgd_dense_table(self.W[j], self.V[j], self.G[j], *self.hyper, 0.0)
                t3 = clock()
                t_fwd, t_bwd, t_upd = t_fwd + t1 - t0, t_bwd + t2 - t1, t_upd + t3 - t2
                total, n_batches = total + loss, n_batches + 1
        timing.update(forward_seconds=t_fwd, backward_seconds=t_bwd, update_seconds=t_upd)
        return total / n_batches
