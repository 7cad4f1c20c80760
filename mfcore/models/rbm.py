r"""Restricted Boltzmann machines for collaborative filtering (Salakhutdinov, Mnih, Hinton 2007).

One RBM per user, all sharing weights: user u has a visible unit block for each
item i it rated (items it did not rate are simply ABSENT, not zeros) and F
binary hidden units h. Block i holds K values :math:`v_{i1..iK}`: one-hot over
the K rating levels (:class:`SoftmaxRBM`) or one value in [0, 1]
(:class:`BernoulliRBM`, K = 1). Weights W (n_items, K, F), visible biases
bv (n_items, K), hidden biases bh (F,).

.. math::

    E(v, h) = -\sum_{i \in I_u} \sum_c \sum_f W_{icf} v_{ic} h_f
              - \sum_{i \in I_u} \sum_c b_{ic} v_{ic} - \sum_f h_f b_f

    (R1)\ p(v_{ic} = 1 \mid h) = \frac{\exp(b_{ic} + \sum_f W_{icf} h_f)}
                                      {\sum_{l} \exp(b_{il} + \sum_f W_{ilf} h_f)}
         \quad (\text{K = 1: } \sigma(b_i + \sum_f W_{if} h_f))

    (R2)\ p(h_f = 1 \mid v) = \sigma\big(b_f + \textstyle\sum_{i,c} v_{ic} W_{icf}\big)

    (R3)\ F(v) = -\sum_{i,c} v_{ic} b_{ic}
                 - \sum_f \log\big(1 + e^{b_f + \sum_{i,c} v_{ic} W_{icf}}\big),
         \quad p(v) \propto e^{-F(v)}

(R4) CD-k: start from the data :math:`v^0`; :math:`h \sim` (R2), :math:`v \sim`
(R1), repeated k times, giving :math:`v^k`; with :math:`p^0, p^k` the (R2)
probabilities of :math:`v^0, v^k`, the statistics of user u are
:math:`\Delta W_{icf} = v^0_{ic} p^0_f - v^k_{ic} p^k_f`,
:math:`\Delta b_{ic} = v^0_{ic} - v^k_{ic}`, :math:`\Delta b_f = p^0_f - p^k_f`
(an estimate of :math:`-\partial F(v^0)/\partial\theta + E_{model}[\partial F/\partial\theta]`).
Per minibatch B of users, with momentum m and weight decay wd (on W only):

(R5) :math:`\Delta_W \leftarrow m \Delta_W + \eta (\tfrac1{|B|}\sum_{u\in B} \Delta W - wd\, W),\
W \leftarrow W + \Delta_W`, and the same for the biases without decay.

k grows during training: :math:`k = \min(k_{max}, k_0 + 2\lfloor (epoch - 1) / every \rfloor)`.

(R6) ``shared_weights=True`` (an addition to the paper's model; the default of
:class:`SoftmaxRBM`): :math:`W_{icf} = A_{icf} + S_{cf}` with S (K, F) shared by every
visible unit, and the weight decay of (R5) on A only, i.e. a Gaussian prior on
each unit's weights centred on the learnt S instead of on 0. The statistic of S
is the sum of the units' statistics over the batch divided by the batch's number
of ratings (a mean per rating), with the same lr and momentum and no decay.
The model is still the RBM of (R1)-(R3) with weights W; only the
parametrisation and the prior change. Why it helps the user-based RBM:
a user's overall leniency must reach the visible units through W, and the weights
of an item rated by a handful of users never learn it (with F = 3 hidden units the
plain user-based RBM does little better than the item-mean predictor on the
tuning holdout: benchmarks/results/autorec_rbm.md); S gives every item the same
level-to-hidden map, learnt from all the ratings, and the decay keeps a rare
item's weights near it.

Prediction for (u, q): mean-field hidden activations from u's training ratings
:math:`\hat p = p(h = 1 \mid v_u)` (R2), then the expected rating
:math:`\hat r_{uq} = \sum_c \text{level}_c\, p(v_{qc} = 1 \mid \hat p)` (R1).

Orientation: the paper builds one RBM per user ("cases" = users, visible
units = items). ``item_based=True`` applies the same model to the transposed
matrix, cases = items and visible units = users. Both orientations were tuned
on a holdout of the training rows (see :class:`SoftmaxRBM`); on ML-100k the
item-based one is better and is the default of ``rbm``; the user-based one
beats the biases baseline only with the shared weights of (R6). Below, "user"
and "item" are the paper's orientation; swap them for ``item_based=True``.

Randomness: every uniform is drawn in Python from the noise stream (per batch
``Uh = rng.random((k, B, F))``, ``Uv = rng.random((k, nnz_B))``) and passed to
the kernel; samples are ``U < p`` (hidden) and inverse-CDF (softmax). The Numba
kernel :func:`mfcore.engines.rbm_jit.cd_batch` and :func:`cd_batch_numpy` give
the same numbers for the same draws.
"""
import time

