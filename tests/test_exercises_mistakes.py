"""Deliberately wrong answers, written as a student would, fail with the expected diagnosis.

Three or more per checker, independent of the checkers' own catalogues (which
``test_exercises.py`` checks separately).
"""
import numpy as np
import pytest

from mfcore import exercises

WRONG = {}  # key -> list of (expected diagnosis code, function)


def wrong(key, code):
    def register(fn):
        WRONG.setdefault(key, []).append((code, fn))
        return fn
    return register


# ------------------------------------------------------------------ t00
@wrong("t00.matrix_and_mask", "mask-from-values")
def _(users, items, values, n_users, n_items):
    R = np.zeros((n_users, n_items))
    R[users, items] = values
    return R, R != 0


@wrong("t00.matrix_and_mask", "transposed")
def _(users, items, values, n_users, n_items):
    R, M = np.zeros((n_items, n_users)), np.zeros((n_items, n_users), bool)
    R[items, users], M[items, users] = values, True
    return R, M


@wrong("t00.matrix_and_mask", "mask-positive")
def _(users, items, values, n_users, n_items):
    R = np.zeros((n_users, n_items))
    for u, i, v in zip(users, items, values):
        R[u, i] = v
    return R, R > 0


@wrong("t00.warm_split", "no-pinning")
def _(users, items, test_size, seed):
    n = len(users)
    perm = np.random.default_rng(seed).permutation(n)
    is_test = np.zeros(n, bool)
    is_test[perm[:round(n * test_size)]] = True
    return is_test


@wrong("t00.warm_split", "users-only")
def _(users, items, test_size, seed):
    n = len(users)
    perm = np.random.default_rng(seed).permutation(n)
    seen, free = set(), []
    for row in perm:
        if users[row] in seen:
            free.append(row)
        seen.add(users[row])
    is_test = np.zeros(n, bool)
    is_test[free[:round(n * test_size)]] = True
    return is_test


@wrong("t00.warm_split", "floor")
def _(users, items, test_size, seed):
    n = len(users)
    perm = np.random.default_rng(seed).permutation(n)
    seen_u, seen_i, free = set(), set(), []
    for row in perm:
        if users[row] in seen_u and items[row] in seen_i:
            free.append(row)
        seen_u.add(users[row])
        seen_i.add(items[row])
    is_test = np.zeros(n, bool)
    is_test[free[:int(n * test_size)]] = True
    return is_test


# ------------------------------------------------------------------ t01
def _bias_sweeps(users, items, values, n_users, n_items, reg_u, reg_i, n_epochs, order="iu", damp=True):
    mu = values.mean()
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    for _ in range(n_epochs):
        for side in order:
            if side == "i":
                for i in range(n_items):
                    rows = items == i
                    den = (reg_i if damp else 0) + rows.sum()
                    bi[i] = np.sum(values[rows] - mu - bu[users[rows]]) / den
            else:
                for u in range(n_users):
                    rows = users == u
                    den = (reg_u if damp else 0) + rows.sum()
                    bu[u] = np.sum(values[rows] - mu - bi[items[rows]]) / den
    return bu, bi


wrong("t01.als_biases", "users-first")(lambda *a: _bias_sweeps(*a, order="ui"))
wrong("t01.als_biases", "no-damping")(lambda *a: _bias_sweeps(*a, damp=False))


@wrong("t01.als_biases", "no-mu")
def _(users, items, values, n_users, n_items, reg_user, reg_item, n_epochs):
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    for _ in range(n_epochs):
        bi = np.bincount(items, values - bu[users], n_items) / (reg_item + np.bincount(items))
        bu = np.bincount(users, values - bi[items], n_users) / (reg_user + np.bincount(users))
    return bu, bi


@wrong("t01.ndcg", "ties-reversed")
def _(scores, relevant, k):
    top = np.argsort(scores)[::-1][:k]
    dcg = sum(1 / np.log2(j + 2) for j, it in enumerate(top) if it in relevant)
    return dcg / sum(1 / np.log2(j + 2) for j in range(min(k, len(relevant))))


