r"""Residual MF: biased MF plus an MLP side branch on the concatenated factors.

The model of the residual-learning notebooks (000: K = 15, 512 units; 004:
K = 10, 400 units), trained end to end in the Keras regime of
:mod:`mfcore.models._neural`. Two engines give the same numbers:
``"vectorized"`` runs the layer graph (:class:`ResidualNet`) and an
:mod:`mfcore.nn.optim` optimizer; ``"jit"`` runs the hand-fused batch of
:class:`mfcore.engines.residual_epoch.ResidualJitEpoch` (SGD only).

``warm_start="biased-mf"`` turns it into residual learning on top of a strong
MF: a per-rating-SGD :class:`~mfcore.models.mf.BiasedMF` is fitted first, its
mu, b_u, b_i, P, Q are copied into the network and the side branch's output
layer starts at zero, so training starts from exactly that BiasedMF.
"""
import time

import numpy as np

from .._random import as_generator
from .._validation import check_choice, check_number
from ..engines.residual_epoch import ResidualJitEpoch
from ..nn import ELU, Add, Concatenate, Dense, Dot, Embedding
from ._neural import KERAS_REG_DOC, Net, NeuralRecommender, train_epoch_numpy
from .mf import BiasedMF
from .registry import register
from .params import check_hidden_units, store_params


class ResidualNet(Net):
    r"""The Keras graph of the residual notebooks, from mfcore layers.

    .. math::

        h = [p_u, q_i] \in \mathbb R^{2K}, \quad z = h W_1 + c_1, \quad a = \mathrm{ELU}(z),
        \quad \hat y = p_u \cdot q_i + b_u + b_i + a\, w_2 + c_2

    with W_1 (2K, H), w_2 (H, 1). Keras: ``Add()([Flatten()(Add()([Dot(axes=2)([p, q]),
    bu, bi])), Dense(1)(Activation("elu")(Dense(H)(Concatenate()([p, q]))))])``.
    Initial draws, in Keras' layer order: P, Q, b_u, b_i ~ U(-0.05, 0.05), then
    W_1, w_2 glorot-uniform; c_1, c_2 = 0.

    ``rating_reg`` (lambda_r) adds the per-rating L2 term
    :math:`\frac{\lambda_r}{|\mathcal B|}\sum_{(u,i)\in\mathcal B}(\lVert p_u\rVert^2
    + \lVert q_i\rVert^2 + b_u^2 + b_i^2)` to the batch loss (BiasedMF's
    per-occurrence regularization in minibatch form); :meth:`backward` adds its
    gradient, :meth:`loss_terms` and :meth:`loss_and_grads` its value.
    """

    def __init__(self, n_users, n_items, n_factors, hidden, rng, dtype=np.float64, rating_reg=0.0):
        k, h = n_factors, hidden
        self.rating_reg = float(rating_reg)
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
        bu, bi = L["user_bias"].forward(u), L["item_bias"].forward(i)  # (B, 1) each
        self._rows = (p, q, bu, bi)  # the gathered rows, for the per-rating L2 gradient
        y = self.add.forward([mf, bu, bi, side])  # (B, 1)
        return y[:, 0]  # (B,)

    def backward(self, dy):
        L = self.layers
        d = dy[:, None]  # (B, 1): the Add passes it to all four terms
        dz = L["elu"].backward(L["dense_2"].backward(d))  # (B, H)
        dp_side, dq_side = self.concat.backward(L["dense_1"].backward(dz))  # (B, K) each
        dp_mf, dq_mf = self.dot.backward(d)  # (B, K) each
        dp, dq, dbu, dbi = dp_side + dp_mf, dq_side + dq_mf, d, d  # both branches reach the factors
        if self.rating_reg:
            c = 2.0 * self.rating_reg / dy.shape[0]  # per-rating L2: every occurrence shrinks its rows
            p, q, bu, bi = self._rows
            dp, dq, dbu, dbi = dp + c * p, dq + c * q, d + c * bu, d + c * bi
        L["user_embedding"].backward(dp)
        L["item_embedding"].backward(dq)
        L["user_bias"].backward(dbu)
        L["item_bias"].backward(dbi)

    def _rating_penalty_terms(self, u, i):
        """The per-rating L2 term as an array of summands (B * (2K + 2),)."""
        p = self.params
        rows = [p["user_embedding/embeddings"][u], p["item_embedding/embeddings"][i],
                p["user_bias/embeddings"][u], p["item_bias/embeddings"][i]]
        return np.concatenate([(self.rating_reg / len(u)) * (r * r).ravel() for r in rows])

    def loss_and_grads(self, u, i, y, extra=None, reg=0.0):
        loss, grads = super().loss_and_grads(u, i, y, extra, reg)
        if self.rating_reg:
            loss += float(np.sum(self._rating_penalty_terms(u, i)))
        return loss, grads

    def loss_terms(self, u, i, y, extra=None, reg=0.0):
        terms = super().loss_terms(u, i, y, extra, reg)
        if self.rating_reg:
            terms = np.concatenate([terms, self._rating_penalty_terms(u, i)])
        return terms


