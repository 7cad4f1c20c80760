"""Numba kernels for the loops NumPy handles poorly, each beside its NumPy twin.

* ``gather_rows`` / ``gather_rows_numpy``: ``W[ids]`` (Embedding forward).
* ``scatter_add_rows`` / ``scatter_add_rows_numpy``: ``G[ids[b]] += D[b]`` for
  every b, repeated ids summed (Embedding backward; ``np.add.at``).
* ``mf_batch_grads``: forward and backward of one batch of the MF network
  r_hat = p_u.q_i (+ b_u + b_i) under the batch-mean squared error, written into
  dense gradient tables; the NumPy twin is the layer graph of
  :class:`mfcore.models.keras_mf.MFNet`.
* ``sgd_dense`` / ``adamax_dense``: one Keras-rule step over a WHOLE table
  (every row moves, as Keras 3 does), L2 gradient 2*reg*W added, the gradient
  table zeroed for the next batch; the twins are :class:`mfcore.nn.optim.SGD`
  and :class:`mfcore.nn.optim.Adamax`.
* ``mf_epoch_sgd`` / ``mf_epoch_adamax``: one epoch of minibatches; return
  the mean batch loss (penalty included), as Keras reports it.
* ``splitmix_keep_mask`` / ``splitmix_keep_mask_numpy``: dropout keep masks
  from a per-batch 64-bit seed (``Dropout(draw="splitmix")``).
* ``bn_moments``, ``bn_relu_dropout_forward``, ``bn_relu_dropout_backward``:
  BatchNormalization -> ReLU (-> Dropout) with the preceding bias folded in
  (:class:`mfcore.nn.fused.BNReLUDropout`; its twin is the NumPy layer chain).
* ``gather_concat`` / ``scatter_add_split`` (and NumPy twins): the
  concat(P[u], Q[i]) input of the deep model and its scatter-add backward.
* ``sgd_step`` / ``adam_step``: one Keras SGD / Adam step on one weight
  array, used by :class:`mfcore.nn.optim.SGD` and :class:`~mfcore.nn.optim.Adam`
  with ``use_jit=True``; their NumPy code is the twin (same operations,
  bit-identical).

Kernels take contiguous arrays and scalars, update in place and never
raise or draw random numbers (the dropout seeds are drawn by the caller).
Every helper lives in this module (Numba's cache does not see other modules).
"""
import numpy as np

from .._jit import jit


@jit
def gather_rows(W, ids):
    out = np.empty((ids.shape[0], W.shape[1]), dtype=W.dtype)  # (B, k)
    for b in range(ids.shape[0]):
        out[b, :] = W[ids[b], :]
    return out


def gather_rows_numpy(W, ids):
    return W[ids]  # (B, k)


@jit
def scatter_add_rows(G, ids, D):
    for b in range(ids.shape[0]):
        G[ids[b], :] += D[b, :]


def scatter_add_rows_numpy(G, ids, D):
    np.add.at(G, ids, D)


@jit
def mf_batch_grads(P, Q, bu, bi, has_bias, u, i, y, GP, GQ, Gbu, Gbi):
    """Add dL/dP, dL/dQ (, dL/db) of L = mean_b (r_hat_b - y_b)^2 to G*; return L."""
    B = u.shape[0]
    k = P.shape[1]
    sse = 0.0
    for b in range(B):
        uu, ii = u[b], i[b]
        pred = 0.0
        for f in range(k):
            pred += P[uu, f] * Q[ii, f]
        if has_bias:
            pred += bu[uu, 0] + bi[ii, 0]
        e = pred - y[b]
        sse += e * e
        d = 2.0 * e / B  # dL/dr_hat_b
        for f in range(k):
            GP[uu, f] += d * Q[ii, f]
            GQ[ii, f] += d * P[uu, f]
        if has_bias:
            Gbu[uu, 0] += d
            Gbi[ii, 0] += d
    return sse / B


@jit
def _l2_into(W, G, reg):
    """G += 2 reg W; return reg * sum(W^2) (the Keras L2 term, before the step)."""
    Wf, Gf = W.reshape(-1), G.reshape(-1)  # (n*k,) views
    pen = 0.0
    for j in range(Wf.shape[0]):
        pen += Wf[j] * Wf[j]
        Gf[j] += 2.0 * reg * Wf[j]
    return reg * pen


@jit
def sgd_dense(W, V, G, lr, momentum, nesterov, reg):
    """Keras SGD on every entry: g = G + 2 reg W; v = m v - lr g; W += v (or m v - lr g).

    Returns the L2 term. G is zeroed for the next batch.
    """
    pen = _l2_into(W, G, reg) if reg != 0.0 else 0.0
    Wf, Vf, Gf = W.reshape(-1), V.reshape(-1), G.reshape(-1)  # (n*k,) views
    if momentum == 0.0:
        for j in range(Wf.shape[0]):
            Wf[j] -= Gf[j] * lr
            Gf[j] = 0.0
    elif nesterov:
        for j in range(Wf.shape[0]):
            g = Gf[j]
            v = Vf[j] * momentum - g * lr
            Vf[j] = v
            Wf[j] += v * momentum - g * lr
            Gf[j] = 0.0
    else:
        for j in range(Wf.shape[0]):
            v = Vf[j] * momentum - Gf[j] * lr
            Vf[j] = v
            Wf[j] += v
            Gf[j] = 0.0
    return pen


