"""Item-kNN prediction on baseline residuals, one (user, item) pair at a time (the readable engine).

Plain Python restricted to the Numba subset: ``knn_jit`` compiles this very
function, so this file is both the reference and the fast path. It applies
(P1)-(P3) of :class:`mfcore.models.knn_baseline.ItemKNN` to each pair.

The similarities come as one CSR row per item, ``nb_indices[nb_indptr[i]:nb_indptr[i + 1]]``
holding the items j with s_ij > 0 sorted by decreasing s_ij (``nb_sims`` beside
them). The training ratings come as CSR rows per user (``rated_indptr``,
``rated_indices``) with the residuals r_uj - b_uj in ``residuals``.

Rules that keep the two engines one algorithm: no helper functions, no module globals.
"""
import numpy as np


def predict_pairs(users, items, baseline, nb_indptr, nb_indices, nb_sims, rated_indptr,
                  rated_indices, residuals, n_items, k, min_k, out):
    """(P1)-(P3) of ItemKNN for every pair; writes ``out`` and returns the number of
    pairs that had at least ``min_k`` neighbours (the rest keep the baseline)."""
    # where[j]: position of item j in the current user's CSR row, -1 if the user did not rate j
    where = np.full(n_items, -1, dtype=np.int64)
    current = -1
    n_with = 0
    for p in range(users.shape[0]):
        u = users[p]
        i = items[p]
        # (0) mark the items u rated (only when the user changes: pass pairs sorted by user)
        if u != current:
            if current >= 0:
                for t in range(rated_indptr[current], rated_indptr[current + 1]):
                    where[rated_indices[t]] = -1
            for t in range(rated_indptr[u], rated_indptr[u + 1]):
                where[rated_indices[t]] = t
            current = u
        # (P1) walk i's neighbours, most similar first; keep the first k that u rated
        num = 0.0
        den = 0.0
        found = 0
        for t in range(nb_indptr[i], nb_indptr[i + 1]):
            if found == k:
                break
            pos = where[nb_indices[t]]
            if pos >= 0:
                # (P2) similarity-weighted residuals r_uj - b_uj
                s = nb_sims[t]
                num += s * residuals[pos]
                den += s
                found += 1
        # (P3) baseline plus the weighted mean residual (the baseline alone below min_k)
        out[p] = baseline[p]
        if found >= min_k and den > 0.0:
            out[p] += num / den
            n_with += 1
    return n_with
