"""The ``blocks`` engine: per-rating SGD over a grid of blocks, deterministic on any number of threads.

The updates are (U1)-(U4) of :class:`mfcore.models.mf.BiasedMF`, applied one
rating at a time as in ``loop`` and ``jit``. What changes is the *order* of the
ratings, chosen so that the rows a run of ratings needs sit in cache, and so
that threads can update at once without ever touching the same row (LIBMF's
layout, Chin et al. 2015; DSGD's strata, Gemulla et al. 2011). The compiled
loops are in :mod:`mfcore.engines.mf_blocks_jit`.

The grid, built once per fit (:func:`bucket`)
    Users are split into g contiguous index ranges holding about equal numbers
    of ratings, and so are items; block (a, c) holds the ratings of the users of
    range a for the items of range c. The ratings are stored block by block as
    packed records (u uint32, i uint32, r): 12 bytes in float32, 16 in float64.
    (Unsigned, so that ``P[u]`` needs no wrap-around test for negative
    indices; the gain is in ``benchmarks/results/engine_design.md``.)
    Each block is shuffled once, from the order stream. Where every line of a
    row is prefetched (:func:`group_by_user`: rows wider than one cache line,
    all rows beyond ``PREFETCH_ALL_BYTES``), each block's ratings are then
    also grouped by user, users in index order (stably: a user's ratings
    keep their shuffled order), close to the "partial random" order of
    FPSGD (Zhuang et al. 2013). A user's row is then read from memory once
    per run of its ratings instead of once per rating, and the rows come in
    address order, which the hardware prefetcher follows. Where a row is one
    cache line, consecutive updates of one row wait on each other and
    grouping ran slower, so the rule leaves those blocks shuffled. Both
    figures, and what grouping does to accuracy, are in
    ``benchmarks/results/engine_design.md`` and ``blocks_accuracy.md``.

    g (:func:`grid_size`) is the smallest multiple of 4 (at least 4, at most
    32) for which the rows one block touches, (n_users + n_items) / g rows
    padded to cache lines, fit in ``CACHE_BYTES`` = 1 MiB (half of a 2 MB L2
    cache, so the next block's rows fit beside them). The cap: where the rule
    asks for more blocks (wide rows on large data: 96 at K=100 float32 on 25M
    ratings), a block holds about one rating per row, so smaller blocks save no
    loads, and fewer, larger blocks with every line prefetched ran faster
    (``benchmarks/results/engine_design.md``). It depends on the data's
    shape, K and the dtype, never on the machine or the number of threads, so a
    seed gives the same numbers everywhere; ``grid=`` overrides it.

The randomness of one epoch (:func:`draw_order`; drawn in Python from the order stream)
    * The g*g blocks are visited in g steps (strata). Step t holds the blocks
      (a, cols[(rows[a] + shift[t]) mod g]) for a = 0..g-1, with three random
      permutations ``rows``, ``cols`` and ``shift`` of range(g) drawn each epoch:
      a step matches user ranges to item ranges one to one (its blocks share no
      row), every block comes once per epoch, and the steps come in a random
      order.
    * Inside a block, its records (shuffled at fit start) are cut into chunks
      (:func:`records_per_chunk`: 1/16 of an average block, at most 1024
      records): the chunks come in a random order, and each chunk starts at a
      random record and wraps around to its beginning. (In blocks grouped by
      user, a chunk holds the runs of a few hundred users; a cut splits at
      most one run.)
    The blocks of one step touch disjoint rows, so their order inside the step
    changes no number: the engine runs them one after another in schedule order
    on one thread, or on ``n_threads`` threads at once, with bit-identical
    results (tested). What does not change from epoch to epoch: which ratings
    share a block and a chunk, and the cyclic order inside a chunk. Its effect
    on accuracy is measured in ``benchmarks/results/blocks_accuracy.md``.

Memory schedule (changes no number)
    P and Q are copied into rows padded to whole 64-byte cache lines (as in
    ``jit-fast``). A block's rows fit in cache (the grid's rule), so after its
    first touches they stay there; records are read in runs of up to 1024,
    which the hardware prefetcher streams. When all rows together exceed
    ``PREFETCH_BYTES`` (4 MiB), the kernel also asks for the rows of the rating
    ``LOOKAHEAD`` = 16 records ahead (:func:`lookahead`): a block's first touch
    of a row then finds it on its way (measured in
    ``benchmarks/results/engine_design.md``); the first cache line of each row,
    or every line of rows wider than one line once all rows exceed
    ``PREFETCH_ALL_BYTES`` (12 MiB; :func:`prefetch_lines`). On smaller data the rows stay in
    cache and the prefetches would only cost. (Prefetching the next block's
    rows, spread over the current block's ratings, was tried during
    development and ran slower; it is not used, and no measurement of it is
    kept.) The squared errors are summed per
    block and then over blocks in a fixed order. ``jit-fast``'s two fast-math
    flags apply; ``BlockEpoch(exact=True)`` runs the kernel compiled without
    them, which is bit-identical to ``mf_loop`` over :func:`visit_order`.
"""
from dataclasses import dataclass

