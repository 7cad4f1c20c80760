"""Numba kernels of the network layers, beside their NumPy twins in :mod:`mfcore.engines.nn_numpy`.

* ``gather_rows`` / ``scatter_add_rows``: the Embedding forward ``W[ids]`` and
  backward ``G[ids[b]] += D[b]`` (repeated ids summed: ``np.add.at``).
* ``concat_rows`` / ``scatter_add_concat``: the deep model's input
  concat(P[u], Q[i]) gathered into one (B, 2K) buffer, and its backward.
* ``splitmix_bits32`` / ``splitmix_keep_mask``: dropout bits from a per-batch
  seed (the scheme is in nn_numpy's docstring).
* ``bn_moments``, ``bn_relu_dropout_forward``, ``bn_relu_dropout_backward``:
  BatchNormalization -> ReLU (-> Dropout) with the preceding Dense bias folded
  in: steps (F3), (F4) and (B2) of DeepMF's epoch
  (:mod:`mfcore.engines.deep_epoch`, which has the maths), and the layer
  :class:`mfcore.nn.fused.BNReLUDropout`.

Kernels take contiguous arrays and scalars, update in place and never raise or
draw random numbers (the dropout seeds are drawn by the caller). The SplitMix64
constants come from nn_numpy, hence ``depends_on``.
"""
import numpy as np

from .._jit import jit
from . import nn_numpy
from .nn_numpy import SM_GAMMA, SM_MUL1, SM_MUL2, U27, U30, U31, U32


@jit
def gather_rows(W, ids):
    out = np.empty((ids.shape[0], W.shape[1]), dtype=W.dtype)  # (B, k)
    for b in range(ids.shape[0]):
        out[b, :] = W[ids[b], :]
    return out


@jit
def scatter_add_rows(G, ids, D):
    for b in range(ids.shape[0]):
        G[ids[b], :] += D[b, :]


@jit
def concat_rows(P, Q, u, i, out):
    kp = P.shape[1]
    for b in range(u.shape[0]):
        out[b, :kp] = P[u[b], :]  # (B, kP + kQ)
        out[b, kp:] = Q[i[b], :]
    return out


@jit
def scatter_add_concat(GP, GQ, u, i, D):
    kp = GP.shape[1]
    for b in range(u.shape[0]):  # in batch order
        GP[u[b], :] += D[b, :kp]
        GQ[i[b], :] += D[b, kp:]


@jit(depends_on=(nn_numpy,))
def splitmix_bits32(seed, k):
    """Top 32 bits of SplitMix64's output number k (0-based) from state ``seed`` (uint64)."""
    z = seed + (k + np.uint64(1)) * SM_GAMMA  # wraps modulo 2**64
    z = (z ^ (z >> U30)) * SM_MUL1
    z = (z ^ (z >> U27)) * SM_MUL2
    return (z ^ (z >> U31)) >> U32


@jit(depends_on=(nn_numpy,))
def splitmix_keep_mask(seed, threshold, B, n):
    mask = np.empty((B, n), dtype=np.bool_)  # (B, n)
    for b in range(B):
        base = np.uint64(b * n)
        for j in range(n):
            mask[b, j] = splitmix_bits32(seed, base + np.uint64(j)) >= threshold
    return mask


# BatchNormalization -> ReLU (-> Dropout), the Dense bias folded in (z + bias is normalised,
# z = x W straight from BLAS). Scalars (eps, keep_scale, the batch size Bf) come in the arrays'
# dtype, so float32 stays float32 throughout, as in the NumPy layers.

@jit
def bn_moments(z, bias, Bf, mean, var):
    """Fill mean, var (n,) with the per-column mean and biased variance of z + bias (two passes,
    rows added in order, as NumPy's ``mean(axis=0)``)."""
    B, n = z.shape
    mean[:] = 0.0
    var[:] = 0.0
    for b in range(B):
        for j in range(n):
            mean[j] += z[b, j] + bias[j]
    for j in range(n):
        mean[j] /= Bf
    for b in range(B):
        for j in range(n):
            t = (z[b, j] + bias[j]) - mean[j]
            var[j] += t * t
    for j in range(n):
        var[j] /= Bf


@jit(depends_on=(nn_numpy,))
def bn_relu_dropout_forward(z, bias, gamma, beta, mean, inv, seed, threshold, drop, keep_scale, a):
    """a = relu(gamma ((z + bias) - mean) inv + beta), then (drop) times keep_scale where the
    unit is kept and 0 where it is dropped; a (B, n). Loops over whole rows (indices from
    range(n) are provably non-negative, so LLVM vectorizes them)."""
    B, n = z.shape
    zero = keep_scale - keep_scale
    for b in range(B):
        base = np.uint64(b * n)
        for j in range(n):
            y = gamma[j] * (((z[b, j] + bias[j]) - mean[j]) * inv[j]) + beta[j]
            r = y if y > zero else zero
            if drop:
                r = r * keep_scale if splitmix_bits32(seed, base + np.uint64(j)) >= threshold else zero
            a[b, j] = r


@jit
def bn_relu_dropout_backward(da, a, z, bias, gamma, mean, inv, keep_scale, training, Bf, dz,
                             Ggamma, Gbeta, Gbias):
    """From dL/da (B, n) and the forward's a (a > 0 exactly where the unit passed ReLU and
    dropout) fill dz = dL/dz (B, n), Ggamma, Gbeta and the bias' Gbias (n,). dz may be da
    itself, but then LLVM's overlap check sends the loops down the scalar path."""
    B, n = da.shape
    zero = keep_scale - keep_scale
    Ggamma[:] = 0.0
    Gbeta[:] = 0.0
    Gbias[:] = 0.0
    for b in range(B):
        for j in range(n):
            g = da[b, j] * keep_scale if a[b, j] > zero else zero  # dL/dy
            dz[b, j] = g
            Gbeta[j] += g
            Ggamma[j] += g * (((z[b, j] + bias[j]) - mean[j]) * inv[j])
    if training:
        for b in range(B):
            for j in range(n):
                xh = ((z[b, j] + bias[j]) - mean[j]) * inv[j]
                d = (inv[j] / Bf) * (Bf * (dz[b, j] * gamma[j]) - gamma[j] * Gbeta[j]
                                     - xh * (gamma[j] * Ggamma[j]))
                dz[b, j] = d
                Gbias[j] += d
    else:
        for b in range(B):
            for j in range(n):
                d = dz[b, j] * gamma[j] * inv[j]
                dz[b, j] = d
                Gbias[j] += d
