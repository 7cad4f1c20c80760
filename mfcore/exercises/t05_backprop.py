"""Exercises of tutorial 05 (backprop by hand): the backward passes of Dense, Embedding and Dot.

Checked against the layers of :mod:`mfcore.nn`, whose backward passes the test
suite checks with finite differences.
"""
import numpy as np

from ..nn import Dense, Dot, Embedding
from ._core import Case, Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. Dense


def _ref_dense(x, W, b, delta):
    layer = Dense(*W.shape)
    layer.params["kernel"][...], layer.params["bias"][...] = W, b
    layer.forward(x)
    dx = layer.backward(delta)
    return dx, layer.grads["kernel"], layer.grads["bias"]


def _dense(x, W, b, delta, *, transpose_W=True, dW_transposed=False, db="sum"):
    dx = delta @ W.T if transpose_W else delta @ W
    dW = delta.T @ x if dW_transposed else x.T @ delta
    db = {"sum": lambda: delta.sum(axis=0), "mean": lambda: delta.mean(axis=0), "one-row": lambda: delta[0]}[db]()
    return dx, dW, db


def _dense_case(g, B, n_in, n_out):
    return g.normal(size=(B, n_in)), g.normal(size=(n_in, n_out)), g.normal(size=n_out), g.normal(size=(B, n_out))


_dense_cases = seeded_cases(_dense_case, 11, [("B = 4, n_in = n_out = 3 (square W)", 4, 3, 3),
                                              ("B = 5, n_in = 4, n_out = 2", 5, 4, 2),
                                              ("B = 1, n_in = 2, n_out = 3", 1, 2, 3)], one_generator=True)


DENSE_BACKWARD = Exercise("t05.dense_backward", """
The backward pass of a Dense layer y = x W + b.

x (B, n_in), W (n_in, n_out), b (n_out,), delta = dL/dy (B, n_out).
Return (dx, dW, db) = (dL/dx, dL/dW, dL/db) with the shapes of x, W and b.
(Derive each entry with the chain rule; the shapes leave one product each.)""",
    signature="dense_backward(x, W, b, delta)",
    reference=_ref_dense, cases=_dense_cases, outputs=("dx", "dW", "db"),
    reference_name="mfcore.nn.Dense.backward",
    mistakes=catalogue(_dense, [
        ("dx-missing-transpose", dict(transpose_W=False), """
dL/dx needs W transposed: dx = delta @ W.T (B x n_out times n_out x n_in). Without .T it
only runs when W is square, and is wrong there."""),
        ("dW-transposed", dict(dW_transposed=True), """
dW came out transposed: dL/dW_jk = sum_b x_bj delta_bk, i.e. x.T @ delta, shape (n_in,
n_out) like W."""),
        ("db-mean", dict(db="mean"), """
db is the batch MEAN of delta: the bias is added to every row, so its gradient is the SUM
over the batch."""),
        ("db-one-row", dict(db="one-row"), """
db took one row of delta: the bias is shared by all B rows, so sum them
(delta.sum(axis=0))."""),
    ]))
check_dense_backward = DENSE_BACKWARD.checker()

# ---------------------------------------------------------------- 2. Embedding


def _ref_embedding(ids, delta, n_rows):
    layer = Embedding(n_rows, delta.shape[1], dense_grad=True, use_jit=False)
    layer.forward(ids)
    layer.backward(delta)
    return layer.grads["embeddings"]


def _embedding(ids, delta, n_rows, *, how="add"):
    G = np.zeros((n_rows, delta.shape[1]))
    if how == "add":
        np.add.at(G, ids, delta)
    elif how == "fancy":
        G[ids] += delta
    elif how == "mean":
        np.add.at(G, ids, delta)
        G /= np.maximum(np.bincount(ids, minlength=n_rows), 1)[:, None]
    elif how == "positions":
        return delta.copy()
    elif how == "first":
        for b in range(len(ids) - 1, -1, -1):  # the first occurrence written last
            G[ids[b]] = delta[b]
    return G