@jit
def adamax_dense(W, M, U, G, lr, beta1, beta2, eps, t, reg):
    """Keras Adamax on every entry at step t (1-based); g = G + 2 reg W.

    Returns the L2 term. G is zeroed for the next batch.
    """
    pen = _l2_into(W, G, reg) if reg != 0.0 else 0.0
    bc = 1.0 - beta1 ** t  # bias correction of the first moment
    Wf, Mf, Uf, Gf = W.reshape(-1), M.reshape(-1), U.reshape(-1), G.reshape(-1)  # (n*k,) views
    for j in range(Wf.shape[0]):
        g = Gf[j]
        m = Mf[j] + (g - Mf[j]) * (1.0 - beta1)
        b2u, ag = beta2 * Uf[j], abs(g)
        uu = b2u if b2u > ag else ag  # max(beta2 u, |g|), written so that it vectorizes
        Mf[j] = m
        Uf[j] = uu
        Gf[j] = 0.0
        # np.divide: no ZeroDivisionError check, so LLVM can vectorize the loop
        Wf[j] -= np.divide(lr * m, bc * (uu + eps))
    return pen


@jit
def mf_epoch_sgd(u, i, y, order, batch_size, P, Q, bu, bi, has_bias, VP, VQ, Vbu, Vbi,
                 GP, GQ, Gbu, Gbi, lr, momentum, nesterov, reg):
    n = order.shape[0]
    total = 0.0
    n_batches = 0
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size]  # (B,)
        loss = mf_batch_grads(P, Q, bu, bi, has_bias, u[rows], i[rows], y[rows], GP, GQ, Gbu, Gbi)
        loss += sgd_dense(P, VP, GP, lr, momentum, nesterov, reg)
        loss += sgd_dense(Q, VQ, GQ, lr, momentum, nesterov, reg)
        sgd_dense(bu, Vbu, Gbu, lr, momentum, nesterov, 0.0)
        sgd_dense(bi, Vbi, Gbi, lr, momentum, nesterov, 0.0)
        total += loss
        n_batches += 1
    return total / n_batches


@jit
def mf_epoch_adamax(u, i, y, order, batch_size, P, Q, bu, bi, has_bias, MP, MQ, Mbu, Mbi,
                    UP, UQ, Ubu, Ubi, GP, GQ, Gbu, Gbi, lr, beta1, beta2, eps, t0, reg):
    n = order.shape[0]
    total = 0.0
    n_batches = 0
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size]  # (B,)
        t = t0 + n_batches + 1
        loss = mf_batch_grads(P, Q, bu, bi, has_bias, u[rows], i[rows], y[rows], GP, GQ, Gbu, Gbi)
        loss += adamax_dense(P, MP, UP, GP, lr, beta1, beta2, eps, t, reg)
        loss += adamax_dense(Q, MQ, UQ, GQ, lr, beta1, beta2, eps, t, reg)
        adamax_dense(bu, Mbu, Ubu, Gbu, lr, beta1, beta2, eps, t, 0.0)
        adamax_dense(bi, Mbi, Ubi, Gbi, lr, beta1, beta2, eps, t, 0.0)
        total += loss
        n_batches += 1
    return total / n_batches


# ----------------------------------------------------------------------------------------------
# Dropout masks from SplitMix64 bits (Dropout(draw="splitmix"), BNReLUDropout)
#
# One 64-bit seed s is drawn from the layer's Generator per batch; unit k of the
# row-major (B, n) array (k = 0, 1, ...) is kept when the top 32 bits of the k-th
# SplitMix64 output, mix(s + (k + 1) * gamma), are >= round(rate * 2**32): the
# keep probability is 1 - rate to within 2**-32. Output k is a pure function of
# (s, k), so a Numba loop can make the bit of each unit where it needs it (no
# mask array, and the loop vectorizes); the NumPy twin makes the same bits.

_SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SM_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_MUL2 = np.uint64(0x94D049BB133111EB)
_U30, _U27, _U31, _U32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)


def dropout_threshold(rate):
    """The uint64 t such that a unit is kept iff its 32 random bits are >= t."""
    return np.uint64(min(round(float(rate) * 2.0 ** 32), 2 ** 32))


@jit
def splitmix_bits32(seed, k):
    """Top 32 bits of SplitMix64's output number k (0-based) from state ``seed`` (uint64)."""
    z = seed + (k + np.uint64(1)) * _SM_GAMMA  # wraps modulo 2**64
    z = (z ^ (z >> _U30)) * _SM_MUL1
    z = (z ^ (z >> _U27)) * _SM_MUL2
    return (z ^ (z >> _U31)) >> _U32


