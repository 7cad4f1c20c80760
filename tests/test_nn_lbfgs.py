"""mfcore's L-BFGS follows scipy's L-BFGS-B without bounds: same evaluations, same iterates to rounding."""
import numpy as np
import pytest
from scipy.optimize import minimize

from mfcore.nn.lbfgs import MoreThuente, minimize_lbfgs


def rosenbrock(x):
    """Rosenbrock's valley in n dimensions: ill-conditioned and not convex."""
    f = np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] += -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return f, g


def ours_(fun, x0, maxiter, maxcor, engine="jit"):
    """minimize_lbfgs on a function returning (f, g)."""
    def f_into_g(x, g):
        f, g[...] = fun(x)
        return f
    return minimize_lbfgs(f_into_g, x0, maxiter, maxcor, engine=engine)


def _scipy(fun, x0, maxiter, maxcor):
    return minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter, "maxcor": maxcor})


@pytest.mark.parametrize("engine", ["jit", "numpy"])
@pytest.mark.parametrize("n, maxcor, maxiter", [(30, 5, 12), (30, 20, 40), (8, 3, 25)])  # 13, 47, 31 calls
def test_same_iterates_as_scipy_lbfgsb(n, maxcor, maxiter, engine):
    x0 = np.random.default_rng(n + maxcor).normal(0, 1, n)
    calls = []

    def fun(x):
        calls.append(x.copy())
        return rosenbrock(x)

    ours = ours_(fun, x0, maxiter, maxcor, engine)
    ref_calls = []
    ref = _scipy(lambda x: (ref_calls.append(x.copy()), rosenbrock(x))[1], x0, maxiter, maxcor)
    assert (ours.nit, ours.nfev) == (ref.nit, ref.nfev)  # the same line-search decisions
    # every evaluation point to rounding (Rosenbrock's curvature amplifies it along the way)
    np.testing.assert_allclose(np.array(calls), np.array(ref_calls), rtol=1e-9, atol=1e-12)
    assert ours.fun == pytest.approx(ref.fun, rel=1e-9)


def test_convergence_stops_like_scipy():
    """A quadratic: L-BFGS-B stops on the relative reduction of f or the gradient norm."""
    rng = np.random.default_rng(0)
    A = rng.normal(0, 1, (20, 20))
    A = A @ A.T + np.eye(20)
    b = rng.normal(0, 1, 20)

    def quad(x):
        return 0.5 * x @ A @ x - b @ x, A @ x - b

    ours, ref = ours_(quad, np.zeros(20), 500, 10), _scipy(quad, np.zeros(20), 500, 10)
    assert ours.nit == ref.nit < 500 and ours.message.startswith("CONVERGENCE")
    np.testing.assert_allclose(ours.x, ref.x, rtol=1e-9, atol=1e-12)
    x_star = np.linalg.solve(A, b)
    assert ours.fun - quad(x_star)[0] < 1e-6 * abs(quad(x_star)[0])


def test_x0_untouched_and_immediate_convergence():
    x0 = np.ones(5)
    res = ours_(rosenbrock, x0, 10, 20)  # the minimum itself: gradient 0
    assert res.nit == 0 and res.nfev == 1 and res.message.startswith("CONVERGENCE")
    x0 = np.zeros(5)
    ours_(rosenbrock, x0, 3, 20)
    assert np.all(x0 == 0)


def test_more_thuente_finds_a_strong_wolfe_step():
    """phi(t) = (t - 3)^2 from t = 0.1: the search extrapolates, brackets and stops where
    phi(t) <= phi(0) + 1e-3 t phi'(0) and |phi'(t)| <= 0.9 |phi'(0)|."""
    search = MoreThuente()
    task, t, steps = search.start(9.0, -6.0, 0.1), 0.1, 0
    while task == "FG":
        t = search.stp
        task, steps = search.step((t - 3.0) ** 2, 2.0 * (t - 3.0)), steps + 1
    assert task == "CONVERGENCE" and steps > 1
    assert (t - 3.0) ** 2 <= 9.0 + 1e-3 * t * -6.0 and abs(2.0 * (t - 3.0)) <= 0.9 * 6.0


def test_kernels_equal_their_numpy_twins():
    """lbfgs_jit against lbfgs_numpy: n not a multiple of the block or the lanes, 3 of 5 rows used."""
    from mfcore.engines import lbfgs_jit as J
    from mfcore.engines import lbfgs_numpy as N

    rng = np.random.default_rng(0)
    n, m, c = 2 * J.BLOCK + 13, 5, 3
    S, Y = rng.normal(0, 1, (m, n)), rng.normal(0, 1, (m, n))
    x, g, g_old, d = (rng.normal(0, 1, n) for _ in range(4))
    p, q = rng.normal(0, 1, c), rng.normal(0, 1, c)
    out = {}
    for K in (J, N):
        z, dd = np.empty(n), np.empty(n)
        sums = K.direction(x, g, S, Y, p, q, 0.7, z, dd)
        S2, Y2, dots = S.copy(), Y.copy(), np.full((2, 4, m), np.nan)
        yy = [K.new_pair(g, g_old, d, stp, S2, Y2, 1, c, dots[t]) for t, stp in enumerate((1.0, 0.3))]
        np.testing.assert_array_equal(S2[[0, 2, 3, 4]], S[[0, 2, 3, 4]])  # only row 1 is written
        assert np.isnan(dots[:, :, c:]).all()  # the unused rows are left alone
        dots2 = np.full((4, m), np.nan)
        K.pair_dots(S2, Y2, c, Y2[1], g, dots2)
        np.testing.assert_allclose(dots2[:, :c], dots[1, :, :c], rtol=1e-13)
        G = g.copy()
        K.add_scaled(G, x, 0.3)
        out[K] = (z, dd, np.array(sums), S2, Y2, np.array(yy), dots[:, :, :c], G)
    for a, b in zip(out[J], out[N]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
