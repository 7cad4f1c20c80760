"""Exercises of tutorial 12 (neighbourhoods): shrunk Pearson similarities, and the k-neighbour prediction.

Checked against :meth:`mfcore.models.knn_baseline.ItemKNN.similarity_blocks` and
:func:`mfcore.engines.knn_loop.predict_pairs`.
"""
import numpy as np
from scipy import sparse

from ..engines.knn_loop import predict_pairs
from ..models.knn_baseline import ItemKNN
from ._core import Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. similarities


def _ref_sims(Z, M, beta):
    X = sparse.csr_matrix(np.where(M, Z, 0.0))
    X.data[:] = Z[M]  # keep stored zeros where a residual is exactly 0 (M says it is observed)
    model = ItemKNN(shrinkage=beta)
    return np.vstack([S for _, S in model.similarity_blocks(X)])


def _sims(Z, M, beta, *, no_shrink=False, shrink_n=False, full_norms=False, keep_diag=False):
    Zm = np.where(M, Z, 0.0)
    Mf = M.astype(float)
    num = Zm.T @ Zm
    if full_norms:
        sq = (Zm ** 2).sum(0)
        den = np.sqrt(np.outer(sq, sq))
    else:
        den = np.sqrt(((Zm ** 2).T @ Mf) * (Mf.T @ (Zm ** 2)))
    S = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    n = Mf.T @ Mf
    if not no_shrink:
        m = n if shrink_n else np.maximum(n - 1, 0)
        S *= np.divide(m, m + beta, out=np.zeros_like(S), where=m > 0)
    if not keep_diag:
        np.fill_diagonal(S, 0.0)
    return S


def _sims_case(r, n_u, n_i, beta):
    M = r.random((n_u, n_i)) < 0.7
    return np.where(M, r.normal(0, 1, (n_u, n_i)), 0.0), M, beta


_sims_cases = seeded_cases(_sims_case, 140, [("6 users x 4 items, beta 2", 6, 4, 2.0),
                                             ("8 users x 5 items, beta 10", 8, 5, 10.0),
                                             ("5 users x 3 items, beta 0.5", 5, 3, 0.5)])


SIMS = Exercise("t12.item_similarities", """
Shrunk Pearson-baseline similarities of every pair of items.

Z (n_users, n_items): baseline residuals z_ui (0 where not observed); M the same
shape, True where u rated i; beta >= 0 the shrinkage. For items i != j, over the
users U_ij who rated both (n_ij of them):
  s_ij = sum_U z_ui z_uj / sqrt(sum_U z_ui^2 * sum_U z_uj^2) * (n_ij - 1) / (n_ij - 1 + beta)
(0 when n_ij <= 1 or a sum of squares is 0), and s_ii = 0.
Return S (n_items, n_items).""",
    signature="item_similarities(Z, M, beta)",
    reference=_ref_sims, cases=_sims_cases, outputs=("S",),
    reference_name="mfcore.models.knn_baseline.ItemKNN.similarity_blocks",
    mistakes=catalogue(_sims, [
        ("no-shrinkage", dict(no_shrink=True), """
the correlation was not shrunk: multiply by (n_ij - 1) / (n_ij - 1 + beta)."""),
        ("shrink-with-n", dict(shrink_n=True), """
the shrinkage used n_ij instead of n_ij - 1."""),
        ("norms-over-all-users", dict(full_norms=True), """
the norms were taken over every user who rated i (or j), not only over the users who rated
both."""),
        ("self-similarity", dict(keep_diag=True), """
s_ii was left in: an item is not its own neighbour (set the diagonal to 0)."""),
    ]))
check_item_similarities = SIMS.checker()

# ---------------------------------------------------------------- 2. the prediction


def _ref_predict(b_ui, s, z, k):
    m = len(s)
    keep = np.flatnonzero(s > 0)
    order = keep[np.argsort(-s[keep], kind="stable")]  # neighbours of item 0, most similar first
    nb_indptr = np.array([0, order.size] + [order.size] * m, dtype=np.int64)
    out = np.empty(1)
    predict_pairs(np.zeros(1, np.int64), np.zeros(1, np.int64), np.array([b_ui], float), nb_indptr,
                  (order + 1).astype(np.int64), s[order].astype(float), np.array([0, m], np.int64),
                  np.arange(1, m + 1, dtype=np.int64), np.asarray(z, float), m + 1, int(k), 1, out)
    return out[0]


def _predict(b_ui, s, z, k, *, negatives=False, all_k=False, no_baseline=False, abs_den=False):
    use = np.ones_like(s, bool) if negatives else s > 0
    idx = np.flatnonzero(use)
    idx = idx[np.argsort(-np.abs(s[idx]) if negatives else -s[idx], kind="stable")]
    if not all_k:
        idx = idx[:k]
    if idx.size == 0:
        return 0.0 if no_baseline else b_ui
    den = np.abs(s[idx]).sum() if abs_den else s[idx].sum()
    if den == 0:
        return 0.0 if no_baseline else b_ui
    return (0.0 if no_baseline else b_ui) + (s[idx] * z[idx]).sum() / den


def _predict_case(r, m, k):
    return 3.2 + r.normal(0, 0.3), r.uniform(-0.9, 0.9, m), r.normal(0, 1, m), k


_predict_cases = seeded_cases(_predict_case, 150, [("6 rated items, k = 3", 6, 3), ("9 rated items, k = 4", 9, 4),
                                                   ("5 rated items, k = 2", 5, 2)])


PREDICT = Exercise("t12.knn_predict", """
The k-neighbour prediction on baseline residuals, for one (user, item) pair.

b_ui: the baseline mu + b_u + b_i of the pair; s (m,): the similarities s_ij of
item i to the m items j the user rated; z (m,): the user's residuals z_uj on
them; k: the number of neighbours.
Keep the k items with the largest POSITIVE s_ij (negative or zero ones are never
neighbours), and return
  b_ui + sum_N s_ij z_uj / sum_N s_ij
(b_ui alone when no item has s_ij > 0).""",
    signature="knn_predict(b_ui, s, z, k)",
    reference=_ref_predict, cases=_predict_cases, outputs=("r_hat",),
    reference_name="mfcore.engines.knn_loop.predict_pairs",
    mistakes=catalogue(_predict, [
        ("negative-neighbours", dict(negatives=True, abs_den=True), """
the neighbours were the k largest |s_ij|, negative ones included: only s_ij > 0 count,
largest first."""),
        ("all-neighbours", dict(all_k=True), """
every positive neighbour was used: keep the k most similar only."""),
        ("no-baseline", dict(no_baseline=True), """
the baseline b_ui is missing: the weighted mean of RESIDUALS is added to it."""),
    ]))
check_knn_predict = PREDICT.checker()

EXERCISES = {e.name: e for e in (SIMS, PREDICT)}
