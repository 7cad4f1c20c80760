r"""Ranking metrics: how good are a model's top-k lists?

For each test user u the model scores every item of its item map; the items u
rated in *training* are removed, and the k best of the rest form the list
L_u = (l_1, ..., l_k) (ties broken by the lower item index, so lists are
deterministic). A test item is *relevant* when its test rating is >= the
``threshold`` (default 4.0 on a 1-5 scale); Rel_u is the set of u's relevant
test items that were not among u's training items. With rel_j = 1 if l_j is in
Rel_u, else 0:

(1) precision@k = (1/k) sum_{j<=k} rel_j
(2) recall@k    = (1/|Rel_u|) sum_{j<=k} rel_j
(3) hit rate@k  = 1 if sum_{j<=k} rel_j > 0, else 0
(4) NDCG@k      = DCG / IDCG, DCG = sum_{j<=k} rel_j / log2(j + 1),
                  IDCG = sum_{j<=min(k, |Rel_u|)} 1 / log2(j + 1)
(5) AP@k        = (1/min(k, |Rel_u|)) sum_{j<=k} rel_j * precision@j
                  (MAP@k is its mean)

Each is computed per user and averaged over the users with at least one
relevant test item (|Rel_u| >= 1); other users are skipped. A relevant item the
model cannot score (its raw id is not in the model's item map) still counts in
|Rel_u|: it is a miss.

Scoring all items of a block of users uses the model's optional
``score_users(users) -> (n_block, n_items)`` method when it has one (it must
equal ``model.predict(...)`` for those rows, unclipped); otherwise
``model.predict(np.full(n_items, u), np.arange(n_items))`` for each user.
Scores are not clipped: clipping would create ties at the top of the scale.
"""
import numpy as np

from ._validation import check_is_fitted, check_number


# ------------------------------------------------------------------ per user
def precision_at_k(ranked, relevant, k):
    """(1): the share of the first k recommended items that are relevant."""
    return sum(1 for item in list(ranked)[:k] if item in relevant) / k


def recall_at_k(ranked, relevant, k):
    """(2): the share of the relevant items found among the first k."""
    return sum(1 for item in list(ranked)[:k] if item in relevant) / len(relevant)


def hit_rate_at_k(ranked, relevant, k):
    """(3): 1.0 when at least one of the first k items is relevant."""
    return float(any(item in relevant for item in list(ranked)[:k]))


def ndcg_at_k(ranked, relevant, k):
    """(4): discounted cumulative gain of the list over that of a perfect list."""
    dcg = sum(1.0 / np.log2(j + 2) for j, item in enumerate(list(ranked)[:k]) if item in relevant)
    idcg = sum(1.0 / np.log2(j + 2) for j in range(min(k, len(relevant))))
    return float(dcg / idcg)


def average_precision_at_k(ranked, relevant, k):
    """(5): the mean of precision@j over the positions j <= k that hold a relevant item."""
    hits, total = 0, 0.0
    for j, item in enumerate(list(ranked)[:k]):
        if item in relevant:
            hits += 1
            total += hits / (j + 1)
    return total / min(k, len(relevant))


METRICS = {"precision": precision_at_k, "recall": recall_at_k, "ndcg": ndcg_at_k,
           "hit_rate": hit_rate_at_k, "map": average_precision_at_k}


# ------------------------------------------------------------------ top-k
def top_k(scores, k, tol=0.0):
    """Column indices of the k largest entries of each row, best first.

    Values within ``tol`` of each other count as tied, and ties are broken by
    the lower column index, so the result does not depend on how
    ``argpartition`` orders equal values (nor, with ``tol`` > 0, on rounding).

    Parameters
    ----------
    scores : ndarray (B, n)
    k : int
    tol : float, default 0

    Returns
    -------
    ndarray of intp, shape (B, min(k, n))
    """
    scores = np.asarray(scores, dtype=np.float64)
    B, n = scores.shape
    k = min(k, n)
    if k == 0:
        return np.empty((B, 0), dtype=np.intp)
    if k < n:
        cols = np.argpartition(scores, n - k, axis=1)[:, n - k:]  # (B, k) some k largest
        kth = np.take_along_axis(scores, cols, axis=1).min(axis=1, keepdims=True)  # (B, 1)
        # a row is ambiguous when more than k values reach kth - tol: redo it by index order
        fix = np.flatnonzero((scores >= kth - tol).sum(axis=1) > k)
        if fix.size:
            s, t = scores[fix], kth[fix]  # (F, n), (F, 1)
            above = s > t + tol  # (F, n) surely in
            tie = (s >= t - tol) & ~above  # (F, n) tied at the boundary
            need = k - above.sum(axis=1, keepdims=True)  # (F, 1)
            keep = above | (tie & (np.cumsum(tie, axis=1) <= need))  # (F, n) exactly k per row
            cols[fix] = np.nonzero(keep)[1].reshape(fix.size, k)
        cols.sort(axis=1)  # index order, so that the stable sort below breaks ties by index
    else:
        cols = np.broadcast_to(np.arange(n), (B, n))
    vals = np.take_along_axis(scores, cols, axis=1)  # (B, k)
    key = np.rint(vals / tol) if tol > 0 else vals
    order = np.argsort(-key, axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1)


