r"""BPR: Bayesian personalized ranking of implicit feedback by per-triple SGD."""
import time

import numpy as np

from .. import engines
from .._random import spawn
from .._validation import check_choice, check_is_fitted
from .base import Recommender
from .params import check_params, store_params
from .registry import register

MAX_TRIES = 20  # draws of a negative item per triple before the last draw is kept


@register
class BPR(Recommender):
    r"""Bayesian personalized ranking (Rendle et al. 2009) with matrix factorization.

    Implicit feedback: every training rating is a *positive* (u, i), whatever
    its value (build the Ratings from the interactions you count as positive,
    e.g. ratings >= 4); every other item is unobserved. Score of item i for
    user u, with an item bias as is standard in BPR-MF implementations:

    .. math:: x_{ui} = b_i + p_u \cdot q_i

    BPR-Opt, over triples (u, i, j) with i a positive of u and j not:

    .. math:: \max \sum_{(u,i,j)} \ln \sigma(x_{uij}) - \tfrac12\lambda\,(\lVert p_u\rVert^2
              + \lVert q_i\rVert^2 + \lVert q_j\rVert^2 + b_i^2 + b_j^2), \qquad
              x_{uij} = x_{ui} - x_{uj}

    regularized per triple (per occurrence, as :class:`BiasedMF` per rating).
    An epoch draws as many triples as there are positives: every positive
    (u, i) once, in a random order (a shuffled pass; Rendle draws positives
    with replacement, which is the same in expectation), each with a negative
    j drawn uniformly from all items and redrawn while u has j as a training
    positive, at most ``MAX_TRIES`` (20) draws; then the last draw is kept (only
    users with nearly every item positive ever reach it). The random numbers
    are drawn in NumPy and handed to the kernel. For each triple, with
    :math:`z = \sigma(-x_{uij}) = 1 - \sigma(x_{uij})` and every right-hand
    side taken before the step (eta = ``lr``, lambda = ``reg``), gradient
    *ascent*:

    (B1) :math:`b_i \leftarrow b_i + \eta\,(z - \lambda b_i)`
    (B2) :math:`b_j \leftarrow b_j + \eta\,(-z - \lambda b_j)`
    (B3) :math:`p_u \leftarrow p_u + \eta\,(z\,(q_i - q_j) - \lambda p_u)`
    (B4) :math:`q_i \leftarrow q_i + \eta\,(z\, p_u - \lambda q_i)`
    (B5) :math:`q_j \leftarrow q_j + \eta\,(-z\, p_u - \lambda q_j)`

    ``history_["train_loss"]`` is the epoch's mean of :math:`-\ln\sigma(x_{uij})`
    (ln 2 = 0.693 for a model that cannot tell positives from negatives).

    **The scores are not ratings**: :meth:`predict` returns x_ui, so RMSE and
    :meth:`evaluate` mean nothing for BPR. Evaluate it with ranking metrics
    (:func:`mfcore.ranking.ranking_report`, which uses :meth:`score_users`).
    Validation and monitor ratings given to ``fit`` are scored by ``val_auc`` /
    ``test_auc``: for each held-out pair (u, i), the share of the items that
    are not u's training positives that score below i (ties count half).

    Engines: ``loop`` (:func:`mfcore.engines.bpr_loop.bpr_epoch`, plain Python)
    and ``jit`` (the same function compiled, ``bpr_jit``), bit-identical.

    Parameters
    ----------
    n_factors : int, default 128
        K, the length of p_u and q_i.
    n_epochs : int, default 120
    lr : float, default 0.02
        eta.
    reg : float, default 0.01
        lambda, the same for every parameter.
    init_std : float, default 0.1
        P and Q start as N(0, init_std^2) draws; the item biases at 0.
    engine : {"jit", "loop"}, default "jit"
    rng : None, int or numpy.random.Generator
        Split into independent ``init``, ``order`` and ``negatives`` streams. An
        int gives the same model on every fit; a Generator advances.
    verbose : int, default 0

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray  P (n_users, K) and Q (n_items, K)
    item_bias_ : ndarray (n_items,)  b_i
    history_ : History

    Notes
    -----
    Unknown ids: a user with no training positive scores every item by its
    bias b_i (a popularity-like ranking); an item with no training positive,
    met in training only as a negative, also scores its b_i (low); an item id
    the model never saw scores the lowest bias. The defaults were chosen by
    NDCG@10 on a validation split of ML-100k's training positives (ratings >= 4),
    never its test positives: K in {32, 64, 128} x lr in {0.02, 0.05, 0.1} x
    reg in {0.01, 0.03, 0.1}, scored at 20, 40, 80 and 120 epochs
    (``benchmarks/bench_bpr.py``; the search and the test figures against
    popularity in benchmarks/results/bpr.md). The best setting lies at the
    largest K and epoch count tried, but gained little over K=128 at 80 epochs
    or lr=0.05: smaller data or a tighter time budget can use fewer of both.
    Parameters are float64.

    References
    ----------
    S. Rendle, C. Freudenthaler, Z. Gantner and L. Schmidt-Thieme, "BPR:
    Bayesian personalized ranking from implicit feedback", UAI 2009.

    Examples
    --------
    >>> from mfcore import BPR
    >>> from mfcore.ranking import ranking_report
    >>> model = BPR(rng=0).fit(positives)                       # doctest: +SKIP
    >>> ranking_report(model, test, k=10, threshold=1)["ndcg@10"]  # doctest: +SKIP
    """

    name = "bpr"
    implicit = True
    iterative = True

    def __init__(self, n_factors=128, n_epochs=120, lr=0.02, reg=0.01, init_std=0.1, engine="jit", rng=None,
                 verbose=0):
        store_params(self, locals())

    # ------------------------------------------------------------------ fit
    def _fit(self, train, valid, callbacks):
        K, n_epochs, lr, reg, init_std = check_params(self, "n_factors", "n_epochs", "lr", "reg", "init_std").values()
        engine = check_choice(self.engine, "engine", self, ("jit", "loop"))
        bpr_epoch = engines.get_kernel("bpr", "bpr_epoch", engine)
        init_rng, order_rng, neg_rng = spawn(self.rng, 3)  # independent streams
        n_users, n_items = train.n_users, train.n_items
        users = np.array(train.users, dtype=np.int32)  # (n,)
        items = np.array(train.items, dtype=np.int32)  # (n,)
        self.user_factors_ = init_rng.normal(0.0, init_std, (n_users, K))  # P
        self.item_factors_ = init_rng.normal(0.0, init_std, (n_items, K))  # Q
        self.item_bias_ = np.zeros(n_items)  # b
        rated = positive_keys(self.rated_indptr_, self.rated_indices_, n_items)  # (n,) sorted

        self._compile_seconds = 0.0
        if engine == "jit":  # compile (or load from cache) on one triple over zero-filled copies
            t0 = time.perf_counter()
            bpr_epoch(users[:1].copy(), items[:1].copy(), np.zeros(1, np.int64), items[:1].copy(),
                      np.zeros(n_items), np.zeros((n_users, K)), np.zeros((n_items, K)), lr, reg)
            self._compile_seconds = time.perf_counter() - t0
        n = users.size

        def epoch(_):
            order = order_rng.permutation(n)  # (n,) every positive once
            negatives = sample_negatives(users[order], n_items, rated, neg_rng)  # (n,) j per triple
            total = bpr_epoch(users, items, order, negatives, self.item_bias_, self.user_factors_,
                              self.item_factors_, lr, reg)
            return total / n

        self._run_epochs(n_epochs, epoch, callbacks, lr=self.lr, loss_var=None)

    # -------------------------------------------------------------- scores
    def _predict_known(self, u, i):
        check_is_fitted(self, "item_factors_")
        dot = np.einsum("bk,bk->b", self.user_factors_[u], self.item_factors_[i])  # (B,)
        return self.item_bias_[i] + dot

    def _predict_fallback(self, u, i):
        """b_i for an item in the maps (whatever the user), the lowest b for an unseen item id."""
        out = np.full(u.shape, float(self.item_bias_.min()) if self.item_bias_.size else 0.0)
        seen = i >= 0
        out[seen] = self.item_bias_[i[seen]]
        return out

    def score_users(self, users):
        """x_ui of every item for each user index in ``users``: (len(users), n_items), equal
        to :meth:`predict` for those rows (fallbacks included)."""
        check_is_fitted(self, "item_factors_")
        users = np.asarray(users, dtype=np.int64)
        known_u = users >= 0
        known_u[known_u] = self.user_counts_[users[known_u]] > 0
        S = np.tile(self.item_bias_, (users.size, 1))  # (U, n_items) the fallback b_i
        S[known_u] += self.user_factors_[users[known_u]] @ self.item_factors_.T  # (U_known, n_items)
        cold = self.item_counts_ == 0  # items with no training positive: b_i alone
        S[np.ix_(known_u, cold)] = self.item_bias_[cold]
        return S

    def _error_logs(self, triple, prefix):
        """``{prefix}auc``: the mean over the known held-out pairs (u, i) of the share of u's
        non-positive items scored below i (ties half). Replaces RMSE, meaningless here."""
        u, i, _ = triple
        keep = self.known_mask(u, i)
        u, i = np.asarray(u)[keep].astype(np.int64), np.asarray(i)[keep].astype(np.int64)
        n_items = self.item_counts_.size
        if u.size == 0 or n_items < 2:
            return {f"{prefix}auc": float("nan")}
        total, chunk = 0.0, max(1, 2 ** 21 // n_items)
        for start in range(0, u.size, chunk):
            uc, ic = u[start:start + chunk], i[start:start + chunk]
            S = self.score_users(uc)  # (C, n_items)
            rows = np.arange(uc.size)
            s = S[rows, ic][:, None]  # (C, 1) x_ui
            lo, hi = self.rated_indptr_[uc], self.rated_indptr_[uc + 1]
            cand = np.ones_like(S, dtype=bool)  # (C, n_items) not a training positive of u
            for r in rows:
                cand[r, self.rated_indices_[lo[r]:hi[r]]] = False
            self_ = cand[rows, ic]  # i itself is a candidate unless u had it in training
            below = ((S < s) & cand).sum(axis=1) + 0.5 * (((S == s) & cand).sum(axis=1) - self_)
            total += float(np.sum(below / np.maximum(cand.sum(axis=1) - self_, 1)))
        return {f"{prefix}auc": total / u.size}

    def _warn_if_worse_than_mean(self, baseline):
        """No RMSE, so no comparison with the global mean (see the class docstring)."""

    def _get_state(self):
        return {"user_factors_": self.user_factors_, "item_factors_": self.item_factors_,
                "item_bias_": self.item_bias_}


def positive_keys(indptr, indices, n_items):
    """The sorted int64 keys ``u * n_items + i`` of the training positives (CSR rows in)."""
    counts = np.diff(indptr)
    u = np.repeat(np.arange(counts.size, dtype=np.int64), counts)  # (n,)
    return np.sort(u * n_items + indices)


def is_positive(users, items, keys, n_items):
    """True where (users[t], items[t]) is a training positive (``keys`` from :func:`positive_keys`)."""
    q = np.asarray(users, np.int64) * n_items + items  # (m,)
    pos = np.minimum(np.searchsorted(keys, q), max(keys.size - 1, 0))  # (m,)
    return keys[pos] == q if keys.size else np.zeros(q.shape, dtype=bool)


def sample_negatives(users, n_items, keys, rng, max_tries=MAX_TRIES):
    """For each user of ``users``, an item drawn uniformly from all ``n_items``, redrawn while
    it is a training positive of that user, at most ``max_tries`` draws (then the last is kept)."""
    j = rng.integers(0, n_items, users.size)  # (m,)
    bad = np.arange(users.size)  # (b,) the draws still to check: all, then only the redrawn ones
    for _ in range(max_tries - 1):
        bad = bad[is_positive(users[bad], j[bad], keys, n_items)]
        if bad.size == 0:
            break
        j[bad] = rng.integers(0, n_items, bad.size)
    return j.astype(np.int32)
