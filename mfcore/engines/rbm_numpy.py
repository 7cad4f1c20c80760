"""NumPy twins of :mod:`mfcore.engines.rbm_jit` and the RBM's closed forms (maths in :mod:`mfcore.models.rbm`).

``cd_batch_numpy`` and ``momentum_step_numpy`` have the contracts of
``rbm_jit.cd_batch`` and ``rbm_jit.momentum_step`` and give the same numbers for
the same draws (tested); ``visible_probs`` is (R1), ``free_energy`` is (R3).
"""
import numpy as np
from scipy import sparse

from .optim_numpy import sgd_step


def _sigmoid(a):
    ea = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + ea), ea / (1.0 + ea))


def visible_probs(act):
    """(R1) from activations (n, K): softmax over the last axis, sigmoid when K = 1."""
    if act.shape[-1] == 1:
        return _sigmoid(act)
    e = np.exp(act - act.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def free_energy(items, V, W, bv, bh):
    """(R3) of one user whose rated ``items`` (n,) have visible values ``V`` (n, K)."""
    a = bh + np.einsum("nc,ncf->f", V, W[items])  # (F,)
    return float(-np.sum(V * bv[items]) - np.sum(np.logaddexp(0.0, a)))


def cd_batch_numpy(indptr, items, vdata, users, W, bv, bh, k, Uh, Uv, levels, gW, gbv, gbh):
    """NumPy twin of :func:`mfcore.engines.rbm_jit.cd_batch` (same contract, same numbers)."""
    lens = indptr[users + 1] - indptr[users]  # (B,)
    pos = np.concatenate([np.arange(indptr[u], indptr[u + 1]) for u in users])  # (nnz_B,)
    owner = np.repeat(np.arange(users.size), lens)  # (nnz_B,)
    it, V0 = items[pos], vdata[pos]  # (nnz_B,), (nnz_B, K)
    n_items, K, F = W.shape
    Wit = W[it]  # (nnz_B, K, F)
    cols = (it[:, None] * K + np.arange(K)).ravel()  # (nnz_B*K,) column of (item, level)
    W2, gW2 = W.reshape(-1, F), gW.reshape(-1, F)  # (n_items*K, F) views

    def as_matrix(V):  # the batch's visible values as a sparse (B, n_items*K) matrix
        return sparse.csr_matrix((V.ravel(), (np.repeat(owner, K), cols)), shape=(users.size, n_items * K))

    def hidden(V):  # (R2) for every user of the batch
        return _sigmoid(as_matrix(V) @ W2 + bh)  # (B, F)

    def stats(V, P, sign):  # (R4)
        S = as_matrix(V)
        gW2[...] += sign * (S.T @ P)
        gbv.reshape(-1)[:] += sign * np.asarray(S.sum(axis=0)).ravel()
        gbh[:] += sign * P.sum(axis=0)

    P = hidden(V0)  # (B, F)
    stats(V0, P, 1.0)
    sse, VS = 0.0, None
    for t in range(k):
        H = (Uh[t] < P).astype(np.float64)  # (B, F)
        prob = visible_probs(bv[it] + np.einsum("ncf,nf->nc", Wit, H[owner]))  # (nnz_B, K)
        if t == 0:
            sse = float(np.sum(((prob - V0) @ levels) ** 2))
        VS = np.zeros_like(prob)  # (nnz_B, K)
        if prob.shape[1] == 1:
            VS[:, 0] = Uv[t] < prob[:, 0]
        else:
            c = np.minimum((Uv[t][:, None] >= np.cumsum(prob, axis=1)).sum(axis=1), prob.shape[1] - 1)
            VS[np.arange(c.size), c] = 1.0
        P = hidden(VS)
    stats(VS, P, -1.0)
    return sse


def momentum_step_numpy(p, v, g, lr, momentum, decay, batch):
    """(R5) in NumPy: the SGD rule with n = -batch, c = decay (see :func:`mfcore.engines.rbm_jit.momentum_step`)
    gives v = momentum v + lr (g / batch - decay p), p += v; zeroes g."""
    sgd_step(p, v, g, lr, momentum, False, decay, -float(batch), True)
