r"""Matrix factorization trained the Keras way: minibatches, batch-mean MSE, Keras optimizers.

Two models of the seed notebooks, both :class:`~mfcore.models._neural.NeuralRecommender`
models trained by its fit path (the Keras regime of :mod:`mfcore.models._neural`):

* :class:`BiasedMFKeras` (``"biased-mf-keras"``): the residual notebook's biased
  MF, SGD with momentum;
* :class:`DotMF` (``"dot-mf"``): the ML-1M notebook's dot-product MF, Adamax.

Their network is :class:`MFNet`, the Keras graph written with mfcore layers. Two
engines give the same numbers (tested to 1e-10 in float64): ``"vectorized"``
runs the layer graph and an :mod:`mfcore.nn.optim` optimizer batch by batch in
NumPy (the readable version, the fit path's own engine); ``"jit"`` runs one Numba
call per epoch (:func:`mfcore.engines.mfkeras_jit.mf_epoch_sgd` /
``mf_epoch_adamax``), plugged in by :meth:`_KerasMF._epoch_fn`.
DotMF has a third, its default: ``"deferred"``
(:func:`~mfcore.engines.mfkeras_jit.mf_epoch_adamax_deferred`), the same
numbers again (to rounding: the drift a 1-ulp change of the initial factors
causes; tested to 1e-9) at the cost of the batch's rows instead of every row
(see DotMF).

Regularisation semantics (Keras ``embeddings_regularizer=l2(reg)``, as in the
Netflix notebook): ``reg * sum(P**2) + reg * sum(Q**2)`` over the WHOLE tables
is added to the loss of every batch (the biases are not penalised). This is a
different objective from the per-rating Funk/Surprise penalty of BiasedMF.
"""
import time

import numpy as np

from .._validation import check_number
from ..engines import mfkeras_jit, optim_numpy
from ..nn import SGD, Adamax, Add, Dot, Embedding
from ..ranking import fill_unknown
from ._neural import Net, NeuralRecommender
from .registry import register
from .params import store_params


class MFNet(Net):
    r"""The Keras graph :math:`y = p_u \cdot q_i\ (+\, b_u + b_i)` from mfcore layers.

    Keras equivalent: ``Dot(axes=2)([Embedding(n_users, K)(u), Embedding(n_items, K)(i)])``,
    plus ``Add()`` with ``Embedding(n_users, 1)(u)`` and ``Embedding(n_items, 1)(i)``
    when ``bias``. Tables are drawn from U(-0.05, 0.05) in the order P, Q, b_u, b_i
    (``params``: ``user_embedding/embeddings`` is P, ``item_embedding/embeddings`` Q,
    ``user_bias/embeddings`` and ``item_bias/embeddings`` the (n, 1) bias tables, as
    Keras' ``Embedding(n, 1)``). The gradients of the tables are
    :class:`~mfcore.nn.RowGrad` (the batch's rows), made dense where Keras' ``l2``
    touches every row (:meth:`~mfcore.models._neural.Net.loss_and_grads`).
    """

    def __init__(self, n_users, n_items, n_factors, bias, rng, dtype=np.float64):
        self.bias = bias
        self.layers = {"user_embedding": Embedding(n_users, n_factors, rng, dtype=dtype),
                       "item_embedding": Embedding(n_items, n_factors, rng, dtype=dtype)}
        if bias:
            self.layers["user_bias"] = Embedding(n_users, 1, rng, dtype=dtype)
            self.layers["item_bias"] = Embedding(n_items, 1, rng, dtype=dtype)
        self.dot, self.add = Dot(), Add()

    def forward(self, u, i, extra=None, training=True):
        L = self.layers
        y = self.dot.forward([L["user_embedding"].forward(u), L["item_embedding"].forward(i)])  # (B, 1)
        if self.bias:
            y = self.add.forward([y, L["user_bias"].forward(u), L["item_bias"].forward(i)])  # (B, 1)
        return y[:, 0]  # (B,)

    def backward(self, dy):
        L = self.layers
        d_dot = dy[:, None]  # (B, 1)
        if self.bias:
            d_dot, d_bu, d_bi = self.add.backward(d_dot)
            L["user_bias"].backward(d_bu)
            L["item_bias"].backward(d_bi)
        d_p, d_q = self.dot.backward(d_dot)  # (B, K), (B, K)
        L["user_embedding"].backward(d_p)
        L["item_embedding"].backward(d_q)


TABLES = ("user_embedding", "item_embedding", "user_bias", "item_bias")  # the kernels' P, Q, b_u, b_i


