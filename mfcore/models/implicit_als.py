r"""Implicit-feedback ALS (Hu, Koren and Volinsky, 2008) with the conjugate-gradient solve."""
import time

import numpy as np

from .. import engines
from .._random import spawn
from .._validation import check_choice, check_dtype, check_is_fitted, check_number
from .als import rows_csr
from .base import Recommender
from .registry import register
from .params import check_params, store_params

ENGINES = ("jit", "loop")


@register
class ImplicitALS(Recommender):
    r"""Weighted matrix factorization of implicit feedback, fitted by ALS with CG steps.

    Every training rating is an *observation*: user u interacted with item i,
    preference :math:`p_{ui} = 1`; every other (u, i) cell has :math:`p_{ui} = 0`.
    The rating value :math:`r_{ui}` only sets the confidence
    :math:`c_{ui} = 1 + \alpha\, r_{ui}` (1 for the unobserved cells). Pass
    values of 1 for a plain "interacted" view (e.g. ratings >= 4 as positives).

    Model: score :math:`s_{ui} = x_u \cdot y_i` (a ranking score, not a rating).

    Objective, over ALL users x items cells, regularized once per row (whole
    matrix, Hu et al.'s convention; not BiasedMF's per occurrence):

    .. math:: J = \sum_{u,i} c_{ui} (p_{ui} - x_u\cdot y_i)^2
              + \lambda \Big(\sum_u \lVert x_u\rVert^2 + \sum_i \lVert y_i\rVert^2\Big)

    With Y fixed, each :math:`x_u` solves

    (I1) :math:`\big(Y^\top Y + \sum_{i \in I_u} (c_{ui} - 1)\, y_i y_i^\top + \lambda I\big)\, x_u
    = \sum_{i \in I_u} c_{ui}\, y_i`

    and (I2) is the same for every :math:`y_i` with X fixed. :math:`Y^\top Y` is
    computed once per half step, so a row costs O(n_u K) per product, not
    O(n_items K). The system is solved approximately by ``cg_steps`` steps of
    conjugate gradients warm-started from the current :math:`x_u` (Takács,
    Pilászy and Tikk, 2011): a few steps per epoch suffice because the start is
    already close. An epoch is (I1) then (I2).

    The defaults (alpha, reg) were chosen by NDCG@10 on a validation split of
    ML-100k's training positives, never its test positives
    (``benchmarks/bench_implicit.py``; the figures, against popularity, in
    benchmarks/results/implicit.md). Other data will want other values.

    Evaluate it with ranking metrics (:func:`mfcore.ranking.ranking_report`),
    not RMSE: its scores are not on the rating scale. Unknown users and items
    score 0 (no preference), which ranks them below typical known items.

    Parameters
    ----------
    n_factors : int, default 50
    n_epochs : int, default 15
    reg : float, default 30.0
        lambda (>= 0), whole-matrix (so it grows with the data: a row's system
        sums the confidences of all its cells).
    alpha : float, default 2.0
        Confidence slope: c = 1 + alpha * r.
    cg_steps : int, default 3
        Conjugate-gradient steps per row and half step.
    engine : {"jit", "loop"}, default "jit"
        ``jit`` is the ``loop`` source (:mod:`mfcore.engines.ials_loop`) compiled.
    init_std : float, default 0.01
    dtype, rng, verbose
        As in :class:`~mfcore.models.als.ALS` (only the initial factors are random).

    Attributes
    ----------
    user_factors_ : ndarray (n_users, K)  X
    item_factors_ : ndarray (n_items, K)  Y
    history_ : History  ``train_loss``: J divided by the number of observations.

    References
    ----------
    Y. Hu, Y. Koren and C. Volinsky, "Collaborative filtering for implicit
    feedback datasets", ICDM 2008. G. Takács, I. Pilászy and D. Tikk,
    "Applications of the conjugate gradient method for implicit feedback
    collaborative filtering", RecSys 2011.

    Examples
    --------
    >>> from mfcore.models.implicit_als import ImplicitALS
    >>> from mfcore.ranking import ranking_report
    >>> model = ImplicitALS(rng=0).fit(train)  # doctest: +SKIP
    >>> ranking_report(model, test, k=10)["ndcg@10"]  # doctest: +SKIP
    """

    name = "implicit-als"
    iterative = True
    implicit = True

    def __init__(self, n_factors=50, n_epochs=15, reg=30.0, alpha=2.0, cg_steps=3, engine="jit",
                 init_std=0.01, dtype="float64", rng=None, verbose=0):
        store_params(self, locals())

    def _check_params(self):
        K, n_epochs = check_params(self, "n_factors", "n_epochs").values()
        reg = check_number(self.reg, "reg", self, low=0, low_inclusive=True)
        alpha = check_number(self.alpha, "alpha", self, low=0, low_inclusive=True)
        cg_steps = check_number(self.cg_steps, "cg_steps", self, kind="int", low=1, low_inclusive=True)
        engine = check_choice(self.engine, "engine", self, ENGINES)
        init_std = check_number(self.init_std, "init_std", self, low=0)
        return K, n_epochs, reg, alpha, cg_steps, engine, init_std, check_dtype(self.dtype, self)

    def _fit(self, train, valid, callbacks):
        K, n_epochs, reg, alpha, cg_steps, engine, init_std, dt = self._check_params()
        half_step = engines.get_half_step("ials", engine)
        (init_rng,) = spawn(self.rng, 1)
        users = np.asarray(train.users, dtype=np.int32)                      # (n,)
        items = np.asarray(train.items, dtype=np.int32)                      # (n,)
        conf = (1.0 + alpha * np.asarray(train.values, dtype=np.float64)).astype(dt)  # (n,) c_ui
        if np.any(conf < 1.0):
            raise ValueError(f"{type(self).__name__}: confidences 1 + alpha * r must be >= 1, so the "
                             f"ratings must be >= 0; got a minimum of {train.values.min():g}. Shift "
                             "the values, or pass 1 for every interaction")
        by_user = rows_csr(users, items, conf, train.n_users)                 # for (I1)
        by_item = rows_csr(items, users, conf, train.n_items)                 # for (I2)
        self.user_factors_ = init_rng.normal(0.0, init_std, (train.n_users, K)).astype(dt)  # X
        self.item_factors_ = init_rng.normal(0.0, init_std, (train.n_items, K)).astype(dt)  # Y
        reg_t = dt.type(reg)
        self._compile_seconds = 0.0
        if engine == "jit":  # compile (or load from the cache) on a one-observation dummy
            t0 = time.perf_counter()
            zK, zKK = np.zeros((1, K), dt), np.zeros((K, K), dt)
            half_step(np.array([0, 1], np.int64), np.zeros(1, np.int32), np.ones(1, dt), zKK, zK,
                      zK.copy(), reg_t, cg_steps)
            self._compile_seconds = time.perf_counter() - t0
        n = len(conf)

        def epoch(_):
            X, Y = self.user_factors_, self.item_factors_
            half_step(*by_user, Y.T @ Y, Y, X, reg_t, cg_steps)  # (I1) users, items fixed
            half_step(*by_item, X.T @ X, X, Y, reg_t, cg_steps)  # (I2) items, users fixed
            return self._objective(users, items, conf, reg) / n

        self._run_epochs(n_epochs, epoch, callbacks, loss_var=None, fix="lower alpha or raise reg")

    def _objective(self, users, items, conf, reg):
        """J, using sum over all cells of s^2 = sum((X^T X) * (Y^T Y)) (no dense score matrix)."""
        X = self.user_factors_.astype(np.float64)
        Y = self.item_factors_.astype(np.float64)
        s = np.einsum("nk,nk->n", X[users], Y[items])                       # (n,)
        c = conf.astype(np.float64)
        total = np.sum((X.T @ X) * (Y.T @ Y)) + np.sum(c * (1.0 - s) ** 2 - s ** 2)
        return float(total + reg * (np.sum(X * X) + np.sum(Y * Y)))

    # -------------------------------------------------------------- predict
    def _predict_known(self, u, i):
        return np.einsum("bk,bk->b", self.user_factors_[u], self.item_factors_[i]).astype(np.float64)

    def _predict_fallback(self, u, i):
        return np.zeros(u.shape, dtype=np.float64)

    def score_users(self, users):
        """Scores of every item for each user index (the dense form of :meth:`predict`)."""
        check_is_fitted(self, "user_factors_")
        users = np.asarray(users, dtype=np.int64)
        valid = users >= 0  # -1: a user the model never saw (scores 0, as in predict)
        rows = np.where(valid, users, 0)
        S = (self.user_factors_[rows] @ self.item_factors_.T).astype(np.float64)  # (U, n_items)
        known = (valid & (self.user_counts_[rows] > 0))[:, None] & (self.item_counts_ > 0)[None, :]
        return np.where(known, S, 0.0)

    def _get_state(self):
        return {"user_factors_": self.user_factors_, "item_factors_": self.item_factors_}
