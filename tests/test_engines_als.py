"""The ALS engines (mfcore.engines.als_*): loop and jit are one source (bit-identical in
float64), vectorized equals them up to rounding, each half step solves its ridge systems
exactly (checked against a dense least-squares solve) and never increases the objective."""
import numpy as np
import pytest

from mfcore.engines import als_jit, als_loop, als_vectorized
from mfcore.models.als import rows_csr

from helpers import F32, F64

ENGINES = {"loop": als_loop.half_step, "jit": als_jit.half_step,
           "vectorized": als_vectorized.half_step,
           # tiny batches: many padded blocks of different lengths
           "vectorized-small": lambda *a: als_vectorized.half_step(*a, batch_elems=7)}


def make_problem(rng, dtype=np.float64, n=300, n_users=26, n_items=16, K=4):
    """Distinct random (user, item) pairs, the last user and item without ratings."""
    pairs = np.unique(rng.integers(0, n_users - 1, n) * n_items + rng.integers(0, n_items - 1, n))
    u, i = (pairs // n_items).astype(np.int32), (pairs % n_items).astype(np.int32)
    r = rng.integers(1, 6, u.size).astype(dtype)
    state = {"bu": np.zeros(n_users, dtype), "bi": rng.normal(0, 0.1, n_items).astype(dtype),
             "P": rng.normal(0, 0.1, (n_users, K)).astype(dtype),
             "Q": rng.normal(0, 0.1, (n_items, K)).astype(dtype)}
    return (u, i, r), state


def run(fn, problem, n_epochs=3, reg=0.05):
    """``n_epochs`` of (A1) then (A2) from a copy of the state; returns (state, SSE per half step)."""
    (u, i, r), state0 = problem
    s = {k: v.copy() for k, v in state0.items()}
    dt = r.dtype.type
    by_user, by_item = rows_csr(u, i, r, s["P"].shape[0]), rows_csr(i, u, r, s["Q"].shape[0])
    mu, reg = dt(r.mean()), dt(reg)
    sse = []
    for _ in range(n_epochs):
        sse.append(fn(*by_user, mu, s["bi"], s["Q"], s["bu"], s["P"], reg))
        sse.append(fn(*by_item, mu, s["bu"], s["P"], s["bi"], s["Q"], reg))
    return s, sse


def objective(problem, s, reg):
    """J of ALS, written out densely: 1/2 SSE + 1/2 reg * sum over ratings of the four penalties."""
    (u, i, r), _ = problem
    e = r - r.mean() - s["bu"][u] - s["bi"][i] - np.sum(s["P"][u] * s["Q"][i], axis=1)
    pen = s["bu"][u] ** 2 + s["bi"][i] ** 2 + np.sum(s["P"][u] ** 2 + s["Q"][i] ** 2, axis=1)
    return 0.5 * np.sum(e ** 2) + 0.5 * reg * np.sum(pen)


def test_loop_and_jit_are_bit_identical_float64():
    problem = make_problem(np.random.default_rng(0))
    a, sse_a = run(ENGINES["loop"], problem)
    b, sse_b = run(ENGINES["jit"], problem)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert sse_a == sse_b and all(isinstance(v, float) for v in sse_b)


@pytest.mark.parametrize("engine", ["vectorized", "vectorized-small"])
def test_vectorized_equals_loop_float64(engine):
    problem = make_problem(np.random.default_rng(1))
    a, sse_a = run(ENGINES["loop"], problem)
    b, sse_b = run(ENGINES[engine], problem)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], **F64, err_msg=key)
    np.testing.assert_allclose(sse_b, sse_a, **F64)


@pytest.mark.parametrize("engine", ["jit", "vectorized"])
def test_float32_engines_match_loop_and_keep_dtype(engine):
    problem = make_problem(np.random.default_rng(2), dtype=np.float32)
    a, sse_a = run(ENGINES["loop"], problem)
    b, sse_b = run(ENGINES[engine], problem)
    for key in a:
        assert a[key].dtype == np.float32 and b[key].dtype == np.float32, key
        # the solve divides by Cholesky pivots: a few float32 ulps more than an SGD step
        np.testing.assert_allclose(b[key], a[key], rtol=1e-3, atol=1e-5, err_msg=key)
    np.testing.assert_allclose(sse_b, sse_a, **F32)


@pytest.mark.parametrize("engine", ["loop", "jit", "vectorized"])
def test_each_row_is_the_dense_ridge_solution(engine):
    """(A1) for every user equals a dense least-squares solve of the stacked system
    [X; sqrt(lam) I] w = [y; 0], X = [1, q_i] over the user's items, lam = reg * n_u."""
    rng = np.random.default_rng(3)
    problem = make_problem(rng, n_users=8, n_items=10, n=50, K=3)
    (u, i, r), s = problem
    reg = 0.3
    mu = r.mean()
    bu, P = s["bu"].copy(), s["P"].copy()
    sse = ENGINES[engine](*rows_csr(u, i, r, P.shape[0]), mu, s["bi"], s["Q"], bu, P, reg)
    expect_sse = 0.0
    for user in range(P.shape[0] - 1):
        rows = u == user
        X = np.column_stack([np.ones(rows.sum()), s["Q"][i[rows]]])  # (n_u, K+1)
        y = r[rows] - mu - s["bi"][i[rows]]  # (n_u,)
        lam = reg * rows.sum()
        A = np.vstack([X, np.sqrt(lam) * np.eye(4)])
        w = np.linalg.lstsq(A, np.concatenate([y, np.zeros(4)]), rcond=None)[0]
        np.testing.assert_allclose(bu[user], w[0], **F64)
        np.testing.assert_allclose(P[user], w[1:], **F64)
        expect_sse += np.sum((y - X @ w) ** 2)
    np.testing.assert_allclose(sse, expect_sse, **F64)
    # the last user has no ratings: untouched
    assert bu[-1] == s["bu"][-1] and np.array_equal(P[-1], s["P"][-1])


@pytest.mark.parametrize("engine", ["loop", "jit", "vectorized"])
def test_the_objective_never_increases_at_any_half_step(engine):
    """Each half step minimizes J exactly over one side, so J(after) <= J(before).
    Random start (large factors, so the first steps move a lot) and 6 epochs."""
    problem = make_problem(np.random.default_rng(4), K=5)
    problem[1]["P"] *= 10
    problem[1]["Q"] *= 10
    (u, i, r), state = problem
    s = {k: v.copy() for k, v in state.items()}
    reg = 0.05
    by_user, by_item = rows_csr(u, i, r, s["P"].shape[0]), rows_csr(i, u, r, s["Q"].shape[0])
    fn = ENGINES[engine]
    J = [objective(problem, s, reg)]
    for _ in range(6):
        fn(*by_user, r.mean(), s["bi"], s["Q"], s["bu"], s["P"], reg)
        J.append(objective(problem, s, reg))
        fn(*by_item, r.mean(), s["bu"], s["P"], s["bi"], s["Q"], reg)
        J.append(objective(problem, s, reg))
    J = np.array(J)
    assert np.all(np.diff(J) <= 1e-9 * J[:-1]), np.diff(J)
    assert J[-1] < 0.5 * J[0]


def test_the_returned_sse_is_the_sse_after_the_half_step():
    problem = make_problem(np.random.default_rng(5))
    (u, i, r), _ = problem
    s, sse = run(ENGINES["loop"], problem, n_epochs=1)
    e = r - r.mean() - s["bu"][u] - s["bi"][i] - np.sum(s["P"][u] * s["Q"][i], axis=1)
    np.testing.assert_allclose(sse[-1], np.sum(e ** 2), **F64)
