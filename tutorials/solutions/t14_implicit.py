"""Solutions to the checked exercises of tutorial 14 (implicit feedback)."""


def average_precision(ranked, relevant, k):
    hits, total = 0, 0.0
    for j, item in enumerate(list(ranked)[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / j                              # precision at position j
    return total / min(k, len(relevant))


def precision_recall(ranked, relevant, k):
    hits = len(set(list(ranked)[:k]) & relevant)
    return hits / k, hits / len(relevant)
