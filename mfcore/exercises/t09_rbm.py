"""Exercises of tutorial 09 (RBMs): CD-1 for a Bernoulli RBM, and the free energy.

Checked against :func:`mfcore.engines.rbm_numpy.cd_batch_numpy` and
:func:`~mfcore.engines.rbm_numpy.free_energy` (a Bernoulli unit is a softmax
unit with K = 1 level; every visible unit is present here).
"""
import numpy as np

from ..engines.rbm_numpy import cd_batch_numpy, free_energy
from ._core import Case, Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. CD-1


def _ref_cd1(V0, W, bv, bh, Uh, Uv):
    B, n = V0.shape
    indptr = np.arange(B + 1) * n                      # every user "rated" every item
    items = np.tile(np.arange(n), B)
    gW, gbv, gbh = np.zeros((n, 1, W.shape[1])), np.zeros((n, 1)), np.zeros(W.shape[1])
    cd_batch_numpy(indptr, items, V0.reshape(-1, 1), np.arange(B), W[:, None, :], bv[:, None], bh, 1,
                   Uh[None], Uv.reshape(1, -1), np.ones(1), gW, gbv, gbh)
    return gW[:, 0, :], gbv[:, 0], gbh


def _sig(a):
    return 1 / (1 + np.exp(-a))


def _cd1(V0, W, bv, bh, Uh, Uv, *, sign=1.0, v_probs=False, h_stats="probs", h_mean_field=False, flip=False):
    P0 = _sig(bh + V0 @ W)                              # (B, F)
    H = (Uh > P0) if flip else (Uh < P0)
    H = P0 if h_mean_field else H.astype(float)
    PV = _sig(bv + H @ W.T)                             # (B, n)
    V1 = PV if v_probs else ((Uv > PV) if flip else (Uv < PV)).astype(float)
    P1 = _sig(bh + V1 @ W)
    pos = H if h_stats == "samples" else P0
    gW = sign * (V0.T @ pos - V1.T @ P1)
    gbv = sign * (V0 - V1).sum(0)
    gbh = sign * (pos - P1).sum(0)
    return gW, gbv, gbh


def _cd1_case(g, B, n, F):
    return ((g.random((B, n)) < 0.5).astype(float), g.normal(0, 1, (n, F)), g.normal(0, 0.5, n),
            g.normal(0, 0.5, F), g.random((B, F)), g.random((B, n)))


_cd1_cases = seeded_cases(_cd1_case, 90, [("2 users x 4 visible units, 3 hidden", 2, 4, 3),
                                          ("3 users x 5 visible units, 2 hidden", 3, 5, 2),
                                          ("1 user x 3 visible units, 4 hidden", 1, 3, 4)])


CD1 = Exercise("t09.cd1", """
The CD-1 statistics of a Bernoulli RBM for one batch, with given uniforms.

V0 (B, n) binary data; W (n, F); bv (n,); bh (F,); Uh (B, F) and Uv (B, n)
uniform draws in [0, 1) (a unit is ON when its uniform is BELOW its probability).
  P0 = sigmoid(bh + V0 W)            positive phase, (B, F)
  H  = (Uh < P0)                     sample the hidden units
  PV = sigmoid(bv + H W^T)           reconstruction probabilities, (B, n)
  V1 = (Uv < PV)                     sample the visible units
  P1 = sigmoid(bh + V1 W)            negative phase
Return the statistics summed over the batch (the direction that INCREASES the
log-likelihood):
  gW = V0^T P0 - V1^T P1,  gbv = sum_b (V0 - V1),  gbh = sum_b (P0 - P1).""",
    signature="cd1(V0, W, bv, bh, Uh, Uv)",
    reference=_ref_cd1, cases=_cd1_cases, outputs=("gW", "gbv", "gbh"),
    reference_name="mfcore.engines.rbm_numpy.cd_batch_numpy (k = 1)",
    mistakes=catalogue(_cd1, [
        ("sign", dict(sign=-1.0), """
every statistic has the wrong sign: data minus model (positive phase minus negative phase)
is the ascent direction of the log-likelihood."""),
        ("visible-probabilities", dict(v_probs=True), """
the negative phase used the reconstruction probabilities PV instead of the sampled V1:
CD-1 samples the visible units (V1 = Uv < PV) and runs the hidden units on that sample."""),
        ("hidden-samples-in-statistics", dict(h_stats="samples"), """
the positive statistics used the sampled hidden units H: use their probabilities P0 (less
noise, same expectation), as the negative phase uses P1."""),
        ("mean-field-reconstruction", dict(h_mean_field=True), """
the reconstruction started from P0 instead of the sampled H: sample the hidden units first
(H = Uh < P0)."""),
        ("sampling-flipped", dict(flip=True), """
the units were switched on when the uniform is ABOVE the probability: ON means U < p, so
that p(ON) = p."""),
    ]))
