"""Solutions to the checked exercises of tutorial 08 (AutoRec)."""
import numpy as np


def masked_mse(y_pred, y_true, mask):
    count = mask.sum()
    if count == 0:
        return 0.0, np.zeros_like(y_pred)
    e = (y_pred - y_true) * mask                        # 0 where not observed
    return float(np.sum(e * e) / count), 2 * e / count


def autorec_objective(X, M, V, c, W, b, lam):
    H = 1 / (1 + np.exp(-(X @ V + c)))                   # (rows, k); missing entries of X are 0
    E = (H @ W.T + b - X) * M                            # (rows, d), observed entries only
    J = np.sum(E * E) + lam / 2 * (np.sum(W * W) + np.sum(V * V))
    D = 2 * E                                            # dJ/dx_hat
    dZ = (D @ W) * H * (1 - H)                           # back through the sigmoid
    return J, X.T @ dZ + lam * V, dZ.sum(axis=0), D.T @ H + lam * W, D.sum(axis=0)
