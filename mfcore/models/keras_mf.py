r"""Matrix factorization trained the Keras way: minibatches, batch-mean MSE, Keras optimizers.

Two models of the seed notebooks, on the network core :mod:`mfcore.nn`:

* :class:`BiasedMFKeras` (``"biased-mf-keras"``): the residual notebook's biased
  MF, SGD with momentum;
* :class:`DotMF` (``"dot-mf"``): the ML-1M notebook's dot-product MF, Adamax.

Both share :class:`mfcore.nn.mfnet.MFNet`, the Keras graph written with mfcore layers, and two
engines giving the same numbers (tested to 1e-10 in float64):
``"vectorized"`` runs the layer graph and an :mod:`mfcore.nn.optim` optimizer
batch by batch in NumPy (the readable version); ``"jit"`` runs one Numba call
per epoch (:func:`mfcore.engines.mfkeras_jit.mf_epoch_sgd` / ``mf_epoch_adamax``).
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

from .._random import spawn
from .._validation import check_choice, check_number
from ..engines import mfkeras_jit, optim_numpy
from ..nn import SGD, Adamax
from ..nn.mfnet import MFNet
from ..ranking import fill_unknown
from .base import Recommender
from .baseline import Biases
from .registry import register
from .params import check_params, store_params


class _KerasMF(Recommender):
    """Shared fit loop of the two models (see their docstrings)."""

    iterative = True
    _has_bias = True
    _engines = ("jit", "vectorized")

    def _check_common(self):
        p = check_params(self)
        self._k, self._n_epochs, self._lr, self._batch = p["n_factors"], p["n_epochs"], p["lr"], p["batch_size"]
        self._reg, self._dtype = p["reg"], p["dtype"]
        check_choice(self.engine, "engine", self, self._engines)

    def _fit(self, train, valid, callbacks):
        self._check_common()
        self._check_optimizer()
        init_rng, order_rng = spawn(self.rng, 2)
        mu = self.global_mean_ if self._has_bias else 0.0
        u = np.ascontiguousarray(train.users, dtype=np.int64)  # (n,)
        i = np.ascontiguousarray(train.items, dtype=np.int64)  # (n,)
        y = np.ascontiguousarray(train.values - mu, dtype=self._dtype)  # (n,) target
        net = MFNet(train.n_users, train.n_items, self._k, self._has_bias, init_rng, self._dtype)
        tables = net.params
        self.user_factors_, self.item_factors_ = tables["user_embedding"], tables["item_embedding"]
        if self._has_bias:
            self.user_bias_, self.item_bias_ = tables["user_bias"][:, 0], tables["item_bias"][:, 0]
        else:
            fb = Biases(method="closed").fit(train)
            self.fallback_user_bias_, self.fallback_item_bias_ = fb.user_bias_, fb.item_bias_
        self._compile_seconds = 0.0
        if self.engine != "vectorized":
            epoch_fn = self._jit_engine(u, i, y, tables)
        else:
            opt = self._make_optimizer()

            def epoch_fn(order):
                total, n_batches = 0.0, 0
                with np.errstate(over="ignore", invalid="ignore"):
                    for start in range(0, order.size, self._batch):
                        rows = order[start:start + self._batch]  # (B,)
                        loss, grads = net.loss_and_grads(u[rows], i[rows], y[rows], self._reg)
                        opt.step(tables, grads)
                        total, n_batches = total + loss, n_batches + 1
                return total / n_batches

        def train_epoch(epoch):
            return epoch_fn(order_rng.permutation(len(u)))  # reshuffled every epoch

        self._run_epochs(self._n_epochs, train_epoch, callbacks, lr=self._lr)

    def _jit_engine(self, u, i, y, tables):
        """Allocate the optimizer tables, compile on a dummy, return ``epoch_fn(order)``."""
        W = [tables.get(n, np.zeros((0, 1), self._dtype)) for n in
             ("user_embedding", "item_embedding", "user_bias", "item_bias")]
        slots = [[np.zeros_like(w) for w in W] for _ in range(self._n_slots)]
        G = [np.zeros_like(w) for w in W]  # dense gradient tables, zeroed by the kernels
        t0 = time.perf_counter()
        dummy = [np.zeros((1, w.shape[1]), self._dtype) for w in W]
        one = np.zeros(1, np.int64)
        self._kernel(one, one, np.zeros(1, self._dtype), one, 1, dummy,
                     [[np.zeros_like(d) for d in dummy] for _ in range(self._n_slots)],
                     [np.zeros_like(d) for d in dummy], 0)
        self._compile_seconds = time.perf_counter() - t0
        self._step = 0

        def epoch_fn(order):
            with np.errstate(over="ignore", invalid="ignore"):  # matters under NUMBA_DISABLE_JIT only
                loss = self._kernel(u, i, y, order, self._batch, W, slots, G, self._step)
            self._step += -(-order.size // self._batch)
            return loss
        return epoch_fn

    # ------------------------------------------------------------- predict
    def _offset(self, u, i):
        if self._has_bias:
            return self.global_mean_ + self.user_bias_[u] + self.item_bias_[i]  # (n,)
        return 0.0

    def _predict_known(self, u, i):
        dot = np.einsum("nk,nk->n", self.user_factors_[u], self.item_factors_[i])  # (n,)
        return np.asarray(dot + self._offset(u, i), dtype=np.float64)

    def score_users(self, users):
        """Predictions (unclipped) of every item for each user index: (len(users), n_items)."""
        users = np.asarray(users, dtype=np.int64)
        scores = (self.user_factors_[users] @ self.item_factors_.T).astype(np.float64)  # (B, n_items)
        if self._has_bias:
            scores += self.global_mean_ + self.user_bias_[users][:, None] + self.item_bias_[None, :]
        return fill_unknown(self, users, scores)

    def _get_state(self):
        names = ("user_factors_", "item_factors_") + (
            ("user_bias_", "item_bias_") if self._has_bias else ("fallback_user_bias_", "fallback_item_bias_"))
        return {n: getattr(self, n) for n in names}


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
    user_factors_, item_factors_ : ndarray (n_users, K), (n_items, K)   P, Q
    user_bias_, item_bias_ : ndarray (n_users,), (n_items,)   b_u, b_i
    history_ : History   ``train_loss`` is Keras' epoch loss (mean of the batch losses).

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
    _n_slots = 1

    def __init__(self, n_factors=15, n_epochs=15, lr=0.08, momentum=0.9, nesterov=False,
                 batch_size=128, reg=0.0, early_stopping=False, patience=2, validation_fraction=0.1, engine="jit",
                 rng=None, dtype="float64", verbose=0):
        store_params(self, locals())

    def _check_optimizer(self):
        self._momentum = check_params(self, "momentum")["momentum"]

    def _make_optimizer(self):
        return SGD(lr=self._lr, momentum=self._momentum, nesterov=bool(self.nesterov))

    def _kernel(self, u, i, y, order, batch, W, slots, G, step):
        (V,) = slots
        return mfkeras_jit.mf_epoch_sgd(u, i, y, order, batch, *W, self._has_bias, *V, *G,
                                        self._lr, self._momentum, bool(self.nesterov), self._reg)

    def _predict_fallback(self, u, i):
        return self._bias_fallback(u, i, self.user_bias_, self.item_bias_)


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
    tested to 1e-9 against ``"jit"`` over whole fits (float64). On
    ml-latest-small the factors differ by about 1e-12 of the largest after an
    epoch, as much as from an initialisation changed by 1 ulp, and the default
    fit's test RMSE by 1e-14; the fit is about 9x faster.
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
    user_factors_, item_factors_ : ndarray (n_users, K), (n_items, K)   P, Q
    fallback_user_bias_, fallback_item_bias_ : ndarray   used for unknown pairs only
    history_ : History

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
    _has_bias = False
    _n_slots = 2
    _engines = ("deferred", "jit", "vectorized")

    def __init__(self, n_factors=100, n_epochs=30, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 batch_size=32, reg=0.0, early_stopping=True, patience=2, validation_fraction=0.1,
                 engine="deferred",
                 rng=None, dtype="float64", verbose=0):
        store_params(self, locals())

    def _check_optimizer(self):
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
                u, i, y, order, batch, *W, self._has_bias, *M, *U, *G, self._lr, self._beta_1, self._beta_2,
                self._epsilon, step, optim_numpy.adamax_exact_from(self._beta_1))
        return mfkeras_jit.mf_epoch_adamax(u, i, y, order, batch, *W, self._has_bias, *M, *U, *G,
                                           self._lr, self._beta_1, self._beta_2, self._epsilon, step,
                                           self._reg)

    def _predict_fallback(self, u, i):
        return self._bias_fallback(u, i, self.fallback_user_bias_, self.fallback_item_bias_)
