"""Exercises of tutorial 01 (baselines): ALS for the biases, and NDCG@k.

Checked against :class:`mfcore.Biases` and :mod:`mfcore.ranking`.
"""
import numpy as np

from ..data import IdMap, Ratings
from ..models.baseline import Biases
from ..ranking import ndcg_at_k, top_k
from ._core import Case, Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. ALS biases


def _ref_biases(users, items, values, n_users, n_items, reg_user, reg_item, n_epochs):
    train = Ratings.from_arrays(users, items, values, user_map=IdMap(np.arange(n_users)),
                                item_map=IdMap(np.arange(n_items)))
    model = Biases(reg_user=reg_user, reg_item=reg_item, n_epochs=n_epochs).fit(train)
    return model.user_bias_, model.item_bias_


def _als(users, items, values, n_users, n_items, reg_user, reg_item, n_epochs, *, damp=True,
         users_first=False, jacobi=False, centre=True):
    mu = values.mean() if centre else 0.0
    nu = np.bincount(users, minlength=n_users) + (reg_user if damp else 0)
    ni = np.bincount(items, minlength=n_items) + (reg_item if damp else 0)
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    for _ in range(n_epochs):
        old_bu, old_bi = bu.copy(), bi.copy()
        if users_first:
            bu = np.bincount(users, values - mu - bi[items], n_users) / nu
            bi = np.bincount(items, values - mu - bu[users], n_items) / ni
        else:
            bi = np.bincount(items, values - mu - old_bu[users], n_items) / ni
            bu = np.bincount(users, values - mu - (old_bi if jacobi else bi)[items], n_users) / nu
    return bu, bi


def _biases_case(g, n_users, n_items, n, regs, epochs):
    users = np.r_[np.arange(n_users), g.integers(0, n_users, n - n_users)]
    items = np.r_[g.permutation(n_items), g.integers(0, n_items, n - n_items)][:n]
    values = g.integers(1, 6, n).astype(float)
    return users, items, values, n_users, n_items, *regs, epochs


_biases_cases = seeded_cases(_biases_case, 0, [
    ("12 ratings, 3 users, 4 items, 1 sweep", 3, 4, 12, (15.0, 10.0), 1),
    ("30 ratings, 5 users, 6 items, 3 sweeps", 5, 6, 30, (2.0, 3.0), 3),
    ("20 ratings, 4 users, 7 items, reg 0, 2 sweeps", 4, 7, 20, (0.0, 0.0), 2)])


ALS_BIASES = Exercise("t01.als_biases", """
User and item biases by alternating least squares, (B1) then (B2).

mu = the mean of values. Start from b_u = 0, b_i = 0 and repeat n_epochs times:
  (B1) b_i <- sum over the ratings of i of (r_ui - mu - b_u) / (reg_item + |R(i)|)
  (B2) b_u <- sum over the ratings of u of (r_ui - mu - b_i) / (reg_user + |R(u)|)
items first, and (B2) uses the b_i just computed. Return (b_u, b_i), float arrays
(n_users,) and (n_items,). (np.bincount(items, weights, n_items) sums per item.)""",
    signature="als_biases(users, items, values, n_users, n_items, reg_user, reg_item, n_epochs)",
    reference=_ref_biases, cases=_biases_cases, outputs=("b_u", "b_i"),
    reference_name="mfcore.Biases (method='als')",
    mistakes=catalogue(_als, [
        ("no-damping", dict(damp=False), """
the denominators lack the regularisation: (B1) divides by reg_item + |R(i)|, so that an
item with one rating is not trusted fully."""),
        ("users-first", dict(users_first=True), """
the sweep updated the users first: (B1), the items, comes first and (B2) uses the new b_i."""),
        ("stale-item-biases", dict(jacobi=True), """
(B2) used the item biases of the previous sweep: compute it from the b_i that (B1) has
just produced."""),
        ("no-mu", dict(centre=False), """
the residuals forgot mu: (B1) averages r_ui - mu - b_u, not r_ui - b_u."""),
    ]))
check_als_biases = ALS_BIASES.checker()

# ---------------------------------------------------------------- 2. NDCG@k