@wrong("t01.ndcg", "idcg-k")
def _(scores, relevant, k):
    top = np.argsort(-scores, kind="stable")[:k]
    dcg = sum(1 / np.log2(j + 2) for j, it in enumerate(top) if it in relevant)
    return dcg / sum(1 / np.log2(j + 2) for j in range(k))


@wrong("t01.ndcg", "idcg-from-hits")
def _(scores, relevant, k):
    top = np.argsort(-scores, kind="stable")[:k]
    hits = [it in relevant for it in top]
    dcg = sum(1 / np.log2(j + 2) for j, h in enumerate(hits) if h)
    idcg = sum(1 / np.log2(j + 2) for j in range(sum(hits)))
    return dcg / idcg if idcg > 0 else 0.0


# ------------------------------------------------------------------ t02
@wrong("t02.toy_sgd_sweep", "old-user-vector")
def _(R, U, I, lr, reg):
    for u, i in zip(*np.nonzero(R)):
        e = R[u, i] - U[u] @ I[i]
        U[u], I[i] = U[u] + lr * (2 * e * I[i] - reg * U[u]), I[i] + lr * (2 * e * U[u] - reg * I[i])
    return U, I


@wrong("t02.toy_sgd_sweep", "no-factor-2")
def _(R, U, I, lr, reg):
    for u, i in zip(*np.nonzero(R)):
        e = R[u, i] - U[u] @ I[i]
        U[u] += lr * (e * I[i] - reg * U[u])
        I[i] += lr * (e * U[u] - reg * I[i])
    return U, I


@wrong("t02.toy_sgd_sweep", "all-cells")
def _(R, U, I, lr, reg):
    for u in range(R.shape[0]):
        for i in range(R.shape[1]):
            e = R[u, i] - U[u] @ I[i]
            U[u] += lr * (2 * e * I[i] - reg * U[u])
            I[i] += lr * (2 * e * U[u] - reg * I[i])
    return U, I


@wrong("t02.toy_vectorized_sweep", "old-user-vectors")
def _(R, U, I, lr, reg):
    M = R > 0
    E = (R - U @ I.T) * M                      # every error from the start of the sweep
    return U + lr * (E @ I - reg * U), I + lr * (E.T @ U - reg * I)


@wrong("t02.toy_vectorized_sweep", "all-cells")
def _(R, U, I, lr, reg):
    U = U + lr * ((R - U @ I.T) @ I - reg * U)
    return U, I + lr * ((R - U @ I.T).T @ U - reg * I)


@wrong("t02.toy_vectorized_sweep", "factor-2")
def _(R, U, I, lr, reg):
    M = R > 0
    U = U + lr * (2 * ((R - U @ I.T) * M) @ I - reg * U)
    return U, I + lr * (2 * ((R - U @ I.T) * M).T @ U - reg * I)


