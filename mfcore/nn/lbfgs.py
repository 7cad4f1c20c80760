r"""Full-batch L-BFGS for AutoRec: scipy's L-BFGS-B without bounds, in fewer passes over memory.

``minimize_lbfgs(fun, x0, maxiter, maxcor)`` follows the iterates of
``scipy.optimize.minimize(f, x0, jac=True, method="L-BFGS-B",
options={"maxiter": maxiter, "maxcor": maxcor})`` (the same evaluations, the same
numbers up to rounding: tested), because without bounds L-BFGS-B's steps reduce
to the ones below. What differs is the cost of a step on a model with millions of
weights: L-BFGS-B keeps its m pairs (s_i, y_i) in an n x 2m array that one step
reads about ten times (the Cauchy point, the matrix K, the subspace step, the new
inner products); here one step reads it twice, in the blocked passes of
:mod:`mfcore.engines.lbfgs_jit`. For U-AutoRec on ml-latest-small (n = 9.1
million weights, m = 20) L-BFGS-B took most of the time of a fit.

Rounding: the sums run in another order than L-BFGS-B's, and L-BFGS on a
non-convex objective amplifies such differences: the two agree closely over the
first iterations and then drift apart, to a different point of the same quality,
not to the same digits.

The steps (iteration k, gradient g, m_k <= m stored pairs, oldest first):

(L1) direction. With no pair: :math:`z = x - g` (L-BFGS-B's Cauchy point with
:math:`\theta = 1`). Otherwise
:math:`d = -H g` for the compact L-BFGS matrix of Byrd, Nocedal and Schnabel
(1994), :math:`H_0 = I / \theta`, :math:`\gamma = 1/\theta`:

.. math::

    a = S^T g,\ b = Y^T g,\ u = R^{-1} a,\quad
    H g = \gamma g + S\, R^{-T}\!\big((D + \gamma Y^T Y) u - \gamma b\big) - \gamma\, Y u

with R the upper triangle of :math:`S^T Y` (diagonal included), D the
curvatures :math:`s_i^T y_i`, and :math:`z = x - H g`. Then :math:`d = z - x`
(as L-BFGS-B forms it), and a unit step goes to z itself.

(L2) line search: Moré and Thuente's (1994) search for the strong Wolfe
conditions (``ftol`` 1e-3, ``gtol`` 0.9, ``xtol`` 0.1, steps in [0, 1e10]) from
the trial step :math:`\min(1/\lVert d\rVert, 10^{10})` at the first iteration and 1
after; at most ``maxls`` = 20 evaluations. A failed search (or an ascent
direction) drops the pairs and retries along -g (or stops if there were none).

(L3) stop after ``maxiter`` iterations, or when :math:`\max_i |g_i| \le 10^{-5}`,
or when :math:`f_{k-1} - f_k \le 2.2 \cdot 10^{-9} \max(|f_{k-1}|, |f_k|, 1)`.

(L4) update: :math:`s = \alpha d`, :math:`y = g_{k+1} - g_k`, the curvature
:math:`s^T y = \alpha (g_{k+1}^T d - g_k^T d)`; the pair is skipped when
:math:`s^T y \le \epsilon_{mach} (-\alpha g_k^T d)`, else it replaces the oldest
(beyond m) and :math:`\theta = y^T y / s^T y`. The new column of :math:`S^T Y` and
of :math:`Y^T Y` come from :math:`[S\ Y]^T [y\ g_{k+1}]`, which also gives (L1)'s a and
b: one read of S and of Y, and (L1)'s sums one more.

What is left out of L-BFGS-B (it cannot happen without bounds, or only through
a failed Cholesky factorization of a positive definite matrix): the projection
onto the box, the generalized Cauchy point once pairs exist, and the restart
on a singular factorization.

Memory: the pairs, 2 m n floats (the same as L-BFGS-B: 2.9 GB for U-AutoRec's
9.1 million weights at m = 20), and six n-vectors (x, g and their previous
values, z, d), allocated once: ``fun`` writes each gradient into one of them.
"""
import math

import numpy as np
from scipy.linalg import solve_triangular

from ..engines import lbfgs_jit, lbfgs_numpy

EPS = np.finfo(float).eps


