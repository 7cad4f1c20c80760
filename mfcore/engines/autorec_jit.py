"""Numba kernels of the shallow AutoRec (the maths is in :mod:`mfcore.models.autorec`).

* ``autorec_grads``: forward and backward of a batch of SPARSE rows under the
  masked squared error (A1)-(A5): only the observed entries of a row are read,
  and only their output units are computed, so a batch costs O(nnz * k) and the
  rating matrix is never densified. Gradients are ADDED to G*; returns the SSE.
* ``autorec_grads_by_column``: the same over all the rows, entries visited column
  by column (bit-identical; the order that suits a wide matrix: U-AutoRec).
* ``adam_dense``: Keras' Adam on every entry of a table with the paper's L2
  term, the shared rule :func:`mfcore.engines.optim_jit.adam_step` run on fixed
  chunks of the table by Numba's threads (the same weights on any number of
  threads; its NumPy twin is :class:`mfcore.nn.optim.Adam`).
* ``sparse_times``, ``sparse_t_times``, ``sampled_dots``: the deep AutoRec's
  products with a batch's sparse rating rows, given as entries (owner, col, value)
  of a (B, d) matrix X in row order: X W, X^T H, and the entries (owner, col) of
  H W^T + b (:class:`mfcore.models.deep_autorec.DeepAutoRec`, steps (D1)-(D6)).
  Each costs O(nnz k), where the dense products cost O(B d k).

Activation codes: 0 identity, 1 sigmoid, 2 relu, 3 tanh. Kernels draw no random
numbers, read no globals but ``ADAM_CHUNK``, and never raise.
"""
import numpy as np

from .._jit import jit, parallel_jit, prange
from . import optim_jit
from .optim_jit import adam_step, adam_step_size, sum_squares


@jit
def _act(z, code):
    if code == 1:
        return 1.0 / (1.0 + np.exp(-z)) if z >= 0 else np.exp(z) / (1.0 + np.exp(z))
    if code == 2:
        return z if z > 0 else 0.0
    if code == 3:
        return np.tanh(z)
    return z


@jit
def _dact(y, z, code):
    """f'(z) from the output y = f(z)."""
    if code == 1:
        return y * (1.0 - y)
    if code == 2:
        return 1.0 if z > 0 else 0.0
    if code == 3:
        return 1.0 - y * y
    return 1.0


@jit
def autorec_grads(indptr, idx, val, rows, V, c, W, b, g_code, f_code, GV, Gc, GW, Gb):
    """(A1)-(A5) for the rows ``rows`` of the CSR matrix (indptr, idx, val).

    Rows with no observed entry add nothing (h is g(c), no output) and are skipped.
    The outputs (A2) of four entries are summed side by side (each one still unit by
    unit, in order: the same numbers, four times fewer dependent additions in a row).
    Loops read rows of V, W, GV, GW as 1-D views indexed from range(k), which LLVM
    vectorizes.
    """
    k = V.shape[1]
    z = np.empty(k)  # (k,) hidden pre-activation
    h = np.empty(k)  # (k,) hidden code
    dh = np.empty(k)  # (k,) dL/dh
    o = np.empty(4)  # outputs of four entries
    sse = 0.0
    for r in rows:
        lo, hi = indptr[r], indptr[r + 1]
        if hi == lo:
            continue
        for f in range(k):
            z[f] = c[f]
        for p in range(lo, hi):  # (A1) z = V^T x + c over the observed entries
            x, Vj = val[p], V[idx[p]]
            for f in range(k):
                z[f] += x * Vj[f]
        for f in range(k):
            h[f] = _act(z[f], g_code)
            dh[f] = 0.0
        for p0 in range(lo, hi, 4):  # (A2) outputs at observed entries only, four at a time
            m = min(4, hi - p0)
            if m == 4:
                W0, W1, W2, W3 = W[idx[p0]], W[idx[p0 + 1]], W[idx[p0 + 2]], W[idx[p0 + 3]]
                o0, o1, o2, o3 = b[idx[p0]], b[idx[p0 + 1]], b[idx[p0 + 2]], b[idx[p0 + 3]]
                for f in range(k):
                    hf = h[f]
                    o0 += W0[f] * hf
                    o1 += W1[f] * hf
                    o2 += W2[f] * hf
                    o3 += W3[f] * hf
                o[0], o[1], o[2], o[3] = o0, o1, o2, o3
            else:
                for q in range(m):
                    Wj, oq = W[idx[p0 + q]], b[idx[p0 + q]]
                    for f in range(k):
                        oq += Wj[f] * h[f]
                    o[q] = oq
            for q in range(m):  # (A3) their errors, in entry order
                p = p0 + q
                j = idx[p]
                y = _act(o[q], f_code)
                e = y - val[p]
                sse += e * e
                d = 2.0 * e * _dact(y, o[q], f_code)  # dL/do_j
                Gb[j] += d
                GWj, Wj = GW[j], W[j]
                for f in range(k):  # (A4)
                    GWj[f] += d * h[f]
                for f in range(k):
                    dh[f] += d * Wj[f]
        for f in range(k):
            dh[f] *= _dact(h[f], z[f], g_code)  # now dL/dz
            Gc[f] += dh[f]
        for p in range(lo, hi):  # (A5)
            x, GVj = val[p], GV[idx[p]]
            for f in range(k):
                GVj[f] += x * dh[f]
    return sse


