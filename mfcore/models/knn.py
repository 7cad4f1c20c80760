r"""User-user k-nearest-neighbours with cosine similarity on the mean-imputed matrix."""
import numpy as np
from scipy import sparse

from .._validation import check_choice, check_number
from ..ranking import fill_unknown, top_k
from .base import Recommender
from .registry import register
from .params import store_params

_BLOCK_ELEMENTS = 1 << 22  # floats in one dense block (32 MB in float64)


@register
class UserKNN(Recommender):
    r"""User-based k-NN: the Netflix seed notebook's cosine model.

    Let J be the items with at least one training rating and m_u the mean of
    user u's training ratings. Users without a training rating take no part.

    (K1) Impute: x_ui = r_ui if u rated i, else m_u (for every i in J). Write
         x_u = m_u 1 + d_u, where d_u is sparse: d_ui = r_ui - m_u where
         observed, 0 elsewhere.
    (K2) Cosine similarity of the imputed rows, s_uv = x_u . x_v / (|x_u| |x_v|)
         (0 when a row is all zeros), with self-similarity removed.
    (K3) N(u): the k users v != u with the largest s_uv (ties: lower index).
    (K4) Predict the similarity-weighted mean of the neighbours' *imputed*
         values (a neighbour that did not rate i contributes its mean):

    .. math:: \hat r_{ui} = \frac{\sum_{v \in N(u)} s_{uv} x_{vi}}{\sum_{v \in N(u)} s_{uv}}
              = \frac{\sum_{v} s_{uv} m_v + \sum_{v \in N(u),\, v \text{ rated } i} s_{uv} d_{vi}}
                     {\sum_{v} s_{uv}}

    This is exactly what the seed computes (its ``pivot_table``, ``fillna``
    with the row means, ``cosine_similarity``, ``similarity -= eye``, then
    ``sum(sim * x) / sum(sim)`` over the top 100). The weights are the signed
    similarities, not their absolute values. The seed removes self-similarity
    by setting it to 0, which with ratings > 0 (all cosines > 0) ranks the user
    last; here the user is never its own neighbour.

    ``algorithm="dense"`` follows (K1)-(K3) literally: the dense imputed matrix
    (users x J) and the dense users x users similarity. ``algorithm="sparse"``
    never forms either: with n_J = |J| and sigma_u = sum_i d_ui,

    (K2') x_u . x_v = m_u m_v n_J + m_u sigma_v + m_v sigma_u + d_u . d_v,
          |x_u|^2   = m_u^2 n_J + 2 m_u sigma_u + |d_u|^2,

    with d_u . d_v from a sparse product, one block of users at a time; each
    block keeps only its top-k (memory O(block x n_users + n_users k)).
    Both give the same neighbours and predictions (to rounding).
    ``"auto"`` uses dense up to 5,000 users and 2e7 imputed entries.

    Predictions always use (K4)'s right-hand side: a sparse product of the
    neighbour weights with the deviations, for the requested users only.

    Parameters
    ----------
    n_neighbors : int, default 100
        k (the seed's ``n_recommendation = 100``). Capped at n_users - 1.
    algorithm : {"auto", "dense", "sparse"}, default "auto"
    block_size : int or None, default None
        Users per block in the sparse similarity and in prediction; None
        picks about 4M floats per block. It does not change the results.

    Attributes
    ----------
    user_mean_ : ndarray (n_users,)  m_u (0 for users without ratings)
    neighbors_ : ndarray (n_users, k) of int32  N(u), most similar first (-1: none)
    neighbor_sims_ : ndarray (n_users, k)  s_uv for those neighbours
    deviations_ : ndarray (nnz,)  d_ui in the CSR order of ``rated_indices_``

    Notes
    -----
    Similarities within 1e-12 of each other count as tied in (K3), so that
    values equal in exact arithmetic (e.g. two users whose ratings are all
    equal) tie in both algorithms; ties go to the lower user index. When sum_v s_uv is 0 the
    prediction is m_u. Unknown pairs: a known user with an item nobody rated
    gets (K4) with every x_vi = m_v, i.e. sum_v s_uv m_v / sum_v s_uv; an
    unknown user gets the global mean mu.

    References
    ----------
    J. Breese, D. Heckerman, C. Kadie, "Empirical analysis of predictive
    algorithms for collaborative filtering", UAI 1998.

    Examples
    --------
    >>> model = UserKNN(n_neighbors=100).fit(train)   # doctest: +SKIP
    >>> model.evaluate(test)["rmse"]                   # doctest: +SKIP
    """

    name = "user-knn"
    notebook = "Netflix"
    note = ("the Netflix notebook's model, kept as written: mean-imputation makes it worse than the "
            "global mean in RMSE (tutorials 01 and 12); user-knn-baseline and item-knn are the accurate ones")

    def __init__(self, n_neighbors=100, algorithm="auto", block_size=None):
        store_params(self, locals())

    # ---------------------------------------------------------------- fit
    def _fit(self, train, valid, callbacks):
        k = check_number(self.n_neighbors, "n_neighbors", self, kind="int", low=1, low_inclusive=True)
        algorithm = check_choice(self.algorithm, "algorithm", self, ("auto", "dense", "sparse"))
        check_number(self.block_size, "block_size", self, kind="int", low=1, low_inclusive=True,
                     allow_none=True)
        counts = self.user_counts_
        users = np.flatnonzero(counts > 0)  # known users, the rows of the similarity
        n_J = int((self.item_counts_ > 0).sum())
        R, _ = train.to_csr()
        m = np.zeros(train.n_users)  # (n_users,)
        m[users] = np.asarray(R.sum(axis=1)).ravel()[users] / counts[users]
        self.user_mean_ = m
        self.deviations_ = R.data - np.repeat(m, np.diff(R.indptr))  # (nnz,) d_ui
        self._cache = None
        if algorithm == "auto":
            algorithm = "dense" if users.size <= 5000 and users.size * n_J <= 2e7 else "sparse"
        k = min(k, users.size - 1)
        self.neighbors_ = np.full((train.n_users, k), -1, dtype=np.int32)
        self.neighbor_sims_ = np.zeros((train.n_users, k))
        if k == 0:
            return
        sims = self._dense_similarity if algorithm == "dense" else self._sparse_similarity
        for rows, S in sims(users, n_J):  # rows: positions in `users`; S (B, n_known)
            S[np.arange(rows.size), rows] = -np.inf  # (K2) self-similarity removed
            nb = top_k(S, k, tol=1e-12)  # (B, k) (K3)
            self.neighbors_[users[rows]] = users[nb]
            self.neighbor_sims_[users[rows]] = np.take_along_axis(S, nb, axis=1)

    def _deviation_matrix(self):
        shape = (self.user_counts_.size, self.item_counts_.size)
        return sparse.csr_matrix((self.deviations_, self.rated_indices_, self.rated_indptr_), shape=shape)

    def _dense_similarity(self, users, n_J):
        """(K1)-(K2) literally: the dense imputed matrix and all cosines at once."""
        items = np.flatnonzero(self.item_counts_ > 0)
        m = self.user_mean_[users]
        X = m[:, None] + self._deviation_matrix()[users][:, items].toarray()  # (n_known, n_J) (K1)
        norm = np.linalg.norm(X, axis=1)  # (n_known,)
        norm[norm == 0] = 1.0
        Xn = X / norm[:, None]
        yield np.arange(users.size), Xn @ Xn.T  # (n_known, n_known) (K2)

    def _sparse_similarity(self, users, n_J):
        """(K2') one block of users at a time, from sparse deviations only."""
        D = self._deviation_matrix()[users]  # (n_known, n_items) sparse
        m = self.user_mean_[users]  # (n_known,)
        sigma = np.asarray(D.sum(axis=1)).ravel()  # (n_known,)
        sq = np.asarray(D.multiply(D).sum(axis=1)).ravel()  # (n_known,) |d_u|^2
        norm = np.sqrt(np.maximum(m * m * n_J + 2 * m * sigma + sq, 0.0))  # (n_known,)
        norm[norm == 0] = 1.0
        B = self.block_size or max(1, _BLOCK_ELEMENTS // users.size)
        DT = D.T.tocsr()
        for start in range(0, users.size, B):
            rows = np.arange(start, min(start + B, users.size))
            dots = (D[rows] @ DT).toarray()  # (B, n_known) d_u . d_v
            dots += m[rows, None] * (m * n_J + sigma)[None, :]  # m_u m_v n_J + m_u sigma_v
            dots += sigma[rows, None] * m[None, :]  # + m_v sigma_u
            dots /= norm[rows, None]
            dots /= norm[None, :]
            yield rows, dots

    # ------------------------------------------------------------ predict
    def _weights(self):
        """W (n_users x n_users, sparse: row u holds s_uv at v in N(u)), a_u = sum_v s_uv m_v, w_u."""
        if getattr(self, "_cache", None) is None:
            n = self.user_counts_.size
            nb, s = self.neighbors_, self.neighbor_sims_
            valid = nb >= 0
            rows = np.repeat(np.arange(n), valid.sum(axis=1))
            W = sparse.csr_matrix((s[valid], (rows, nb[valid])), shape=(n, n))
            a = np.where(valid, s * self.user_mean_[np.maximum(nb, 0)], 0.0).sum(axis=1)  # (n_users,)
            w = np.where(valid, s, 0.0).sum(axis=1)  # (n_users,)
            self._cache = (W, self._deviation_matrix(), a, w)
        return self._cache

    def _rows(self, users):
        """(K4) for every item, dense rows for the user indices ``users`` (all known)."""
        W, D, a, w = self._weights()
        num = a[users, None] + (W[users] @ D).toarray()  # (B, n_items)
        zero = np.abs(w[users]) <= 1e-12
        out = num / np.where(zero, 1.0, w[users])[:, None]
        out[zero] = self.user_mean_[users[zero], None]
        return out

    def _blocks(self, users):
        B = self.block_size or max(1, _BLOCK_ELEMENTS // max(1, self.item_counts_.size))
        for start in range(0, users.size, B):
            yield slice(start, start + B)

    def _predict_known(self, u, i):
        uniq, inv = np.unique(u, return_inverse=True)
        out = np.empty(u.shape)
        for blk in self._blocks(uniq):
            sel = (inv >= blk.start) & (inv < blk.start + uniq[blk].size)
            out[sel] = self._rows(uniq[blk])[inv[sel] - blk.start, i[sel]]
        return out

    def _predict_fallback(self, u, i):
        out = np.full(u.shape, self.global_mean_, dtype=np.float64)
        ku = u >= 0
        ku[ku] = self.user_counts_[u[ku]] > 0
        if ku.any():
            _, _, a, w = self._weights()
            zero = np.abs(w[u[ku]]) <= 1e-12
            out[ku] = np.where(zero, self.user_mean_[u[ku]], a[u[ku]] / np.where(zero, 1.0, w[u[ku]]))
        return out

    def score_users(self, users):
        """Predictions (unclipped) of every item for each user index: (len(users), n_items)."""
        users = np.asarray(users, dtype=np.int64)
        out = np.empty((users.size, self.item_counts_.size))
        for blk in self._blocks(users):
            out[blk] = self._rows(np.maximum(users[blk], 0))  # unknown rows are replaced below
        return fill_unknown(self, users, out)

    def _get_state(self):
        return {"user_mean_": self.user_mean_, "neighbors_": self.neighbors_,
                "neighbor_sims_": self.neighbor_sims_, "deviations_": self.deviations_}

    def _set_state(self, state):
        super()._set_state(state)
        self._cache = None