class MoreThuente:
    """Moré-Thuente line search on phi(stp) = f(x + stp d) (reverse communication).

    ``start(f0, g0, stp)`` and then ``step(f, g)`` after each evaluation at
    ``self.stp`` (g = phi'(stp)); both return "FG" (evaluate at ``self.stp``),
    "CONVERGENCE" (strong Wolfe conditions hold) or "WARNING" (no progress
    possible: the caller accepts the current step, as L-BFGS-B does).
    """

    def __init__(self, ftol=1e-3, gtol=0.9, xtol=0.1, stpmin=0.0, stpmax=1e10):
        self.ftol, self.gtol, self.xtol, self.stpmin, self.stpmax = ftol, gtol, xtol, stpmin, stpmax

    def start(self, f0, g0, stp):
        self.stp = stp
        self.brackt, self.stage = False, 1
        self.finit, self.ginit, self.gtest = f0, g0, self.ftol * g0
        self.width = self.stpmax - self.stpmin
        self.width1 = self.width / 0.5
        self.stx, self.fx, self.gx = 0.0, f0, g0  # the best step so far
        self.sty, self.fy, self.gy = 0.0, f0, g0  # the other end of the interval
        self.stmin, self.stmax = 0.0, stp + 4.0 * stp
        return "FG"

    def step(self, f, g):
        stp = self.stp
        ftest = self.finit + stp * self.gtest
        if self.stage == 1 and f <= ftest and g >= 0.0:
            self.stage = 2
        if self.brackt and (stp <= self.stmin or stp >= self.stmax):
            return "WARNING"  # rounding errors prevent progress
        if self.brackt and self.stmax - self.stmin <= self.xtol * self.stmax:
            return "WARNING"  # the interval is within xtol
        if stp == self.stpmax and f <= ftest and g <= self.gtest:
            return "WARNING"
        if stp == self.stpmin and (f > ftest or g >= self.gtest):
            return "WARNING"
        if f <= ftest and abs(g) <= self.gtol * (-self.ginit):
            return "CONVERGENCE"
        gt = self.gtest
        if self.stage == 1 and f <= self.fx and f > ftest:  # the modified function psi
            fx, fy, gx, gy = self.fx - self.stx * gt, self.fy - self.sty * gt, self.gx - gt, self.gy - gt
            (self.stx, fx, gx, self.sty, fy, gy, stp_new,
             self.brackt) = _cstep(self.stx, fx, gx, self.sty, fy, gy, stp, f - stp * gt, g - gt,
                                   self.brackt, self.stmin, self.stmax)
            self.fx, self.fy = fx + self.stx * gt, fy + self.sty * gt
            self.gx, self.gy = gx + gt, gy + gt
        else:
            (self.stx, self.fx, self.gx, self.sty, self.fy, self.gy, stp_new,
             self.brackt) = _cstep(self.stx, self.fx, self.gx, self.sty, self.fy, self.gy, stp, f, g,
                                   self.brackt, self.stmin, self.stmax)
        if self.brackt:  # force a sufficient decrease of the interval
            if abs(self.sty - self.stx) >= 0.66 * self.width1:
                stp_new = self.stx + 0.5 * (self.sty - self.stx)
            self.width1 = self.width
            self.width = abs(self.sty - self.stx)
            self.stmin, self.stmax = min(self.stx, self.sty), max(self.stx, self.sty)
        else:
            self.stmin = stp_new + 1.1 * (stp_new - self.stx)
            self.stmax = stp_new + 4.0 * (stp_new - self.stx)
        stp_new = min(max(stp_new, self.stpmin), self.stpmax)
        if self.brackt and (stp_new <= self.stmin or stp_new >= self.stmax
                            or self.stmax - self.stmin <= self.xtol * self.stmax):
            stp_new = self.stx  # no further progress: the best step so far
        self.stp = stp_new
        return "FG"


def _cubic_min(theta, s, a, b):
    """s * sqrt((theta/s)^2 - (a/s)(b/s)), the root of the cubic's minimizer."""
    return s * math.sqrt((theta / s) ** 2 - (a / s) * (b / s))


