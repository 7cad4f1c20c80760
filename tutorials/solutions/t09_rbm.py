"""Solutions to the checked exercises of tutorial 09 (RBMs)."""
import numpy as np


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def cd1(V0, W, bv, bh, Uh, Uv):
    P0 = _sigmoid(bh + V0 @ W)                     # positive phase
    H = (Uh < P0).astype(float)                    # sampled hidden units
    V1 = (Uv < _sigmoid(bv + H @ W.T)).astype(float)   # sampled reconstruction
    P1 = _sigmoid(bh + V1 @ W)                     # negative phase
    return V0.T @ P0 - V1.T @ P1, (V0 - V1).sum(axis=0), (P0 - P1).sum(axis=0)


def free_energy(V, W, bv, bh):
    return -V @ bv - np.logaddexp(0.0, bh + V @ W).sum(axis=1)