import numpy as np
from scipy import sparse

from .._random import spawn
from .._validation import check_choice, check_number
from ..engines import rbm_jit
from ..engines.rbm_numpy import (_sigmoid, cd_batch_numpy, free_energy,  # noqa: F401
                                 momentum_step_numpy, visible_probs)
from ..exceptions import DataError
from ..ranking import fill_unknown
from ..engines.autorec_numpy import csr_rows
from .base import Recommender
from .baseline import Biases
from .registry import register
from .params import check_hidden_units, check_params, store_params

#: Tuned settings of the paper's user-based orientation (``SoftmaxRBM(**USER_BASED)``), chosen on
#: the tuning holdout like the item-based defaults (see :class:`SoftmaxRBM`).
USER_BASED = dict(item_based=False, shared_weights=True, hidden_units=100, n_epochs=220, lr=0.02, momentum=0.9,
                  reg=0.02, batch_size=100, cd_k_every=80)


class _CFRBM(Recommender):
    """Training loop, prediction and state shared by the two RBMs."""

    iterative = True
    _row_width_params = ("hidden_units",)  # weights per visible unit, hidden codes per case

    def __init__(self, hidden_units=100, n_epochs=50, lr=0.1, momentum=0.5, reg=0.01,
                 batch_size=20, cd_k=1, cd_k_max=5, cd_k_every=20, init_std=0.01,
                 item_based=True, shared_weights=False, early_stopping=False, patience=3,
                 validation_fraction=0.1, engine="jit",
                 rng=None, verbose=0, **renamed):
        store_params(self, locals())

    def _check(self):
        pos_int = dict(kind="int", low=1, low_inclusive=True)
        (F,) = check_hidden_units(self, 1)
        check_params(self)
        for name in ("cd_k", "cd_k_max", "cd_k_every"):
            check_number(getattr(self, name), name, self, **pos_int)
        check_number(self.cd_k_max, "cd_k_max", self, kind="int", low=self.cd_k, low_inclusive=True)  # the cap
        check_number(self.init_std, "init_std", self, low=0)  # W ~ N(0, init_std^2) must break symmetry
        check_choice(self.engine, "engine", self, ("jit", "numpy"))
        for name in ("item_based", "shared_weights"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"The {name!r} parameter of {type(self).__name__} must be True or False. "
                                f"Got {getattr(self, name)!r} instead (command line: {name}=true or false).")
        return F

    def k_at(self, epoch):
        """CD steps used at ``epoch`` (1-based): the schedule of the module docstring."""
        return min(self.cd_k_max, self.cd_k + 2 * ((epoch - 1) // self.cd_k_every))

    def _fit(self, train, valid, callbacks):
        F = self._check()
        fb = Biases(method="closed").fit(train)
        self.fallback_user_bias_, self.fallback_item_bias_ = fb.user_bias_, fb.item_bias_
        self.levels_ = self._levels(train)  # (K,)
        Kl = self.levels_.size
        init_rng, order_rng, noise_rng = spawn(self.rng, 3)
        cases, units = (train.items, train.users) if self.item_based else (train.users, train.items)
        n_cases, n_units = (train.n_items, train.n_users) if self.item_based else (train.n_users, train.n_items)
        indptr, items, vals = csr_rows(cases.astype(np.int64), units.astype(np.int64), train.values, n_cases)
        vdata = self._encode(vals)  # (nnz, K)
        self.W_ = init_rng.standard_normal((n_units, Kl, F)) * self.init_std  # (n_items, K, F)
        self.bv_ = self._init_bv(items, vdata, n_units)  # (n_items, K)
        self.bh_ = np.zeros(F)  # (F,)
        self._data = (indptr, items, vdata)
        params = (self.W_, self.bv_, self.bh_)
        vel = [np.zeros_like(p) for p in params]
        grads = [np.zeros_like(p) for p in params]
        if self.shared_weights:  # W = A + S: decay pulls each unit's A towards the shared S (R6)
            self.S_ = np.zeros((Kl, F))  # (K, F)
            A, vS, gS = self.W_.copy(), np.zeros((Kl, F)), np.zeros((Kl, F))  # (n_units, K, F), (K, F) x 2
        if self.engine == "jit":
            kernel, step = rbm_jit.cd_batch, rbm_jit.momentum_step
            t0 = time.perf_counter()  # compile on a dummy: compile time is not epoch 1's
            one = np.zeros(1, np.int64)
            kernel(np.array([0, 1]), one, vdata[:1], one, self.W_[:1].copy(), self.bv_[:1].copy(),
                   self.bh_.copy(), 1, np.ones((1, 1, F)), np.ones((1, 1)), self.levels_,
                   np.zeros_like(self.W_[:1]), np.zeros_like(self.bv_[:1]), np.zeros(F))
            step(np.zeros(1), np.zeros(1), np.zeros(1), 0.1, 0.9, 0.0, 1)
            self._compile_seconds = time.perf_counter() - t0
        else:
            kernel, step = cd_batch_numpy, momentum_step_numpy
        scale2 = self._value_scale() ** 2
        n = len(train)

        def train_epoch(epoch):
            k = self.k_at(epoch)
            order = order_rng.permutation(n_cases)  # reshuffled every epoch
            sse = 0.0
            for start in range(0, order.size, self.batch_size):
                users = order[start:start + self.batch_size]  # (B,)
                nnz_b = int(np.sum(indptr[users + 1] - indptr[users]))
                Uh = noise_rng.random((k, users.size, F))  # (k, B, F)
                Uv = noise_rng.random((k, nnz_b))  # (k, nnz_B)
                sse += kernel(indptr, items, vdata, users, *params, k, Uh, Uv, self.levels_, *grads)
                first = 0
                if self.shared_weights:  # (R6): S's statistic is W's summed over units, per rating
                    gS[...] = grads[0].sum(axis=0) * (users.size / max(nnz_b, 1))
                    step(self.S_, vS, gS, self.lr, self.momentum, 0.0, users.size)
                    step(A, vel[0], grads[0], self.lr, self.momentum, self.reg, users.size)
                    np.add(A, self.S_, out=self.W_)
                    first = 1  # W_ is done
                for j in range(first, 3):  # (R5); zeroes g
                    step(params[j], vel[j], grads[j], self.lr, self.momentum,
                         self.reg if j == 0 else 0.0, users.size)
            return sse * scale2 / n

        self._run_epochs(self.n_epochs, train_epoch, callbacks, lr=self.lr)
        del self._data

    def _sync(self):
        self._refresh_hidden()  # predictions read the hidden units of the training rows

    def _refresh_hidden(self):
        """Mean-field hidden probabilities of every user from its training ratings (R2)."""
        indptr, items, vdata = self._data
        Kl = vdata.shape[1]
        cols = (items[:, None] * Kl + np.arange(Kl)).ravel()  # (nnz*K,)
        rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr) * Kl)
        Vu = sparse.csr_matrix((vdata.ravel(), (rows, cols)), shape=(indptr.size - 1, self.W_.shape[0] * Kl))
        self.hidden_ = _sigmoid(Vu @ self.W_.reshape(-1, self.W_.shape[2]) + self.bh_)  # (n_users, F)

    def _expected(self, act):
        return self._decode(visible_probs(act) @ self.levels_)

    def _predict_known(self, u, i):
        if self.item_based:
            u, i = i, u
        act = self.bv_[i] + np.einsum("ncf,nf->nc", self.W_[i], self.hidden_[u])  # (n, K)
        return self._expected(act)

    def score_users(self, users):
        """Predictions (unclipped) of every item for each user index: (len(users), n_items)."""
        users = np.asarray(users, dtype=np.int64)
        if self.item_based:  # cases are items: item codes against the users' weights
            act = np.einsum("bcf,if->bic", self.W_[users], self.hidden_) + self.bv_[users][:, None, :]
        else:
            act = np.einsum("icf,bf->bic", self.W_, self.hidden_[users]) + self.bv_  # (B, n_items, K)
        return fill_unknown(self, users, self._expected(act))

    def _predict_fallback(self, u, i):
        return self._bias_fallback(u, i, self.fallback_user_bias_, self.fallback_item_bias_)

    def _state_shapes(self):
        (F,) = check_hidden_units(self, 1)
        units, cases = ("users", "items") if self.item_based else ("items", "users")
        return {"levels_": ("levels",), "W_": (units, "levels", F), "bv_": (units, "levels"), "bh_": (F,),
                "hidden_": (cases, F), **({"S_": ("levels", F)} if self.shared_weights else {})}

    def _get_state(self):
        keys = ("W_", "bv_", "bh_", "hidden_", "levels_", "fallback_user_bias_", "fallback_item_bias_")
        return {k: getattr(self, k) for k in keys + (("S_",) if self.shared_weights else ())}


