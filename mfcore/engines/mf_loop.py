"""Per-rating SGD for matrix factorization, one rating at a time (the readable engine).

Plain Python restricted to the Numba subset: ``mf_jit`` compiles these very
functions, so this file is both the reference and the fast path. Each kernel
applies the numbered updates of :class:`mfcore.models.mf.BiasedMF` (U1)-(U4), or
(U3)-(U4) of :class:`mfcore.models.mf.FunkMF`, to the ratings in ``order``,
updates the arrays in place and returns the float64 sum of squared errors, each
error taken just before its update.

Rules that keep the two engines one algorithm: no helper functions, no module
globals, scalars (``mu``, ``lr``, ``reg``) already in the parameters' dtype.
"""


def biased_epoch(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg):
    """One pass of (U1)-(U4) of BiasedMF over ``order``; returns the SSE (float64)."""
    K = P.shape[1]
    sse = 0.0
    for n in range(order.shape[0]):
        idx = order[n]
        u = users[idx]
        i = items[idx]
        # (1) error e = r_ui - (mu + b_u + b_i + p_u . q_i), one term at a time
        e = ratings[idx] - mu - bu[u] - bi[i]
        for f in range(K):
            e -= P[u, f] * Q[i, f]
        sse += float(e * e)
        # (2) biases: (U1) and (U2)
        bu[u] += lr * (e - reg * bu[u])
        bi[i] += lr * (e - reg * bi[i])
        # (3) factors: (U3) and (U4), both from the values before the step
        for f in range(K):
            puf = P[u, f]
            qif = Q[i, f]
            P[u, f] = puf + lr * (e * qif - reg * puf)
            Q[i, f] = qif + lr * (e * puf - reg * qif)
    return sse


def plain_epoch(users, items, ratings, order, P, Q, lr, reg):
    """One pass of (U3)-(U4) of FunkMF over ``order``; returns the SSE (float64)."""
    K = P.shape[1]
    sse = 0.0
    for n in range(order.shape[0]):
        idx = order[n]
        u = users[idx]
        i = items[idx]
        # (1) error e = r_ui - p_u . q_i, one term at a time
        e = ratings[idx]
        for f in range(K):
            e -= P[u, f] * Q[i, f]
        sse += float(e * e)
        # (2) no biases in FunkMF
        # (3) factors: (U3) and (U4), both from the values before the step
        for f in range(K):
            puf = P[u, f]
            qif = Q[i, f]
            P[u, f] = puf + lr * (e * qif - reg * puf)
            Q[i, f] = qif + lr * (e * puf - reg * qif)
    return sse