def _ref_ndcg(scores, relevant, k):
    ranked = top_k(np.asarray(scores, float)[None, :], k)[0]
    return ndcg_at_k(ranked.tolist(), set(np.asarray(relevant).tolist()), k)


def _ndcg(scores, relevant, k, *, order="stable", ideal="min", discount="log2", cut=True):
    scores = np.asarray(scores, float)
    if order == "stable":
        ranked = np.argsort(-scores, kind="stable")
    else:  # ascending sort reversed: ties come out highest index first
        ranked = np.argsort(scores, kind="stable")[::-1]
    rel = set(np.asarray(relevant).tolist())
    shown = ranked[:k] if cut else ranked
    w = (lambda j: 1 / np.log2(j + 2)) if discount == "log2" else (lambda j: 1 / (j + 1))
    dcg = sum(w(j) for j, it in enumerate(shown) if it in rel)
    n_ideal = {"min": min(k, len(rel)), "k": k, "hits": sum(it in rel for it in shown)}[ideal]
    idcg = sum(w(j) for j in range(n_ideal))
    return dcg / idcg if idcg else 0.0


def _ndcg_cases():
    return [
        Case("6 items, k = 3, 2 relevant, no ties",
             (np.array([0.1, 0.9, 0.3, 0.8, 0.2, 0.5]), np.array([3, 4]), 3)),
        Case("7 items, k = 4, tied scores at the top and at the cut", (
            np.array([0.7, 0.9, 0.2, 0.9, 0.7, 0.7, 0.1]), np.array([3, 5, 6]), 4)),
        Case("8 items, k = 5, only 1 relevant item", (np.array([0.3, 0.1, 0.8, 0.6, 0.4, 0.9, 0.2, 0.5]),
                                                     np.array([4]), 5)),
        Case("3 items only, k = 5 (fewer items than k)", (np.array([0.2, 0.6, 0.4]), np.array([0, 2]), 5)),
        Case("5 items, k = 2, relevant items all below the cut", (np.array([0.5, 0.4, 0.3, 0.2, 0.1]),
                                                                   np.array([3, 4]), 2)),
    ]


NDCG = Exercise("t01.ndcg", """
NDCG@k of one user's list, from the model's scores.

scores: float array (n_items,), one score per candidate item; relevant: int
array of the relevant items; k: list length. Rank the items by decreasing score,
TIES BROKEN BY THE LOWER ITEM INDEX, keep the first k (fewer if n_items < k):
l_1, ..., l_k. With rel_j = 1 if l_j is relevant:
  DCG  = sum_{j<=k} rel_j / log2(j + 1)
  IDCG = sum_{j<=min(k, |relevant|)} 1 / log2(j + 1)
Return DCG / IDCG as a float (mfcore.ranking, equation (4)).""",
    signature="ndcg(scores, relevant, k)",
    reference=_ref_ndcg, cases=_ndcg_cases, outputs=("ndcg",),
    reference_name="mfcore.ranking.top_k and ndcg_at_k",
    mistakes=catalogue(_ndcg, [
        ("ties-reversed", dict(order="reversed"), """
tied items came out highest index first (np.argsort(scores)[::-1] reverses the tie order
too): sort -scores with kind='stable' so that ties keep the lower index first."""),
        ("idcg-k", dict(ideal="k"), """
IDCG summed k positions: a perfect list can hold only min(k, |relevant|) relevant items,
so a user with fewer relevant items than k could never reach 1."""),
        ("idcg-from-hits", dict(ideal="hits"), """
IDCG was built from the hits of your own list, so any list whose hits come first scores 1:
IDCG is the DCG of a perfect list, min(k, |relevant|) relevant items on top."""),
        ("not-cut-at-k", dict(cut=False), """
relevant items below position k were counted: keep only the first k of the ranking."""),
        ("reciprocal-discount", dict(discount="reciprocal"), """
the discount was 1/j (reciprocal rank); NDCG uses 1/log2(j + 1)."""),
    ]))
check_ndcg = NDCG.checker()

EXERCISES = {e.name: e for e in (ALS_BIASES, NDCG)}