def _cstep(stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax):
    """One safeguarded step of the search: the trial from cubic and quadratic interpolation of
    the best point (stx), the other end (sty) and the last trial (stp), and the new interval."""
    sgnd = dp * (dx / abs(dx))
    if fp > fx:  # case 1: a higher value; the minimum is bracketed
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = _cubic_min(theta, s, dx, dp)
        if stp < stx:
            gamma = -gamma
        p = (gamma - dx) + theta
        q = ((gamma - dx) + gamma) + dp
        stpc = stx + (p / q) * (stp - stx)
        stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
        stpf = stpc if abs(stpc - stx) < abs(stpq - stx) else stpc + (stpq - stpc) / 2.0
        brackt = True
    elif sgnd < 0.0:  # case 2: lower value, derivatives of opposite sign; bracketed
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = _cubic_min(theta, s, dx, dp)
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = ((gamma - dp) + gamma) + dx
        stpc = stp + (p / q) * (stx - stp)
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
        brackt = True
    elif abs(dp) < abs(dx):  # case 3: lower value, same sign, the derivative shrinks
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * math.sqrt(max(0.0, (theta / s) ** 2 - (dx / s) * (dp / s)))
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = (gamma + (dx - dp)) + gamma
        r = p / q
        if r < 0.0 and gamma != 0.0:
            stpc = stp + r * (stx - stp)
        elif stp > stx:
            stpc = stpmax
        else:
            stpc = stpmin
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        if brackt:
            stpf = stpc if abs(stpc - stp) < abs(stpq - stp) else stpq
            if stp > stx:
                stpf = min(stp + 0.66 * (sty - stp), stpf)
            else:
                stpf = max(stp + 0.66 * (sty - stp), stpf)
        else:
            stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
            stpf = max(stpmin, min(stpmax, stpf))
    else:  # case 4: lower value, same sign, the derivative does not shrink
        if brackt:
            theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp
            s = max(abs(theta), abs(dy), abs(dp))
            gamma = _cubic_min(theta, s, dy, dp)
            if stp > sty:
                gamma = -gamma
            p = (gamma - dp) + theta
            q = ((gamma - dp) + gamma) + dy
            stpf = stp + (p / q) * (sty - stp)
        elif stp > stx:
            stpf = stpmax
        else:
            stpf = stpmin
    if fp > fx:
        sty, fy, dy = stp, fp, dp
    else:
        if sgnd < 0.0:
            sty, fy, dy = stx, fx, dx
        stx, fx, dx = stp, fp, dp
    return stx, fx, dx, sty, fy, dy, stpf, brackt


class LBFGSResult:
    """``x``, ``fun``, ``jac``, ``nit`` (iterations), ``nfev`` and ``message`` of a run."""

    def __init__(self, x, fun, jac, nit, nfev, message):
        self.x, self.fun, self.jac, self.nit, self.nfev, self.message = x, fun, jac, nit, nfev, message

    def __repr__(self):
        return f"LBFGSResult(fun={self.fun!r}, nit={self.nit}, nfev={self.nfev}, message={self.message!r})"