class _KerasMF(NeuralRecommender):
    """What the two models add to :class:`~mfcore.models._neural.NeuralRecommender`:
    the graph :class:`MFNet`, the compiled epochs, and predictions straight from the tables."""

    _noise_stream = False  # no dropout: fit spawns the init and order streams only
    _engines = ("jit", "vectorized")
    # the state keys of model files saved before the tables moved into ``net_``
    _renamed_state = {"user_factors_": "net.user_embedding.embeddings",
                      "item_factors_": "net.item_embedding.embeddings",
                      "user_bias_": "net.user_bias.embeddings", "item_bias_": "net.item_bias.embeddings"}

    def _build_net(self, n_users, n_items, init_rng, noise_rng):
        return MFNet(n_users, n_items, self._k, self._own_biases, init_rng, self._dtype)

    def _epoch_fn(self, inputs, y):
        """The NumPy engine of the fit path (``"vectorized"``), or one kernel call per epoch:
        allocate the optimizer's slots, compile on a dummy, return ``epoch_fn(order, timing)``."""
        if self.engine == "vectorized":
            return super()._epoch_fn(inputs, y)
        u, i = inputs
        params = self.net_.params
        W = [params.get(f"{n}/embeddings", np.zeros((0, 1), self._dtype)) for n in TABLES]
        slots = [[np.zeros_like(w) for w in W] for _ in range(self._n_slots)]
        G = [np.zeros_like(w) for w in W]  # dense gradient tables, zeroed by the kernels
        t0 = time.perf_counter()
        dummy = [np.zeros((1, w.shape[1]), self._dtype) for w in W]
        one = np.zeros(1, np.int64)
        self._kernel(one, one, np.zeros(1, self._dtype), one, 1, dummy,
                     [[np.zeros_like(d) for d in dummy] for _ in range(self._n_slots)],
                     [np.zeros_like(d) for d in dummy], 0)
        self._compile_seconds = time.perf_counter() - t0
        step = 0  # optimizer steps taken (Keras' iterations)

        def epoch_fn(order, timing):
            nonlocal step
            with np.errstate(over="ignore", invalid="ignore"):  # matters under NUMBA_DISABLE_JIT only
                loss = self._kernel(u, i, y, order, self._batch, W, slots, G, step)
            step += -(-order.size // self._batch)
            return loss
        return epoch_fn

    # ------------------------------------------------------------- tables
    @property
    def user_factors_(self):
        """P (n_users, K): the net's ``user_embedding/embeddings``."""
        return self.net_.params["user_embedding/embeddings"]

    @property
    def item_factors_(self):
        """Q (n_items, K): the net's ``item_embedding/embeddings``."""
        return self.net_.params["item_embedding/embeddings"]

    # ------------------------------------------------------------- predict
    def _offset(self, u, i):
        if self._own_biases:
            return self.global_mean_ + self.user_bias_[u] + self.item_bias_[i]  # (n,)
        return 0.0

    def _predict_known(self, u, i):
        dot = np.einsum("nk,nk->n", self.user_factors_[u], self.item_factors_[i])  # (n,)
        return np.asarray(dot + self._offset(u, i), dtype=np.float64)

    def score_users(self, users):
        """Predictions (unclipped) of every item for each user index: (len(users), n_items)."""
        users = np.asarray(users, dtype=np.int64)
        scores = (self.user_factors_[users] @ self.item_factors_.T).astype(np.float64)  # (B, n_items)
        if self._own_biases:
            scores += self.global_mean_ + self.user_bias_[users][:, None] + self.item_bias_[None, :]
        return fill_unknown(self, users, scores)


@register
class BiasedMFKeras(_KerasMF):
    r"""Biased MF in the Keras training regime of the residual notebook (its stage 1).

    Model and loss (per minibatch :math:`\mathcal B`, target :math:`r - \mu`):

    .. math::

        \hat r_{ui} = \mu + b_u + b_i + p_u \cdot q_i, \qquad
        L_{\mathcal B} = \frac{1}{|\mathcal B|} \sum_{(u,i) \in \mathcal B} (\hat r_{ui} - r_{ui})^2
                         + \lambda (\lVert P \rVert_F^2 + \lVert Q \rVert_F^2)

    Updates, Keras SGD with momentum m on EVERY entry of every table W in
    {P, Q, b_u, b_i} after each batch (g = dL/dW, zero for rows not in the batch):

    (K1) :math:`V_W \leftarrow m V_W - \eta g`
    (K2) :math:`W \leftarrow W + V_W` (``nesterov=True``: :math:`W \leftarrow W + m V_W - \eta g`)

    so rows not in the batch keep moving along their velocity (Keras 3's dense
    update). Tables start at U(-0.05, 0.05) (Keras' Embedding default, the
    bias tables too). Rows are reshuffled every epoch with
    ``order_rng.permutation(n)``; the last batch may be smaller.

    Parameters
    ----------
    n_factors : int, default 15
        K.
    n_epochs : int, default 15
    lr : float, default 0.08
        eta.
    momentum : float, default 0.9
        m (0 gives plain minibatch SGD).
    nesterov : bool, default False
    batch_size : int, default 128
    reg : float, default 0.0
        lambda of Keras' ``l2`` on the factor tables (module docstring).
    early_stopping : bool, default False
        With validation ratings: stop when ``val_rmse`` has not improved for
        ``patience`` epochs and restore the best epoch's tables.
    patience : int, default 2
    engine : {"jit", "vectorized"}, default "jit"
        Same numbers; "vectorized" runs the NumPy layer graph.
    rng : None, int or Generator
        Split into an init stream and an order stream. An int makes ``fit``
        repeatable; a Generator advances, so refitting differs.
    dtype : "float64" or "float32"
    verbose : int, default 0

    Attributes
    ----------
    net_ : MFNet   the trained network; its ``params`` dict holds the tables.
    user_factors_, item_factors_ : ndarray (n_users, K), (n_items, K)   P, Q (views of ``net_``'s tables)
    user_bias_, item_bias_ : ndarray (n_users,), (n_items,)   b_u, b_i (views)
    history_ : History   ``train_loss`` is Keras' epoch loss (mean of the batch losses); the
        vectorized engine adds its ``forward_seconds``/``backward_seconds``/``update_seconds``.

    Unknown users or items get the known part of mu + b_u + b_i.

    Examples
    --------
    >>> from mfcore.data.synthetic import make_ratings
    >>> train = make_ratings(200, 100, 4000, rng=0)
    >>> BiasedMFKeras(n_epochs=5, rng=0).fit(train).evaluate(train)["rmse"] < 1.0
    True
    """

    name = "biased-mf-keras"
    notebook = "residual"
    _own_biases = True  # centred target; the net's b_u, b_i are the fallback too
    _n_slots = 1

    def __init__(self, n_factors=15, n_epochs=15, lr=0.08, momentum=0.9, nesterov=False,
                 batch_size=128, reg=0.0, early_stopping=False, patience=2, validation_fraction=0.1, engine="jit",
                 rng=None, dtype="float64", verbose=0):
        store_params(self, locals())

    def _make_optimizer(self):
        return SGD(lr=self._lr, momentum=self._momentum, nesterov=bool(self.nesterov))

    def _kernel(self, u, i, y, order, batch, W, slots, G, step):
        (V,) = slots
        return mfkeras_jit.mf_epoch_sgd(u, i, y, order, batch, *W, True, *V, *G,
                                        self._lr, self._momentum, bool(self.nesterov), self._reg)

    @property
    def user_bias_(self):
        """b_u (n_users,): a view of the net's ``user_bias/embeddings`` (n_users, 1)."""
        return self.net_.params["user_bias/embeddings"][:, 0]

    @property
    def item_bias_(self):
        """b_i (n_items,): a view of the net's ``item_bias/embeddings`` (n_items, 1)."""
        return self.net_.params["item_bias/embeddings"][:, 0]


@register
class DotMF(_KerasMF):
    r"""Dot-product MF on raw ratings, trained with Adamax: the ML-1M notebook's "CFModel".

    .. math::

        \hat r_{ui} = p_u \cdot q_i, \qquad
        L_{\mathcal B} = \frac{1}{|\mathcal B|} \sum_{(u,i) \in \mathcal B} (\hat r_{ui} - r_{ui})^2
                         + \lambda (\lVert P \rVert_F^2 + \lVert Q \rVert_F^2)

    No biases and no centring: the factors must grow from U(-0.05, 0.05) to
    carry the whole rating (about 3.5), which is why this model converges
    slowly. Updates, Keras Adamax on every entry of P and Q at step t:

    (A1) :math:`m \leftarrow m + (g - m)(1 - \beta_1)`
    (A2) :math:`u \leftarrow \max(\beta_2 u, |g|)`
    (A3) :math:`W \leftarrow W - \eta\, m / ((1 - \beta_1^t)(u + \epsilon))`

    Every row moves at every step (g = 0 outside the batch: m and u decay, w
    follows m), which costs O(all rows x K) per batch of 32 ratings. The default
    engine ``"deferred"`` takes those idle steps only when a row is next read:
    at a row's next batch (or at the end of the epoch) its s idle steps are
    applied at once in closed form, (X4) of :mod:`mfcore.engines.optim_numpy`
    (m and u shrink by beta_1^s and beta_2^s, and w moves by lr m times a sum
    over the s steps that a short series gives to rounding), and a batch costs
    O(batch rows x K). It needs the bias correction 1 - beta_1^t to be exactly
    1 in floating point, which it is from about step 400 on at beta_1 = 0.9; the
    steps before run densely. The result is the dense rule's up to rounding,
    tested to 1e-9 against ``"jit"`` over whole fits (float64): the drift of an
    initialisation changed by 1 ulp. It is faster by the share of rows a batch
    does not touch.
    With ``reg > 0`` every row has a gradient at every step (Keras' penalty is
    on the whole tables), so nothing can be deferred: ``"deferred"`` then runs
    ``"jit"``, as it does when beta_1 is too close to beta_2 for (X4)'s
    series (above about 0.99 at beta_2 = 0.999; ``optim_numpy.adamax_idle_ok``).

    With validation ratings and ``early_stopping=True`` (default), training
    stops when the validation loss (``val_rmse``, unclipped: the same decisions
    as Keras' ``val_loss``, the MSE) has not improved for ``patience`` epochs,
    and the best epoch's factors are restored (the notebook's EarlyStopping +
    ModelCheckpoint).

    Unknown users and items (fallback)
    ----------------------------------
    Keras predicts p_u . q_i even for an item with no training rating, whose
    q_i never left its random init: about 0, clipped to 1. mfcore does not:
    such pairs get the known part of mu + b_u + b_i, with b_u, b_i the
    damped-mean baseline ``Biases(method="closed")`` fitted on the same
    training ratings (stored as ``fallback_user_bias_``/``fallback_item_bias_``);
    ``evaluate`` counts them in ``n_unknown``.

    Parameters
    ----------
    n_factors : int, default 100
    n_epochs : int, default 30
    lr, beta_1, beta_2, epsilon : float, default 0.001, 0.9, 0.999, 1e-7
        Keras' Adamax defaults.
    batch_size : int, default 32
        Keras' default batch size, as the notebook used.
    reg : float, default 0.0
    early_stopping : bool, default True
    patience : int, default 2
    engine : {"deferred", "jit", "vectorized"}, default "deferred"
        The same numbers (above); "jit" is the dense rule Keras runs,
        "vectorized" its NumPy layer graph.
    rng, dtype, verbose
        As in :class:`BiasedMFKeras`.

    Attributes
    ----------
    net_ : MFNet   the trained network (no bias tables).
    user_factors_, item_factors_ : ndarray (n_users, K), (n_items, K)   P, Q (views of ``net_``'s tables)
    fallback_user_bias_, fallback_item_bias_ : ndarray   used for unknown pairs only
    history_ : History   as in :class:`BiasedMFKeras`.

    Examples
    --------
    >>> from mfcore.data.synthetic import make_ratings
    >>> train = make_ratings(200, 100, 4000, rng=0)
    >>> len(DotMF(n_factors=20, n_epochs=3, rng=0).fit(train).history_)
    3
    """

    name = "dot-mf"
    notebook = "ML-1M"
    note = ("the ML-1M notebook's dot product without biases, trained the Keras way: worse than the "
            "biases baseline, and than the global mean on ml-latest-small; biased-mf-keras adds the biases")
    _centered = False  # raw ratings as the target; Biases(method="closed") for the fallback
    _n_slots = 2
    _engines = ("deferred", "jit", "vectorized")

    def __init__(self, n_factors=100, n_epochs=30, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 batch_size=32, reg=0.0, early_stopping=True, patience=2, validation_fraction=0.1,
                 engine="deferred",
                 rng=None, dtype="float64", verbose=0):
        store_params(self, locals())

    def _check_extra(self):
        for name in ("beta_1", "beta_2"):
            setattr(self, "_" + name, check_number(getattr(self, name), name, self, low=0,
                                                   low_inclusive=True, high=1, high_inclusive=False))
        self._epsilon = check_number(self.epsilon, "epsilon", self, low=0)
        self._deferred = (self.engine == "deferred" and self._reg == 0
                          and optim_numpy.adamax_idle_ok(1.0 - self._beta_1, self._beta_2))

    def _make_optimizer(self):
        return Adamax(lr=self._lr, beta_1=self._beta_1, beta_2=self._beta_2, epsilon=self._epsilon)

    def _kernel(self, u, i, y, order, batch, W, slots, G, step):
        M, U = slots
        if self._deferred:
            return mfkeras_jit.mf_epoch_adamax_deferred(
                u, i, y, order, batch, *W, False, *M, *U, *G, self._lr, self._beta_1, self._beta_2,
                self._epsilon, step, optim_numpy.adamax_exact_from(self._beta_1))
        return mfkeras_jit.mf_epoch_adamax(u, i, y, order, batch, *W, False, *M, *U, *G,
                                           self._lr, self._beta_1, self._beta_2, self._epsilon, step,
                                           self._reg)
