"""Implicit-feedback ALS (Hu, Koren and Volinsky), conjugate-gradient half step, readable.

Plain Python restricted to the Numba subset: ``ials_jit`` compiles this very
function (bit-identical in float64). ``cg_half_step`` runs ``cg_steps`` steps
of conjugate gradients on every row's system (I1) of
:class:`mfcore.models.implicit_als.ImplicitALS`, warm-started from the row's
current factors, and returns the float64 sum of the rows' final squared
residual norms. The dense part ``Y^T Y`` is computed once per half step by the
caller; each row then costs O(n_row K + K^2) per CG step, never O(n_items K).

Rules: no helper functions, no module globals, arrays in one dtype.
"""
import numpy as np


def cg_half_step(indptr, cols, conf, YtY, Y, X, reg, cg_steps):
    """(I1) (or (I2)) of ImplicitALS for every row of ``indptr``, by CG; returns sum |r|^2."""
    K = X.shape[1]
    r = np.zeros(K, dtype=X.dtype)  # (K,) residual b - A x
    p = np.zeros(K, dtype=X.dtype)  # (K,) search direction
    Ap = np.zeros(K, dtype=X.dtype)  # (K,) A p
    total = 0.0
    for row in range(indptr.shape[0] - 1):
        lo = indptr[row]
        hi = indptr[row + 1]
        if hi == lo:
            continue
        # (1) residual r = b - A x, with A x = (Y^T Y + reg I) x + sum_j (c_j - 1)(y_j . x) y_j
        #     and b = sum_j c_j y_j (preference 1 on the row's observed columns, 0 elsewhere)
        for f in range(K):
            t = reg * X[row, f]
            for g in range(K):
                t += YtY[f, g] * X[row, g]
            r[f] = -t
        for n in range(lo, hi):
            j = cols[n]
            yx = 0.0
            for f in range(K):
                yx += Y[j, f] * X[row, f]
            w = conf[n] - (conf[n] - 1.0) * yx
            for f in range(K):
                r[f] += w * Y[j, f]
        # (2) first direction p = r
        rs = 0.0
        for f in range(K):
            p[f] = r[f]
            rs += r[f] * r[f]
        # (3) CG steps: x += a p, r -= a A p, p = r + (|r_new|^2 / |r|^2) p
        for _ in range(cg_steps):
            if rs <= 1e-30:
                break
            for f in range(K):
                t = reg * p[f]
                for g in range(K):
                    t += YtY[f, g] * p[g]
                Ap[f] = t
            for n in range(lo, hi):
                j = cols[n]
                yp = 0.0
                for f in range(K):
                    yp += Y[j, f] * p[f]
                w = (conf[n] - 1.0) * yp
                for f in range(K):
                    Ap[f] += w * Y[j, f]
            pAp = 0.0
            for f in range(K):
                pAp += p[f] * Ap[f]
            a = rs / pAp
            rs_new = 0.0
            for f in range(K):
                X[row, f] += a * p[f]
                r[f] -= a * Ap[f]
                rs_new += r[f] * r[f]
            for f in range(K):
                p[f] = r[f] + (rs_new / rs) * p[f]
            rs = rs_new
        total += float(rs)
    return total
