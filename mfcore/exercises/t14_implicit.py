"""Exercises of tutorial 14 (implicit feedback): MAP at k, and precision and recall at k.

Checked against :func:`mfcore.ranking.average_precision_at_k`, :func:`~mfcore.ranking.precision_at_k`
and :func:`~mfcore.ranking.recall_at_k`.
"""
from ..ranking import average_precision_at_k, precision_at_k, recall_at_k
from ._core import Exercise, catalogue, seeded_cases


def _list(g, n_items, n_rel, k):
    ranked = g.permutation(n_items)
    relevant = set(g.choice(n_items, n_rel, replace=False).tolist())
    return ranked, relevant, k


_lists = seeded_cases(_list, 180, [("20 items, 4 relevant, k = 10", 20, 4, 10),
                                   ("30 items, 12 relevant, k = 5", 30, 12, 5),
                                   ("15 items, 2 relevant, k = 10", 15, 2, 10)], one_generator=True)

# ---------------------------------------------------------------- 1. average precision


def _ap(ranked, relevant, k, *, by_relevant=False, by_hits=False, zero_based=False):
    hits, total = 0, 0.0
    for j, item in enumerate(list(ranked)[:k]):
        if item in relevant:
            hits += 1
            total += hits / (j if zero_based and j > 0 else j + 1)
    if by_hits:
        return total / hits if hits else 0.0
    return total / (len(relevant) if by_relevant else min(k, len(relevant)))


AP = Exercise("t14.average_precision", """
Average precision at k of one ranked list (MAP@k averages it over users).

ranked: item ids, best first; relevant: a set of item ids; k >= 1.
  AP@k = (1 / min(k, |relevant|)) * sum over positions j = 1..k that hold a
         relevant item of precision@j (hits among the first j, divided by j).
Return AP@k.""",
    signature="average_precision(ranked, relevant, k)",
    reference=average_precision_at_k, cases=_lists, outputs=("ap",),
    reference_name="mfcore.ranking.average_precision_at_k",
    mistakes=catalogue(_ap, [
        ("divided-by-all-relevant", dict(by_relevant=True), """
the sum was divided by |relevant|: a list of k items cannot hold more than k relevant
ones, so divide by min(k, |relevant|)."""),
        ("divided-by-hits", dict(by_hits=True), """
the sum was divided by the number of hits: a list that finds one relevant item at the top
would then score 1."""),
        ("zero-based-position", dict(zero_based=True), """
precision@j divided by the 0-based index: position j counts j + 1 items."""),
    ]))
check_average_precision = AP.checker()

# ---------------------------------------------------------------- 2. precision and recall


def _ref_pr(ranked, relevant, k):
    return precision_at_k(ranked, relevant, k), recall_at_k(ranked, relevant, k)


def _pr(ranked, relevant, k, *, recall_by_k=False, precision_by_rel=False, whole_list=False):
    top = list(ranked) if whole_list else list(ranked)[:k]
    hits = sum(1 for item in top if item in relevant)
    precision = hits / (len(relevant) if precision_by_rel else k)
    recall = hits / (k if recall_by_k else len(relevant))
    return precision, recall


PR = Exercise("t14.precision_recall", """
Precision and recall at k of one ranked list.

ranked: item ids, best first; relevant: a set of item ids; k >= 1.
With hits = the number of relevant items among the first k:
  precision@k = hits / k,   recall@k = hits / |relevant|.
Return (precision, recall).""",
    signature="precision_recall(ranked, relevant, k)",
    reference=_ref_pr, cases=_lists, outputs=("precision", "recall"),
    reference_name="mfcore.ranking.precision_at_k and recall_at_k",
    mistakes=catalogue(_pr, [
        ("recall-by-k", dict(recall_by_k=True), """
recall was divided by k: it is the share of the relevant items found, hits / |relevant|."""),
        ("precision-by-relevant", dict(precision_by_rel=True), """
precision was divided by |relevant|: it is the share of the list that is relevant, hits /
k."""),
        ("whole-list", dict(whole_list=True), """
the hits were counted over the whole list, not its first k items."""),
    ]))
check_precision_recall = PR.checker()

EXERCISES = {e.name: e for e in (AP, PR)}