# ------------------------------------------------------------------ t03
@wrong("t03.sgd_step", "reg-sign")
def _(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    e = r - (mu + b_u + b_i + p_u @ q_i)
    return (b_u + lr * (e + reg * b_u), b_i + lr * (e + reg * b_i),
            p_u + lr * (e * q_i + reg * p_u), q_i + lr * (e * p_u + reg * q_i))


@wrong("t03.sgd_step", "no-bias-in-error")
def _(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    e = r - mu - np.dot(p_u, q_i)
    p_new = p_u + lr * (e * q_i - reg * p_u)
    return b_u + lr * (e - reg * b_u), b_i + lr * (e - reg * b_i), p_new, q_i + lr * (e * p_u - reg * q_i)


@wrong("t03.sgd_step", "updated-pu")
def _(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    p_u, q_i = p_u.copy(), q_i.copy()
    e = r - (mu + b_u + b_i + p_u @ q_i)
    b_u += lr * (e - reg * b_u)
    b_i += lr * (e - reg * b_i)
    for f in range(len(p_u)):
        p_u[f] += lr * (e * q_i[f] - reg * p_u[f])
        q_i[f] += lr * (e * p_u[f] - reg * q_i[f])
    return b_u, b_i, p_u, q_i


def _vec(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg, batch_size, how):
    sse = 0.0
    for s in range(0, len(order), batch_size):
        b = order[s:s + batch_size]
        u, i = users[b], items[b]
        pu, qi = P[u].copy(), Q[i].copy()
        e = ratings[b] - mu - bu[u] - bi[i] - (pu * qi).sum(axis=1)
        sse += np.sum(e ** 2)
        scale = 1 / len(b) if how == "mean" else 1
        if how == "fancy":
            bu[u] += lr * (e - reg * bu[u])
            bi[i] += lr * (e - reg * bi[i])
            P[u] += lr * (e[:, None] * qi - reg * pu)
            Q[i] += lr * (e[:, None] * pu - reg * qi)
        else:
            np.add.at(bu, u, scale * lr * (e - reg * bu[u]))
            np.add.at(bi, i, scale * lr * (e - reg * bi[i]))
            np.add.at(P, u, scale * lr * (e[:, None] * qi - reg * pu))
            np.add.at(Q, i, scale * lr * (e[:, None] * pu - reg * qi))
    return sse


wrong("t03.vectorized_epoch", "fancy-index")(lambda *a: _vec(*a, "fancy"))
wrong("t03.vectorized_epoch", "batch-mean")(lambda *a: _vec(*a, "mean"))


@wrong("t03.vectorized_epoch", "not-in-place")
def _(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg, batch_size):
    sse = 0.0
    for s in range(0, len(order), batch_size):
        b = order[s:s + batch_size]
        u, i = users[b], items[b]
        e = ratings[b] - mu - bu[u] - bi[i] - np.einsum("bk,bk->b", P[u], Q[i])
        sse += e @ e
        dP, dQ = np.zeros_like(P), np.zeros_like(Q)
        np.add.at(dP, u, lr * (e[:, None] * Q[i] - reg * P[u]))
        np.add.at(dQ, i, lr * (e[:, None] * P[u] - reg * Q[i]))
        dbu, dbi = np.zeros_like(bu), np.zeros_like(bi)
        np.add.at(dbu, u, lr * (e - reg * bu[u]))
        np.add.at(dbi, i, lr * (e - reg * bi[i]))
        P, Q, bu, bi = P + dP, Q + dQ, bu + dbu, bi + dbi      # new arrays: the caller's stay put
    return sse


# ------------------------------------------------------------------ t04
@wrong("t04.batch_gradients", "fancy-index")
def _(P, Q, bu, bi, u, i, y):
    d = 2 * (np.einsum("bk,bk->b", P[u], Q[i]) + bu[u] + bi[i] - y) / len(y)
    GP, GQ, Gbu, Gbi = np.zeros_like(P), np.zeros_like(Q), np.zeros_like(bu), np.zeros_like(bi)
    GP[u] += d[:, None] * Q[i]
    GQ[i] += d[:, None] * P[u]
    Gbu[u] += d
    Gbi[i] += d
    return GP, GQ, Gbu, Gbi


def _grads_loop(P, Q, bu, bi, u, i, y, scale):
    GP, GQ, Gbu, Gbi = np.zeros_like(P), np.zeros_like(Q), np.zeros_like(bu), np.zeros_like(bi)
    for uu, ii, yy in zip(u, i, y):
        d = scale(P[uu] @ Q[ii] + bu[uu] + bi[ii] - yy, len(y))
        GP[uu] += d * Q[ii]
        GQ[ii] += d * P[uu]
        Gbu[uu] += d
        Gbi[ii] += d
    return GP, GQ, Gbu, Gbi


wrong("t04.batch_gradients", "sum-not-mean")(lambda *a: _grads_loop(*a, scale=lambda e, B: 2 * e))
wrong("t04.batch_gradients", "no-factor-2")(lambda *a: _grads_loop(*a, scale=lambda e, B: e / B))
wrong("t04.batch_gradients", "sign")(lambda *a: _grads_loop(*a, scale=lambda e, B: -2 * e / B))


@wrong("t04.momentum_step", "old-velocity")
def _(w, v, g, lr, momentum):
    w = w + v
    return w, momentum * v - lr * g


@wrong("t04.momentum_step", "sign-convention")
def _(w, v, g, lr, momentum):
    v = momentum * v + lr * g
    return w - v, v


@wrong("t04.momentum_step", "no-momentum")
def _(w, v, g, lr, momentum):
    v = -lr * g
    return w + v, v


# ------------------------------------------------------------------ t05
@wrong("t05.dense_backward", "dx-missing-transpose")
def _(x, W, b, delta):
    return np.dot(delta, W), np.dot(x.T, delta), np.sum(delta, axis=0)


@wrong("t05.dense_backward", "db-mean")
def _(x, W, b, delta):
    return delta @ W.T, x.T @ delta, np.mean(delta, axis=0)


@wrong("t05.dense_backward", "dW-transposed")
def _(x, W, b, delta):
    return delta @ W.T, (x.T @ delta).T, delta.sum(0)


@wrong("t05.embedding_backward", "fancy-index")
def _(ids, delta, n_rows):
    G = np.zeros((n_rows, delta.shape[1]))
    G[ids] = G[ids] + delta
    return G


@wrong("t05.embedding_backward", "mean-over-repeats")
def _(ids, delta, n_rows):
    G = np.zeros((n_rows, delta.shape[1]))
    for r in np.unique(ids):
        G[r] = delta[ids == r].mean(axis=0)
    return G


@wrong("t05.embedding_backward", "first-occurrence")
def _(ids, delta, n_rows):
    G = np.zeros((n_rows, delta.shape[1]))
    rows, first = np.unique(ids, return_index=True)
    G[rows] = delta[first]
    return G


@wrong("t05.dot_backward", "swapped")
def _(a, b, delta):
    return delta[:, None] * a, delta[:, None] * b


@wrong("t05.dot_backward", "broadcast-along-k")
def _(a, b, delta):
    return delta * b, delta * a


@wrong("t05.dot_backward", "no-delta")
def _(a, b, delta):
    return b, a


# ------------------------------------------------------------------ t06
wrong("t06.elu_backward", "value-not-derivative")(lambda z, d: d * np.where(z > 0, 1, np.exp(z) - 1))
wrong("t06.elu_backward", "relu-derivative")(lambda z, d: d * (z > 0))
wrong("t06.elu_backward", "no-delta")(lambda z, d: np.where(z > 0, 1.0, np.exp(z)))


def _residual_rows(P, Q, bu, bi, W1, c1, w2, c2, u, i, y):
    K = P.shape[1]
    z = np.concatenate([P[u], Q[i]], axis=1) @ W1 + c1
    elu = np.where(z > 0, z, np.exp(z) - 1)
    d = 2 * ((P[u] * Q[i]).sum(1) + bu[u] + bi[i] + elu @ w2 + c2 - y) / len(y)
    dh = (d[:, None] * w2 * np.where(z > 0, 1, np.exp(z))) @ W1.T
    return K, d, dh


@wrong("t06.user_factor_gradient", "dot-path-only")
def _(P, Q, bu, bi, W1, c1, w2, c2, u, i, y):
    K, d, dh = _residual_rows(P, Q, bu, bi, W1, c1, w2, c2, u, i, y)
    G = np.zeros_like(P)
    np.add.at(G, u, d[:, None] * Q[i])
    return G


@wrong("t06.user_factor_gradient", "item-half")
def _(P, Q, bu, bi, W1, c1, w2, c2, u, i, y):
    K, d, dh = _residual_rows(P, Q, bu, bi, W1, c1, w2, c2, u, i, y)
    G = np.zeros_like(P)
    np.add.at(G, u, d[:, None] * Q[i] + dh[:, K:])
    return G


@wrong("t06.user_factor_gradient", "fancy-index")
def _(P, Q, bu, bi, W1, c1, w2, c2, u, i, y):
    K, d, dh = _residual_rows(P, Q, bu, bi, W1, c1, w2, c2, u, i, y)
    G = np.zeros_like(P)
    G[u] += d[:, None] * Q[i] + dh[:, :K]
    return G


# ------------------------------------------------------------------ t07
@wrong("t07.adam_step", "no-bias-correction")
def _(w, m, v, g, t, lr, beta_1, beta_2, epsilon):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g ** 2
    return w - lr * m / (np.sqrt(v) + epsilon), m, v


@wrong("t07.adam_step", "paper-epsilon")
def _(w, m, v, g, t, lr, beta_1, beta_2, epsilon):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g ** 2
    m_hat, v_hat = m / (1 - beta_1 ** t), v / (1 - beta_2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + epsilon), m, v


@wrong("t07.adam_step", "stored-corrected-moments")
def _(w, m, v, g, t, lr, beta_1, beta_2, epsilon):
    m = (beta_1 * m + (1 - beta_1) * g) / (1 - beta_1 ** t)
    v = (beta_2 * v + (1 - beta_2) * g ** 2) / (1 - beta_2 ** t)
    return w - lr * m / (np.sqrt(v) + epsilon), m, v


@wrong("t07.batchnorm_forward", "unbiased-variance")
def _(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon):
    mean, var = (x.mean(0), x.var(0, ddof=1)) if training else (moving_mean, moving_var)
    if training:
        moving_mean = momentum * moving_mean + (1 - momentum) * mean
        moving_var = momentum * moving_var + (1 - momentum) * var
    return gamma * (x - mean) / np.sqrt(var + epsilon) + beta, moving_mean, moving_var


@wrong("t07.batchnorm_forward", "momentum-swapped")
def _(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon):
    mean, var = (x.mean(0), x.var(0)) if training else (moving_mean, moving_var)
    if training:
        moving_mean = (1 - momentum) * moving_mean + momentum * mean
        moving_var = (1 - momentum) * moving_var + momentum * var
    return gamma * (x - mean) / np.sqrt(var + epsilon) + beta, moving_mean, moving_var


@wrong("t07.batchnorm_forward", "batch-stats-in-inference")
def _(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon):
    mean, var = x.mean(0), x.var(0)
    if training:
        moving_mean = momentum * moving_mean + (1 - momentum) * mean
        moving_var = momentum * moving_var + (1 - momentum) * var
    return gamma * (x - mean) / np.sqrt(var + epsilon) + beta, moving_mean, moving_var


# ------------------------------------------------------------------ t08
@wrong("t08.masked_mse", "mask-from-values")
def _(y_pred, y_true, mask):
    m = y_true != 0
    n = max(m.sum(), 1)
    e = np.where(m, y_pred - y_true, 0.0)
    return (e ** 2).sum() / n, 2 * e / n


@wrong("t08.masked_mse", "mean-over-all-entries")
def _(y_pred, y_true, mask):
    e = np.where(mask, y_pred - y_true, 0.0)
    return np.mean(e ** 2), 2 * e / e.size


@wrong("t08.masked_mse", "gradient-not-masked")
def _(y_pred, y_true, mask):
    n = mask.sum()
    if n == 0:
        return 0.0, np.zeros_like(y_pred)
    e = y_pred - y_true
    return np.sum(e[mask] ** 2) / n, 2 * e / n


def _autorec(X, M, V, c, W, b, lam, penalty, masked=True):
    H = 1 / (1 + np.exp(-(X @ V + c)))
    E = H @ W.T + b - X
    if masked:
        E = E * M
    J = (E ** 2).sum() + penalty * lam * ((W ** 2).sum() + (V ** 2).sum())
    dZ = (2 * E @ W) * H * (1 - H)
    return J, X.T @ dZ + 2 * penalty * lam * V, dZ.sum(0), 2 * E.T @ H + 2 * penalty * lam * W, 2 * E.sum(0)


wrong("t08.autorec_objective", "keras-l2")(lambda *a: _autorec(*a, penalty=1.0))
wrong("t08.autorec_objective", "unmasked-error")(lambda *a: _autorec(*a, penalty=0.5, masked=False))


@wrong("t08.autorec_objective", "no-sigmoid-derivative")
def _(X, M, V, c, W, b, lam):
    H = 1 / (1 + np.exp(-(X @ V + c)))
    E = (H @ W.T + b - X) * M
    dZ = 2 * E @ W
    J = np.sum(E ** 2) + lam / 2 * (np.sum(W ** 2) + np.sum(V ** 2))
    return J, X.T @ dZ + lam * V, dZ.sum(0), 2 * E.T @ H + lam * W, 2 * E.sum(0)


# ------------------------------------------------------------------ t09
def _sig(a):
    return 1 / (1 + np.exp(-a))


@wrong("t09.cd1", "sign")
def _(V0, W, bv, bh, Uh, Uv):
    P0 = _sig(V0 @ W + bh)
    V1 = (Uv < _sig((Uh < P0) @ W.T + bv)).astype(float)
    P1 = _sig(V1 @ W + bh)
    return V1.T @ P1 - V0.T @ P0, (V1 - V0).sum(0), (P1 - P0).sum(0)


@wrong("t09.cd1", "visible-probabilities")
def _(V0, W, bv, bh, Uh, Uv):
    P0 = _sig(V0 @ W + bh)
    V1 = _sig((Uh < P0) @ W.T + bv)               # probabilities, not a sample
    P1 = _sig(V1 @ W + bh)
    return V0.T @ P0 - V1.T @ P1, (V0 - V1).sum(0), (P0 - P1).sum(0)


@wrong("t09.cd1", "mean-field-reconstruction")
def _(V0, W, bv, bh, Uh, Uv):
    P0 = _sig(V0 @ W + bh)
    V1 = (Uv < _sig(P0 @ W.T + bv)).astype(float)
    P1 = _sig(V1 @ W + bh)
    return V0.T @ P0 - V1.T @ P1, (V0 - V1).sum(0), (P0 - P1).sum(0)


@wrong("t09.free_energy", "overflow")
def _(V, W, bv, bh):
    return -(V @ bv) - np.sum(np.log(1 + np.exp(V @ W + bh)), axis=1)


@wrong("t09.free_energy", "bias-sign")
def _(V, W, bv, bh):
    return V @ bv - np.sum(np.logaddexp(0, V @ W + bh), axis=1)


@wrong("t09.free_energy", "missing-one")
def _(V, W, bv, bh):
    return -(V @ bv) - np.sum(V @ W + bh, axis=1)


# ------------------------------------------------------------------ t10
@wrong("t10.stratum_schedule", "no-shift")
def _(rows, cols, shift):
    g = len(rows)
    return np.array([[a * g + cols[rows[a]] for a in range(g)] for _ in range(g)])


@wrong("t10.stratum_schedule", "transposed-id")
def _(rows, cols, shift):
    g = len(rows)
    return np.array([[cols[(rows[a] + shift[t]) % g] * g + a for a in range(g)] for t in range(g)])


@wrong("t10.stratum_schedule", "rows-cols-swapped")
def _(rows, cols, shift):
    g = len(rows)
    S = np.zeros((g, g), dtype=int)
    for t in range(g):
        for a in range(g):
            S[t, a] = a * g + rows[(cols[a] + shift[t]) % g]
    return S


def _ranges(edges, index):
    return np.array([np.flatnonzero(edges[1:] > x)[0] for x in index])


@wrong("t10.block_starts", "not-cumulative")
def _(users, items, user_edges, item_edges):
    g = len(user_edges) - 1
    b = _ranges(user_edges, users) * g + _ranges(item_edges, items)
    return np.r_[0, np.bincount(b, minlength=g * g)]


@wrong("t10.block_starts", "no-leading-zero")
def _(users, items, user_edges, item_edges):
    g = len(user_edges) - 1
    b = _ranges(user_edges, users) * g + _ranges(item_edges, items)
    return np.cumsum(np.bincount(b, minlength=g * g))


@wrong("t10.block_starts", "transposed-id")
def _(users, items, user_edges, item_edges):
    g = len(user_edges) - 1
    b = _ranges(item_edges, items) * g + _ranges(user_edges, users)
    return np.r_[0, np.cumsum(np.bincount(b, minlength=g * g))]


# ------------------------------------------------------------------ t11
@wrong("t11.ridge", "penalised-intercept")
def _(X, y, alpha):
    return np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ y)


@wrong("t11.ridge", "no-penalty")
def _(X, y, alpha):
    return np.linalg.lstsq(X, y, rcond=None)[0]


@wrong("t11.ridge", "half-alpha")
def _(X, y, alpha):
    D = np.eye(X.shape[1])
    D[0, 0] = 0
    return np.linalg.solve(X.T @ X + alpha / 2 * D, X.T @ y)


@wrong("t11.fwls_design", "no-intercepts")
def _(preds, meta):
    f = np.column_stack([np.ones(len(preds)), meta])
    return np.column_stack([preds[:, m:m + 1] * f for m in range(preds.shape[1])])


@wrong("t11.fwls_design", "no-plain-predictions")
def _(preds, meta):
    f = np.column_stack([np.ones(len(preds)), meta])
    return np.column_stack([f] + [preds[:, m:m + 1] * meta for m in range(preds.shape[1])])


@wrong("t11.fwls_design", "order")
def _(preds, meta):
    f = np.column_stack([np.ones(len(preds)), meta])
    return np.column_stack([preds[:, m:m + 1] * f for m in range(preds.shape[1])] + [f])


# ------------------------------------------------------------------ t12
def _sims(Z, M, beta, shrink=True, co_rated=True, diag=False):
    S = np.zeros((Z.shape[1], Z.shape[1]))
    for i in range(Z.shape[1]):
        for j in range(Z.shape[1]):
            both = M[:, i] & M[:, j] if co_rated else np.ones(len(Z), bool)
            x, y = Z[both, i] * M[both, i], Z[both, j] * M[both, j]
            den = np.sqrt((x ** 2).sum() * (y ** 2).sum())
            n = (M[:, i] & M[:, j]).sum()
            s = (x * y).sum() / den if den > 0 and n > 1 else 0.0
            S[i, j] = s * ((n - 1) / (n - 1 + beta) if shrink else 1.0)
    if not diag:
        np.fill_diagonal(S, 0)
    return S


@wrong("t12.item_similarities", "no-shrinkage")
def _(Z, M, beta):
    return _sims(Z, M, beta, shrink=False)


@wrong("t12.item_similarities", "norms-over-all-users")
def _(Z, M, beta):
    return _sims(Z, M, beta, co_rated=False)


@wrong("t12.item_similarities", "self-similarity")
def _(Z, M, beta):
    return _sims(Z, M, beta, diag=True)


@wrong("t12.knn_predict", "all-neighbours")
def _(b_ui, s, z, k):
    pos = s > 0
    return b_ui + (s[pos] * z[pos]).sum() / s[pos].sum() if pos.any() else b_ui


@wrong("t12.knn_predict", "no-baseline")
def _(b_ui, s, z, k):
    top = [j for j in np.argsort(-s) if s[j] > 0][:k]
    return sum(s[j] * z[j] for j in top) / sum(s[j] for j in top) if top else 0.0


@wrong("t12.knn_predict", "negative-neighbours")
def _(b_ui, s, z, k):
    top = np.argsort(-np.abs(s), kind="stable")[:k]
    return b_ui + (s[top] * z[top]).sum() / np.abs(s[top]).sum()


# ------------------------------------------------------------------ t13
@wrong("t13.als_user_solve", "lambda-not-per-rating")
def _(r, Q, b_item, mu, reg):
    X = np.column_stack([np.ones(len(r)), Q])
    w = np.linalg.solve(X.T @ X + reg * np.eye(X.shape[1]), X.T @ (r - mu - b_item))
    return w[0], w[1:]


@wrong("t13.als_user_solve", "bias-not-penalised")
def _(r, Q, b_item, mu, reg):
    X = np.column_stack([np.ones(len(r)), Q])
    D = reg * len(r) * np.eye(X.shape[1])
    D[0, 0] = 0
    w = np.linalg.solve(X.T @ X + D, X.T @ (r - mu - b_item))
    return w[0], w[1:]


@wrong("t13.als_user_solve", "item-bias-kept")
def _(r, Q, b_item, mu, reg):
    X = np.column_stack([np.ones(len(r)), Q])
    w = np.linalg.solve(X.T @ X + reg * len(r) * np.eye(X.shape[1]), X.T @ (r - mu))
    return w[0], w[1:]


@wrong("t13.objective", "penalty-per-row")
def _(u, i, r, mu, bu, bi, P, Q, reg):
    e = r - mu - bu[u] - bi[i] - (P[u] * Q[i]).sum(1)
    return 0.5 * (e @ e) + 0.5 * reg * (bu @ bu + bi @ bi + (P ** 2).sum() + (Q ** 2).sum())


@wrong("t13.objective", "no-half")
def _(u, i, r, mu, bu, bi, P, Q, reg):
    e = r - mu - bu[u] - bi[i] - (P[u] * Q[i]).sum(1)
    return e @ e + reg * (bu[u] @ bu[u] + bi[i] @ bi[i] + (P[u] ** 2).sum() + (Q[i] ** 2).sum())


@wrong("t13.objective", "biases-unpenalised")
def _(u, i, r, mu, bu, bi, P, Q, reg):
    e = r - mu - bu[u] - bi[i] - (P[u] * Q[i]).sum(1)
    return 0.5 * (e @ e) + 0.5 * reg * ((P[u] ** 2).sum() + (Q[i] ** 2).sum())


# ------------------------------------------------------------------ t14
@wrong("t14.average_precision", "divided-by-all-relevant")
def _(ranked, relevant, k):
    hits = [item in relevant for item in ranked[:k]]
    return sum(np.cumsum(hits)[j] / (j + 1) for j in range(len(hits)) if hits[j]) / len(relevant)


@wrong("t14.average_precision", "divided-by-hits")
def _(ranked, relevant, k):
    hits = [item in relevant for item in ranked[:k]]
    precisions = [np.cumsum(hits)[j] / (j + 1) for j in range(len(hits)) if hits[j]]
    return float(np.mean(precisions)) if precisions else 0.0


@wrong("t14.average_precision", "zero-based-position")
def _(ranked, relevant, k):
    total, hits = 0.0, 0
    for j, item in enumerate(ranked[:k]):
        if item in relevant:
            hits += 1
            total += hits / max(j, 1)
    return total / min(k, len(relevant))


@wrong("t14.precision_recall", "recall-by-k")
def _(ranked, relevant, k):
    hits = sum(item in relevant for item in ranked[:k])
    return hits / k, hits / k


@wrong("t14.precision_recall", "precision-by-relevant")
def _(ranked, relevant, k):
    hits = sum(item in relevant for item in ranked[:k])
    return hits / len(relevant), hits / len(relevant)


@wrong("t14.precision_recall", "whole-list")
def _(ranked, relevant, k):
    hits = sum(item in relevant for item in ranked)
    return hits / k, hits / len(relevant)


# ------------------------------------------------------------------ the test
CASES = [(key, code, fn) for key, items in WRONG.items() for code, fn in items]


def test_three_wrong_answers_per_checker():
    counts = {key: len(WRONG.get(key, [])) for key in exercises.all_exercises()}
    assert min(counts.values()) >= 3, counts


@pytest.mark.parametrize("key, code, fn", CASES, ids=[f"{k}:{c}" for k, c, _ in CASES])
def test_a_wrong_answer_fails_with_its_diagnosis(key, code, fn):
    result = exercises.get(key).check(fn)
    assert not result, f"{key}: a wrong answer passed"
    assert result.code == code, str(result)
    assert f"diagnosis [{code}]" in str(result)
    assert " ".join(result.mistake.text.split()) in " ".join(str(result).split())
