r"""Matrix factorization trained by SGD: FunkMF (p_u . q_i) and BiasedMF (+ mu + b_u + b_i).

The maths is in :class:`BiasedMF`'s docstring; how an epoch runs is the engine's
business (:mod:`mfcore.engines`: ``blocks`` (the default), ``loop``, ``vectorized``,
``jit``, ``jit-fast``, ``jit-hogwild``, ``jit-fast-hogwild``).
"""
import time

import numpy as np

from .. import engines
from .._random import spawn
from .._validation import check_choice, check_dtype, check_is_fitted, check_number
from .base import Recommender
from .registry import register
from .params import store_params


class _SGDMF(Recommender):
    """Shared fit/predict for the two SGD matrix factorizations (not registered)."""

    iterative = True
    _kind = None  # "biased" or "plain": the engine family

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        name = type(self).__name__
        K = check_number(self.n_factors, "n_factors", self, kind="int", low=1, low_inclusive=True)
        n_epochs = check_number(self.n_epochs, "n_epochs", self, kind="int", low=1, low_inclusive=True)
        lr = check_number(self.lr, "lr", self, low=0)
        reg = check_number(self.reg, "reg", self, low=0, low_inclusive=True)
        init_std = check_number(self.init_std, "init_std", self, low=0, low_inclusive=True)
        engine = check_choice(self.engine, "engine", self, engines.ENGINES + engines.PARALLEL_ENGINES)
        B = check_number(self.batch_size, "batch_size", self, kind="int", low=1, low_inclusive=True)
        if B > 1 and engine != "vectorized":
            raise ValueError(f"The 'batch_size' parameter of {name} must be 1 with engine={engine!r}, "
                             f"which updates after every rating. Got {B}; use engine='vectorized' "
                             "for minibatches")
        if engine in engines.PARALLEL_ENGINES and isinstance(self.rng, (int, np.integer)):
            raise ValueError(f"engine={engine!r} is not reproducible (threads race on shared rows), "
                             f"so {name} refuses an int rng, which promises identical refits; pass "
                             "rng=None or a numpy Generator, or use engine='blocks' (parallel with "
                             "n_threads, and reproducible)")
        return K, n_epochs, lr, reg, init_std, engine, B, check_dtype(self.dtype, self)

    def _check_engine_params(self, engine):
        """``n_threads`` and ``grid``, checked: (n_threads or None, grid or None)."""
        n_threads = check_number(self.n_threads, "n_threads", self, kind="int", low=1,
                                 low_inclusive=True, allow_none=True)
        grid = check_number(self.grid, "grid", self, kind="int", low=1, low_inclusive=True,
                            high=1024, allow_none=True)
        if grid is not None and engine != "blocks":
            raise ValueError(f"The 'grid' parameter of {type(self).__name__} applies to "
                             f"engine='blocks' only. Got grid={grid} with engine={engine!r}; "
                             "use grid=None")
        return n_threads, grid

    def _fit(self, train, valid, callbacks):
        K, n_epochs, lr, reg, init_std, engine, B, dt = self._check_params()
        n_threads, grid = self._check_engine_params(engine)
        epoch_fn = engines.get_epoch_fn(self._kind, engine, batch_size=B, n_threads=n_threads, grid=grid)
        init_rng, order_rng = spawn(self.rng, 2)  # independent streams: init, order
        # Contiguous arrays in the model dtype. No engine writes them, so the
        # Ratings' own read-only arrays are used as they are (no copy: 200 MB
        # saved on 25M ratings); only a dtype change copies the ratings.
        users = np.ascontiguousarray(train.users, dtype=np.int32)  # (n,)
        items = np.ascontiguousarray(train.items, dtype=np.int32)  # (n,)
        ratings = np.ascontiguousarray(train.values, dtype=dt)  # (n,)
        self.user_factors_ = init_rng.normal(0.0, init_std, (train.n_users, K)).astype(dt)  # P
        self.item_factors_ = init_rng.normal(0.0, init_std, (train.n_items, K)).astype(dt)  # Q
        if self._kind == "biased":
            self.user_bias_ = np.zeros(train.n_users, dtype=dt)  # b_u
            self.item_bias_ = np.zeros(train.n_items, dtype=dt)  # b_i
        mu, lr, reg = dt.type(self.global_mean_), dt.type(lr), dt.type(reg)  # cast once

        def call(u, i, r, order, bu, bi, P, Q):
            if self._kind == "biased":
                return epoch_fn(u, i, r, order, mu, bu, bi, P, Q, lr, reg)
            return epoch_fn(u, i, r, order, P, Q, lr, reg)

        self._compile_seconds = 0.0
        if engine.startswith("jit") or engine == "blocks":  # compile (or load from cache) on a dummy
            t0 = time.perf_counter()
            z1, zK = np.zeros(1, dtype=dt), np.zeros((1, K), dtype=dt)
            u1, i1, r1 = (np.zeros(1, a.dtype) for a in (users, items, ratings))
            for d, a in ((u1, users), (i1, items), (r1, ratings)):  # read-only arrays are
                d.setflags(write=a.flags.writeable)  # another Numba specialisation: match them
            dummy_order = engines.epoch_order(epoch_fn, np.random.default_rng(0), 1)
            call(u1, i1, r1, dummy_order, z1.copy(), z1.copy(), zK.copy(), zK.copy())
            self._compile_seconds = time.perf_counter() - t0
        if engine == "blocks":  # group the ratings into the grid once, before epoch 1
            epoch_fn.bucket(users, items, ratings, train.n_users, train.n_items, K, order_rng)
        if hasattr(epoch_fn, "padded_view"):  # jit-fast and blocks: P and Q live in the engine's
            # cache-line padded rows for the whole fit (views of them), so no epoch copies them
            # in and back; contiguous again when the fit ends
            self.user_factors_ = epoch_fn.padded_view("P", self.user_factors_)
            self.item_factors_ = epoch_fn.padded_view("Q", self.item_factors_)
        n = len(ratings)
        logs = {}

        def epoch(_):
            order = engines.epoch_order(epoch_fn, order_rng, n)  # (n,) reshuffle, or blocks' own
            sse = call(users, items, ratings, order, getattr(self, "user_bias_", None),
                       getattr(self, "item_bias_", None), self.user_factors_, self.item_factors_)
            logs["train_rmse"] = float(np.sqrt(sse / n))
            return sse / n

        try:
            self._run_epochs(n_epochs, epoch, callbacks, lr=self.lr, extra_logs=logs)
        finally:  # (a no-op unless they are an engine's padded views)
            self.user_factors_ = np.ascontiguousarray(self.user_factors_)
            self.item_factors_ = np.ascontiguousarray(self.item_factors_)

    # -------------------------------------------------------------- predict
    def _dot(self, u, i):
        P, Q = self.user_factors_, self.item_factors_
        return np.einsum("bk,bk->b", P[u], Q[i]).astype(np.float64)  # (B,)

    def score_users(self, users):
        """Scores of every item for each user index: shape (len(users), n_items), float64.

        The dense form of :meth:`predict` (the same numbers, same unknown-id
        policy), computed with one matrix product for top-N ranking.
        """
        check_is_fitted(self, "user_factors_")
        users = np.asarray(users, dtype=np.int64)
        n_users = self.user_counts_.size
        if users.size and (users.min() < 0 or users.max() >= n_users):
            raise IndexError(f"user indices must be in [0, {n_users}); got min {users.min()}, "
                             f"max {users.max()}")
        ku = self.user_counts_[users] > 0  # (U,)
        ki = self.item_counts_ > 0  # (n_items,)
        known = ku[:, None] & ki[None, :]  # (U, n_items)
        PQ = (self.user_factors_[users] @ self.item_factors_.T).astype(np.float64)  # (U, n_items)
        S = np.where(known, PQ, 0.0)  # the fallback has no factor term
        if self._kind == "biased":
            S += self.global_mean_
            S += np.where(ku, self.user_bias_[users], 0.0)[:, None]
            S += np.where(ki, self.item_bias_, 0.0)[None, :]
        else:
            S += np.where(known, 0.0, self.global_mean_)
        return S


