"""Solutions to the checked exercises of tutorial 01 (baselines)."""
import numpy as np


def als_biases(users, items, values, n_users, n_items, reg_user, reg_item, n_epochs):
    mu = values.mean()
    den_u = reg_user + np.bincount(users, minlength=n_users)
    den_i = reg_item + np.bincount(items, minlength=n_items)
    b_u, b_i = np.zeros(n_users), np.zeros(n_items)
    for _ in range(n_epochs):
        b_i = np.bincount(items, weights=values - mu - b_u[users], minlength=n_items) / den_i  # (B1)
        b_u = np.bincount(users, weights=values - mu - b_i[items], minlength=n_users) / den_u  # (B2)
    return b_u, b_i


def ndcg(scores, relevant, k):
    ranked = np.argsort(-np.asarray(scores), kind="stable")[:k]   # stable: ties keep the lower index
    relevant = set(np.asarray(relevant).tolist())
    dcg = sum(1 / np.log2(j + 2) for j, item in enumerate(ranked) if item in relevant)
    idcg = sum(1 / np.log2(j + 2) for j in range(min(k, len(relevant))))
    return dcg / idcg