@jit
def splitmix_keep_mask(seed, threshold, B, n):
    """The (B, n) keep mask (bool) of the scheme above."""
    mask = np.empty((B, n), dtype=np.bool_)
    for b in range(B):
        base = np.uint64(b * n)
        for j in range(n):
            mask[b, j] = splitmix_bits32(seed, base + np.uint64(j)) >= threshold
    return mask


def splitmix_keep_mask_numpy(seed, threshold, shape):
    """NumPy twin of :func:`splitmix_keep_mask` (uint64 arithmetic wraps silently on arrays)."""
    k = np.arange(1, int(np.prod(shape)) + 1, dtype=np.uint64)  # (B*n,)
    z = k
    z *= _SM_GAMMA
    z += np.uint64(seed)
    z ^= z >> _U30
    z *= _SM_MUL1
    z ^= z >> _U27
    z *= _SM_MUL2
    z ^= z >> _U31
    z >>= _U32
    return (z >= np.uint64(threshold)).reshape(shape)  # (B, n) bool


# ----------------------------------------------------------------------------------------------
# BatchNormalization -> ReLU (-> Dropout) of mfcore.nn.fused.BNReLUDropout, with the preceding
# Dense layer's bias folded in (the layer normalises z + bias, z = x W straight from BLAS).
# Scalars (eps, keep_scale, the batch size as a float) come in the arrays' dtype, so float32
# stays float32 throughout, as in the NumPy layers.

@jit
def bn_moments(z, bias, Bf, mean, var):
    """Fill mean, var (n,) with the per-column mean and biased variance of z + bias (two passes,
    rows added in order, as NumPy's ``mean(axis=0)``); Bf is the row count in z's dtype."""
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


@jit
def bn_relu_dropout_forward(z, bias, gamma, beta, mean, inv, seed, threshold, drop, keep_scale, a):
    """a = relu(gamma ((z + bias) - mean) inv + beta), then (drop) times keep_scale where the
    unit is kept and 0 where it is dropped. Writes a (B, n); returns nothing. Loops over whole
    rows (indices from range(n) are provably non-negative, so LLVM vectorizes them)."""
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


# ----------------------------------------------------------------------------------------------
# Embedding lookup of DeepNet's first layer: concat(P[u], Q[i]) and its scatter-add backward.

@jit
def gather_concat(P, Q, u, i, out):
    """out[b] = [P[u[b]], Q[i[b]]]: out (B, kP + kQ)."""
    kp = P.shape[1]
    for b in range(u.shape[0]):
        out[b, :kp] = P[u[b], :]
        out[b, kp:] = Q[i[b], :]
    return out


def gather_concat_numpy(P, Q, u, i, out):
    out[:, :P.shape[1]] = P[u]
    out[:, P.shape[1]:] = Q[i]
    return out


@jit
def scatter_add_split(GP, GQ, u, i, D):
    """GP[u[b]] += D[b, :kP] and GQ[i[b]] += D[b, kP:] for every b, in batch order."""
    kp = GP.shape[1]
    for b in range(u.shape[0]):
        GP[u[b], :] += D[b, :kp]
        GQ[i[b], :] += D[b, kp:]


def scatter_add_split_numpy(GP, GQ, u, i, D):
    np.add.at(GP, u, D[:, :GP.shape[1]])
    np.add.at(GQ, i, D[:, GP.shape[1]:])


# ----------------------------------------------------------------------------------------------
# One optimizer step on one weight array (mfcore.nn.optim, use_jit=True). Same operations in
# the same order as the NumPy twins in optim.py, with the scalars already in the weight's
# dtype, so float32 stays float32 and the results are bit-identical to the twins.

@jit
def sgd_step(W, V, G, lr, momentum, nesterov):
    """Keras SGD: W -= G lr; or v = V m - G lr, W += v (nesterov: W += v m - G lr)."""
    Wf, Vf, Gf = W.reshape(-1), V.reshape(-1), G.reshape(-1)  # flat views
    if momentum == 0:
        for j in range(Wf.shape[0]):
            Wf[j] -= Gf[j] * lr
    elif nesterov:
        for j in range(Wf.shape[0]):
            v = Vf[j] * momentum - Gf[j] * lr
            Vf[j] = v
            Wf[j] += v * momentum - Gf[j] * lr
    else:
        for j in range(Wf.shape[0]):
            v = Vf[j] * momentum - Gf[j] * lr
            Vf[j] = v
            Wf[j] += v


@jit
def adam_step(W, M, V, G, alpha, one_minus_b1, one_minus_b2, eps):
    """Keras Adam with the bias corrections folded into alpha:
    m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); W -= m alpha / (sqrt(v) + eps)."""
    Wf, Mf, Vf, Gf = W.reshape(-1), M.reshape(-1), V.reshape(-1), G.reshape(-1)  # flat views
    for j in range(Wf.shape[0]):
        g = Gf[j]
        m = Mf[j] + (g - Mf[j]) * one_minus_b1
        v = Vf[j] + (g * g - Vf[j]) * one_minus_b2
        Mf[j] = m
        Vf[j] = v
        Wf[j] -= np.divide(m * alpha, np.sqrt(v) + eps)