@register
class FunkMF(_SGDMF):
    r"""Plain matrix factorization, r_hat_ui = p_u . q_i, trained by per-rating SGD.

    Simon Funk's Netflix-Prize model: :class:`BiasedMF` without mu, b_u and b_i.
    Loss per rating: 1/2 e_ui^2 + 1/2 reg (|p_u|^2 + |q_i|^2) (per-occurrence
    regularization), updates (U3) and (U4) of :class:`BiasedMF`. Parameters,
    engines and attributes are those of :class:`BiasedMF` minus the biases.

    Unknown users or items get the global mean mu (there are no biases to use).

    The defaults (K=50, 40 epochs, lr=0.01, reg=0.05, init_std=0.1) are sensible
    but were not tuned (their u1.test RMSE is in benchmarks/results/defaults.md).
    Without mu the factors must also carry the mean rating, so a small init_std
    learns slowly here.

    References
    ----------
    S. Funk, "Netflix Update: Try This at Home", blog post, 2006.

    Examples
    --------
    >>> from mfcore.models.mf import FunkMF
    >>> model = FunkMF(n_factors=20, n_epochs=30, rng=0).fit(train)  # doctest: +SKIP
    >>> model.evaluate(test)["rmse"]  # doctest: +SKIP
    """

    name = "mf"
    note = ("no biases (Funk's plain p_u . q_i, the toy notebook's model): on ML-100k about level "
            "with the biases baseline; biased-mf is the accurate one")
    _kind = "plain"

    def __init__(self, n_factors=50, n_epochs=40, lr=0.01, reg=0.05, engine="blocks", batch_size=1,
                 init_std=0.1, dtype="float64", rng=None, early_stopping=False, patience=3,
                 validation_fraction=0.1, verbose=0, n_threads=None, grid=None):
        store_params(self, locals())

    def _predict_known(self, u, i):
        return self._dot(u, i)

    def _get_state(self):
        return {"user_factors_": self.user_factors_, "item_factors_": self.item_factors_}