import numpy as np

from .. import _jit
from .mf_jit_fast import LINE_BYTES, PaddedRows, padded_width

CHUNK = 1024  # records per chunk at most, the unit of the in-block order
CHUNKS_PER_BLOCK = 16  # at least, in an average block (down to chunks of MIN_CHUNK records)
MIN_CHUNK = 4
CACHE_BYTES = 1 << 20  # rows one block may touch
LOOKAHEAD = 16  # records ahead for the software prefetch, when all rows exceed PREFETCH_BYTES
PREFETCH_BYTES = 4 * CACHE_BYTES
PREFETCH_ALL_BYTES = 12 * CACHE_BYTES  # above it, prefetch every line of a wide row (prefetch_lines)
GRID_MIN, GRID_MAX = 4, 32
_COUNT_SLICE = 1 << 22  # ratings counted at a time (bounds np.bincount's int64 copy)


def lookahead(n_users, n_items, K, itemsize):
    """Records ahead for the kernel's software prefetch: LOOKAHEAD when the padded rows of P and
    Q together exceed PREFETCH_BYTES (a block's first touches then miss the cache), else 0 (the
    rows stay in cache, and the prefetches only cost). Like g, a rule on the data's shape."""
    row_bytes = padded_width(K, itemsize) * itemsize
    return LOOKAHEAD if (n_users + n_items) * row_bytes > PREFETCH_BYTES else 0


def prefetch_lines(n_users, n_items, K, itemsize):
    """Cache lines of each row the kernel's prefetch asks for: all of them when the padded rows
    span more than one line and all rows together exceed PREFETCH_ALL_BYTES (they then live in
    L3 or memory, and a block's first touch of a row misses on every line), else the first.
    Like g, a rule on the data's shape; changes no number."""
    row_bytes = padded_width(K, itemsize) * itemsize
    return row_bytes // LINE_BYTES if (n_users + n_items) * row_bytes > PREFETCH_ALL_BYTES else 1


def group_by_user(n_users, n_items, K, itemsize):
    """Whether :func:`bucket` groups each block's ratings by user: where every line of a wide
    row is prefetched (:func:`prefetch_lines` > 1). Like g, a rule on the data's shape; unlike
    the prefetch, it changes the visiting order, so the numbers (module docstring)."""
    return prefetch_lines(n_users, n_items, K, itemsize) > 1


