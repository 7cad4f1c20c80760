"""Exercises of tutorial 14 (implicit feedback): MAP at k, and precision and recall at k.

Checked against :func:`mfcore.ranking.average_precision_at_k`, :func:`~mfcore.ranking.precision_at_k`
and :func:`~mfcore.ranking.recall_at_k`.
"""
import numpy as np

from ..ranking import average_precision_at_k, precision_at_k, recall_at_k
from ._core import Case, Exercise, Mistake


def _lists():
    g = np.random.default_rng(180)
    cases = []
    for label, n_items, n_rel, k in [("20 items, 4 relevant, k = 10", 20, 4, 10),
                                     ("30 items, 12 relevant, k = 5", 30, 12, 5),
                                     ("15 items, 2 relevant, k = 10", 15, 2, 10)]:
        ranked = g.permutation(n_items)
        relevant = set(g.choice(n_items, n_rel, replace=False).tolist())
        cases.append(Case(label, (ranked, relevant, k)))
    return cases

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


AP = Exercise(
    key="t14.average_precision",
    title="Average precision at k of one ranked list (MAP@k averages it over users).",
    signature="average_precision(ranked, relevant, k)",
    task="""
ranked: item ids, best first; relevant: a set of item ids; k >= 1.
  AP@k = (1 / min(k, |relevant|)) * sum over positions j = 1..k that hold a
         relevant item of precision@j (hits among the first j, divided by j).
Return AP@k.""",
    reference=average_precision_at_k, cases=_lists, outputs=("ap",),
    reference_name="mfcore.ranking.average_precision_at_k",
    mistakes=[
        Mistake("divided-by-all-relevant", "the sum was divided by |relevant|: a list of k items cannot hold "
                "more than k relevant ones, so divide by min(k, |relevant|).",
                lambda *a: _ap(*a, by_relevant=True)),
        Mistake("divided-by-hits", "the sum was divided by the number of hits: a list that finds one "
                "relevant item at the top would then score 1.", lambda *a: _ap(*a, by_hits=True)),
        Mistake("zero-based-position", "precision@j divided by the 0-based index: position j counts j + 1 "
                "items.", lambda *a: _ap(*a, zero_based=True)),
    ])
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


PR = Exercise(
    key="t14.precision_recall",
    title="Precision and recall at k of one ranked list.",
    signature="precision_recall(ranked, relevant, k)",
    task="""
ranked: item ids, best first; relevant: a set of item ids; k >= 1.
With hits = the number of relevant items among the first k:
  precision@k = hits / k,   recall@k = hits / |relevant|.
Return (precision, recall).""",
    reference=_ref_pr, cases=_lists, outputs=("precision", "recall"),
    reference_name="mfcore.ranking.precision_at_k and recall_at_k",
    mistakes=[
        Mistake("recall-by-k", "recall was divided by k: it is the share of the relevant items found, "
                "hits / |relevant|.", lambda *a: _pr(*a, recall_by_k=True)),
        Mistake("precision-by-relevant", "precision was divided by |relevant|: it is the share of the list "
                "that is relevant, hits / k.", lambda *a: _pr(*a, precision_by_rel=True)),
        Mistake("whole-list", "the hits were counted over the whole list, not its first k items.",
                lambda *a: _pr(*a, whole_list=True)),
    ])
check_precision_recall = PR.checker()

EXERCISES = {e.name: e for e in (AP, PR)}