@register
class BiasedMF(_SGDMF):
    r"""Biased matrix factorization trained by SGD (Funk/Koren; Surprise's ``SVD``).

    Model (M): :math:`\hat r_{ui} = \mu + b_u + b_i + p_u \cdot q_i`.

    Per-rating loss (L), with :math:`e_{ui} = r_{ui} - \hat r_{ui}`:

    .. math:: \ell_{ui} = \tfrac12 e_{ui}^2 + \tfrac12\lambda\,(b_u^2 + b_i^2
              + \lVert p_u\rVert^2 + \lVert q_i\rVert^2)

    summed over the training ratings. Regularization is *per occurrence* (Funk):
    a rating shrinks only the rows it touches, so a user with 300 ratings is
    shrunk 300 times an epoch. (Keras' ``L2`` on an embedding is a different
    objective: whole matrix, once per batch.) The 1/2 removes the 2s below.

    SGD updates for one rating, all from the values *before* the step
    (eta = ``lr``, lambda = ``reg``):

    (U1) :math:`b_u \leftarrow b_u + \eta\,(e_{ui} - \lambda b_u)`
    (U2) :math:`b_i \leftarrow b_i + \eta\,(e_{ui} - \lambda b_i)`
    (U3) :math:`p_u \leftarrow p_u + \eta\,(e_{ui}\, q_i - \lambda p_u)`
    (U4) :math:`q_i \leftarrow q_i + \eta\,(e_{ui}\, p_u - \lambda q_i)`

    Ratings are visited in a fresh random order every epoch. Engines ``loop``
    and ``jit`` apply (U1)-(U4) one rating at a time (the same source; ``jit``
    is compiled) in a full reshuffle; ``vectorized`` sums the updates of
    ``batch_size`` ratings taken at the batch-start values (identical at
    ``batch_size=1``); ``jit-fast`` is ``jit`` with a cache-friendly memory
    schedule (padded rows, packed ratings, prefetching, fast-math dot
    products; the same numbers up to rounding). ``blocks``, the default, applies
    the same updates one rating at a time in a cheaper random order: ratings
    grouped once into a ``grid`` x ``grid`` grid of user-range x item-range
    blocks, each epoch visiting them in random strata of blocks that share no
    row, and each block in a random order (for wide rows on large data, such as
    K=100 on millions of ratings, with each block's ratings grouped by user;
    :mod:`mfcore.engines.mf_blocks` says exactly what is random). A block's rows stay in cache, and
    ``n_threads`` threads run the blocks of a stratum at once with results that
    depend on the seed only, not on the number of threads.
    ``jit-hogwild`` and ``jit-fast-hogwild`` run ``jit``/``jit-fast`` in
    parallel threads without locks (non-deterministic, so an int ``rng`` is
    refused).

    Parameters
    ----------
    n_factors : int, default 100
        K, the length of p_u and q_i.
    n_epochs : int, default 35
    lr : float, default 0.01
        eta.
    reg : float, default 0.05
        lambda, the same for biases and factors.
    engine : {"blocks", "jit", "jit-fast", "vectorized", "loop", "jit-hogwild", "jit-fast-hogwild"}, default "blocks"
        How an epoch runs (above); ``blocks`` is the fastest deterministic one
        (benchmarks/results/engines.md), ``loop`` and ``jit`` the readable
        reference that follows a full reshuffle.
    batch_size : int, default 1
        Ratings per update; > 1 needs ``engine="vectorized"``.
    init_std : float, default 0.01
        P and Q start as N(0, init_std^2) draws; biases start at 0. (Surprise
        uses 0.1; a small start lets the biases settle before the factors grow.)
    dtype : {"float64", "float32"}, default "float64"
        Every parameter array and the ratings copy use it; predictions are float64.
    rng : None, int or numpy.random.Generator
        An int makes ``fit`` repeatable; a Generator advances, so a refit
        differs. Split into independent ``init`` and ``order`` streams.
    early_stopping : bool, default False
        Stop when ``val_rmse`` has not improved for ``patience`` epochs and
        restore the best epoch's parameters. Validation ratings are ``valid``
        in ``fit`` or, without it, ``validation_fraction`` of the training
        ratings carved at random (never the test ratings).
    patience : int, default 3
    validation_fraction : float, default 0.1
    verbose : int, default 0
        Print every ``verbose`` epochs.
    n_threads : int or None, default None
        Threads of the parallel engines. ``blocks`` runs the blocks of a stratum
        on ``n_threads`` threads (None: 1) with bit-identical parameters for
        any value; the Hogwild engines split each epoch over them (None: all of
        Numba's threads, ``NUMBA_NUM_THREADS``, by default one per CPU).
    grid : int or None, default None
        ``engine="blocks"`` only: users and items are each split into ``grid``
        ranges. None picks it from the numbers of users and items, K and the
        dtype, so that one block's rows fit in 1 MiB of cache
        (:func:`mfcore.engines.mf_blocks.grid_size`; at least 4).

    Attributes
    ----------
    user_factors_ : ndarray (n_users, K)  P
    item_factors_ : ndarray (n_items, K)  Q
    user_bias_ : ndarray (n_users,)  b_u
    item_bias_ : ndarray (n_items,)  b_i
    global_mean_ : float  mu
    history_ : History  ``train_loss`` (mean e^2 during the epoch), ``train_rmse``,
        validation metrics, ``seconds``; ``compile_seconds`` holds Numba's time.

    Notes
    -----
    How the defaults were chosen, without the test set: ML-100k ``u1.base`` was
    split 90/10 at random (seed 0) into fit/holdout, and a grid K in {50, 100,
    200} x lr in {0.005, 0.01} x reg in {0.05, 0.08, 0.1} x init_std in {0.01,
    0.05, 0.1}, up to 80 epochs each, was scored by holdout RMSE per epoch. The
    best was K=100, lr=0.01, reg=0.05, init_std=0.01 at epoch 33 (K=200 with
    lr=0.005 tied with it); the small init won in every cell, and a second look
    at reg=0.03 and init_std in {0.001, 0.005} gained nothing. ``n_epochs=35`` is
    that best epoch, rounded. Only then was ``u1.test`` read. The holdout and
    test figures, beside Surprise's SVD, are in benchmarks/results/defaults.md.
    That search ran on ``engine="jit"`` (a full reshuffle per epoch); what the
    default ``blocks`` engine's order changes is measured in
    ``benchmarks/results/blocks_accuracy.md``.

    Unknown users or items get the known part of mu + b_u + b_i.

    References
    ----------
    S. Funk, "Netflix Update: Try This at Home", 2006. Y. Koren, R. Bell and
    C. Volinsky, "Matrix factorization techniques for recommender systems",
    IEEE Computer 42(8), 2009. N. Hug, "Surprise", JOSS 5(52), 2020.

    Examples
    --------
    >>> from mfcore.models.mf import BiasedMF
    >>> model = BiasedMF(rng=0).fit(train)  # doctest: +SKIP
    >>> model.evaluate(test)["rmse"]  # doctest: +SKIP
    """

    name = "biased-mf"
    _kind = "biased"

    def __init__(self, n_factors=100, n_epochs=35, lr=0.01, reg=0.05, engine="blocks", batch_size=1,
                 init_std=0.01, dtype="float64", rng=None, early_stopping=False, patience=3,
                 validation_fraction=0.1, verbose=0, n_threads=None, grid=None):
        store_params(self, locals())

    def _predict_known(self, u, i):
        bias = self.user_bias_[u].astype(np.float64) + self.item_bias_[i]
        return self.global_mean_ + bias + self._dot(u, i)

    def _predict_fallback(self, u, i):
        return self._bias_fallback(u, i, self.user_bias_.astype(np.float64),
                                   self.item_bias_.astype(np.float64))

    def _get_state(self):
        return {"user_factors_": self.user_factors_, "item_factors_": self.item_factors_,
                "user_bias_": self.user_bias_, "item_bias_": self.item_bias_}
