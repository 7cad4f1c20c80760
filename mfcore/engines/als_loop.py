"""Alternating least squares, one row at a time (the readable engine).

Plain Python restricted to the Numba subset: ``als_jit`` compiles this very
function, so this file is both the reference and the fast path. ``half_step``
solves, for every row of a CSR matrix (users in (A1) of
:class:`mfcore.models.als.ALS`, items in (A2)), that row's ridge system
(K+1 unknowns: its bias and its factors) with the other side held fixed,
writes the solution in place and returns the float64 sum of squared errors of
the row's ratings at the new values. Every rating lies in exactly one row, so
the return value is the SSE of the whole training set after the half step.

The solve is a Cholesky factorization written out (the system is symmetric
positive definite when reg > 0), so the compiled engine runs the very same
operations: loop and jit agree bit for bit in float64.

Rules that keep the two engines one algorithm: no helper functions, no module
globals, scalars (``mu``, ``reg``) already in the parameters' dtype.
"""
import numpy as np


def half_step(indptr, cols, vals, mu, b_fixed, F_fixed, b, F, reg):
    """(A1) (or (A2)) of ALS for every row of ``indptr``; returns the SSE after it (float64).

    Row ``row`` has the ratings ``vals[indptr[row]:indptr[row + 1]]`` of the
    columns ``cols[...]`` (items for a user, users for an item). ``b_fixed`` and
    ``F_fixed`` are the other side's biases and factors (read only); ``b`` and
    ``F`` are this side's, rewritten row by row. A row with no ratings is left
    as it is.
    """
    K1 = F.shape[1] + 1  # unknowns: the bias and K factors, w = [b, f]
    A = np.zeros((K1, K1), dtype=F.dtype)  # (K+1, K+1), lower triangle used
    z = np.zeros(K1, dtype=F.dtype)  # (K+1,) right-hand side, then the solution
    x = np.zeros(K1, dtype=F.dtype)  # (K+1,) one rating's regressors [1, f_j]
    sse = 0.0
    for row in range(indptr.shape[0] - 1):
        lo = indptr[row]
        hi = indptr[row + 1]
        if hi == lo:
            continue
        # (1) normal equations: A = sum_j x_j x_j^T, z = sum_j y_j x_j over the row's
        #     ratings, with x_j = [1, f_j] and y_j = r - mu - b_j (lower triangle of A)
        for k in range(K1):
            z[k] = 0.0
            for m in range(k + 1):
                A[k, m] = 0.0
        for n in range(lo, hi):
            j = cols[n]
            y = vals[n] - mu - b_fixed[j]
            x[0] = 1.0
            for f in range(K1 - 1):
                x[f + 1] = F_fixed[j, f]
            for k in range(K1):
                z[k] += y * x[k]
                for m in range(k + 1):
                    A[k, m] += x[k] * x[m]
        # (2) ridge: reg * (number of ratings of the row) on every unknown, the bias
        #     included (the per-occurrence penalty of BiasedMF)
        lam = reg * (hi - lo)
        for k in range(K1):
            A[k, k] += lam
        # (3) Cholesky factorization A = L L^T, L overwriting A's lower triangle
        for k in range(K1):
            s = A[k, k]
            for m in range(k):
                s -= A[k, m] * A[k, m]
            d = np.sqrt(s)
            A[k, k] = d
            for l in range(k + 1, K1):
                t = A[l, k]
                for m in range(k):
                    t -= A[l, m] * A[k, m]
                A[l, k] = t / d
        # (4) forward substitution L v = z, then back substitution L^T w = v (in z)
        for k in range(K1):
            t = z[k]
            for m in range(k):
                t -= A[k, m] * z[m]
            z[k] = t / A[k, k]
        for k in range(K1 - 1, -1, -1):
            t = z[k]
            for m in range(k + 1, K1):
                t -= A[m, k] * z[m]
            z[k] = t / A[k, k]
        # (5) write the row: b = w_0, f = w_1..K
        b[row] = z[0]
        for f in range(K1 - 1):
            F[row, f] = z[f + 1]
        # (6) squared errors of the row's ratings at the new values
        for n in range(lo, hi):
            j = cols[n]
            e = vals[n] - mu - b_fixed[j] - b[row]
            for f in range(K1 - 1):
                e -= F[row, f] * F_fixed[j, f]
            sse += float(e * e)
    return sse
