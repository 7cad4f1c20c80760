"""NumPy twins of :mod:`mfcore.engines.nn_jit`: the network layers' gathers, scatters and dropout bits.

Same names and arguments as the Numba kernels (``splitmix_keep_mask`` takes a
shape where its twin takes B, n), same numbers (tested). The twin of the fused
BatchNormalization -> ReLU -> Dropout kernels is the chain of layers
``BatchNormalization``, ``ReLU``, ``Dropout(draw="splitmix")`` in :mod:`mfcore.nn`.

Dropout masks from SplitMix64 bits (``Dropout(draw="splitmix")``, ``BNReLUDropout``):
one 64-bit seed s is drawn from the layer's Generator per batch; unit k of the
row-major (B, n) array (k = 0, 1, ...) is kept when the top 32 bits of the k-th
SplitMix64 output, mix(s + (k + 1) * gamma), are >= round(rate * 2**32): the
keep probability is 1 - rate to within 2**-32. Output k is a pure function of
(s, k), so a Numba loop can make the bit of each unit where it needs it (no
mask array, and the loop vectorizes); the NumPy version below makes the same bits.
"""
import numpy as np

SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
SM_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
SM_MUL2 = np.uint64(0x94D049BB133111EB)
U30, U27, U31, U32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)


def gather_rows(W, ids):
    """W[ids]: the Embedding forward, (B, k)."""
    return W[ids]  # (B, k)


def scatter_add_rows(G, ids, D):
    """G[ids[b]] += D[b] for every b, repeated ids summed (the Embedding backward)."""
    np.add.at(G, ids, D)


def concat_rows(P, Q, u, i, out):
    """out[b] = [P[u[b]], Q[i[b]]]: the deep model's input concat(p_u, q_i), out (B, kP + kQ)."""
    out[:, :P.shape[1]] = P[u]
    out[:, P.shape[1]:] = Q[i]
    return out


def scatter_add_concat(GP, GQ, u, i, D):
    """The backward of :func:`concat_rows`: GP[u[b]] += D[b, :kP], GQ[i[b]] += D[b, kP:]."""
    np.add.at(GP, u, D[:, :GP.shape[1]])
    np.add.at(GQ, i, D[:, GP.shape[1]:])


def dropout_threshold(rate):
    """The uint64 t such that a unit is kept iff its 32 random bits are >= t."""
    return np.uint64(min(round(float(rate) * 2.0 ** 32), 2 ** 32))


def splitmix_keep_mask(seed, threshold, shape):
    """The keep mask (bool, ``shape``) of the scheme above (uint64 arithmetic wraps silently on arrays)."""
    k = np.arange(1, int(np.prod(shape)) + 1, dtype=np.uint64)  # (B*n,)
    z = k
    z *= SM_GAMMA
    z += np.uint64(seed)
    z ^= z >> U30
    z *= SM_MUL1
    z ^= z >> U27
    z *= SM_MUL2
    z ^= z >> U31
    z >>= U32
    return (z >= np.uint64(threshold)).reshape(shape)  # (B, n) bool
