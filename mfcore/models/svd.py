r"""Truncated SVD of the centred rating matrix: the classic "SVD" baseline."""
import numpy as np
from scipy import sparse
from scipy.sparse.linalg import svds

from .._validation import check_choice, check_number
from ..exceptions import DataError
from ..ranking import fill_unknown
from .base import Recommender
from .baseline import Biases
from .registry import register
from .params import store_params


@register
class TruncatedSVD(Recommender):
    r"""Rank-K truncated SVD of the sparse, centred users x items matrix.

    This is the "SVD" baseline that the ML-1M seed notebook compares against
    (RMSE 0.8736 there): no gradient descent, one sparse eigen-solve.

    Model:

    .. math:: \hat r_{ui} = c_{ui} + \sum_{f=1}^{K} u_{uf}\, s_f\, v_{if}
              = \mu + b_u + b_i + p_u \cdot q_i

    Fit, in order:

    (S1) Centring term c_ui = mu + b_u + b_i, by ``center``:
         ``"biases"``: b_u, b_i from :class:`Biases` with its defaults (ALS,
         reg_user 15, reg_item 10, 10 sweeps; Surprise's BaselineOnly);
         ``"user"``: b_u = mean of u's ratings - mu, b_i = 0;
         ``"global"``: b_u = b_i = 0.
    (S2) Z = sparse matrix with z_ui = r_ui - c_ui on the observed (u, i) only;
         a missing entry is 0 *after* centring (Z is never densified).
    (S3) Z ~ U S V^T, the K largest singular triplets, from
         ``scipy.sparse.linalg.svds`` (ARPACK) started from a fixed vector v0
         drawn from ``rng``, so a fit is deterministic.
    (S4) p_u = (U S)_u (``user_factors_``), q_i = V_i (``item_factors_``).

    A prediction is a row-wise dot product p_u . q_i for each requested pair;
    the dense n_users x n_items product is never formed.

    Parameters
    ----------
    n_factors : int, default 6
        K. Chosen without the test set: on ML-100k u1.base, three random 10%
        slices of the training ratings (``default_rng(0..2)``) were held out
        in turn; the mean validation RMSE over K in {4, 6, 8, 10, 12, 15} was
        lowest at K = 6, with K = 8 and 10 close behind (figures in
        benchmarks/results/baselines.md, from ``select_n_factors`` in
        benchmarks/bench_baselines.py).
    center : {"biases", "user", "global"}, default "biases"
        The centring term of (S1). ``"biases"`` was clearly best on the same
        slices (benchmarks/results/defaults.md).
    rng : None, int or numpy.random.Generator, default 0
        Seeds v0. An int gives identical fits; a Generator advances. The
        factors hardly depend on it (only ARPACK's convergence path does).

    Attributes
    ----------
    user_factors_ : ndarray (n_users, K)  P = U S
    item_factors_ : ndarray (n_items, K)  Q = V
    singular_values_ : ndarray (K,)  s, decreasing
    user_bias_, item_bias_ : ndarray  b_u, b_i of (S1)
    global_mean_ : float  mu

    Notes
    -----
    Unknown users or items (no training rating) get the known part of the
    centring term: mu + b_u for a known user and an unknown item, mu + b_i for
    the reverse, mu for both unknown. Users and items with no training rating
    have all-zero rows/columns in Z, so they get p_u = 0 (q_i ~ 0) anyway.

    Filling missing entries with 0 after centring treats "not rated" as "rated
    at the baseline": it shrinks p_u . q_i towards 0, which is why a small K
    works best, and why SGD-trained MF (fit on observed entries only) beats it.

    References
    ----------
    B. Sarwar, G. Karypis, J. Konstan, J. Riedl, "Application of dimensionality
    reduction in recommender system - a case study", WebKDD 2000.

    Examples
    --------
    >>> model = TruncatedSVD(n_factors=6).fit(train)   # doctest: +SKIP
    >>> model.evaluate(test)["rmse"]                     # doctest: +SKIP
    """

    name = "svd"

    def __init__(self, n_factors=6, center="biases", rng=0):
        store_params(self, locals())

    def _fit(self, train, valid, callbacks):
        center = check_choice(self.center, "center", self, ("biases", "user", "global"))
        limit = min(train.n_users, train.n_items) - 1
        K = check_number(self.n_factors, "n_factors", self, kind="int", low=1, low_inclusive=True)
        if limit < 1:
            raise DataError(f"TruncatedSVD needs at least 2 users and 2 items with ratings; "
                            f"{train.name} has {train.n_users} user(s) and {train.n_items} item(s)")
        if K > limit:
            raise ValueError(f"The 'n_factors' parameter of TruncatedSVD must be an int <= {limit} "
                             f"(min(n_users, n_items) - 1 for this data). Got {K} instead.")
        mu = self.global_mean_
        u, i, r = train.users, train.items, train.values
        # (S1) the centring term
        bu = np.zeros(train.n_users)  # (n_users,)
        bi = np.zeros(train.n_items)  # (n_items,)
        if center == "biases":
            base = Biases().fit(train)
            bu, bi = base.user_bias_.copy(), base.item_bias_.copy()
        elif center == "user":
            seen = self.user_counts_ > 0
            bu[seen] = np.bincount(u, weights=r, minlength=bu.size)[seen] / self.user_counts_[seen] - mu
        # (S2) residuals on observed entries; missing stays 0
        Z = sparse.csr_matrix((r - mu - bu[u] - bi[i], (u, i)), shape=(train.n_users, train.n_items))
        # (S3) K largest singular triplets, from a seeded start vector
        v0 = np.random.default_rng(self.rng).uniform(-1.0, 1.0, min(Z.shape))
        U, s, Vt = svds(Z, k=K, v0=v0, solver="arpack")
        order = np.argsort(s)[::-1]  # svds returns them increasing
        U, s, Vt = U[:, order], s[order], Vt[order]
        # (S4)
        self.user_factors_ = U * s  # (n_users, K)
        self.item_factors_ = np.ascontiguousarray(Vt.T)  # (n_items, K)
        self.singular_values_ = s
        self.user_bias_, self.item_bias_ = bu, bi

    def _predict_known(self, u, i):
        dot = np.einsum("nk,nk->n", self.user_factors_[u], self.item_factors_[i])  # (n,)
        return self.global_mean_ + self.user_bias_[u] + self.item_bias_[i] + dot

    def _predict_fallback(self, u, i):
        return self._bias_fallback(u, i, self.user_bias_, self.item_bias_)

    def score_users(self, users):
        """Predictions (unclipped) of every item for each user index: (len(users), n_items)."""
        users = np.asarray(users, dtype=np.int64)
        P, Q = self.user_factors_, self.item_factors_
        scores = (self.global_mean_ + self.user_bias_[users][:, None] + self.item_bias_[None, :]
                  + P[users] @ Q.T)  # (B, n_items)
        return fill_unknown(self, users, scores)

    def _state_shapes(self):
        return {"singular_values_": (int(self.n_factors),)}

    def _get_state(self):
        return {"user_factors_": self.user_factors_, "item_factors_": self.item_factors_,
                "singular_values_": self.singular_values_, "user_bias_": self.user_bias_,
                "item_bias_": self.item_bias_}
