"""Solutions to the checked exercises of tutorial 02 (the toy matrix)."""
import numpy as np


def toy_sgd_sweep(R, U, I, lr, reg):
    U, I = U.copy(), I.copy()
    for u in range(R.shape[0]):
        for i in range(R.shape[1]):
            if R[u, i] > 0:
                e = R[u, i] - U[u] @ I[i]
                U[u] += lr * (2 * e * I[i] - reg * U[u])
                I[i] += lr * (2 * e * U[u] - reg * I[i])   # sees the U[u] just updated
    return U, I


def toy_vectorized_sweep(R, U, I, lr, reg):
    U, I = U.copy(), I.copy()
    for u in range(R.shape[0]):
        rated = np.flatnonzero(R[u] > 0)
        E = R[u, rated] - I[rated] @ U[u]
        U[u] += lr * (E @ I[rated] - reg * U[u])
    for i in range(R.shape[1]):
        raters = np.flatnonzero(R[:, i] > 0)
        E = R[raters, i] - U[raters] @ I[i]                # the new user vectors
        I[i] += lr * (E @ U[raters] - reg * I[i])
    return U, I
