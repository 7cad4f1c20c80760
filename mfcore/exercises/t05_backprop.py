"""Exercises of tutorial 05 (backprop by hand): the backward passes of Dense, Embedding and Dot.

Checked against the layers of :mod:`mfcore.nn`, whose backward passes the test
suite checks with finite differences.
"""
import numpy as np

from ..nn import Dense, Dot, Embedding
from ._core import Case, Exercise, Mistake

# ---------------------------------------------------------------- 1. Dense


def _ref_dense(x, W, b, delta):
    layer = Dense(*W.shape)
    layer.params["kernel"][...], layer.params["bias"][...] = W, b
    layer.forward(x)
    dx = layer.backward(delta)
    return dx, layer.grads["kernel"], layer.grads["bias"]


def _dense(x, W, b, delta, *, dx=None, dW=None, db=None):
    dx, dW, db = dx or (lambda: delta @ W.T), dW or (lambda: x.T @ delta), db or (lambda: delta.sum(axis=0))
    return dx(), dW(), db()


def _dense_cases():
    g = np.random.default_rng(11)
    cases = []
    for label, B, n_in, n_out in [("B = 4, n_in = n_out = 3 (square W)", 4, 3, 3),
                                  ("B = 5, n_in = 4, n_out = 2", 5, 4, 2),
                                  ("B = 1, n_in = 2, n_out = 3", 1, 2, 3)]:
        cases.append(Case(label, (g.normal(size=(B, n_in)), g.normal(size=(n_in, n_out)),
                                  g.normal(size=n_out),
                                  g.normal(size=(B, n_out)))))
    return cases


DENSE_BACKWARD = Exercise(
    key="t05.dense_backward",
    title="The backward pass of a Dense layer y = x W + b.",
    signature="dense_backward(x, W, b, delta)",
    task="""
x (B, n_in), W (n_in, n_out), b (n_out,), delta = dL/dy (B, n_out).
Return (dx, dW, db) = (dL/dx, dL/dW, dL/db) with the shapes of x, W and b.
(Derive each entry with the chain rule; the shapes leave one product each.)""",
    reference=_ref_dense, cases=_dense_cases, outputs=("dx", "dW", "db"),
    reference_name="mfcore.nn.Dense.backward",
    mistakes=[
        Mistake("dx-missing-transpose", "dL/dx needs W transposed: dx = delta @ W.T (B x n_out times "
                "n_out x n_in). Without .T it only runs when W is square, and is wrong there.",
                lambda x, W, b, d: _dense(x, W, b, d, dx=lambda: d @ W)),
        Mistake("dW-transposed", "dW came out transposed: dL/dW_jk = sum_b x_bj delta_bk, i.e. "
                "x.T @ delta, shape (n_in, n_out) like W.",
                lambda x, W, b, d: _dense(x, W, b, d, dW=lambda: d.T @ x)),
        Mistake("db-mean", "db is the batch MEAN of delta: the bias is added to every row, so its "
                "gradient is the SUM over the batch.",
                lambda x, W, b, d: _dense(x, W, b, d, db=lambda: d.mean(axis=0))),
        Mistake("db-one-row", "db took one row of delta: the bias is shared by all B rows, so sum "
                "them (delta.sum(axis=0)).", lambda x, W, b, d: _dense(x, W, b, d, db=lambda: d[0])),
    ])
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


EMBEDDING_BACKWARD = Exercise(
    key="t05.embedding_backward",
    title="The backward pass of an Embedding lookup y_b = W[ids[b]].",
    signature="embedding_backward(ids, delta, n_rows)",
    task="""
ids (B,) ints, delta = dL/dy (B, K), the table has n_rows rows. Return
G = dL/dW (n_rows, K): row r is the SUM of delta[b] over every position b with
ids[b] == r, and 0 for rows not in the batch.""",
    reference=_ref_embedding, cases=_embedding_cases, outputs=("G",),
    reference_name="mfcore.nn.Embedding.backward",
    mistakes=[
        Mistake("fancy-index", "`G[ids] += delta` writes each repeated id once (the last write "
                "wins), so an id that appears three times gets one contribution. np.add.at(G, ids, "
                "delta) sums all of them.", lambda *a: _embedding(*a, how="fancy")),
        Mistake("first-occurrence", "a repeated id kept only its first occurrence: every position "
                "adds to its row (np.add.at).", lambda *a: _embedding(*a, how="first")),
        Mistake("mean-over-repeats", "a repeated id got the MEAN of its rows: the gradient is the "
                "sum (the row was used that many times).", lambda *a: _embedding(*a, how="mean")),
        Mistake("per-position", "the result has one row per batch position: the gradient is a table "
                "of the shape of W, (n_rows, K).", lambda *a: _embedding(*a, how="positions")),
    ])
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


DOT_BACKWARD = Exercise(
    key="t05.dot_backward",
    title="The backward pass of the row-wise dot product y_b = a_b . b_b.",
    signature="dot_backward(a, b, delta)",
    task="""
a, b (B, K); delta = dL/dy (B,). Return (da, db) = (dL/da, dL/db), each (B, K).
(Row b of a only meets row b of b; write the derivative of one entry first.)""",
    reference=_ref_dot, cases=_dot_cases, outputs=("da", "db"),
    reference_name="mfcore.nn.Dot.backward",
    mistakes=[
        Mistake("swapped", "da and db are swapped: dy_b/da_b = b_b (the OTHER input), so "
                "da = delta[:, None] * b.", lambda *a: _dot(*a, how="swapped")),
        Mistake("no-delta", "delta is missing: the chain rule multiplies the local derivative b_b by "
                "dL/dy_b.", lambda *a: _dot(*a, how="no-delta")),
        Mistake("broadcast-along-k", "delta (B,) times b (B, K) broadcasts along the LAST axis (it "
                "only runs when B == K, and is wrong there): use delta[:, None] * b.",
                lambda *a: _dot(*a, how="no-broadcast")),
        Mistake("summed-over-batch", "the gradient was summed over the batch: each row b gets its own "
                "delta_b * b_b.", lambda *a: _dot(*a, how="summed")),
    ])
check_dot_backward = DOT_BACKWARD.checker()

EXERCISES = {e.name: e for e in (DENSE_BACKWARD, EMBEDDING_BACKWARD, DOT_BACKWARD)}
