r"""Item-item k-nearest-neighbours on baseline residuals (Koren; Surprise's KNNBaseline)."""
import numpy as np
from scipy import sparse

from .._validation import check_choice, check_number
from .base import Recommender
from .baseline import Biases
from .registry import register
from .params import store_params

_BLOCK_ELEMENTS = 1 << 21  # floats in one dense block of similarities (16 MB in float64)


@register
class ItemKNN(Recommender):
    r"""Item-based k-NN on the residuals of a biases baseline (Koren 2010; Surprise's KNNBaseline).

    Baseline: :math:`b_{ui} = \mu + b_u + b_i`, the biases of :class:`Biases`
    fitted by ALS (``reg_user``, ``reg_item``, ``baseline_epochs``). Residuals of
    the training ratings: :math:`z_{uj} = r_{uj} - b_{uj}`. Write U_ij for the
    users who rated both i and j and n_ij = |U_ij|.

    (S1) ``similarity="pearson_baseline"``: the Pearson correlation of the
         residuals around the baseline (not around item means), over common
         users only, shrunk towards 0 when few users are shared:

    .. math:: s_{ij} = \frac{\sum_{u \in U_{ij}} z_{ui} z_{uj}}
              {\sqrt{\sum_{u \in U_{ij}} z_{ui}^2 \sum_{u \in U_{ij}} z_{uj}^2}}
              \cdot \frac{n_{ij} - 1}{n_{ij} - 1 + \beta}

    with beta = ``shrinkage`` (0 when n_ij <= 1 or a sum of squares is 0).
    (S1') ``similarity="cosine"``: the same ratio on the raw ratings r_ui
         instead of z_ui, without shrinkage (Surprise's ``cosine``).

    Prediction for a pair (u, i), with N_k(i; u) the k = ``n_neighbors`` items
    j != i that u rated with the largest s_ij > 0:

    (P1) N_k(i; u) as above (items with s_ij <= 0 are never neighbours);
    (P2) the similarity-weighted mean of their residuals;
    (P3) the baseline plus it:

    .. math:: \hat r_{ui} = b_{ui} + \frac{\sum_{j \in N_k(i;u)} s_{ij}\,(r_{uj} - b_{uj})}
              {\sum_{j \in N_k(i;u)} |s_{ij}|}

    (|s_ij| = s_ij here, as only positive similarities are kept: Surprise's
    rule). With fewer than ``min_neighbors`` such neighbours the prediction is
    b_ui alone.

    All similarities come from four sparse products per block of items
    (sum z_ui z_uj, sum over common users of z_ui^2 and of z_uj^2, and n_ij),
    never from a loop over pairs. The model stores the positive ones, each row
    sorted by decreasing similarity (``neighbor_indptr_`` etc., a CSR matrix):
    (P1) then walks row i until it has met k items that u rated. That walk is
    ``mfcore.engines.knn_loop.predict_pairs`` (``engine="loop"``), compiled for
    ``engine="jit"`` (``mfcore.engines.knn_jit``): the same numbers.

    Parameters
    ----------
    n_neighbors : int, default 40
        k (Surprise's ``k``).
    min_neighbors : int, default 1
        Fewer neighbours than this and the prediction is the baseline
        (Surprise's ``min_k``).
    similarity : {"pearson_baseline", "cosine"}, default "pearson_baseline"
    shrinkage : float, default 100
        beta of (S1); ignored by ``cosine``.
    reg_user, reg_item : float, default 15, 10
        The baseline's regularisation (:class:`Biases`; Surprise's defaults).
    baseline_epochs : int, default 10
        ALS sweeps of the baseline.
    engine : {"jit", "loop"}, default "jit"
        How (P1)-(P3) run.
    block_size : int or None, default None
        Items per block of the similarity computation; None picks about 2M
        floats per block. It does not change the results.

    Attributes
    ----------
    user_bias_, item_bias_ : ndarray  b_u, b_i of the baseline
    residuals_ : ndarray (nnz,)  z_uj in the CSR order of ``rated_indices_``
    neighbor_indptr_, neighbor_indices_, neighbor_sims_ : ndarray
        The positive similarities, row i most similar first.

    Notes
    -----
    Unknown users or items get the known part of the baseline,
    mu + b_u + b_i. Memory: the stored similarities are the positive ones, at
    most n_items^2 / 2 (about 1.4M on ML-100k); the dense block is at most
    ``block_size`` x n_items floats. Save/load stores the similarities (no
    recomputation, so a loaded model predicts bit for bit the same).

    Differences from Surprise's KNNBaseline: an item is never its own
    neighbour (Surprise gives s_ii = 1, which only matters when predicting a
    training pair), and pairs with a single common user get similarity 0 even
    with ``shrinkage=0``.

    References
    ----------
    Y. Koren, "Factor in the neighbors: scalable and accurate collaborative
    filtering", ACM TKDD 4(1), 2010, sections 2.1 and 3. N. Hug, "Surprise",
    JOSS 5(52), 2020 (``KNNBaseline``).

    Examples
    --------
    >>> from mfcore import ItemKNN
    >>> model = ItemKNN(n_neighbors=40).fit(train)   # doctest: +SKIP
    >>> model.evaluate(test)["rmse"]                  # doctest: +SKIP
    """

    name = "item-knn"
    _user_based = False

    def __init__(self, n_neighbors=40, min_neighbors=1, similarity="pearson_baseline", shrinkage=100.0,
                 reg_user=15.0, reg_item=10.0, baseline_epochs=10, engine="jit", block_size=None):
        store_params(self, locals())

    # ---------------------------------------------------------------- fit
    def _check_params(self):
        check_number(self.n_neighbors, "n_neighbors", self, kind="int", low=1, low_inclusive=True)
        check_number(self.min_neighbors, "min_neighbors", self, kind="int", low=1, low_inclusive=True,
                     high=self.n_neighbors, high_inclusive=True)  # else no prediction uses a neighbour
        check_choice(self.similarity, "similarity", self, ("pearson_baseline", "cosine"))
        check_number(self.shrinkage, "shrinkage", self, low=0, low_inclusive=True)
        check_number(self.reg_user, "reg_user", self, low=0, low_inclusive=True)
        check_number(self.reg_item, "reg_item", self, low=0, low_inclusive=True)
        check_number(self.baseline_epochs, "baseline_epochs", self, kind="int", low=1, low_inclusive=True)
        check_choice(self.engine, "engine", self, ("jit", "loop"))
        check_number(self.block_size, "block_size", self, kind="int", low=1, low_inclusive=True,
                     allow_none=True)

    def _fit(self, train, valid, callbacks):
        self._check_params()
        base = Biases(reg_user=self.reg_user, reg_item=self.reg_item, n_epochs=self.baseline_epochs)
        base.fit(train)
        self.user_bias_, self.item_bias_ = base.user_bias_, base.item_bias_
        R, _ = train.to_csr()  # (n_users, n_items), rows in the order of rated_indices_
        rows = np.repeat(np.arange(train.n_users), np.diff(R.indptr))  # (nnz,) user of each entry
        Z = sparse.csr_matrix((R.data - (self.global_mean_ + self.user_bias_[rows] + self.item_bias_[R.indices]),
                               R.indices, R.indptr), shape=R.shape)  # z_ui
        if self._user_based:  # the same computation with the roles of users and items swapped
            R, Z = R.T.tocsr(), Z.T.tocsr()  # (n_items, n_users); rows sorted by user
            self.item_raters_indptr_, self.item_raters_ = Z.indptr, Z.indices.astype(np.int64)
        self.residuals_ = Z.data  # in the CSR order of the rows that (0) marks
        self.neighbor_indptr_, self.neighbor_indices_, self.neighbor_sims_ = self._neighbors(
            R if self.similarity == "cosine" else Z)

    def similarity_blocks(self, X):
        """Yield ``(rows, S)``: S (len(rows), n_items) dense similarities (S1)/(S1') of the
        items ``rows``, from the users x items sparse matrix X (z_ui or r_ui)."""
        M = X.copy()
        M.data = np.ones_like(M.data)  # the observed-mask (a residual may be exactly 0)
        X2 = X.multiply(X).tocsr()  # z_ui^2
        XT, MT, X2T = X.T.tocsr(), M.T.tocsr(), X2.T.tocsr()
        n_items = X.shape[1]
        B = self.block_size or max(1, _BLOCK_ELEMENTS // max(1, n_items))
        for start in range(0, n_items, B):
            rows = np.arange(start, min(start + B, n_items))
            num = (XT[rows] @ X).toarray()  # (B, n_items) sum_{U_ij} z_ui z_uj
            sq_i = (X2T[rows] @ M).toarray()  # (B, n_items) sum_{U_ij} z_ui^2
            sq_j = (MT[rows] @ X2).toarray()  # (B, n_items) sum_{U_ij} z_uj^2
            n = (MT[rows] @ M).toarray()  # (B, n_items) n_ij
            den = np.sqrt(sq_i * sq_j)
            S = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
            if self.similarity == "pearson_baseline":
                shrunk = np.maximum(n - 1, 0)
                S *= np.divide(shrunk, shrunk + self.shrinkage, out=np.zeros_like(num), where=shrunk > 0)
            S[np.arange(rows.size), rows] = 0.0  # an item is not its own neighbour
            yield rows, S

    def _neighbors(self, X):
        """The positive similarities as CSR rows, each sorted by decreasing s_ij (ties: lower j)."""
        n_items = X.shape[1]
        counts = np.zeros(n_items, dtype=np.int64)
        cols, sims = [], []
        for rows, S in self.similarity_blocks(X):
            r, c = np.nonzero(S > 0)  # row-major: r ascending, c ascending within a row
            s = S[r, c]
            order = np.lexsort((c, -s, r))  # by row, then decreasing similarity, then item
            counts[rows] = np.bincount(r, minlength=rows.size)
            cols.append(c[order].astype(np.int32))
            sims.append(s[order])
        indptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr, np.concatenate(cols), np.concatenate(sims)

    # ------------------------------------------------------------ predict
    def _predict_known(self, u, i):
        if self.engine == "loop":
            from ..engines.knn_loop import predict_pairs
        else:
            from ..engines.knn_jit import predict_pairs
        baseline = self.global_mean_ + self.user_bias_[u] + self.item_bias_[i]  # (n,) b_ui
        if self._user_based:  # rows are items, neighbours are users: swap the pair
            u, i = i, u
            rated = (self.item_raters_indptr_, self.item_raters_, self.user_counts_.size)
        else:
            rated = (self.rated_indptr_, self.rated_indices_, self.item_counts_.size)
        order = np.argsort(u, kind="stable")  # pairs grouped by row: (0) marks each row once
        uu = np.ascontiguousarray(u[order], dtype=np.int64)
        ii = np.ascontiguousarray(i[order], dtype=np.int64)
        out = np.empty(uu.size)
        predict_pairs(uu, ii, baseline[order], self.neighbor_indptr_, self.neighbor_indices_,
                      self.neighbor_sims_, rated[0], rated[1], self.residuals_, rated[2],
                      int(self.n_neighbors), int(self.min_neighbors), out)
        result = np.empty_like(out)
        result[order] = out
        return result

    def _predict_fallback(self, u, i):
        return self._bias_fallback(u, i, self.user_bias_, self.item_bias_)

    def _state_shapes(self):
        return {"residuals_": ("ratings",), **({"item_raters_": ("ratings",)} if self._user_based else {})}

    def _get_state(self):
        return {"user_bias_": self.user_bias_, "item_bias_": self.item_bias_, "residuals_": self.residuals_,
                "neighbor_indptr_": self.neighbor_indptr_, "neighbor_indices_": self.neighbor_indices_,
                "neighbor_sims_": self.neighbor_sims_,
                **({"item_raters_indptr_": self.item_raters_indptr_, "item_raters_": self.item_raters_}
                   if self._user_based else {})}


@register
class UserKNNBaseline(ItemKNN):
    r"""User-based k-NN on the residuals of a biases baseline (Surprise's KNNBaseline, user_based=True).

    :class:`ItemKNN` with the roles of users and items swapped: s_uv is the
    shrunk Pearson correlation of the baseline residuals of users u and v over
    the items both rated (or the cosine of their raw ratings), and

    .. math:: \hat r_{ui} = b_{ui} + \frac{\sum_{v \in N_k(u;i)} s_{uv}\,(r_{vi} - b_{vi})}
              {\sum_{v \in N_k(u;i)} s_{uv}}

    over the k users v most similar to u (s_uv > 0) who rated i. Parameters,
    fallback and storage as :class:`ItemKNN` (``block_size`` counts users).
    The Netflix notebook's mean-imputed cosine model is ``user-knn``
    (:class:`~mfcore.models.knn.UserKNN`), kept as the notebook wrote it.
    """

    name = "user-knn-baseline"
    note = ('accurate on ML-100k, but on ml-latest-small (671 users, 9,066 mostly sparse items) users '
            'share too few items and it trails the biases baseline; item-knn does not')
    _user_based = True
