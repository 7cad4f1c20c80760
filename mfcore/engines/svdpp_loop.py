"""Per-rating SGD for SVD++, one user's ratings at a time (the readable engine).

Plain Python restricted to the Numba subset: ``svdpp_jit`` compiles this very
function, so this file is both the reference and the fast path. It applies the
numbered updates (U0)-(U6) of :class:`mfcore.models.svdpp.SVDpp`: ``order`` lists
rating indices grouped by user, ``starts[b]:starts[b + 1]`` being block b (all the
ratings of one user); ``implicit_indptr`` / ``implicit_indices`` hold N(u), the
items each user rated (CSR rows). Updates the arrays in place and returns the
float64 sum of squared errors, each error taken just before its update.

Rules that keep the two engines one algorithm: no helper functions, no module
globals, float64 throughout.
"""
import numpy as np


def svdpp_epoch(users, items, ratings, order, starts, implicit_indptr, implicit_indices,
                mu, bu, bi, P, Q, Y, lr, reg):
    """One pass of (U0)-(U6) of SVDpp over the user blocks of ``order``; returns the SSE."""
    K = P.shape[1]
    sse = 0.0
    z = np.zeros_like(P[0])  # (K,) |N(u)|^-1/2 sum_j y_j
    g = np.zeros_like(P[0])  # (K,) sum_i e_ui q_i over the block
    for b in range(starts.shape[0] - 1):
        u = users[order[starts[b]]]
        lo = implicit_indptr[u]
        hi = implicit_indptr[u + 1]
        norm = 1.0 / np.sqrt(hi - lo)  # |N(u)|^-1/2
        # (U0) the implicit sum, once per user (y does not change inside the block)
        for f in range(K):
            z[f] = 0.0
            g[f] = 0.0
        for t in range(lo, hi):
            j = implicit_indices[t]
            for f in range(K):
                z[f] += Y[j, f]
        for f in range(K):
            z[f] *= norm
        for n in range(starts[b], starts[b + 1]):
            idx = order[n]
            i = items[idx]
            # (1) error e = r_ui - (mu + b_u + b_i + q_i . (p_u + z_u))
            e = ratings[idx] - mu - bu[u] - bi[i]
            for f in range(K):
                e -= Q[i, f] * (P[u, f] + z[f])
            sse += float(e * e)
            # (2) biases: (U1) and (U2)
            bu[u] += lr * (e - reg * bu[u])
            bi[i] += lr * (e - reg * bi[i])
            # (3) factors: (U3) and (U4) from the values before the step; (U5) gathers e q_i
            for f in range(K):
                puf = P[u, f]
                qif = Q[i, f]
                P[u, f] = puf + lr * (e * qif - reg * puf)
                Q[i, f] = qif + lr * (e * (puf + z[f]) - reg * qif)
                g[f] += e * qif
        # (U6) the implicit factors of N(u), once, with the block's summed gradient
        n_block = starts[b + 1] - starts[b]
        for t in range(lo, hi):
            j = implicit_indices[t]
            for f in range(K):
                Y[j, f] += lr * (norm * g[f] - n_block * reg * Y[j, f])
    return sse
