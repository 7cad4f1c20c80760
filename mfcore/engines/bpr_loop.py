"""Per-triple SGD for BPR (the readable engine).

Plain Python restricted to the Numba subset: ``bpr_jit`` compiles this very
function, so this file is both the reference and the fast path. It applies the
numbered updates (B1)-(B5) of :class:`mfcore.models.bpr.BPR` to the triples
``(u, i, j) = (users[order[t]], items[order[t]], negatives[t])`` in the order
given: ``order`` picks the positive (u, i) of triple t and ``negatives[t]`` is
its sampled item j, both drawn in Python. Updates ``b``, ``P`` and ``Q`` in
place and returns the float64 sum of -ln sigma(x_uij), each taken just before
its update.

Rules that keep the two engines one algorithm: no helper functions, no module
globals, float64 throughout.
"""
import math


def bpr_epoch(users, items, order, negatives, b, P, Q, lr, reg):
    """One pass of (B1)-(B5) of BPR over the triples; returns the sum of -ln sigma(x_uij)."""
    K = P.shape[1]
    total = 0.0
    for t in range(order.shape[0]):
        idx = order[t]
        u = users[idx]
        i = items[idx]
        j = negatives[t]
        # (1) x_uij = x_ui - x_uj = b_i - b_j + p_u . (q_i - q_j)
        x = b[i] - b[j]
        for f in range(K):
            x += P[u, f] * (Q[i, f] - Q[j, f])
        # (2) the loss -ln sigma(x) and the step size z = sigma(-x), without overflow
        if x >= 0.0:
            ex = math.exp(-x)
            total += math.log1p(ex)
            z = ex / (1.0 + ex)
        else:
            ex = math.exp(x)
            total += -x + math.log1p(ex)
            z = 1.0 / (1.0 + ex)
        # (3) biases: (B1) and (B2) from the values before the step
        bi = b[i]
        bj = b[j]
        b[i] += lr * (z - reg * bi)
        b[j] += lr * (-z - reg * bj)
        # (4) factors: (B3)-(B5) from the values before the step
        for f in range(K):
            puf = P[u, f]
            qif = Q[i, f]
            qjf = Q[j, f]
            P[u, f] = puf + lr * (z * (qif - qjf) - reg * puf)
            Q[i, f] += lr * (z * puf - reg * qif)
            Q[j, f] += lr * (-z * puf - reg * qjf)
    return total