@register
class SoftmaxRBM(_CFRBM):
    """The RBM of Salakhutdinov et al. (2007): one softmax visible unit per rated item ("rbm").

    K = number of rating levels of the training scale (1-5 stars: 5; half
    stars 0.5-5: 10; any discrete :class:`~mfcore.data.RatingScale`); a
    continuous scale raises :class:`~mfcore.exceptions.DataError`. Visible biases
    start at the log of each item's smoothed level frequencies. Maths: module
    docstring (R1)-(R5).

    Parameters
    ----------
    hidden_units : int, default 100   F.
    n_epochs : int, default 80
    lr, momentum, reg : float, default 0.05, 0.5, 0.01   eta, m, wd of (R5).
    batch_size : int, default 20   cases (users, or items) per CD minibatch.
    cd_k, cd_k_max, cd_k_every : int, default 1, 5, 20
        k starts at cd_k and grows by 2 every cd_k_every epochs up to cd_k_max.
    init_std : float, default 0.01   W ~ N(0, init_std^2).
    item_based : bool, default True
        False: the paper's orientation, one RBM per USER over the items it
        rated. True: the same model on the transposed matrix, one RBM per ITEM
        with a softmax unit per user who rated it (the "I-RBM" of later papers,
        the RBM counterpart of I-AutoRec); predictions read item i's hidden code.
    shared_weights : bool, default True
        (R6): W = A + S with S (K, F) shared by every visible unit and the decay
        on A only. False: the paper's plain W, decayed towards 0.

    Defaults (tuning)
    -----------------
    Chosen WITHOUT the test set, on a 10% holdout of the ML-100k 80/20
    training rows (``random_split(train, 0.1, rng=42)``); every setting tried,
    with its holdout curve, is in ``benchmarks/results/autorec_rbm.{json,md}``,
    and the chosen rows beside the biases baseline in
    ``benchmarks/results/defaults.md``. The user-based settings are
    :data:`USER_BASED` (``SoftmaxRBM(**USER_BASED)``).

    The plain user-based RBM (the paper's model as published) never beat the
    biases on the holdout over the ranges of lr, momentum, weight decay, F, batch
    size and epochs tried: weak decay overfits, strong decay (>= 0.1) leaves only the
    visible biases (the item-mean predictor), and even a 3-unit RBM does little
    better than that: the weights of an item rated by ~44 of the 943 training
    users cannot learn a user's leniency. With (R6) the user-based RBM beats the
    biases (:data:`USER_BASED`: lr 0.02, momentum 0.9, decay 0.02, 100 users per
    batch, k = 1, 3, 5 every 80 epochs, 220 epochs). The item-based RBM, with
    (R6), is better still and is the default: 1,638 cases instead of 943, and
    each visible unit (a user) has ~76 training ratings to fit its weights
    instead of ~44 for an item.
    early_stopping, patience : stop on ``val_rmse`` when validation ratings are given.
    engine : {"jit", "numpy"}   Numba kernel or its NumPy twin (same numbers).
    rng : None, int or Generator   split into init, order and noise streams.

    Attributes
    ----------
    W_ (n_items, K, F), bv_ (n_items, K), bh_ (F,), levels_ (K,),
    S_ (K, F) the shared part of W_ (R6; only with ``shared_weights``),
    hidden_ (n_cases, F) mean-field hidden probabilities of every case (user, or
    item with ``item_based``) from its training ratings, used by predictions.
    history_ : ``train_loss`` = mean squared error of the first reconstruction's
    expected rating (a monitor, not the CD objective).

    References
    ----------
    Salakhutdinov, Mnih, Hinton, "Restricted Boltzmann Machines for
    Collaborative Filtering", ICML 2007.
    """

    name = "rbm"

    def __init__(self, hidden_units=100, n_epochs=80, lr=0.05, momentum=0.5, reg=0.01,
                 batch_size=20, cd_k=1, cd_k_max=5, cd_k_every=20, init_std=0.01,
                 item_based=True, shared_weights=True, early_stopping=False, patience=3,
                 validation_fraction=0.1, engine="jit",
                 rng=None, verbose=0, **renamed):
        store_params(self, locals())

    def _levels(self, train):
        levels = train.scale.levels  # DataError for a continuous scale
        if levels.size < 2:  # one level: its softmax would be the one-unit sigmoid of (R1)
            raise DataError(f"a softmax RBM needs a rating scale of at least two levels; {train.scale} has "
                            "one. If the ratings come from a wider scale, pass it to the loader (e.g. "
                            "scale=RatingScale(1, 5))")
        idx = np.round((train.values - levels[0]) / train.scale.step)
        if np.any(np.abs(train.values - (levels[0] + idx * train.scale.step)) > 1e-6) or idx.min() < 0 \
                or idx.max() >= levels.size:
            raise DataError(f"ratings do not fall on the levels {levels} of the scale {train.scale}; "
                            "pass the right RatingScale to the loader")
        self._level_step = train.scale.step
        return np.asarray(levels, dtype=np.float64)

    def _encode(self, vals):
        idx = np.round((vals - self.levels_[0]) / self._level_step).astype(np.int64)
        V = np.zeros((vals.size, self.levels_.size))
        V[np.arange(vals.size), idx] = 1.0  # one-hot over the levels
        return V

    def _init_bv(self, items, vdata, n_items):
        counts = np.ones((n_items, vdata.shape[1]))  # add-one smoothing
        np.add.at(counts, items, vdata)
        return np.log(counts / counts.sum(axis=1, keepdims=True))

    def _value_scale(self):
        return 1.0

    def _decode(self, expected):
        return expected