@jit
def _column_entry(p, o, j, crow, cval, cpos, H, dH, Wj, GWj, Gb, e2, f_code):
    """(A3)-(A4) of entry p (CSC position) of column j, with output pre-activation o."""
    y = _act(o, f_code)
    e = y - cval[p]
    e2[cpos[p]] = e * e
    d = 2.0 * e * _dact(y, o, f_code)  # dL/do_j
    Gb[j] += d
    Hr, dHr = H[crow[p]], dH[crow[p]]
    for f in range(Wj.shape[0]):
        GWj[f] += d * Hr[f]
    for f in range(Wj.shape[0]):
        dHr[f] += d * Wj[f]


@jit
def autorec_grads_by_column(cptr, crow, cval, cpos, n_rows, V, c, W, b, g_code, f_code, GV, Gc, GW, Gb):
    """(A1)-(A5) for ALL the rows, visiting the entries column by column: the CSC arrays
    (cptr, crow, cval) of the same matrix, ``cpos`` (nnz,) each entry's position in the CSR
    arrays. The same numbers as ``autorec_grads`` over all the rows, to the last bit.

    For a wide matrix (U-AutoRec: 671 user rows, 9,066 item columns) the tables V, W,
    GV, GW (d, k) are large and the codes (n_rows, k) small: this order reads and
    writes each table row once per column instead of once per rating, and the codes
    sit in cache. Each sum runs in the order ``autorec_grads`` runs it: a row's
    entries come in column order in both, a column's in row order.
    """
    k = V.shape[1]
    Z = np.empty((n_rows, k))  # (n_rows, k) pre-activations, then dL/dz
    H = np.empty((n_rows, k))  # (n_rows, k) codes
    dH = np.zeros((n_rows, k))  # (n_rows, k) dL/dh
    seen = np.zeros(n_rows, np.bool_)  # rows with an entry
    e2 = np.empty(crow.shape[0])  # squared errors at their CSR positions
    for r in range(n_rows):
        Zr = Z[r]
        for f in range(k):
            Zr[f] = c[f]
    for j in range(cptr.shape[0] - 1):  # (A1) z_r = V^T x_r + c, V's row j read once
        Vj = V[j]
        for p in range(cptr[j], cptr[j + 1]):
            x, Zr = cval[p], Z[crow[p]]
            seen[crow[p]] = True
            for f in range(k):
                Zr[f] += x * Vj[f]
    for r in range(n_rows):
        if seen[r]:
            Zr, Hr = Z[r], H[r]
            for f in range(k):
                Hr[f] = _act(Zr[f], g_code)
    o = np.empty(4)  # outputs of four entries
    for j in range(cptr.shape[0] - 1):  # (A2)-(A4) column j: W's row j read once, GW's written once
        Wj, GWj = W[j], GW[j]
        for p0 in range(cptr[j], cptr[j + 1], 4):
            m = min(4, cptr[j + 1] - p0)
            if m == 4:  # four outputs summed side by side, each unit by unit in order
                H0, H1, H2, H3 = H[crow[p0]], H[crow[p0 + 1]], H[crow[p0 + 2]], H[crow[p0 + 3]]
                o0 = o1 = o2 = o3 = b[j]
                for f in range(k):
                    wf = Wj[f]
                    o0 += wf * H0[f]
                    o1 += wf * H1[f]
                    o2 += wf * H2[f]
                    o3 += wf * H3[f]
                o[0], o[1], o[2], o[3] = o0, o1, o2, o3
            else:
                for q in range(m):
                    Hr, oq = H[crow[p0 + q]], b[j]
                    for f in range(k):
                        oq += Wj[f] * Hr[f]
                    o[q] = oq
            for q in range(m):
                _column_entry(p0 + q, o[q], j, crow, cval, cpos, H, dH, Wj, GWj, Gb, e2, f_code)
    for r in range(n_rows):
        if seen[r]:
            Zr, Hr, dHr = Z[r], H[r], dH[r]
            for f in range(k):
                Zr[f] = dHr[f] * _dact(Hr[f], Zr[f], g_code)  # now dL/dz
                Gc[f] += Zr[f]
    for j in range(cptr.shape[0] - 1):  # (A5) GV's row j written once
        GVj = GV[j]
        for p in range(cptr[j], cptr[j + 1]):
            x, dZr = cval[p], Z[crow[p]]
            for f in range(k):
                GVj[f] += x * dZr[f]
    sse = 0.0
    for p in range(e2.shape[0]):  # in CSR order, as autorec_grads adds them
        sse += e2[p]
    return sse


