"""The two matrix factorizations of the "intuition" toy notebook, reproduced exactly.

A 5 x 4 rating matrix with 0 for "missing", K = 2, 5000 sweeps, learning rate
0.01, regularization 0.02, U and I drawn from NumPy's *legacy* generator
(``RandomState(0).rand`` for U (5, 2), then I (4, 2): the notebook's
``np.random.seed(0)``; here a local RandomState, never the global one).

* :func:`toy_sgd` visits the rated cells user by user, item by item, and per
  cell updates u then i, where the item step uses the *already updated* user
  vector and both steps carry a factor 2 on the error (the gradient of e^2,
  without mfcore's 1/2):

      e = r - u . i;  u += lr (2 e i - reg u);  i += lr (2 e u_new - reg i)

* :func:`toy_vectorized` is a different algorithm despite its name: each sweep
  first moves every user by the summed gradient over the items that user rated
  (no factor 2), then every item by the summed gradient over its raters, using
  the new user vectors:

      u += lr (E_u . I_rated - reg u);  i += lr (E_i . U_raters - reg i)

Neither is mfcore's BiasedMF (no biases, no shuffling, a factor 2 in one of
them); they are kept so a reader can check mfcore against the notebook to the
last printed digit.
"""
import numpy as np

TOY_R = np.array([
    [5, 3, 0, 1],
    [4, 0, 3, 1],
    [1, 1, 0, 5],
    [1, 0, 0, 4],
    [0, 1, 5, 4],
], dtype=np.float64)  # (5, 4), 0 = missing


def toy_init(R=TOY_R, K=2, seed=0):
    """U (n_users, K) then I (n_items, K), uniform [0, 1) from ``RandomState(seed)``."""
    legacy = np.random.RandomState(seed)
    U = legacy.rand(R.shape[0], K)  # (5, K)
    I = legacy.rand(R.shape[1], K)  # (4, K)
    return U, I


def toy_sgd(R=TOY_R, K=2, iterations=5000, lr=0.01, reg=0.02, seed=0):
    """The notebook's loop SGD; returns ``(U, I)`` (so ``U @ I.T`` is its printed matrix)."""
    U, I = toy_init(R, K, seed)
    for _ in range(iterations):
        for u in range(R.shape[0]):
            for i in range(R.shape[1]):
                if R[u, i] > 0:  # only rated cells
                    e = R[u, i] - np.dot(U[u, :], I[i, :])
                    U[u, :] += lr * (2 * e * I[i, :] - reg * U[u, :])  # (K,)
                    I[i, :] += lr * (2 * e * U[u, :] - reg * I[i, :])  # (K,) uses the new U[u]
    return U, I


def toy_vectorized(R=TOY_R, K=2, iterations=5000, lr=0.01, reg=0.02, seed=0):
    """The notebook's per-user-then-per-item batch update; returns ``(U, I)``."""
    U, I = toy_init(R, K, seed)
    n_users, n_items = R.shape
    for _ in range(iterations):
        for u in range(n_users):
            idx = np.where(R[u, :] > 0)[0]  # (n_rated,)
            I_rated = I[idx, :]  # (n_rated, K)
            E = R[u, idx] - np.dot(U[u, :], I_rated.T)  # (n_rated,)
            U[u, :] += lr * (np.dot(E, I_rated) - reg * U[u, :])  # (K,)
        for i in range(n_items):
            idx = np.where(R[:, i] > 0)[0]  # (n_raters,)
            U_rated = U[idx, :]  # (n_raters, K)
            E = R[idx, i] - np.dot(U_rated, I[i, :])  # (n_raters,)
            I[i, :] += lr * (np.dot(E.T, U_rated) - reg * I[i, :])  # (K,)
    return U, I
