"""The ``blocks`` engine's compiled loops: bucketing, and one epoch over a grid of blocks.

What the engine does and why is in :mod:`mfcore.engines.mf_blocks`; this file
holds only what Numba compiles. Steps (5)-(7) are (U1)-(U4) of
:class:`mfcore.models.mf.BiasedMF` ((U3)-(U4) of FunkMF), the same operations
in the same order as :func:`mfcore.engines.mf_loop.biased_epoch` on rows padded
to cache lines (:func:`mfcore.engines.mf_jit_fast.pad_rows`: the padding
columns subtract exact zeros and stay +0.0). ``blocks_epoch_exact`` (no
fast-math, one thread) is bit-identical to the loop over the same visiting
order (tested); ``blocks_epoch`` adds jit-fast's two fast-math flags and runs
the blocks of one step on several threads (``parallel=True``). The blocks of a
step share no user and no item, so no two threads touch the same row, and the
result does not depend on the number of threads.
"""
from .. import _jit
from . import mf_jit_fast
from .mf_jit_fast import FASTMATH, prefetch

prange = _jit.numba.prange if _jit.HAVE_NUMBA else range


def _fill_blocks(users, items, ratings, user_range, item_range, g, records, starts):
    """Counting sort: ``records`` (n,) gets the ratings block by block, ``starts`` (g*g+1,) zeros
    in, block bounds out (block b = user range b // g x item range b % g)."""
    for n in range(users.shape[0]):  # (1) ratings per block, shifted by one
        starts[user_range[users[n]] * g + item_range[items[n]] + 1] += 1
    for b in range(g * g):  # (2) block b is records[starts[b]:starts[b + 1]]
        starts[b + 1] += starts[b]
    free = starts[:-1].copy()  # (g*g,) the next free record of each block
    for n in range(users.shape[0]):  # (3) each rating to its block, in input order
        b = user_range[users[n]] * g + item_range[items[n]]
        rec = records[free[b]]
        rec["u"], rec["i"], rec["r"] = users[n], items[n], ratings[n]
        free[b] += 1


def _blocks_epoch(records, starts, segments, seg_start, schedule, user_edges, item_edges, mu, bu, bi,
                  P, Q, lr, reg, biased, arithmetic, n_workers, block_sse):
    """One epoch; returns the SSE (float64). Shapes: see :class:`mfcore.engines.mf_blocks.Grid`.

    ``schedule`` (steps, width): block ids, one step after another; ``segments`` (S, 2): runs
    [lo, hi) of records, block b's runs are rows seg_start[b]:seg_start[b + 1]. ``arithmetic=False``
    is the memory floor (benchmarks): the same loads and stores, no maths, meaningless numbers.
    """
    g = user_edges.shape[0] - 1
    n_steps, width = schedule.shape
    W = P.shape[1]
    line = 64 // P.itemsize  # elements in one cache line
    Pf = P.reshape(P.size)  # (n_users * W,) flat views: a row range is one run of lines
    Qf = Q.reshape(Q.size)  # (n_items * W,)
    for s in range(n_steps):  # (1) the steps (strata) one after another
        for w in prange(n_workers):  # (2) worker w runs its slice of the step's blocks
            first, last = w * width // n_workers, (w + 1) * width // n_workers
            for j in range(first, last):
                blk = schedule[s, j]
                # (3) during this block, ask for the rows of this worker's next block, line by line
                nxt = schedule[s, j + 1] if j + 1 < last else schedule[(s + 1) % n_steps, first]
                p_ask, p_end = user_edges[nxt // g] * W, user_edges[nxt // g + 1] * W
                q_ask, q_end = item_edges[nxt % g] * W, item_edges[nxt % g + 1] * W
                per = (p_end - p_ask + q_end - q_ask) // line // max(starts[blk + 1] - starts[blk], 1) + 1
                sse = 0.0
                for sg in range(seg_start[blk], seg_start[blk + 1]):  # (4) the block's runs, in order
                    for n in range(segments[sg, 0], segments[sg, 1]):
                        for _ in range(per):
                            if p_ask < p_end:
                                prefetch(Pf, p_ask)
                                p_ask += line
                            elif q_ask < q_end:
                                prefetch(Qf, q_ask)
                                q_ask += line
                        rec = records[n]
                        u = rec["u"]
                        i = rec["i"]
                        pu = P[u]  # (W,) view: p_u and its zero padding
                        qi = Q[i]  # (W,) view: q_i and its zero padding
                        if not arithmetic:  # memory floor: load and store the same words
                            sse += rec["r"]
                            for f in range(W):
                                pu[f], qi[f] = qi[f], pu[f]
                            if biased:
                                bu[u], bi[i] = bi[i], bu[u]
                            continue
                        # (5) error e = r_ui - r_hat_ui, as in mf_loop (summed in lanes under fast-math)
                        e = rec["r"]
                        if biased:
                            e = e - mu - bu[u] - bi[i]
                        for f in range(W):
                            e -= pu[f] * qi[f]
                        sse += float(e * e)
                        # (6) biases: (U1) and (U2)
                        if biased:
                            bu[u] += lr * (e - reg * bu[u])
                            bi[i] += lr * (e - reg * bi[i])
                        # (7) factors: (U3) and (U4), both from the values before the step
                        for f in range(W):
                            puf = pu[f]
                            qif = qi[f]
                            pu[f] = puf + lr * (e * qif - reg * puf)
                            qi[f] = qif + lr * (e * puf - reg * qif)
                block_sse[blk] = sse
    sse = 0.0
    for blk in range(block_sse.shape[0]):  # (8) block sums in block order: the same for any threads
        sse += block_sse[blk]
    return sse


fill_blocks = _jit.jit(_fill_blocks)
blocks_epoch = _jit.parallel_jit(_blocks_epoch, fastmath=FASTMATH, cache=True,
                                 depends_on=(mf_jit_fast,))  # compiles its prefetch in
# The exact twin: one thread, no fast-math, not cached (Numba's cache ignores compiler flags).
blocks_epoch_exact = _jit.jit(_blocks_epoch, cache=False)
