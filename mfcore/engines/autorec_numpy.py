"""NumPy twin of :mod:`mfcore.engines.autorec_jit` (maths (A1)-(A5) in :mod:`mfcore.models.autorec`).

``grads_numpy`` has the contract of ``autorec_jit.autorec_grads`` and gives the
same numbers to rounding (tested); ``csr_rows`` builds the CSR arrays both read;
``encode`` computes hidden codes (A1) for prediction; ``sparse_times``,
``sparse_t_times`` and ``sampled_dots`` are the twins of the deep AutoRec's
sparse products (``np.add.at`` adds in entry order, as the loops do).
"""
import numpy as np


def csr_rows(rows, cols, vals, n_rows):
    """CSR structure (indptr int64 (n_rows+1,), idx int64 (nnz,), val (nnz,)) sorted by (row, col)."""
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr, np.ascontiguousarray(cols[order], np.int64), np.ascontiguousarray(vals[order], np.float64)


def csc_of(csr, n_cols):
    """The CSC arrays of a CSR matrix for ``autorec_jit.autorec_grads_by_column``: (cptr
    (n_cols+1,), crow (nnz,), cval (nnz,), cpos (nnz,) the CSR position of each entry),
    a column's entries in row order."""
    indptr, idx, val = csr
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))  # (nnz,)
    cpos = np.lexsort((rows, idx))  # (nnz,) by column, then row
    cptr = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(idx, minlength=n_cols), out=cptr[1:])
    return cptr, rows[cpos], val[cpos], cpos.astype(np.int64)


def _act_np(z, code):
    if code == 1:
        ez = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + ez), ez / (1.0 + ez))
    if code == 2:
        return np.maximum(z, 0.0)
    if code == 3:
        return np.tanh(z)
    return z


def _dact_np(y, z, code):
    return {1: lambda: y * (1 - y), 2: lambda: (z > 0).astype(z.dtype),
            3: lambda: 1 - y * y}.get(code, lambda: np.ones_like(z))()


def encode(csr, rows, V, c, g_code):
    """Hidden codes h = g(V^T x + c) of ``rows`` (B,) of the CSR matrix: (B, k)."""
    indptr, idx, val = csr
    Z = np.tile(c, (len(rows), 1))  # (B, k)
    for b, r in enumerate(rows):
        lo, hi = indptr[r], indptr[r + 1]
        Z[b] += val[lo:hi] @ V[idx[lo:hi]]  # (k,)
    return _act_np(Z, g_code)


def grads_numpy(csr, rows, V, c, W, b, g_code, f_code, GV, Gc, GW, Gb):
    """The NumPy twin of :func:`mfcore.engines.autorec_jit.autorec_grads` (same contract)."""
    indptr, idx, val = csr
    rows = np.asarray(rows)
    lens = indptr[rows + 1] - indptr[rows]  # (B,)
    pos = np.concatenate([np.arange(indptr[r], indptr[r + 1]) for r in rows]) if len(rows) else \
        np.zeros(0, np.int64)  # (nnz_B,) positions in the CSR arrays
    owner = np.repeat(np.arange(len(rows)), lens)  # (nnz_B,) local row of each entry
    j, x = idx[pos], val[pos]  # (nnz_B,)
    Z = np.tile(c, (len(rows), 1))  # (B, k)
    np.add.at(Z, owner, x[:, None] * V[j])  # (A1)
    H = _act_np(Z, g_code)  # (B, k)
    O = np.einsum("nk,nk->n", W[j], H[owner]) + b[j]  # (nnz_B,) (A2)
    Y = _act_np(O, f_code)
    E = Y - x
    D = 2.0 * E * _dact_np(Y, O, f_code)  # (nnz_B,) dJ/do
    np.add.at(Gb, j, D)  # (A3)
    np.add.at(GW, j, D[:, None] * H[owner])  # (A4)
    dH = np.zeros_like(H)  # (B, k)
    np.add.at(dH, owner, D[:, None] * W[j])
    dZ = dH * _dact_np(H, Z, g_code)  # (B, k) (A5)
    Gc += dZ.sum(axis=0)
    np.add.at(GV, j, x[:, None] * dZ[owner])
    return float(np.sum(E * E))


def sparse_times(owner, cols, vals, W, out):
    """The NumPy twin of :func:`mfcore.engines.autorec_jit.sparse_times`: out += X W."""
    np.add.at(out, owner, vals[:, None] * W[cols])  # (nnz, k) rows added in order


def sparse_t_times(owner, cols, vals, H, G):
    """The NumPy twin of :func:`mfcore.engines.autorec_jit.sparse_t_times`: G += X^T H."""
    np.add.at(G, cols, vals[:, None] * H[owner])  # (nnz, k)


def sampled_dots(owner, cols, H, Wt, bias, out):
    """The NumPy twin of :func:`mfcore.engines.autorec_jit.sampled_dots`."""
    out[:] = np.einsum("nk,nk->n", H[owner], Wt[cols]) + bias[cols]  # (nnz,)
