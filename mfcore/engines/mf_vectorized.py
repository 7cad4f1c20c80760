"""Minibatch SGD for matrix factorization with NumPy: gather, compute, scatter-add.

The same two functions as ``mf_loop`` with the same numbered steps (compare them
with ``diff -y mf_loop.py mf_vectorized.py``). For each batch of ``order``:

* gather the rows of the batch,
* compute every per-rating update of (U1)-(U4) at the *batch-start* parameters,
* SUM them into the parameters with a scatter-add.

Why a sum, not a mean: the objective is a sum of per-rating losses (L), and the
loop engine adds one update per rating. Summing keeps ``lr`` and ``reg`` meaning
the same at every batch size (an epoch moves each row by the same total amount
as a loop epoch would, only with staler gradients), and at ``batch_size=1`` it
is exactly the loop engine's step. A mean would divide the effective learning
rate by B. Keep ``lr`` times the largest number of times one item appears in a
batch well below 1 (true for lr ~ 0.01 and B <= a few thousand on MovieLens).

Why ``np.add.at`` on the flattened index ``row * K + f``: plain fancy-index
assignment ``P[u] += g`` keeps only one update per repeated row (a user rated
three items of the batch gets one update, not three). ``np.add.at`` adds them
all; on a 1-D target NumPy >= 1.25 takes a fast path, which beat ``np.add.at``
on rows, one ``np.bincount`` over the flat index, and sort plus
``np.add.reduceat``. A one-hot sparse product was as fast or faster on ML-100k,
but it costs O(n_rows K) per batch and so loses on large catalogs. The
row-wise dot product uses ``np.einsum("bk,bk->b")``, which builds no (B, K)
temporary, unlike ``np.sum(Pu * Qi, axis=1)``. The measurements are in
``benchmarks/results/engine_design.md``.
"""
import numpy as np


def biased_epoch(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg, batch_size):
    """One pass of (U1)-(U4) of BiasedMF in minibatches; returns the SSE (float64)."""
    assert P.flags.c_contiguous and Q.flags.c_contiguous  # P.reshape(-1) must be a view
    K = P.shape[1]
    f = np.arange(K)                                   # (K,)
    sse = 0.0
    for start in range(0, order.shape[0], batch_size):
        idx = order[start:start + batch_size]          # (B,)
        u = users[idx]                                 # (B,)
        i = items[idx]                                 # (B,)
        Pu = P[u]                                      # (B, K)
        Qi = Q[i]                                      # (B, K)
        bu_u = bu[u]                                   # (B,)
        bi_i = bi[i]                                   # (B,)
        # (1) error e = r_ui - (mu + b_u + b_i + p_u . q_i), at the batch-start values
        e = ratings[idx] - mu - bu_u - bi_i - np.einsum("bk,bk->b", Pu, Qi)  # (B,)
        sse += float(np.sum(e * e, dtype=np.float64))
        # (2) biases: (U1) and (U2), summed per row
        np.add.at(bu, u, lr * (e - reg * bu_u))        # (n_users,)
        np.add.at(bi, i, lr * (e - reg * bi_i))        # (n_items,)
        # (3) factors: (U3) and (U4), both from the values before the step
        gP = lr * (e[:, None] * Qi - reg * Pu)         # (B, K)
        gQ = lr * (e[:, None] * Pu - reg * Qi)         # (B, K)
        np.add.at(P.reshape(-1), (u[:, None] * K + f).ravel(), gP.ravel())  # (n_users * K,)
        np.add.at(Q.reshape(-1), (i[:, None] * K + f).ravel(), gQ.ravel())  # (n_items * K,)
    return sse


def plain_epoch(users, items, ratings, order, P, Q, lr, reg, batch_size):
    """One pass of (U3)-(U4) of FunkMF in minibatches; returns the SSE (float64)."""
    assert P.flags.c_contiguous and Q.flags.c_contiguous  # P.reshape(-1) must be a view
    K = P.shape[1]
    f = np.arange(K)                                   # (K,)
    sse = 0.0
    for start in range(0, order.shape[0], batch_size):
        idx = order[start:start + batch_size]          # (B,)
        u = users[idx]                                 # (B,)
        i = items[idx]                                 # (B,)
        Pu = P[u]                                      # (B, K)
        Qi = Q[i]                                      # (B, K)
        # (1) error e = r_ui - p_u . q_i, at the batch-start values
        e = ratings[idx] - np.einsum("bk,bk->b", Pu, Qi)  # (B,)
        sse += float(np.sum(e * e, dtype=np.float64))
        # (2) no biases in FunkMF
        # (3) factors: (U3) and (U4), both from the values before the step
        gP = lr * (e[:, None] * Qi - reg * Pu)         # (B, K)
        gQ = lr * (e[:, None] * Pu - reg * Qi)         # (B, K)
        np.add.at(P.reshape(-1), (u[:, None] * K + f).ravel(), gP.ravel())  # (n_users * K,)
        np.add.at(Q.reshape(-1), (i[:, None] * K + f).ravel(), gQ.ravel())  # (n_items * K,)
    return sse