@register
class BernoulliRBM(_CFRBM):
    """A Bernoulli RBM on ratings, the toy notebook's model with its flaws fixed ("bernoulli-rbm").

    What the toy notebook did wrong, and the fix here:

    1. It fed raw 1-5 ratings into binary units and sampled binary
       reconstructions, so its "prediction" was a 0/1 matrix, not a rating.
       Worse, with data up to 5 and unit means at most 1, the visible-bias
       step mean(x - v) stays positive for every rated item, so the biases grow
       without bound and the reconstruction tends to all ones (the notebook's
       printed output is a matrix of ones).
       Here each rating is scaled to x = (r - low) / (high - low) in [0, 1],
       used as the unit's data probability (positive phase), and the
       prediction is low + (high - low) * p(v_q = 1 | mean-field h): a rating.
    2. Missing ratings were zeros, so the model learnt to reconstruct
       "unrated" as a rating of 0. Here unrated items are absent (module docstring).
    3. Its negative statistics paired the reconstruction with the POSITIVE
       hidden sample, and its hidden-bias step was the mean of the positive
       sample alone (a bias that only grows). Here (R4) pairs v^k with p(h | v^k)
       and uses hidden probabilities, not samples, in both statistics.
    4. It sampled with ``relu(sign(p - U))`` from TensorFlow's global
       generator and predicted by sampling, so outputs were random. Here U is
       drawn from the seeded ``rng`` (sample = U < p) and predictions are
       mean-field expectations (deterministic).
    5. No shuffling and an error printed for the last batch only: here users are
       reshuffled every epoch and ``train_loss`` covers every rating.

    Parameters and attributes as in :class:`SoftmaxRBM` (K = 1, levels_ = [1]),
    with the pre-tuning defaults (n_epochs 50, lr 0.1, shared_weights False): it
    was not retuned.
    The scale needs only low < high (continuous ratings are fine).
    """

    name = "bernoulli-rbm"
    notebook = "toy"
    note = ("the toy notebook's binary RBM, repaired but still binary: worse than the biases baseline; "
            'rbm (softmax units) is the accurate one')

    def _levels(self, train):
        if not train.scale.high > train.scale.low:
            raise DataError("a Bernoulli RBM needs a rating scale with low < high")
        self._low, self._span = train.scale.low, train.scale.high - train.scale.low
        return np.ones(1)

    def _encode(self, vals):
        return ((vals - self._low) / self._span)[:, None]  # (nnz, 1) in [0, 1]

    def _init_bv(self, items, vdata, n_items):
        s = np.full(n_items, 1.0)  # smoothed mean scaled rating per item
        np.add.at(s, items, vdata[:, 0])
        p = s / (2.0 + np.bincount(items, minlength=n_items))
        return np.log(p / (1 - p))[:, None]

    def _value_scale(self):
        return self.scale_.high - self.scale_.low

    def _decode(self, expected):
        return self.scale_.low + (self.scale_.high - self.scale_.low) * expected