def minimize_lbfgs(fun, x0, maxiter, maxcor=20, gtol=1e-5, ftol=2.220446049250313e-09, maxls=20,
                   engine="jit"):
    """Minimize f from ``x0`` by (L1)-(L4); ``fun(x, g)`` returns f(x) and writes its gradient into
    the float64 array ``g`` (shaped like x; its old content is garbage).

    The defaults are scipy's for L-BFGS-B. ``x0`` is not modified. ``engine``:
    the passes of (L1) and (L4) in Numba (:mod:`mfcore.engines.lbfgs_jit`) or
    NumPy (``"numpy"``). Returns an :class:`LBFGSResult`.
    """
    K = lbfgs_jit if engine == "jit" else lbfgs_numpy
    x = np.array(x0, dtype=np.float64).ravel()  # (n,) the current point
    n, m = x.size, int(maxcor)
    g = np.empty(n)  # (n,) its gradient
    f = float(fun(x, g))
    nfev = 1
    if np.max(np.abs(g), initial=0.0) <= gtol:
        return LBFGSResult(x, f, g, 0, nfev, "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL")
    pool = (x, np.empty(n), np.empty(n))  # (n,) each: the point, z, a trial point
    g_old, d = np.empty(n), np.empty(n)  # (n,) each
    S = np.empty((m, n))  # (m, n) s_i, one per row
    Y = np.empty((m, n))  # (m, n) y_i
    # The pairs in use sit in rows 0..c-1 (a ring once c = m); ``slots`` lists them oldest first.
    # Products run over S[:c] and Y[:c] and are then put in that order.
    SY = np.zeros((m, m))  # SY[i, j] = s_i . y_j (rows), for i stored before or with j
    YY = np.zeros((m, m))  # YY[i, j] = y_i . y_j
    curv = np.zeros(m)  # s_i . y_i as (L4) computes it (the D of (L1))
    dots = np.zeros((4, m))  # S y_new, S g, Y y_new, Y g (rows)
    slots = []
    theta = 1.0
    it = 0
    while True:
        # (L1) the direction d and the point z = x + d
        z, spare = (buf for buf in pool if buf is not x)
        if not slots:
            np.subtract(x, g, out=z)  # L-BFGS-B's Cauchy point (theta = 1)
            np.subtract(z, x, out=d)  # as L-BFGS-B forms d
            dtd, gd = float(d @ d), float(g @ d)
        else:
            c, o = len(slots), np.array(slots)  # o: rows, oldest first
            gamma = 1.0 / theta
            R = np.triu(SY[np.ix_(o, o)])  # (c, c) s_i . y_j, i <= j
            u = solve_triangular(R, dots[1, o], lower=False, check_finite=False)  # R^-1 S^T g
            w = curv[o] * u + gamma * (YY[np.ix_(o, o)] @ u) - gamma * dots[3, o]  # (c,)
            p = solve_triangular(R, w, trans="T", lower=False, check_finite=False)  # (c,)
            p_rows, q_rows = np.empty(c), np.empty(c)
            p_rows[o], q_rows[o] = p, -gamma * u
            dtd, gd = K.direction(x, g, S, Y, p_rows, q_rows, gamma, z, d)  # z = x - H g, d = z - x
        # (L2) the line search from x_old = x along d
        stp = min(1.0 / math.sqrt(dtd), 1e10) if it == 0 else 1.0
        x_old, g, g_old, f_old, gd_old = x, g_old, g, f, gd  # g: a free buffer
        ok = gd < 0.0
        if ok:
            search = MoreThuente()
            task = search.start(f, gd, stp)
            n_ls = 0
            while task == "FG":
                if n_ls >= maxls:
                    ok = False
                    break
                n_ls += 1
                stp = search.stp
                if stp == 1.0:
                    x = z  # never written during the search
                else:
                    x = spare
                    np.multiply(d, stp, out=x)
                    x += x_old
                f = float(fun(x, g))
                nfev += 1
                gd = float(g @ d)
                task = search.step(f, gd)
            stp = search.stp
        if not ok:  # back to the previous iterate; drop the pairs, or stop if there were none
            x, g, g_old, f = x_old, g_old, g, f_old
            if not slots:
                return LBFGSResult(x, f, g, it, nfev, "ABNORMAL_TERMINATION_IN_LNSRCH")
            slots, theta = [], 1.0
            continue
        it += 1
        # (L3) stop
        if it >= maxiter:
            return LBFGSResult(x, f, g, it, nfev, "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT")
        if np.max(np.abs(g)) <= gtol:
            return LBFGSResult(x, f, g, it, nfev, "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL")
        if f_old - f <= ftol * max(abs(f_old), abs(f), 1.0):
            return LBFGSResult(x, f, g, it, nfev, "CONVERGENCE: REL_REDUCTION_OF_F <= FACTR*EPSMCH")
        # (L4) the new pair
        if stp == 1.0:
            dr, ddum = gd - gd_old, -gd_old
        else:
            dr, ddum = (gd - gd_old) * stp, -gd_old * stp
        c = len(slots)
        if dr <= EPS * ddum:  # not enough curvature: keep the pairs, refresh S^T g and Y^T g
            K.pair_dots(S, Y, c, g, g, dots)
            continue
        row = c if c < m else slots.pop(0)
        slots.append(row)
        c = len(slots)
        rr = K.new_pair(g, g_old, d, stp, S, Y, row, c, dots)  # s = stp d, y = g - g_old; y . y
        theta = rr / dr
        curv[row] = dr
        SY[:c, row] = dots[0, :c]
        YY[:c, row] = YY[row, :c] = dots[2, :c]
