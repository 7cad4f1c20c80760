"""Exercises of tutorial 03 (one algorithm, three engines): the SGD step and the vectorized epoch.

Checked against :mod:`mfcore.engines.mf_loop` and :mod:`mfcore.engines.mf_vectorized`.
"""
import numpy as np

from ..engines import mf_loop, mf_vectorized
from ._core import Case, Exercise, catalogue

# ---------------------------------------------------------------- 1. one SGD step


def _ref_sgd_step(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    bu, bi = np.array([b_u], float), np.array([b_i], float)            # (1,)
    P, Q = np.array(p_u, float)[None].copy(), np.array(q_i, float)[None].copy()  # (1, K)
    zero = np.zeros(1, np.int32)
    mf_loop.biased_epoch(zero, zero, np.array([r], float), np.zeros(1, np.int64), float(mu),
                         bu, bi, P, Q, float(lr), float(reg))
    return bu[0], bi[0], P[0], Q[0]


def _step(r, mu, b_u, b_i, p_u, q_i, lr, reg, *, err=None, sign=-1, new_p=False, biases=True,
          bias_reg=True, ascent=False):
    """The step with switches, each switch one mistake of the catalogue."""
    e = r - mu - b_u - b_i - p_u @ q_i if err is None else err(r, mu, b_u, b_i, p_u, q_i)
    d = -1 if ascent else 1
    s = -sign  # the regularisation enters as "- reg * x" when sign = -1
    rb = reg if bias_reg else 0.0
    nb_u = b_u + d * lr * (e - s * rb * b_u) if biases else b_u
    nb_i = b_i + d * lr * (e - s * rb * b_i) if biases else b_i
    np_u = p_u + d * lr * (e * q_i - s * reg * p_u)
    nq_i = q_i + d * lr * (e * (np_u if new_p else p_u) - s * reg * q_i)
    return nb_u, nb_i, np_u, nq_i


def _sgd_cases():
    rng = np.random.default_rng(3)
    cases = []
    for n, (K, lr, reg) in enumerate([(2, 0.1, 0.05), (3, 0.05, 0.2), (5, 0.3, 0.5), (4, 0.01, 0.02)]):
        r = float(rng.integers(1, 6))
        cases.append(Case(f"one rating r = {r:g}, K = {K}, lr = {lr}, reg = {reg}",
                          (r, 3.5, rng.normal(0, 0.3), rng.normal(0, 0.3), rng.normal(0, 0.5, K),
                           rng.normal(0, 0.5, K), lr, reg)))
    return cases


SGD_STEP = Exercise("t03.sgd_step", """
One per-rating SGD step of biased MF: (U1)-(U4).

Model r_hat = mu + b_u + b_i + p_u . q_i, error e = r - r_hat (computed once, before
any update). Return the new (b_u, b_i, p_u, q_i) after one SGD step on
1/2 e^2 + 1/2 reg (b_u^2 + b_i^2 + |p_u|^2 + |q_i|^2):

  (U1) b_u <- b_u + lr (e - reg b_u)
  (U2) b_i <- b_i + lr (e - reg b_i)
  (U3) p_u <- p_u + lr (e q_i - reg p_u)
  (U4) q_i <- q_i + lr (e p_u - reg q_i)     (p_u from BEFORE the step)

b_u, b_i, mu, r, lr, reg are floats; p_u, q_i are arrays of K floats (do not
modify them in place; return new values).""",
    signature="sgd_step(r, mu, b_u, b_i, p_u, q_i, lr, reg)",
    reference=_ref_sgd_step, cases=_sgd_cases, outputs=("b_u", "b_i", "p_u", "q_i"),
    reference_name="mfcore.engines.mf_loop.biased_epoch on one rating",
    mistakes=catalogue(_step, [
        ("updated-pu", dict(new_p=True), """
q_i's update used the p_u you had just updated. (U4) takes p_u from before the step: keep
the old value (p_old = p_u.copy()) or compute both new vectors before assigning either."""),
        ("reg-sign", dict(sign=+1), """
the regularisation has the wrong sign: the penalty's gradient is +reg * x, so a descent
step SUBTRACTS it: x + lr (e ... - reg x)."""),
        ("no-bias-in-error", dict(err=lambda r, mu, bu, bi, p, q: r - mu - p @ q), """
the error forgot the bias terms: e = r - (mu + b_u + b_i + p_u . q_i), all four terms of
the prediction."""),
        ("no-mu-in-error", dict(err=lambda r, mu, bu, bi, p, q: r - bu - bi - p @ q), """
the error forgot the global mean mu: e = r - (mu + b_u + b_i + p_u . q_i)."""),
        ("biases-not-updated", dict(biases=False), """
b_u and b_i came back unchanged: apply (U1) and (U2) too."""),
        ("biases-not-regularised", dict(bias_reg=False), """
the biases were updated with lr * e only: (U1) and (U2) also subtract reg * b."""),
        ("gradient-ascent", dict(ascent=True), """
every update went the wrong way: descent ADDS lr * (e ...) because e = r - r_hat already
carries the minus sign of the gradient."""),
    ]))
check_sgd_step = SGD_STEP.checker()

# ---------------------------------------------------------------- 2. the vectorized epoch


def _epoch(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg, batch_size, *, scatter="add",
           mean=False, sequential=False):
    """A minibatch epoch with switches, each switch one mistake of the catalogue."""
    sse = 0.0
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        if sequential:  # rating by rating inside the batch: the loop engine
            sse += mf_loop.biased_epoch(users, items, ratings, np.asarray(idx), mu, bu, bi, P, Q, lr, reg)
            continue
        u, i = users[idx], items[idx]
        e = ratings[idx] - mu - bu[u] - bi[i] - np.sum(P[u] * Q[i], axis=1)
        sse += float(e @ e)
        s = 1.0 / len(idx) if mean else 1.0
        gbu, gbi = s * lr * (e - reg * bu[u]), s * lr * (e - reg * bi[i])
        gP = s * lr * (e[:, None] * Q[i] - reg * P[u])
        gQ = s * lr * (e[:, None] * P[u] - reg * Q[i])
        if scatter == "add":
            np.add.at(bu, u, gbu), np.add.at(bi, i, gbi), np.add.at(P, u, gP), np.add.at(Q, i, gQ)
        elif scatter == "fancy":
            bu[u] += gbu
            bi[i] += gbi
            P[u] += gP
            Q[i] += gQ
        elif scatter == "fancy-factors":
            np.add.at(bu, u, gbu), np.add.at(bi, i, gbi)
            P[u] += gP
            Q[i] += gQ
        else:  # "rebind": new arrays, the caller's are never changed
            bu, bi, P, Q = bu.copy(), bi.copy(), P.copy(), Q.copy()
            np.add.at(bu, u, gbu), np.add.at(bi, i, gbi), np.add.at(P, u, gP), np.add.at(Q, i, gQ)
    return sse


def _epoch_cases():
    rng = np.random.default_rng(5)
    users = np.array([0, 1, 0, 2, 0, 3, 1, 2, 0, 3, 1, 0], np.int32)
    items = np.array([0, 1, 2, 0, 3, 4, 0, 2, 1, 0, 4, 4], np.int32)
    ratings = rng.integers(1, 6, users.size).astype(float)
    cases = []
    for label, B, seed in [("batch_size = 1", 1, 0), ("batch_size = 4: user 0 twice in a batch", 4, 1),
                           ("batch_size = 5, last batch shorter", 5, 2), ("one batch of 12 ratings", 12, 3)]:
        g = np.random.default_rng(seed)
        order = g.permutation(users.size)
        params = (g.normal(0, 0.2, 4), g.normal(0, 0.2, 5),
                  g.normal(0, 0.3, (4, 3)), g.normal(0, 0.3, (5, 3)))
        cases.append(Case(label, (users, items, ratings, order, 3.2, *params, 0.05, 0.1, B)))
    return cases


VECTORIZED_EPOCH = Exercise("t03.vectorized_epoch", """
One minibatch epoch of biased MF in NumPy (gather, compute, scatter-add).

For each batch idx = order[s:s + batch_size]: gather the batch's rows, compute
every rating's updates (U1)-(U4) at the BATCH-START values (the error e of every
rating first), and ADD them all into bu, bi, P, Q (a user that appears three
times in the batch gets three updates). Update bu (n_users,), bi (n_items,),
P (n_users, K), Q (n_items, K) IN PLACE and return the sum over the epoch of
e^2, each e taken before its batch's update. (The contract of
mfcore.engines.mf_vectorized.biased_epoch.)""",
    signature="vectorized_epoch(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg, batch_size)",
    reference=mf_vectorized.biased_epoch, cases=_epoch_cases,
    outputs=("bu", "bi", "P", "Q", "sse"), collect=lambda a, ret: (a[5], a[6], a[7], a[8], ret),
    reference_name="mfcore.engines.mf_vectorized.biased_epoch",
    mistakes=catalogue(_epoch, [
        ("fancy-index", dict(scatter="fancy"), """
`P[u] += g` keeps ONE update per repeated row: NumPy gathers, adds and assigns, and the
last assignment wins. Use np.add.at(P, u, g), which adds every occurrence (the same for
bu, bi and Q)."""),
        ("fancy-index-factors", dict(scatter="fancy-factors"), """
the biases are scattered with np.add.at but P and Q with `P[u] += g`, which drops repeated
rows: use np.add.at for the factors too."""),
        ("sequential", dict(sequential=True), """
the updates inside a batch were applied one rating at a time (that is the loop engine):
compute all of a batch's updates from the batch-start values, then add them."""),
        ("batch-mean", dict(mean=True), """
the updates were divided by the batch size: mfcore SUMS them, so that lr means the same at
every batch size (a mean is Keras' convention, tutorial 04)."""),
        ("not-in-place", dict(scatter="rebind"), """
bu, bi, P and Q came back unchanged: `P = P + g` makes a new array and leaves the caller's
untouched. Write into the arrays you were given (np.add.at(P, u, g) or P[...] = ...)."""),
    ]))
check_vectorized_epoch = VECTORIZED_EPOCH.checker()

EXERCISES = {e.name: e for e in (SGD_STEP, VECTORIZED_EPOCH)}