def _embedding_cases():
    g = np.random.default_rng(12)
    return [
        Case("6 rows, K = 2, ids [3, 0, 5] (no repeat)", (np.array([3, 0, 5]), g.normal(size=(3, 2)), 6)),
        Case("6 rows, K = 3, ids [1, 4, 1, 0, 1] (id 1 three times)",
             (np.array([1, 4, 1, 0, 1]), g.normal(size=(5, 3)), 6)),
        Case("4 rows, K = 2, ids [2, 2, 2, 2]", (np.array([2, 2, 2, 2]), g.normal(size=(4, 2)), 4)),
    ]


EMBEDDING_BACKWARD = Exercise("t05.embedding_backward", """
The backward pass of an Embedding lookup y_b = W[ids[b]].

ids (B,) ints, delta = dL/dy (B, K), the table has n_rows rows. Return
G = dL/dW (n_rows, K): row r is the SUM of delta[b] over every position b with
ids[b] == r, and 0 for rows not in the batch.""",
    signature="embedding_backward(ids, delta, n_rows)",
    reference=_ref_embedding, cases=_embedding_cases, outputs=("G",),
    reference_name="mfcore.nn.Embedding.backward",
    mistakes=catalogue(_embedding, [
        ("fancy-index", dict(how="fancy"), """
`G[ids] += delta` writes each repeated id once (the last write wins), so an id that
appears three times gets one contribution. np.add.at(G, ids, delta) sums all of them."""),
        ("first-occurrence", dict(how="first"), """
a repeated id kept only its first occurrence: every position adds to its row (np.add.at)."""),
        ("mean-over-repeats", dict(how="mean"), """
a repeated id got the MEAN of its rows: the gradient is the sum (the row was used that
many times)."""),
        ("per-position", dict(how="positions"), """
the result has one row per batch position: the gradient is a table of the shape of W,
(n_rows, K)."""),
    ]))
check_embedding_backward = EMBEDDING_BACKWARD.checker()

# ---------------------------------------------------------------- 3. Dot


def _ref_dot(a, b, delta):
    layer = Dot()
    layer.forward([a, b])
    da, db = layer.backward(delta[:, None])
    return da, db


def _dot(a, b, delta, *, how="ok"):
    d = delta[:, None]
    if how == "swapped":
        return d * a, d * b
    if how == "no-delta":
        return b.copy(), a.copy()
    if how == "no-broadcast":
        return delta * b, delta * a  # broadcasts along K, not B
    if how == "summed":
        return np.tile((d * b).sum(0), (len(b), 1)), np.tile((d * a).sum(0), (len(a), 1))
    return d * b, d * a


def _dot_cases():
    g = np.random.default_rng(13)
    return [Case("B = 3, K = 3", (g.normal(size=(3, 3)), g.normal(size=(3, 3)), g.normal(size=3))),
            Case("B = 4, K = 2", (g.normal(size=(4, 2)), g.normal(size=(4, 2)), g.normal(size=4))),
            Case("B = 2, K = 5", (g.normal(size=(2, 5)), g.normal(size=(2, 5)), g.normal(size=2)))]


DOT_BACKWARD = Exercise("t05.dot_backward", """
The backward pass of the row-wise dot product y_b = a_b . b_b.

a, b (B, K); delta = dL/dy (B,). Return (da, db) = (dL/da, dL/db), each (B, K).
(Row b of a only meets row b of b; write the derivative of one entry first.)""",
    signature="dot_backward(a, b, delta)",
    reference=_ref_dot, cases=_dot_cases, outputs=("da", "db"),
    reference_name="mfcore.nn.Dot.backward",
    mistakes=catalogue(_dot, [
        ("swapped", dict(how="swapped"), """
da and db are swapped: dy_b/da_b = b_b (the OTHER input), so da = delta[:, None] * b."""),
        ("no-delta", dict(how="no-delta"), """
delta is missing: the chain rule multiplies the local derivative b_b by dL/dy_b."""),
        ("broadcast-along-k", dict(how="no-broadcast"), """
delta (B,) times b (B, K) broadcasts along the LAST axis (it only runs when B == K, and is
wrong there): use delta[:, None] * b."""),
        ("summed-over-batch", dict(how="summed"), """
the gradient was summed over the batch: each row b gets its own delta_b * b_b."""),
    ]))
check_dot_backward = DOT_BACKWARD.checker()

EXERCISES = {e.name: e for e in (DENSE_BACKWARD, EMBEDDING_BACKWARD, DOT_BACKWARD)}