@register
class ResidualMF(NeuralRecommender):
    __doc__ = r"""Biased MF plus a dense ELU side branch, trained end to end (Keras regime).

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

    Residual learning on a fitted MF (``warm_start="biased-mf"``): ``fit`` first
    fits ``BiasedMF(n_factors, n_epochs=mf_epochs, lr=mf_lr, reg=mf_reg,
    init_std=mf_init_std)`` by per-rating SGD on the same training ratings (same
    int ``rng``, so it is the very model ``BiasedMF(..., rng=rng)`` would fit),
    copies its b_u, b_i, P, Q into the network (mu is the centring offset) and
    sets w_2 = 0, c_2 = 0: the network then predicts exactly what that BiasedMF
    predicts, and the ``n_epochs`` epochs above train MF and side branch
    together from there. With ``reg_per_rating`` = lambda_r the batch loss
    gains BiasedMF's own per-occurrence L2,
    :math:`\frac{\lambda_r}{|\mathcal B|}\sum_{\mathcal B}(\lVert p_u\rVert^2 +
    \lVert q_i\rVert^2 + b_u^2 + b_i^2)` (gradient :math:`2\lambda_r/|\mathcal B|`
    times the row, once per occurrence), so the MF part can keep the objective
    it was fitted with rather than drift towards the unregularised Keras loss.
    (On ML-100k the holdout preferred a small lr with lambda_r = 0; see Notes.)

    Parameters
    ----------
    n_factors : int, default 15
        K (the notebook-004 variant: ``n_factors=10, hidden_units=400``).
    hidden : int, default 512
        H, units of the side branch.
    n_epochs : int, default 15
    lr : float, default 0.08
    momentum : float, default 0.9
        SGD only.
    nesterov : bool, default False
    optimizer : {"sgd", "adam", "adamax", "rmsprop"}, default "sgd"
    batch_size : int, default 128
""" + KERAS_REG_DOC + r"""    engine : {"jit", "vectorized"}, default "jit"
        Same numbers (tested to 1e-10); "jit" is a hand-fused batch (Numba and BLAS) and
        needs ``optimizer="sgd"`` (it falls back to "vectorized" otherwise).
    rng : None, int or Generator
        Spawned into init, order and noise streams; an int makes ``fit`` repeatable,
        a Generator advances, so refitting differs.
    dtype : "float64" or "float32"
    verbose : int, default 0
    warm_start : {None, "biased-mf"}, default None
        None: the Keras initialisation above. ``"biased-mf"``: start from a
        fitted per-rating-SGD BiasedMF with K = ``n_factors`` (see above).
    mf_epochs : int, default 35
        Warm start only: BiasedMF's ``n_epochs``.
    mf_lr : float, default 0.01
        Warm start only: BiasedMF's ``lr``.
    mf_reg : float, default 0.05
        Warm start only: BiasedMF's ``reg``.
    mf_init_std : float, default 0.01
        Warm start only: BiasedMF's ``init_std``. (The four ``mf_*`` defaults
        are BiasedMF's tuned defaults.)
    reg_per_rating : float, default 0.0
        lambda_r, the per-rating L2 on p_u, q_i, b_u, b_i during the network
        epochs (any ``warm_start``). ``train_loss`` leaves this term out.

    Attributes
    ----------
    net_ : ResidualNet   its ``params`` dict holds every weight (P = ``user_embedding/embeddings``).
    warm_start_seconds_ : float   time of the warm-start BiasedMF fit (0 without one; set by ``fit``).
    history_ : History   ``train_loss``, ``val_rmse``, ``val_rmse_clipped``, ``seconds`` and
        its ``forward_seconds``/``backward_seconds``/``update_seconds`` split
        (vectorized engine only).

    Unknown users or items get the known part of mu + b_u + b_i.

    References
    ----------
    He, Zhang, Ren, Sun (2016), "Deep residual learning for image recognition", CVPR
    (the skip-connection idea; here the MF term is the identity path).

    Notes
    -----
    The defaults are the notebook's K15-512 settings. Tuned settings (ML-100k
    80/20 split ``random_split(..., 0.2, rng=42)``; chosen on a 90/10 holdout of
    its training rows, never the test set; ``benchmarks/bench_neural.py --parts
    tuned``, tables in ``benchmarks/results/neural.md``)::

        ResidualMF(warm_start="biased-mf", n_factors=300, mf_lr=0.01, mf_reg=0.07,
                   mf_epochs=40, hidden_units=64, lr=0.001, n_epochs=10)

    Stage A picked the MF part (a larger K and reg than BiasedMF's defaults),
    stage B the residual epochs on top of it. On the test rows the tuned model
    beats ``BiasedMF()`` at every seed tried, mostly through the MF part's own
    settings: the side branch adds a small share of the gain. From the
    notebook's random initialisation the same network does clearly worse: the
    Keras loss has no per-rating shrinkage and overfits P, Q. The figures are in
    benchmarks/results/neural.md.

    Examples
    --------
    >>> from mfcore.data.synthetic import make_ratings
    >>> train = make_ratings(200, 100, 4000, rng=0)
    >>> ResidualMF(hidden_units=32, n_epochs=3, rng=0).fit(train).evaluate(train)["rmse"] < 1.2
    True
    """

    name = "residual-mf"
    notebook = "residual"
    note = ("its defaults are the residual notebook's ML-100k settings: on ml-latest-small they trail the"
            ' biases baseline (benchmarks/results/default_settings.md)')
    _own_biases = True
    _engines = ("jit", "vectorized")

    def __init__(self, n_factors=15, hidden_units=512, n_epochs=15, lr=0.08, momentum=0.9, nesterov=False,
                 optimizer="sgd", batch_size=128, reg=0.0, early_stopping=False, patience=2, validation_fraction=0.1,
                 engine="jit", rng=None, dtype="float64", verbose=0, warm_start=None, mf_epochs=35,
                 mf_lr=0.01, mf_reg=0.05, mf_init_std=0.01, reg_per_rating=0.0, **renamed):
        store_params(self, locals())

    def _check_extra(self):
        (self._hidden,) = check_hidden_units(self, 1)
        check_choice(self.warm_start, "warm_start", self, (None, "biased-mf"))
        self._rating_reg = check_number(self.reg_per_rating, "reg_per_rating", self, low=0, low_inclusive=True)
        self._mf_params = {
            "n_epochs": check_number(self.mf_epochs, "mf_epochs", self, kind="int", low=1, low_inclusive=True),
            "lr": check_number(self.mf_lr, "mf_lr", self, low=0),
            "reg": check_number(self.mf_reg, "mf_reg", self, low=0, low_inclusive=True),
            "init_std": check_number(self.mf_init_std, "mf_init_std", self, low=0, low_inclusive=True)}

    def _fit(self, train, valid, callbacks):
        self._check_common()
        self._warm_mf, self.warm_start_seconds_ = None, 0.0
        if self.warm_start == "biased-mf":
            t0 = time.perf_counter()
            rng = self.rng if self.rng is None or isinstance(self.rng, (int, np.integer)) \
                else as_generator(self.rng).spawn(1)[0]  # an int: the same fit as BiasedMF(rng=rng)
            self._warm_mf = BiasedMF(n_factors=self._k, dtype=self._dtype, rng=rng,
                                     **self._mf_params).fit(train)
            self.warm_start_seconds_ = time.perf_counter() - t0
        try:
            super()._fit(train, valid, callbacks)
        finally:
            self._warm_mf = None  # its arrays now live in the network

    def _build_net(self, n_users, n_items, init_rng, noise_rng):
        net = ResidualNet(n_users, n_items, self._k, self._hidden, init_rng, self._dtype, self._rating_reg)
        mf = getattr(self, "_warm_mf", None)
        if mf is not None:  # start from the fitted BiasedMF: the side branch adds exactly 0
            p = net.params
            p["user_embedding/embeddings"][...] = mf.user_factors_
            p["item_embedding/embeddings"][...] = mf.item_factors_
            p["user_bias/embeddings"][:, 0] = mf.user_bias_
            p["item_bias/embeddings"][:, 0] = mf.item_bias_
            p["dense_2/kernel"][...] = 0.0
            p["dense_2/bias"][...] = 0.0
        return net

    def _epoch_fn(self, inputs, y):
        opt = self._make_optimizer()
        if self.engine != "jit" or self._optimizer != "sgd":
            return lambda order, timing: train_epoch_numpy(self.net_, opt, inputs, y, order,
                                                           self._batch, self._reg, timing)
        t0 = time.perf_counter()
        fast_epoch = ResidualJitEpoch(self.net_, y.dtype, self._batch, self._lr, self._momentum,
                                      bool(self.nesterov), self._reg, self._rating_reg)
        one = np.zeros(1, np.int64)
        ResidualJitEpoch(ResidualNet(1, 1, self._k, 1, 0, y.dtype), y.dtype, 1, 0.0, 0.0, False,
                         0.0, 0.0)(one, one, np.zeros(1, y.dtype), one, {})  # compile on a dummy
        self._compile_seconds = time.perf_counter() - t0
        u, i = inputs
        return lambda order, timing: fast_epoch(u, i, y, order, timing)

