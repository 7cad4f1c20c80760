"""Solutions to the checked exercises of tutorial 12 (neighbourhoods)."""
import numpy as np


def item_similarities(Z, M, beta):
    Zm, Mf = np.where(M, Z, 0.0), M.astype(float)
    num = Zm.T @ Zm                                        # sum over co-raters of z_ui z_uj
    sq_i = (Zm ** 2).T @ Mf                                # sum over co-raters of z_ui^2
    den = np.sqrt(sq_i * sq_i.T)                           # sq_j is the transpose
    S = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    m = np.maximum(Mf.T @ Mf - 1, 0)                       # n_ij - 1
    S *= np.divide(m, m + beta, out=np.zeros_like(S), where=m > 0)
    np.fill_diagonal(S, 0.0)
    return S


def knn_predict(b_ui, s, z, k):
    pos = np.flatnonzero(s > 0)
    top = pos[np.argsort(-s[pos], kind="stable")][:k]      # the k most similar, positive only
    if top.size == 0:
        return b_ui
    return b_ui + (s[top] * z[top]).sum() / s[top].sum()
