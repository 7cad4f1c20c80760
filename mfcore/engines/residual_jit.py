"""Numba kernels of the residual MF network's "jit" engine (fused per-batch loops).

:class:`mfcore.engines.residual_epoch.ResidualJitEpoch` drives a batch from
Python in a few calls: these kernels do the gather, the Dense bias, the fused
ELU head, the ELU backward with the output layer's gradients and the scatter-add
(G1)-(G3), each one pass over its arrays, while
the three matrix products go to BLAS (``np.dot``) and the exponential to
NumPy's SIMD ``np.exp`` (Numba's scalar ``exp`` is several times slower). The
NumPy twin of the whole batch is the layer graph
:class:`mfcore.models.residual.ResidualNet` (tested to 1e-10). Symbols and
labels are those of ResidualMF's docstring: B the batch, K factors, H hidden
units; kernels never raise or draw random numbers.
"""
import numpy as np

from .._jit import jit


@jit
def gather_and_dot(P, Q, bu, bi, u, i, h, mf):
    """h[b] = [P[u_b], Q[i_b]]  (B, 2K); mf[b] = P[u_b].Q[i_b] + bu[u_b] + bi[i_b]  (B,)."""
    K = P.shape[1]
    for b in range(u.shape[0]):
        s = bu[u[b], 0] + bi[i[b], 0]
        for f in range(K):
            pf, qf = P[u[b], f], Q[i[b], f]
            h[b, f] = pf
            h[b, K + f] = qf
            s += pf * qf
        mf[b] = s


@jit
def add_bias_and_clip(Z, c1, E):
    """Z <- z = Z + c1 (the Dense bias, after the bare product h W1) and E <- min(z, 0), one pass  (B, H)."""
    B, H = Z.shape
    for b in range(B):
        for j in range(H):
            z = Z[b, j] + c1[j]
            Z[b, j] = z
            E[b, j] = z if z < 0 else 0.0


@jit
def elu_head(Z, E, w2, c2, mf, y, d):
    """Forward from z = h W1 + c1 (in Z) and E = exp(min(z, 0)) to the loss.

    Overwrites Z with a = ELU(z) and E with ELU'(z); fills d = dL/dy_hat (B,)
    for L = mean_b (mf_b + a_b.w2 + c2 - y_b)^2; returns L. The select loop has
    no branch and no reduction, so LLVM vectorizes it; a.w2 goes to BLAS.
    """
    B, H = Z.shape
    for b in range(B):
        for j in range(H):
            z, ez = Z[b, j], E[b, j]
            Z[b, j] = z if z > 0 else ez - 1.0
            E[b, j] = 1.0 if z > 0 else ez
    side = np.dot(Z, w2)  # (B, 1)
    sse = 0.0
    for b in range(B):
        e = mf[b] + side[b, 0] + c2[0] - y[b]
        sse += e * e
        d[b] = 2.0 * e / B
    return sse / B


@jit
def elu_backward(Z, E, d, w2, Gw2, Gc1, Gc2):
    """The output layer's gradients and E <- dL/dz, one pass over the batch:
    Gw2 = sum_b d_b a_b (a = ELU(z), in Z), Gc2 = sum_b d_b, E <- d_b w2_j ELU'(z_bj)  (B, H),
    Gc1 = sum_b dL/dz_b  (H,). Sums run over b in order, each unit j on its own, so the
    loop over j vectorizes."""
    B, H = E.shape
    gw, w = Gw2.reshape(-1), w2.reshape(-1)  # (H,) views of the (H, 1) column
    gw[:] = 0.0
    Gc1[:] = 0.0
    Gc2[0] = 0.0
    for b in range(B):
        db = d[b]
        Gc2[0] += db
        for j in range(H):
            gw[j] += db * Z[b, j]
            g = E[b, j] * db * w[j]
            E[b, j] = g
            Gc1[j] += g


@jit
def scatter_factors(GP, GQ, Gbu, Gbi, u, i, h, d, dh, bu, bi, c):
    """(G3): G_P[u_b] += d_b q_i + dh_b[:K] + c p_u, G_Q[i_b] += d_b p_u + dh_b[K:] + c q_i,
    G_bu[u_b] += d_b + c b_u, G_bi[i_b] += d_b + c b_i.

    ``c = 2 lambda_r / B`` is the per-rating L2 term (``reg_per_rating``; 0 adds
    exact zeros); h holds the rows [p_u, q_i] gathered before the step."""
    K = GP.shape[1]
    for b in range(u.shape[0]):
        uu, ii, db = u[b], i[b], d[b]
        for f in range(K):
            GP[uu, f] += db * h[b, K + f] + dh[b, f] + c * h[b, f]
            GQ[ii, f] += db * h[b, f] + dh[b, K + f] + c * h[b, K + f]
        Gbu[uu, 0] += db + c * bu[uu, 0]
        Gbi[ii, 0] += db + c * bi[ii, 0]
