"""Numba kernels of an L-BFGS step's passes over memory (twins: :mod:`mfcore.engines.lbfgs_numpy`).

Steps (L1) and (L4) of :mod:`mfcore.nn.lbfgs`. With millions of weights a step is
bound by memory traffic, not arithmetic: ``direction`` forms z and d and their two
inner products in one pass over S, Y, x and g (NumPy: eight passes and four
temporaries), and ``new_pair`` writes the new pair and reads S and Y once for the
four products with y and g (BLAS: one gemv each, four reads; ``pair_dots``
alone when the pair is skipped). Both walk the weights in blocks of
``BLOCK`` so that the block of the output (or of y and g) stays in cache while the
c rows stream through; sums run in ``LANES`` interleaved partial sums, or in BLAS
dot products per block: another order than NumPy's, equal to rounding.

Kernels draw no random numbers, read no globals and never raise.
"""
import numpy as np

from .._jit import jit

BLOCK = 2048  # weights per block: 16 KB of each vector
LANES = 8  # partial sums per inner product


# Loops index 1-D views with indices from range(k): provably non-negative, so Numba emits no
# wraparound test and LLVM vectorizes them.

@jit
def direction(x, g, S, Y, p, q, gamma, z, d):
    n, c = x.shape[0], p.shape[0]
    dd = np.zeros(LANES)  # lane t sums the weights j with j % LANES == t
    gd = np.zeros(LANES)
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        xb, gb, zb, db = x[lo:hi], g[lo:hi], z[lo:hi], d[lo:hi]  # (b,) views
        for j in range(hi - lo):
            zb[j] = gamma * gb[j]  # z holds H g while it is summed
        for i in range(c):
            pi, Sb = p[i], S[i, lo:hi]
            for j in range(hi - lo):
                zb[j] += pi * Sb[j]
        for i in range(c):
            qi, Yb = q[i], Y[i, lo:hi]
            for j in range(hi - lo):
                zb[j] += qi * Yb[j]
        for j in range(hi - lo):
            zj = xb[j] - zb[j]
            zb[j] = zj
            db[j] = zj - xb[j]
        for j0 in range(0, hi - lo, LANES):
            for t in range(min(LANES, hi - lo - j0)):
                dj = db[j0 + t]
                dd[t] += dj * dj
                gd[t] += gb[j0 + t] * dj
    return dd.sum(), gd.sum()


@jit
def new_pair(g, g_old, d, stp, S, Y, row, c, out):
    """(L4) writes the pair into row ``row``: s = stp d (d when stp = 1), y = g - g_old, and fills
    out[:, :c] as ``pair_dots(S, Y, c, y, g, out)`` does, in the same pass; returns y . y."""
    n = g.shape[0]
    out[:, :c] = 0.0
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        db, gb, gob = d[lo:hi], g[lo:hi], g_old[lo:hi]  # (b,) views
        sb, yb = S[row, lo:hi], Y[row, lo:hi]
        if stp == 1.0:
            for j in range(hi - lo):
                sb[j] = db[j]
        else:
            for j in range(hi - lo):
                sb[j] = db[j] * stp
        for j in range(hi - lo):
            yb[j] = gb[j] - gob[j]
        for i in range(c):
            Sb, Yb = S[i, lo:hi], Y[i, lo:hi]
            out[0, i] += np.dot(Sb, yb)  # BLAS ddot
            out[1, i] += np.dot(Sb, gb)
            out[2, i] += np.dot(Yb, yb)
            out[3, i] += np.dot(Yb, gb)
    return out[2, row]


@jit
def pair_dots(S, Y, c, y, g, out):
    n = y.shape[0]
    out[:, :c] = 0.0
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        yb, gb = y[lo:hi], g[lo:hi]  # (b,) views, in cache for the c rows
        for i in range(c):
            Sb, Yb = S[i, lo:hi], Y[i, lo:hi]  # read from memory once, then from cache
            out[0, i] += np.dot(Sb, yb)  # BLAS ddot
            out[1, i] += np.dot(Sb, gb)
            out[2, i] += np.dot(Yb, yb)
            out[3, i] += np.dot(Yb, gb)


@jit
def add_scaled(G, P, lam):
    Gf, Pf = G.reshape(-1), P.reshape(-1)  # (N,) views
    for j in range(Gf.shape[0]):
        Gf[j] += lam * Pf[j]
