"""The ``blocks`` engine's compiled loops: bucketing, and one epoch over a grid of blocks.

What the engine does and why is in :mod:`mfcore.engines.mf_blocks`; this file
holds only what Numba compiles. Steps (5)-(7) are (U1)-(U4) of
:class:`mfcore.models.mf.BiasedMF` ((U3)-(U4) of FunkMF), the same operations
in the same order as :func:`mfcore.engines.mf_loop.biased_epoch` on rows padded
to cache lines (:func:`mfcore.engines.mf_jit_fast.pad_rows`: the padding
columns subtract exact zeros and stay +0.0). ``kernel(exact=True)`` (no
fast-math, one thread) is bit-identical to the loop over the same visiting
order (tested); ``kernel()`` adds jit-fast's two fast-math flags, and
``kernel(threads=True)`` also runs the blocks of one step on several threads
(``parallel=True``). The blocks of a step share no user and no item, so no two
threads touch the same row, and the result does not depend on the number of
threads (tested: the one-thread kernel, compiled without ``parallel``, gives the
same bits as two and four threads).

Why one thread gets its own compile: a ``parallel=True`` function hands even a
one-thread loop to the OpenMP/TBB thread pool, and when another process keeps a
core busy, that hand-over halved the one-thread epoch, while the serial compile
of the same source did not slow down (``benchmarks/results/engine_design.md``).
"""
import numpy as np

from .. import _jit
from . import mf_jit_fast
from .mf_jit_fast import FASTMATH, prefetch, prefetch_at

prange = _jit.prange


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


def _group_blocks(records, starts, user_edges, g, scratch):
    """Each block's records grouped by user, users in index order, in place: a stable counting
    sort (a user's records keep their order). ``scratch``: records of the largest block's size."""
    for b in range(g * g):
        lo, hi = starts[b], starts[b + 1]
        base = user_edges[b // g]  # (1) the block's user range: users base .. base + n_range - 1
        n_range = user_edges[b // g + 1] - base
        first = np.zeros(n_range + 1, np.int64)  # (n_range+1,) where each user's run starts
        for n in range(lo, hi):  # (2) ratings per user, shifted by one
            first[records[n]["u"] - base + 1] += 1
        for k in range(n_range):
            first[k + 1] += first[k]
        for n in range(lo, hi):  # (3) each record to its user's run, in block order (stable)
            k = records[n]["u"] - base
            out = scratch[first[k]]
            out["u"], out["i"], out["r"] = records[n]["u"], records[n]["i"], records[n]["r"]
            first[k] += 1
        for n in range(lo, hi):  # (4) back into the block
            records[n] = scratch[n - lo]


def _make_epoch(biased, arithmetic, workers=range, lookahead=0, lines=1):
    """The epoch function with its switches fixed, so Numba compiles each variant on its own
    (a branch on a run-time flag in the inner loop ran slower when tried).

    biased : bool, (U1)-(U2) and the biases in the error (``biased-mf``) or not (``mf``).
    arithmetic : bool, False for the memory floor (benchmarks): the same loads and stores, no
        maths, meaningless numbers.
    lookahead : int, 0 or how many records ahead the kernel asks the CPU for the rows of the
        rating it will reach then (software prefetch; changes no number). Pays when the
        rows do not fit in cache (first touches of a block's rows miss); costs when they do.
    lines : int, the cache lines of each row that prefetch asks for: 1 (the first), or all of a
        wide row's lines (K=100 float32: 7). With 1 the loop over the others is not compiled.
    workers : ``range`` (one thread) or ``prange`` (the workers of a step on Numba's threads).
        It is also part of Numba's cache key (which ignores the compiler flags), so the
        serial and the parallel compile of this source never load each other's machine code.
    """
    def _blocks_epoch(records, segments, seg_start, schedule, mu, bu, bi, P, Q, lr, reg, n_workers,
                      block_sse):
        """One epoch; returns the SSE (float64). Shapes: see :class:`mfcore.engines.mf_blocks.Grid`.

        ``schedule`` (steps, width): block ids, one step after another; ``segments`` (S, 2): runs
        [lo, hi) of records, block b's runs are rows seg_start[b]:seg_start[b + 1].
        """
        n_steps, width = schedule.shape
        W = P.shape[1]
        for s in range(n_steps):  # (1) the steps (strata) one after another
            for w in workers(n_workers):  # (2) worker w runs its slice of the step's blocks
                first, last = w * width // n_workers, (w + 1) * width // n_workers
                for j in range(first, last):
                    blk = schedule[s, j]  # (3) block blk: its rows fit in cache (the grid's rule)
                    sse = 0.0
                    for sg in range(seg_start[blk], seg_start[blk + 1]):  # (4) the block's runs, in order
                        hi = segments[sg, 1]
                        for n in range(segments[sg, 0], hi):
                            if lookahead and n + lookahead < hi:  # rows wanted `lookahead` ratings on
                                ahead = records[n + lookahead]
                                prefetch(P, ahead["u"])
                                prefetch(Q, ahead["i"])
                                for c in range(1, lines):  # the other lines of wide rows
                                    prefetch_at(P, ahead["u"], c * (W // lines))
                                    prefetch_at(Q, ahead["i"], c * (W // lines))
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

    return _blocks_epoch


fill_blocks = _jit.jit(_fill_blocks)
group_blocks = _jit.jit(_group_blocks)
_KERNELS = {}


def kernel(biased=True, arithmetic=True, exact=False, threads=False, lookahead=0, lines=1):
    """The compiled epoch for these switches (compiled on first use, then cached on disk).

    The fast kernel has jit-fast's two fast-math flags; with ``threads=True`` it runs the
    blocks of a step on several threads (``parallel=True``). ``exact=True`` gives its twin
    compiled without either (one thread, not cached: Numba's cache ignores compiler flags).
    ``lookahead``, ``lines``: see :func:`_make_epoch` (each value is its own compiled kernel).
    """
    threads = bool(threads) and not exact
    key = (bool(biased), bool(arithmetic), bool(exact), threads, int(lookahead), int(lines))
    if key not in _KERNELS:
        func = _make_epoch(key[0], key[1], prange if threads else range, key[4], key[5])
        if exact:
            _KERNELS[key] = _jit.jit(func, cache=False)
        elif threads:
            _KERNELS[key] = _jit.parallel_jit(func, fastmath=FASTMATH, cache=True, depends_on=(mf_jit_fast,))
        else:
            _KERNELS[key] = _jit.jit(func, fastmath=FASTMATH, cache=True, depends_on=(mf_jit_fast,))
    return _KERNELS[key]


_blocks_epoch = _make_epoch(True, True)  # the readable source, shown by tutorial 10