ADAM_CHUNK = 1 << 15  # entries per chunk of adam_dense: fixed, so the numbers never depend on the threads


def _adam_dense(W, M, U, G, lr, beta1, beta2, eps, t, reg):
    """Keras Adam at step t (1-based) on every entry of W, gradient G + reg W (``reg``:
    lambda's share of this batch; the penalty (reg / 2) |W|^2 of J is c = reg in the rule's
    (L2)); G is zeroed. Returns sum(W^2) before the step (for the reported loss).

    The flat entries are cut into chunks of ``ADAM_CHUNK``, shared out among Numba's
    threads (``prange``); each chunk runs the rule :func:`~mfcore.engines.optim_jit.adam_step`
    on its slice and sums its own W^2 first, and the chunk sums are added in chunk
    order. Every entry gets the rule's own arithmetic, so the weights are those of one
    call of the rule on the whole table, on any number of threads (tested); only the
    reported sum of squares is added in a different order. The step streams four
    tables through memory (ML-100k I-AutoRec: two 943 x 500 tables at every batch),
    so it gains from a second core.
    """
    Wf, Mf, Uf, Gf = W.reshape(-1), M.reshape(-1), U.reshape(-1), G.reshape(-1)  # (N,) views
    n_chunks = (Wf.shape[0] + ADAM_CHUNK - 1) // ADAM_CHUNK
    alpha = adam_step_size(lr, beta1, beta2, t)
    ssq = np.zeros(n_chunks)  # (chunks,)
    for k in prange(n_chunks):
        lo = k * ADAM_CHUNK
        hi = min(lo + ADAM_CHUNK, Wf.shape[0])
        ssq[k] = sum_squares(Wf[lo:hi])
        adam_step(Wf[lo:hi], Mf[lo:hi], Uf[lo:hi], Gf[lo:hi], alpha, 1.0 - beta1, 1.0 - beta2, eps, reg, 1.0, True)
    total = 0.0
    for k in range(n_chunks):
        total += ssq[k]
    return total


adam_dense = parallel_jit(_adam_dense, cache=True, depends_on=(optim_jit,))


@jit
def sparse_times(owner, cols, vals, W, out):
    """out += X W, X (B, d) given by its entries: out[owner[p]] += vals[p] W[cols[p]], p in order."""
    k = W.shape[1]
    for p in range(owner.shape[0]):
        b, j, x = owner[p], cols[p], vals[p]
        for f in range(k):
            out[b, f] += x * W[j, f]


@jit
def sparse_t_times(owner, cols, vals, H, G):
    """G += X^T H: G[cols[p]] += vals[p] H[owner[p]], p in order."""
    k = H.shape[1]
    for p in range(owner.shape[0]):
        b, j, x = owner[p], cols[p], vals[p]
        for f in range(k):
            G[j, f] += x * H[b, f]


@jit
def sampled_dots(owner, cols, H, Wt, bias, out):
    """out[p] = H[owner[p]] . Wt[cols[p]] + bias[cols[p]]: the entries (owner, cols) of H Wt^T + bias."""
    k = H.shape[1]
    for p in range(owner.shape[0]):
        b, j = owner[p], cols[p]
        o = 0.0
        for f in range(k):
            o += H[b, f] * Wt[j, f]
        out[p] = o + bias[j]
