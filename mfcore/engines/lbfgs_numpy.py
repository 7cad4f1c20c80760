"""NumPy twins of :mod:`mfcore.engines.lbfgs_jit`: the passes over the n-vectors of an L-BFGS step.

Steps (L1) and (L4) of :mod:`mfcore.nn.lbfgs` (the maths is there). Each function
here has the contract of the kernel of the same name and gives the same numbers
to rounding (tested): BLAS sums in another order.

Shapes: n weights, S and Y (m, n) with the pairs in rows 0..c-1, p and q (c,).
"""
import numpy as np


def direction(x, g, S, Y, p, q, gamma, z, d):
    """(L1) z = x - (gamma g + p S + q Y) and d = z - x, both (n,) filled; returns (d.d, g.d)."""
    c = len(p)
    np.subtract(x, gamma * g + p @ S[:c] + q @ Y[:c], out=z)
    np.subtract(z, x, out=d)
    return float(d @ d), float(g @ d)


def new_pair(g, g_old, d, stp, S, Y, row, c, out):
    """(L4) the pair into row ``row`` of S and Y: s = stp d (d itself when stp = 1) and
    y = g - g_old; then ``pair_dots(S, Y, c, y, g, out)``; returns y . y."""
    if stp == 1.0:
        S[row] = d
    else:
        np.multiply(d, stp, out=S[row])
    np.subtract(g, g_old, out=Y[row])
    pair_dots(S, Y, c, Y[row], g, out)
    return out[2, row]


def pair_dots(S, Y, c, y, g, out):
    """(L4) the inner products of the c pairs with the new y and with g: out[:, :c] (out (4, m)) =
    S y, S g, Y y, Y g (rows 0..c-1 of S and Y)."""
    out[0, :c], out[1, :c] = S[:c] @ y, S[:c] @ g
    out[2, :c], out[3, :c] = Y[:c] @ y, Y[:c] @ g


def add_scaled(G, P, lam):
    """G += lam P, in place (the weight decay's gradient)."""
    G += lam * P
