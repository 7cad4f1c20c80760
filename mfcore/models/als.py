r"""Biased matrix factorization fitted by alternating least squares (ALS).

The model and the objective are :class:`~mfcore.models.mf.BiasedMF`'s; only the
optimizer differs (closed-form ridge solves instead of SGD steps). The engines
are :mod:`mfcore.engines.als_loop`, ``als_vectorized`` and ``als_jit``.
"""
import time

import numpy as np

from .. import engines
from .._random import spawn
from .._validation import check_choice, check_dtype, check_number
from .base import Recommender
from .mf import BiasedMF
from .registry import register
from .params import check_params, store_params

ENGINES = ("jit", "vectorized", "loop")


def rows_csr(rows, cols, vals, n_rows):
    """``(indptr, cols, vals)`` of the ratings grouped by ``rows`` (stable within a row)."""
    order = np.argsort(rows, kind="stable")                                   # (n,)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)                             # (n_rows + 1,)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr, np.ascontiguousarray(cols[order]), np.ascontiguousarray(vals[order])


@register
class ALS(Recommender):
    r"""Biased matrix factorization fitted by alternating least squares.

    Model (M), as :class:`~mfcore.models.mf.BiasedMF`:
    :math:`\hat r_{ui} = \mu + b_u + b_i + p_u \cdot q_i`.

    Objective: BiasedMF's loss (L) summed over the training ratings,

    .. math:: J = \sum_{(u,i)} \tfrac12 e_{ui}^2 + \tfrac12\lambda\,(b_u^2 + b_i^2
              + \lVert p_u\rVert^2 + \lVert q_i\rVert^2)
            = \tfrac12 \sum_{(u,i)} e_{ui}^2 + \tfrac12\lambda \Big(\sum_u n_u
              (b_u^2 + \lVert p_u\rVert^2) + \sum_i n_i (b_i^2 + \lVert q_i\rVert^2)\Big)

    with :math:`n_u`, :math:`n_i` the numbers of training ratings of u and i.
    The penalty is per occurrence (Funk), so a row with more ratings is shrunk
    more: this is the "weighted-lambda" regularization of Zhou et al.'s ALS,
    and the same ``reg`` means the same objective in ``als`` and ``biased-mf``.

    With the item side fixed, J is a ridge regression in each user's
    :math:`w_u = [b_u, p_u]` (K+1 unknowns, the bias regularized like the
    factors), solved in closed form; then the same for the items:

    (A1) for every user, with :math:`x_i = [1, q_i]` and :math:`y_{ui} = r_{ui} - \mu - b_i`:
    :math:`\big(\sum_{i \in I_u} x_i x_i^\top + \lambda n_u I\big)\, w_u = \sum_{i \in I_u} y_{ui}\, x_i`

    (A2) for every item, with :math:`x_u = [1, p_u]` and :math:`y_{ui} = r_{ui} - \mu - b_u`:
    :math:`\big(\sum_{u \in U_i} x_u x_u^\top + \lambda n_i I\big)\, w_i = \sum_{u \in U_i} y_{ui}\, x_u`

    An epoch is (A1) then (A2). Each half step minimizes J exactly over one
    side, so J never increases (tested after every half step); no learning
    rate, no shuffling. ``reg`` must be > 0: with reg = 0 a user with fewer
    than K+1 ratings has no unique solution.

    Engines: ``loop`` solves one row at a time with a hand-written Cholesky
    factorization (:mod:`mfcore.engines.als_loop`); ``jit`` is that same
    source compiled by Numba (bit-identical in float64); ``vectorized``
    builds the systems of many rows with batched NumPy products and solves
    them with one batched ``np.linalg.solve`` per batch (equal up to rounding).
    Their speed: benchmarks/results/als.md.

    Parameters
    ----------
    n_factors : int, default 100
        K, the length of p_u and q_i.
    n_epochs : int, default 6
    reg : float, default 0.12
        lambda (> 0), the same for biases and factors, per occurrence as in
        BiasedMF. ALS reaches the minimum of J, so ``reg`` alone holds off
        overfitting: it needs a larger value than SGD, which stops early.
    engine : {"jit", "vectorized", "loop"}, default "jit"
    init_std : float, default 0.1
        Q (and P, which (A1) overwrites) start as N(0, init_std^2) draws; biases at 0.
    dtype : {"float64", "float32"}, default "float64"
    rng : None, int or numpy.random.Generator
        Only the initial Q (and the validation carve) is random: an int makes
        ``fit`` repeatable, a Generator advances.
    early_stopping, patience, validation_fraction, verbose
        As in :class:`~mfcore.models.mf.BiasedMF`.

    Attributes
    ----------
    user_factors_, item_factors_, user_bias_, item_bias_, global_mean_
        P, Q, b_u, b_i and mu, as in :class:`~mfcore.models.mf.BiasedMF`.
    history_ : History  ``train_loss`` (mean e^2 at the end of the epoch),
        ``train_rmse``, validation metrics, ``seconds``.

    Notes
    -----
    How the defaults were chosen, without the test set: ML-100k ``u1.base``
    split 90/10 at random (seed 0) into fit/holdout ratings (BiasedMF's
    protocol), a grid K in {10, 25, 50, 100} x reg in {0.03, 0.05, 0.08, 0.1,
    0.12, 0.15, 0.2}, 25 epochs each, scored by holdout RMSE after every
    epoch. The best cell was K=100, reg=0.12 at epochs 5-6; the holdout RMSE
    moves little after that (ALS converges), so ``n_epochs=6``. The table,
    the ``u1.test`` figures read afterwards and the comparison with
    ``biased-mf`` are in benchmarks/results/als.md.

    Unknown users or items get the known part of mu + b_u + b_i (as BiasedMF).

    References
    ----------
    Y. Zhou, D. Wilkinson, R. Schreiber and R. Pan, "Large-scale parallel
    collaborative filtering for the Netflix Prize", AAIM 2008. Y. Koren, R. Bell
    and C. Volinsky, "Matrix factorization techniques for recommender systems",
    IEEE Computer 42(8), 2009.

    Examples
    --------
    The same model fitted by the two optimizers:

    >>> from mfcore.models.als import ALS
    >>> from mfcore.models.mf import BiasedMF
    >>> als, sgd = ALS(rng=0).fit(train), BiasedMF(rng=0).fit(train)  # doctest: +SKIP
    >>> als.evaluate(test)["rmse"], sgd.evaluate(test)["rmse"]  # doctest: +SKIP
    """

    name = "als"
    iterative = True
    _kind = "biased"  # for BiasedMF's prediction code

    def __init__(self, n_factors=100, n_epochs=6, reg=0.12, engine="jit", init_std=0.1,
                 dtype="float64", rng=None, early_stopping=False, patience=3,
                 validation_fraction=0.1, verbose=0):
        store_params(self, locals())

    def _check_params(self):
        K, n_epochs = check_params(self, "n_factors", "n_epochs").values()
        reg = check_number(self.reg, "reg", self, low=0)
        init_std = check_number(self.init_std, "init_std", self, low=0, low_inclusive=True)
        engine = check_choice(self.engine, "engine", self, ENGINES)
        return K, n_epochs, reg, init_std, engine, check_dtype(self.dtype, self)

    def _fit(self, train, valid, callbacks):
        K, n_epochs, reg, init_std, engine, dt = self._check_params()
        half_step = engines.get_half_step("als", engine)
        (init_rng,) = spawn(self.rng, 1)
        users = np.asarray(train.users, dtype=np.int32)                      # (n,)
        items = np.asarray(train.items, dtype=np.int32)                      # (n,)
        values = np.asarray(train.values, dtype=dt)                          # (n,)
        by_user = rows_csr(users, items, values, train.n_users)              # for (A1)
        by_item = rows_csr(items, users, values, train.n_items)              # for (A2)
        self.user_factors_ = init_rng.normal(0.0, init_std, (train.n_users, K)).astype(dt)  # P
        self.item_factors_ = init_rng.normal(0.0, init_std, (train.n_items, K)).astype(dt)  # Q
        self.user_bias_ = np.zeros(train.n_users, dtype=dt)                  # b_u
        self.item_bias_ = np.zeros(train.n_items, dtype=dt)                  # b_i
        mu, reg = dt.type(self.global_mean_), dt.type(reg)

        self._compile_seconds = 0.0
        if engine == "jit":  # compile (or load from the cache) on a one-rating dummy
            t0 = time.perf_counter()
            one = (np.array([0, 1], np.int64), np.zeros(1, np.int32), np.ones(1, dt))
            half_step(*one, mu, np.zeros(1, dt), np.zeros((1, K), dt), np.zeros(1, dt),
                      np.zeros((1, K), dt), reg)
            self._compile_seconds = time.perf_counter() - t0
        n = len(values)
        logs = {}

        def epoch(_):
            P, Q, bu, bi = self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_
            half_step(*by_user, mu, bi, Q, bu, P, reg)        # (A1) users, items fixed
            sse = half_step(*by_item, mu, bu, P, bi, Q, reg)  # (A2) items, users fixed
            logs["train_rmse"] = float(np.sqrt(sse / n))
            return sse / n

        self._run_epochs(n_epochs, epoch, callbacks, fix="raise reg", extra_logs=logs)

    # -------------------------------------------------------------- predict
    # The model (M) is BiasedMF's, and so is the code that predicts with it.
    _dot = BiasedMF._dot
    score_users = BiasedMF.score_users
    _predict_known = BiasedMF._predict_known
    _predict_fallback = BiasedMF._predict_fallback
    _get_state = BiasedMF._get_state