def grid_size(n_users, n_items, K, itemsize):
    """g for a data set: the rule in the module docstring."""
    row_bytes = padded_width(K, itemsize) * itemsize
    g = -(-(n_users + n_items) * row_bytes // CACHE_BYTES)  # rows of one block fit CACHE_BYTES
    return int(min(GRID_MAX, max(GRID_MIN, -(-g // 4) * 4)))


def range_edges(index, n, g):
    """(g+1,) bounds of g contiguous ranges of [0, n) holding about len(index) / g ratings each."""
    counts = np.zeros(n, np.int64)  # (n,) ratings per user (or item)
    for lo in range(0, len(index), _COUNT_SLICE):
        counts += np.bincount(index[lo:lo + _COUNT_SLICE], minlength=n)
    cum = np.cumsum(counts)  # (n,)
    edges = np.searchsorted(cum, np.arange(g + 1) * (cum[-1] / g), side="right")  # (g+1,)
    edges[0], edges[-1] = 0, n
    return edges.astype(np.int64)


@dataclass
class Grid:
    """Ratings bucketed into g x g blocks (all arrays int64 unless said).

    records (n,): packed (u, i, r), block by block; block b = (b // g, b % g) is
    records[starts[b]:starts[b + 1]]; user range a is users user_edges[a]:user_edges[a + 1]
    (items likewise); chunk k of the grid is records[chunk_lo[k]:chunk_lo[k] + chunk_size[k]]
    of block chunk_block[k]; block b's chunks give the runs seg_start[b]:seg_start[b + 1]
    of :func:`draw_order`'s segments (two per chunk).
    """
    g: int
    records: np.ndarray
    starts: np.ndarray
    user_edges: np.ndarray
    item_edges: np.ndarray
    chunk_block: np.ndarray
    chunk_lo: np.ndarray
    chunk_size: np.ndarray
    seg_start: np.ndarray
    by_user: bool = False


def records_per_chunk(n, g):
    """Records per chunk: an average block's 1/16, between 4 and 1024 (so small blocks still
    get 16 random pieces per epoch, and large ones runs long enough to stream)."""
    return int(min(CHUNK, max(MIN_CHUNK, -(-n // (g * g * CHUNKS_PER_BLOCK)))))


def bucket(users, items, ratings, n_users, n_items, g, rng, chunk=None, by_user=False):
    """The :class:`Grid` of the ratings: grouped by block, each block shuffled once with ``rng``.

    ``chunk``: records per chunk (None: :func:`records_per_chunk`). ``by_user``: then group
    each block's ratings by user, stably, users in index order (draws nothing more from ``rng``).
    """
    from .mf_blocks_jit import fill_blocks, group_blocks

    chunk = chunk or records_per_chunk(len(ratings), g)

    user_edges, item_edges = range_edges(users, n_users, g), range_edges(items, n_items, g)
    user_range = np.repeat(np.arange(g, dtype=np.int32), np.diff(user_edges))  # (n_users,)
    item_range = np.repeat(np.arange(g, dtype=np.int32), np.diff(item_edges))  # (n_items,)
    records = np.empty(len(ratings), [("u", np.uint32), ("i", np.uint32), ("r", ratings.dtype)])  # (n,)
    starts = np.zeros(g * g + 1, np.int64)  # (g*g+1,) filled by the kernel
    fill_blocks(users, items, ratings, user_range, item_range, g, records, starts)
    raw = records.view(f"V{records.itemsize}")  # (n,) the records as opaque bytes: a fast np.take
    for b in range(g * g):  # a random order inside each block, once
        block = raw[starts[b]:starts[b + 1]]
        block[...] = np.take(block, rng.permutation(len(block)))
    if by_user:  # then grouped by user, users in index order (a user's ratings stay shuffled)
        group_blocks(records, starts, user_edges, g, np.empty(np.diff(starts).max(), records.dtype))
    n_chunks = -(-np.diff(starts) // chunk)  # (g*g,) chunks per block
    chunk_block = np.repeat(np.arange(g * g), n_chunks)  # (C,)
    first = np.cumsum(n_chunks) - n_chunks  # (g*g,) the first chunk of each block
    chunk_lo = starts[chunk_block] + (np.arange(len(chunk_block)) - first[chunk_block]) * chunk  # (C,)
    chunk_size = np.minimum(chunk, starts[chunk_block + 1] - chunk_lo)  # (C,)
    seg_start = 2 * np.concatenate([[0], np.cumsum(n_chunks)])  # (g*g+1,)
    return Grid(g, records, starts, user_edges, item_edges, chunk_block, chunk_lo, chunk_size, seg_start,
                bool(by_user))


def stratum_schedule(rows, cols, shift):
    """(g, g) block ids: step t runs the blocks (a, cols[(rows[a] + shift[t]) mod g]), a = 0..g-1.

    ``rows``, ``cols``, ``shift``: permutations of range(g). Block (a, c) has id a * g + c. A step
    pairs every user range with a different item range, and over the g steps every pair meets once.
    """
    g = len(rows)
    return np.arange(g) * g + cols[(rows[None, :] + shift[:, None]) % g]  # (g, g): step t, range a


def draw_order(grid, rng):
    """One epoch's order: ``schedule`` (g, g) block ids, step by step, and ``segments`` (2C, 2).

    Block b's runs of records are segments[grid.seg_start[b]:grid.seg_start[b + 1]]: its chunks
    in a random order, each as [cut, end) then [start, cut) from a random cut.
    """
    g = grid.g
    schedule = stratum_schedule(rng.permutation(g), rng.permutation(g), rng.permutation(g))  # (g, g)
    C = len(grid.chunk_block)
    chunks = np.argsort(grid.chunk_block + rng.random(C), kind="stable")  # (C,) by block, shuffled in it
    lo, size = grid.chunk_lo[chunks], grid.chunk_size[chunks]  # (C,)
    cut = lo + (rng.random(C) * size).astype(np.int64)  # (C,) where each chunk starts
    segments = np.stack([cut, lo + size, lo, cut], axis=1).reshape(2 * C, 2)  # (2C, 2)
    return schedule, segments


def fixed_order(grid):
    """The order without any randomness (benchmarks' reference): one step holding every block,
    row by row, each block's records as stored. One thread only: its blocks share rows."""
    C = len(grid.chunk_block)
    ends = grid.chunk_lo + grid.chunk_size  # (C,)
    segments = np.stack([grid.chunk_lo, ends, ends, ends], axis=1).reshape(2 * C, 2)  # (2C, 2)
    return np.arange(grid.g * grid.g).reshape(1, -1), segments


def visit_order(grid, schedule, segments):
    """The records in the order an epoch visits them, (n,) positions in ``grid.records``.

    The NumPy statement of what the kernel does, one step after another, the blocks of a
    step in schedule order; ``mf_loop`` over it is the exact twin's reference.
    """
    runs = [np.arange(lo, hi) for b in schedule.ravel()
            for lo, hi in segments[grid.seg_start[b]:grid.seg_start[b + 1]]]
    return np.concatenate(runs) if runs else np.zeros(0, np.int64)


class BlockEpoch(PaddedRows):
    """The epoch function of ``engine="blocks"`` for ``kind`` "biased" or "plain".

    Called as in the engine contract, except that ``order`` is the order *stream*
    (a numpy Generator: the engine draws the epoch's order from it, cheaply) or a
    ``(schedule, segments)`` pair from :func:`draw_order`. The first call with a
    Generator buckets the ratings (:meth:`bucket`); later calls with the very same
    arrays reuse the grid. P and Q are copied into padded rows and back each call,
    unless they are the views of :meth:`~mfcore.engines.mf_jit_fast.PaddedRows.padded_view`
    (as ``BiasedMF.fit`` keeps them).

    grid : None or int, the g of the grid (None: :func:`grid_size`).
    n_threads : None or int, threads running the blocks of a step (None: 1; at
        most Numba's threads are used). The numbers do not depend on it.
    exact : bool, run the kernel compiled without fast-math (one thread).
    lookahead : None or int, records ahead for the software prefetch (None: :func:`lookahead`'s
        rule; 0: none). Changes no number.
    memory_floor : bool, benchmarks only: the same loads and stores without the
        arithmetic (the parameters end up meaningless).
    by_user : None or bool, group each block's ratings by user (None: :func:`group_by_user`'s
        rule). Changes the visiting order, so the numbers.
    """

    draws_order = True

    def __init__(self, kind="biased", grid=None, n_threads=None, exact=False, chunk=None,
                 memory_floor=False, lookahead=None, by_user=None):
        self.kind, self.grid, self.n_threads, self.exact = kind, grid, n_threads, exact
        self.chunk, self.memory_floor, self.lookahead, self.by_user = chunk, memory_floor, lookahead, by_user
        self.grid_, self._source, self._padded = None, None, {}

    def bucket(self, users, items, ratings, n_users, n_items, K, rng):
        """Bucket the ratings (once: reused while called with the same arrays); return the Grid."""
        key = (users, items, ratings, n_users, n_items)
        if self._source is None or any(a is not b for a, b in zip(key[:3], self._source)) \
                or key[3:] != self._source[3:]:
            size = ratings.dtype.itemsize
            g = self.grid or grid_size(n_users, n_items, K, size)
            by_user = group_by_user(n_users, n_items, K, size) if self.by_user is None else self.by_user
            self.grid_ = bucket(users, items, ratings, n_users, n_items, g, rng, self.chunk, by_user)
            self._source = key  # keeps the arrays alive, so `is` stays meaningful
        return self.grid_

    def adopt(self, grid, users, items, ratings, n_users, n_items):
        """Use ``grid``, bucketed from these very arrays (benchmarks share one grid)."""
        self.grid_, self._source = grid, (users, items, ratings, n_users, n_items)

    def __call__(self, users, items, ratings, order, *params):
        if self.kind == "biased":
            mu, bu, bi, P, Q, lr, reg = params
        else:
            P, Q, lr, reg = params
            mu, bu, bi = P.dtype.type(0), np.zeros(1, P.dtype), np.zeros(1, P.dtype)  # unused
        if isinstance(order, np.random.Generator):
            grid = self.bucket(users, items, ratings, P.shape[0], Q.shape[0], P.shape[1], order)
            schedule, segments = draw_order(grid, order)
        elif isinstance(order, tuple) and len(order) == 2 and self.grid_ is not None:
            grid, (schedule, segments) = self.grid_, order
        else:
            raise TypeError("engine='blocks' draws its own order: pass the order stream (a numpy "
                            "Generator; see mfcore.engines.epoch_order), or a (schedule, segments) "
                            f"pair from draw_order after bucketing; got {type(order).__name__}")
        Pp, Qp = self._pad("P", P), self._pad("Q", Q)  # (n_users, W), (n_items, W)
        T = int(self.n_threads or 1)
        args = (grid.records, segments, grid.seg_start, schedule, mu, bu, bi, Pp, Qp, lr, reg, T,
                np.zeros(grid.g * grid.g))
        from . import mf_blocks_jit

        threads = T > 1 and not self.exact
        ahead = lookahead(P.shape[0], Q.shape[0], P.shape[1], P.itemsize) if self.lookahead is None \
            else int(self.lookahead)
        lines = prefetch_lines(P.shape[0], Q.shape[0], P.shape[1], P.itemsize) if ahead else 1
        kernel = mf_blocks_jit.kernel(self.kind == "biased", not self.memory_floor, self.exact, threads, ahead,
                                      lines)
        sse = _on_threads(kernel, args, T) if threads else kernel(*args)
        self._unpad(P, Pp)
        self._unpad(Q, Qp)
        return sse


def _on_threads(kernel, args, n_threads):
    """``kernel(*args)`` on min(n_threads, Numba's threads) threads; the setting is restored."""
    if not _jit.HAVE_NUMBA or _jit.numba.config.DISABLE_JIT:
        return kernel(*args)
    numba = _jit.numba
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(before)
