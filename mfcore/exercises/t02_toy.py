"""Exercises of tutorial 02 (the 5 x 4 toy matrix): one sweep of each of the notebook's algorithms.

Checked against :func:`mfcore.tutorial.toy.toy_sgd` and ``toy_vectorized`` run
for one sweep from ``toy_init`` (so the inputs U, I of every case are the
notebook's legacy-generator draws).
"""
import numpy as np

from ._core import Case, Exercise, catalogue


def _toy():
    from ..tutorial import toy

    return toy


def _ref(algorithm):
    def reference(R, U, I, lr, reg, seed):
        toy = _toy()
        U0, I0 = toy.toy_init(R, U.shape[1], seed)
        assert np.array_equal(U0, U) and np.array_equal(I0, I)  # the case is the notebook's start
        return getattr(toy, algorithm)(R, U.shape[1], 1, lr, reg, seed)
    return reference


def _cases():
    toy = _toy()
    rng = np.random.default_rng(7)
    R2 = rng.integers(1, 6, (4, 3)).astype(float)
    R2[[0, 2, 3], [2, 0, 1]] = 0  # three blanks
    cases = []
    for label, R, K, lr, reg, seed in [
            ("the toy matrix, K = 2, seed 0 (the notebook's start)", toy.TOY_R, 2, 0.01, 0.02, 0),
            ("the toy matrix, K = 3, lr 0.05, reg 0.1, seed 1", toy.TOY_R, 3, 0.05, 0.1, 1),
            ("a 4 x 3 matrix with 3 blanks, K = 2, lr 0.03, seed 2", R2, 2, 0.03, 0.05, 2)]:
        U, I = toy.toy_init(R, K, seed)
        cases.append(Case(label, (R, U, I, lr, reg), ref_kwargs={"seed": seed}))
    return cases


# ---------------------------------------------------------------- 1. algorithm A


def _sweep_a(R, U, I, lr, reg, *, two=2.0, new_u=True, sign=-1, all_cells=False):
    U, I = U.copy(), I.copy()
    for u in range(R.shape[0]):
        for i in range(R.shape[1]):
            if R[u, i] > 0 or all_cells:
                e = R[u, i] - U[u] @ I[i]
                u_old = U[u].copy()
                U[u] += lr * (two * e * I[i] + sign * reg * U[u])
                I[i] += lr * (two * e * (U[u] if new_u else u_old) + sign * reg * I[i])
    return U, I


TOY_SGD_SWEEP = Exercise("t02.toy_sgd_sweep", """
One sweep of the toy notebook's algorithm A (toy_sgd).

R (n_users, n_items) with 0 for "not rated"; U (n_users, K), I (n_items, K).
Visit the rated cells row by row (u = 0, 1, ...; within a row i = 0, 1, ...)
and for each one, with e = R[u, i] - U[u] . I[i]:
  U[u] += lr (2 e I[i] - reg U[u])
  I[i] += lr (2 e U[u] - reg I[i])     (with the U[u] JUST updated)
Return the new (U, I).""",
    signature="toy_sgd_sweep(R, U, I, lr, reg)",
    reference=_ref("toy_sgd"), cases=_cases, outputs=("U", "I"),
    reference_name="mfcore.tutorial.toy.toy_sgd (one sweep)",
    mistakes=catalogue(_sweep_a, [
        ("old-user-vector", dict(new_u=False), """
I[i]'s step used U[u] from before its own step; algorithm A updates U[u] first and I[i]
sees the new U[u] (that is what makes it differ from mfcore's FunkMF)."""),
        ("no-factor-2", dict(two=1.0), """
the factor 2 is missing: the notebook differentiates e^2 without mfcore's 1/2, so its step
is lr (2 e I[i] - reg U[u])."""),
        ("reg-sign", dict(sign=+1), """
the penalty's sign: a descent step subtracts reg * U[u]."""),
        ("all-cells", dict(all_cells=True), """
the blanks were visited too (as ratings of 0): only cells with R[u, i] > 0 are ratings
here."""),
    ]))
check_toy_sgd_sweep = TOY_SGD_SWEEP.checker()

# ---------------------------------------------------------------- 2. algorithm B


def _sweep_b(R, U, I, lr, reg, *, two=1.0, new_users=True, all_cells=False, mean=False):
    U, I = U.copy(), I.copy()
    U_start = U.copy()
    M = np.ones_like(R, bool) if all_cells else R > 0
    for u in range(R.shape[0]):
        idx = np.flatnonzero(M[u])
        E = R[u, idx] - I[idx] @ U[u]
        g = two * E @ I[idx] / (idx.size if mean else 1)
        U[u] += lr * (g - reg * U[u])
    Uu = U if new_users else U_start
    for i in range(R.shape[1]):
        idx = np.flatnonzero(M[:, i])
        E = R[idx, i] - Uu[idx] @ I[i]
        g = two * E @ Uu[idx] / (idx.size if mean else 1)
        I[i] += lr * (g - reg * I[i])
    return U, I


TOY_VECTORIZED_SWEEP = Exercise("t02.toy_vectorized_sweep", """
One sweep of the toy notebook's algorithm B (toy_vectorized).

R (n_users, n_items) with 0 for "not rated"; U (n_users, K), I (n_items, K).
First every user, over the items it rated (E = the errors of those cells):
  U[u] += lr (E . I[rated items] - reg U[u])
then every item, over the users who rated it, with the NEW user vectors:
  I[i] += lr (E . U[raters] - reg I[i])
No factor 2, a SUM over the rated cells. Return the new (U, I).""",
    signature="toy_vectorized_sweep(R, U, I, lr, reg)",
    reference=_ref("toy_vectorized"), cases=_cases, outputs=("U", "I"),
    reference_name="mfcore.tutorial.toy.toy_vectorized (one sweep)",
    mistakes=catalogue(_sweep_b, [
        ("old-user-vectors", dict(new_users=False), """
the items were moved with the user vectors from the start of the sweep: algorithm B moves
all users first, then the items with the new users."""),
        ("factor-2", dict(two=2.0), """
a factor 2 crept in: algorithm B has none (that is one of its two differences from
algorithm A)."""),
        ("all-cells", dict(all_cells=True), """
the blanks entered the sums as ratings of 0: sum over rated cells only (R > 0)."""),
        ("mean-not-sum", dict(mean=True), """
the gradient was averaged over the rated cells; B sums it."""),
    ]))
check_toy_vectorized_sweep = TOY_VECTORIZED_SWEEP.checker()

EXERCISES = {e.name: e for e in (TOY_SGD_SWEEP, TOY_VECTORIZED_SWEEP)}
