"""Alternating least squares with NumPy: many rows' ridge systems built and solved at once.

The same function as ``als_loop`` with the same numbered steps (compare them
with ``diff -y als_loop.py als_vectorized.py``). Rows are taken in batches of
similar length: each batch's ratings are gathered into a zero-padded block
``X`` (R rows, m ratings, K+1 regressors), the normal equations of every row
come from one batched product ``X^T X``, and one batched ``np.linalg.solve``
solves them. Padding rows are zero in ``X`` and ``y``, so they add nothing.

Why padded batches: the segment sum ``sum_j x_j x_j^T`` over all ratings at
once would need an (n, K+1, K+1) array (8 GB for ML-100k at K=100). Sorting
the rows by length keeps the padding small, and ``batch_elems`` bounds the
memory of one block ``X``.
"""
import numpy as np


def half_step(indptr, cols, vals, mu, b_fixed, F_fixed, b, F, reg, batch_elems=1 << 22):
    """(A1) (or (A2)) of ALS for every row of ``indptr``; returns the SSE after it (float64)."""
    K1 = F.shape[1] + 1
    counts = np.diff(indptr)                                        # (n_rows,)
    rows = np.flatnonzero(counts)                                   # rows with ratings
    rows = rows[np.argsort(-counts[rows], kind="stable")]           # longest first
    sse = 0.0
    start = 0
    while start < rows.shape[0]:
        m = int(counts[rows[start]])                                # the batch's longest row
        R = max(1, batch_elems // (m * K1))
        batch = rows[start:start + R]                               # (R,)
        start += R
        n_b = counts[batch]                                         # (R,)
        valid = np.arange(m) < n_b[:, None]                         # (R, m)
        pos = np.where(valid, indptr[batch][:, None] + np.arange(m), 0)  # (R, m)
        j = cols[pos]                                               # (R, m)
        # (1) normal equations A = X^T X, z = X^T y, with x_j = [1, f_j], y_j = r - mu - b_j
        X = np.empty((batch.shape[0], m, K1), dtype=F.dtype)        # (R, m, K+1)
        X[:, :, 0] = 1.0
        X[:, :, 1:] = F_fixed[j]
        X *= valid[:, :, None]
        y = (vals[pos] - mu - b_fixed[j]) * valid                   # (R, m)
        A = np.matmul(X.transpose(0, 2, 1), X)                      # (R, K+1, K+1)
        z = np.matmul(X.transpose(0, 2, 1), y[:, :, None])          # (R, K+1, 1)
        # (2) ridge: reg * (number of ratings of the row) on every unknown, the bias included
        d = np.arange(K1)
        A[:, d, d] += (reg * n_b).astype(F.dtype)[:, None]          # (R, K+1)
        # (3)-(4) solve A w = z for every row of the batch at once
        w = np.linalg.solve(A, z)[:, :, 0]                          # (R, K+1)
        # (5) write the rows: b = w_0, f = w_1..K
        b[batch] = w[:, 0]
        F[batch] = w[:, 1:]
        # (6) squared errors of the rows' ratings at the new values
        e = (y - np.einsum("rmk,rk->rm", X, w)) * valid             # (R, m)
        sse += float(np.sum(e * e, dtype=np.float64))
    return sse