check_cd1 = CD1.checker()

# ---------------------------------------------------------------- 2. the free energy


def _ref_free_energy(V, W, bv, bh):
    items = np.arange(V.shape[1])
    return np.array([free_energy(items, v[:, None], W[:, None, :], bv[:, None], bh) for v in V])


def _free(V, W, bv, bh, *, how="stable", bias_sign=-1.0):
    A = bh + V @ W                                      # (B, F)
    soft = {"stable": lambda: np.logaddexp(0.0, A), "naive": lambda: np.log(1 + np.exp(A)),
            "no-one": lambda: A, "no-log": lambda: np.exp(A)}[how]()
    return bias_sign * (V @ bv) - soft.sum(axis=1)


def _free_cases():
    g = np.random.default_rng(95)
    V1, V2 = (g.random((3, 4)) < 0.5).astype(float), (g.random((2, 5)) < 0.5).astype(float)
    V2[0] = 1.0
    return [Case("3 vectors, 4 visible, 2 hidden",
                 (V1, g.normal(0, 1, (4, 2)), g.normal(0, 0.5, 4), g.normal(0, 0.5, 2))),
            Case("2 vectors, 5 visible, 3 hidden, large weights (activations near 1000)",
                 (V2, g.normal(200, 1, (5, 3)), g.normal(0, 0.5, 5), g.normal(0, 0.5, 3)))]


FREE_ENERGY = Exercise("t09.free_energy", """
The free energy of a Bernoulli RBM, one value per visible vector.

V (B, n) binary; W (n, F); bv (n,); bh (F,). For each row v of V:
  F(v) = -bv . v - sum_f log(1 + exp(bh_f + v . W[:, f]))
Return the B values. Mind large activations: log(1 + e^a) must stay finite
(np.logaddexp(0, a) computes it safely).""",
    signature="free_energy(V, W, bv, bh)",
    reference=_ref_free_energy, cases=_free_cases, outputs=("F",),
    reference_name="mfcore.engines.rbm_numpy.free_energy",
    mistakes=catalogue(_free, [
        ("overflow", dict(how="naive"), """
log(1 + exp(a)) overflowed to inf for a large activation: use np.logaddexp(0, a), equal to
a + log(1 + e^-a) for large a."""),
        ("bias-sign", dict(bias_sign=1.0), """
the visible bias term has the wrong sign: F(v) = -bv . v - ..."""),
        ("missing-one", dict(how="no-one"), """
log(1 + e^a) became log(e^a) = a: summing h_f over {0, 1} gives 1 + e^a (the 1 is h_f =
0)."""),
        ("missing-log", dict(how="no-log"), """
the hidden term lost its log: F(v) = ... - sum_f log(1 + e^a_f)."""),
    ]))
check_free_energy = FREE_ENERGY.checker()

EXERCISES = {e.name: e for e in (CD1, FREE_ENERGY)}