def score_users(model, users):
    """Unclipped scores of every item for each user index in ``users``: (len(users), n_items).

    Uses ``model.score_users`` when the model defines it, else ``model.predict``.
    """
    users = np.asarray(users, dtype=np.int64)
    hook = getattr(model, "score_users", None)
    if hook is not None:
        return hook(users)
    n_items = model.item_counts_.size
    items = np.arange(n_items)
    return np.stack([model.predict(np.full(n_items, u), items) for u in users]) \
        if users.size else np.empty((0, n_items))


def fill_unknown(model, users, scores):
    """Replace, in place, the entries of ``scores`` (rows ``users``, all items) whose user
    or item had no training rating by the model's fallback, as ``predict`` does."""
    items = np.arange(scores.shape[1])
    known = model.known_mask(users[:, None], items[None, :])  # (B, n_items)
    if not known.all():
        uu, ii = np.broadcast_arrays(users[:, None], items[None, :])
        scores[~known] = model._predict_fallback(uu[~known], ii[~known])
    return scores


def _train_items(model, u):
    if u < 0:
        return np.empty(0, dtype=np.int32)
    return model.rated_indices_[model.rated_indptr_[u]:model.rated_indptr_[u + 1]]


def ranking_report(model, test, k=10, threshold=4.0, block_size=256):
    """Precision, recall, NDCG, hit rate and MAP at k of a fitted model on ``test``.

    Parameters
    ----------
    model : fitted Recommender
    test : Ratings
        Held-out ratings (their maps may differ from the model's).
    k : int, default 10
    threshold : float, default 4.0
        A test item is relevant when its rating is >= threshold.
    block_size : int, default 256
        Users scored at once.

    Returns
    -------
    dict
        ``precision@k``, ``recall@k``, ``ndcg@k``, ``hit_rate@k``, ``map@k``
        (floats, averaged over users), ``n_users`` (users with a relevant test
        item), ``k`` and ``threshold``.
    """
    check_is_fitted(model, "global_mean_")
    k = check_number(k, "k", "ranking_report", kind="int", low=1, low_inclusive=True)
    threshold = check_number(threshold, "threshold", "ranking_report")
    u_model, i_model, r = model._aligned(test)
    rel = r >= threshold
    # group relevant test items by the test's own user index (several users may be unknown: -1)
    groups = {}
    for tu, um, im in zip(test.users[rel], u_model[rel], i_model[rel]):
        groups.setdefault(int(tu), (int(um), []))[1].append(int(im))
    users, relevants = [], []
    for um, items in groups.values():
        train_items = set(_train_items(model, um).tolist())
        relevant = {i for i in items if i >= 0 and i not in train_items}
        # an item the model cannot map (-1) stays relevant but can never be found:
        # it enters Rel_u as a distinct negative id that no list contains
        relevant |= {-1 - n for n, i in enumerate(items) if i < 0}
        if relevant:
            users.append(um)
            relevants.append(relevant)
    sums = dict.fromkeys(METRICS, 0.0)
    for start in range(0, len(users), block_size):
        block = np.asarray(users[start:start + block_size])
        scores = score_users(model, block)  # (B, n_items)
        for row, u in enumerate(block):
            scores[row, _train_items(model, u)] = -np.inf
        lists = top_k(scores, k)  # (B, k)
        for row, u in enumerate(block):
            n_candidates = scores.shape[1] - _train_items(model, u).size
            ranked = lists[row, :n_candidates].tolist()
            for name, fn in METRICS.items():
                sums[name] += fn(ranked, relevants[start + row], k)
    n = len(users)
    out = {f"{name}@{k}": (sums[name] / n if n else float("nan")) for name in METRICS}
    out.update(n_users=n, k=k, threshold=threshold)
    return out
