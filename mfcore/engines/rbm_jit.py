"""Numba kernel of one CD-k minibatch of the collaborative-filtering RBMs.

The maths (energy, conditionals (R1)-(R3), CD statistics (R4)) is in
:mod:`mfcore.models.rbm`; the NumPy twin with the same contract is
:func:`mfcore.engines.rbm_numpy.cd_batch_numpy` (same numbers for the same draws).

``cd_batch(indptr, items, vdata, users, W, bv, bh, k, Uh, Uv, levels, gW, gbv, gbh)``

* users' rated items are the CSR rows ``indptr`` / ``items`` (nnz,), their
  visible data ``vdata`` (nnz, K): one-hot over the K rating levels (softmax
  units) or, with K = 1, a value in [0, 1] (Bernoulli unit);
* ``W`` (n_items, K, F), ``bv`` (n_items, K), ``bh`` (F,);
* ``Uh`` (k, B, F) and ``Uv`` (k, nnz_B) uniforms drawn in Python: hidden
  sample ``Uh[t, b] < p`` and visible sample by inverse CDF of ``Uv[t, j]``
  (entries of the batch's users in batch order);
* ``gW``, ``gbv``, ``gbh`` receive (positive - negative) statistics SUMMED over
  the batch; returns the SSE of the first reconstruction's expectation
  sum_c p_c levels[c] against the data.

``momentum_step(p, v, g, lr, momentum, decay, batch)``: the update (R5) on every
entry, ``v = momentum v + lr (g / batch - decay p); p += v``; ``g`` is zeroed. It
is the shared SGD rule :func:`mfcore.engines.optim_jit.sgd_step` (called from
Python, so no compiled code here depends on another module).

No random numbers, no globals, never raises.
"""
import numpy as np

from .._jit import jit
from .optim_jit import sgd_step


@jit
def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a)) if a >= 0 else np.exp(a) / (1.0 + np.exp(a))


@jit
def _hidden(lo, hi, items, V, W, bh, ph):
    """(R2) ph = sigmoid(bh + sum_j sum_c V[j, c] W[item_j, c]) for the rows lo..hi."""
    ph[:] = bh
    for p in range(lo, hi):
        it = items[p]
        for c in range(V.shape[1]):
            x = V[p - lo, c]
            if x != 0.0:
                for f in range(bh.shape[0]):
                    ph[f] += x * W[it, c, f]
    for f in range(bh.shape[0]):
        ph[f] = _sigmoid(ph[f])


@jit
def _visible(it, h, W, bv, prob):
    """(R1) softmax over levels of bv + W h (sigmoid when K = 1), into prob (K,)."""
    K = prob.shape[0]
    for c in range(K):
        a = bv[it, c]
        for f in range(h.shape[0]):
            a += W[it, c, f] * h[f]
        prob[c] = a
    if K == 1:
        prob[0] = _sigmoid(prob[0])
        return
    top = prob.max()
    s = 0.0
    for c in range(K):
        prob[c] = np.exp(prob[c] - top)
        s += prob[c]
    for c in range(K):
        prob[c] /= s


@jit
def _accumulate(lo, hi, items, V, ph, sign, gW, gbv, gbh):
    """(R4) one phase's statistics: g += sign * (V h^T, V, h)."""
    for p in range(lo, hi):
        it = items[p]
        for c in range(V.shape[1]):
            x = V[p - lo, c]
            if x != 0.0:
                gbv[it, c] += sign * x
                for f in range(ph.shape[0]):
                    gW[it, c, f] += sign * x * ph[f]
    for f in range(ph.shape[0]):
        gbh[f] += sign * ph[f]


@jit
def cd_batch(indptr, items, vdata, users, W, bv, bh, k, Uh, Uv, levels, gW, gbv, gbh):
    K, F = W.shape[1], W.shape[2]
    ph = np.empty(F)  # (F,)
    h = np.empty(F)  # (F,)
    prob = np.empty(K)  # (K,)
    sse = 0.0
    o = 0  # offset of this user's entries in Uv
    for b in range(users.shape[0]):
        lo, hi = indptr[users[b]], indptr[users[b] + 1]
        n = hi - lo
        vs = np.zeros((n, K))  # (n, K) negative-phase visible sample
        _hidden(lo, hi, items, vdata[lo:hi], W, bh, ph)  # positive phase
        _accumulate(lo, hi, items, vdata[lo:hi], ph, 1.0, gW, gbv, gbh)
        for t in range(k):  # k Gibbs steps h -> v -> h
            for f in range(F):
                h[f] = 1.0 if Uh[t, b, f] < ph[f] else 0.0
            for j in range(n):
                _visible(items[lo + j], h, W, bv, prob)
                if t == 0:
                    e = 0.0
                    for c in range(K):
                        e += (prob[c] - vdata[lo + j, c]) * levels[c]
                    sse += e * e
                u = Uv[t, o + j]
                vs[j, :] = 0.0
                if K == 1:
                    vs[j, 0] = 1.0 if u < prob[0] else 0.0
                else:
                    c, acc = 0, prob[0]
                    while u >= acc and c < K - 1:
                        c += 1
                        acc += prob[c]
                    vs[j, c] = 1.0
            _hidden(lo, hi, items, vs, W, bh, ph)  # mean-field h of the sample
        _accumulate(lo, hi, items, vs, ph, -1.0, gW, gbv, gbh)  # negative phase
        o += n
    return sse


def momentum_step(p, v, g, lr, momentum, decay, batch):
    """(R5) as the shared rule. The statistic g, summed over the batch, points uphill, so the
    rule's (L2) step with n = -batch and c = decay makes the gradient decay p - g / batch, and
    (S2)-(S3) give v = momentum v + lr (g / batch - decay p), p += v: the same numbers."""
    sgd_step(p, v, g, lr, momentum, False, decay, -float(batch), True)
