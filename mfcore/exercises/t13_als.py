"""Exercises of tutorial 13 (ALS against SGD): one user's ridge solve, and the objective J.

Checked against :func:`mfcore.engines.als_loop.half_step` (for one user) and the
objective of :class:`mfcore.models.als.ALS`.
"""
import numpy as np

from ..engines.als_loop import half_step
from ._core import Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. one user's half step


def _ref_solve(r, Q, b_item, mu, reg):
    n, K = Q.shape
    b, F = np.zeros(1), np.zeros((1, K))
    half_step(np.array([0, n], np.int64), np.arange(n, dtype=np.int64), np.asarray(r, float), float(mu),
              np.asarray(b_item, float), np.asarray(Q, float), b, F, float(reg))
    return b[0], F[0]


def _solve(r, Q, b_item, mu, reg, *, plain_lambda=False, bias_free=False, no_item_bias=False):
    n, K = Q.shape
    X = np.hstack([np.ones((n, 1)), Q])
    y = r - mu - (0.0 if no_item_bias else b_item)
    lam = reg * (1 if plain_lambda else n)
    D = np.eye(K + 1) * lam
    if bias_free:
        D[0, 0] = 0.0
    w = np.linalg.solve(X.T @ X + D, X.T @ y)
    return w[0], w[1:]


def _solve_case(g, n, K):
    return g.integers(1, 6, n).astype(float), g.normal(0, 0.5, (n, K)), g.normal(0, 0.3, n), 3.5, 0.1


_solve_cases = seeded_cases(_solve_case, 160, [("5 ratings, K = 2", 5, 2), ("8 ratings, K = 3", 8, 3),
                                               ("3 ratings, K = 4 (fewer ratings than unknowns)", 3, 4)])


SOLVE = Exercise("t13.als_user_solve", """
ALS's half step for one user: the closed-form [b_u, p_u].

r (n,): the user's ratings; Q (n, K): the factors q_i of the items rated, row by
row; b_item (n,): their biases b_i; mu: the global mean; reg: lambda.
With x_i = [1, q_i] and y_i = r_i - mu - b_i, return (b_u, p_u), the solution
w = [b_u, p_u] of
  (sum_i x_i x_i^T + lambda * n * I) w = sum_i y_i x_i
(the penalty is per rating, so it is lambda times the user's n ratings, on the
bias too).""",
    signature="als_user_solve(r, Q, b_item, mu, reg)",
    reference=_ref_solve, cases=_solve_cases, outputs=("b_u", "p_u"),
    reference_name="mfcore.engines.als_loop.half_step (one user)",
    mistakes=catalogue(_solve, [
        ("lambda-not-per-rating", dict(plain_lambda=True), """
the penalty was lambda, not lambda * n: biased MF penalises each rating's occurrence, so a
user with n ratings is shrunk n times as hard."""),
        ("bias-not-penalised", dict(bias_free=True), """
the bias b_u was left unpenalised: in this objective it is regularised like the factors."""),
        ("item-bias-kept", dict(no_item_bias=True), """
the item biases were not taken off the target: y_i = r_i - mu - b_i."""),
    ]))
check_als_user_solve = SOLVE.checker()

# ---------------------------------------------------------------- 2. the objective


def _objective(u, i, r, mu, bu, bi, P, Q, reg, *, no_half=False, per_row=False, no_bias_penalty=False):
    e = r - mu - bu[u] - bi[i] - np.sum(P[u] * Q[i], axis=1)
    if per_row:
        pen = (bu ** 2).sum() + (bi ** 2).sum() + (P ** 2).sum() + (Q ** 2).sum()
    else:
        pen = (0 if no_bias_penalty else (bu[u] ** 2 + bi[i] ** 2).sum()) + (P[u] ** 2).sum() + (Q[i] ** 2).sum()
    half = 1.0 if no_half else 0.5
    return half * (e ** 2).sum() + half * reg * pen


def _ref_objective(u, i, r, mu, bu, bi, P, Q, reg):
    return _objective(u, i, r, mu, bu, bi, P, Q, reg)


def _objective_case(g, nu, ni, n, K):
    u, i = g.integers(0, nu, n), g.integers(0, ni, n)
    return (u, i, g.integers(1, 6, n).astype(float), 3.4, g.normal(0, 0.3, nu), g.normal(0, 0.3, ni),
            g.normal(0, 0.4, (nu, K)), g.normal(0, 0.4, (ni, K)), 0.1)


_objective_cases = seeded_cases(_objective_case, 170, [("4 users, 3 items, 7 ratings, K = 2", 4, 3, 7, 2),
                                                       ("5 users, 6 items, 12 ratings, K = 3", 5, 6, 12, 3)])


OBJECTIVE = Exercise("t13.objective", """
The objective J that both ALS and biased-mf minimise.

u, i, r (n,): the training ratings; mu; bu (n_users,), bi (n_items,), P
(n_users, K), Q (n_items, K); reg = lambda. With e = r - mu - bu[u] - bi[i] -
p_u . q_i for each rating, return
  J = sum over ratings of  1/2 e^2 + 1/2 lambda (bu[u]^2 + bi[i]^2 + |P[u]|^2 + |Q[i]|^2)
(the penalty counted once per rating, not once per row).""",
    signature="objective(u, i, r, mu, bu, bi, P, Q, reg)",
    reference=_ref_objective, cases=_objective_cases, outputs=("J",),
    reference_name="the objective (L) of mfcore.models.als.ALS and BiasedMF",
    mistakes=catalogue(_objective, [
        ("penalty-per-row", dict(per_row=True), """
each row's penalty was counted once: in this objective it is counted once per rating (a
user with n ratings n times)."""),
        ("no-half", dict(no_half=True), """
the 1/2 factors are missing (they make the gradients e and lambda w)."""),
        ("biases-unpenalised", dict(no_bias_penalty=True), """
the biases were left out of the penalty."""),
    ]))
check_objective = OBJECTIVE.checker()

EXERCISES = {e.name: e for e in (SOLVE, OBJECTIVE)}
