"""The ``jit-fast`` engine: ``mf_loop``'s algorithm with a cache-friendly memory schedule.

Same updates (U1)-(U4) in the same order as
:func:`mfcore.engines.mf_loop.biased_epoch`. Two things change: *where the data
sits and when it is fetched* (1-3 below, which change no number), and *how
LLVM may round* (4, which changes the last bits). Each idea was measured on its
own (the figures are in ``benchmarks/results/engine_design.md``):

1. Rows padded to whole 64-byte cache lines: W = K rounded up to 16 float32
   (8 float64) columns, in a 64-byte aligned copy of P and Q. A K=15 float32
   row is exactly one line, and LLVM's vector loop covers all W columns, where
   K=15 fell into its scalar remainder. The padding columns start at +0.0 and
   stay +0.0 (0 + lr (e 0 - reg 0) = 0); they subtract exact zeros from e.
2. Ratings packed once into 16-byte records (u, i, r) and gathered per block of
   ``block_size`` in ``order`` before the updates, the record of a later rating
   prefetched. One cache line per rating instead of three (``users``, ``items``,
   ``ratings``): gathering 25M ratings in random order ran at 73M/s from records
   against 24M/s from the three arrays. The gather loop's loads are independent,
   so the CPU overlaps them, unlike the chain idx -> u -> p_u of the loop kernel.
3. Software prefetch: while rating n is updated, the rows of rating
   n + ``prefetch_distance`` are requested (``llvm.prefetch``). On a 25M-rating
   set, where P and Q do not fit in L2, this doubled the rate of the update loop.
4. Fast-math, limited to two LLVM flags: ``reassoc`` lets the dot product
   p_u . q_i be summed in vector lanes instead of one long chain of dependent
   additions (16 additions, each waiting for the previous one, were the
   bottleneck once the data sat in cache), and ``contract`` fuses
   ``a * b + c`` into one FMA instruction. No ``nnan``/``ninf``: a NaN still
   propagates, so the divergence check still sees it. On ML-100k, K=15 float32
   (pre-gathered kernel): 56M ratings/s exact, 66M with ``reassoc``, 58M with
   ``contract``, 76M with both.

Because of 4, ``jit-fast`` equals ``loop`` and ``jit`` up to rounding (a
relative 1e-12 in float64 after a few epochs, tested), not bit for bit.
``FastEpoch(exact=True)`` compiles the same kernel without fast-math: it is
bit-identical to ``loop`` (tested), which shows that 1-3 change no number.

What did not help (same measurements): a separate, fully software-pipelined
loop (record -> rows -> update in one loop; within noise of the blocks), int32
``order`` (+5% at most, but NumPy's int32 shuffle is 2.8x slower than int64),
a 4- or 8-way split dot product written out in the source (exact, but LLVM
kept most of it scalar: < 5%).

The copies into and out of the padded arrays cost O((n_users + n_items) W) per
epoch, against O(n K) for the epoch itself.
"""
import numpy as np

from .. import _jit

BLOCK_SIZE = 4096  # ratings gathered at a time (fits in L1/L2 with their rows)
PREFETCH_DISTANCE = 16  # ratings ahead; 8-32 measured within 5% on 25M ratings
LINE_BYTES = 64


def _make_prefetch():
    """``prefetch(A, r)``: ask the CPU for the cache line of ``A[r]`` (1-D) or ``A[r, 0]`` (2-D);
    ``prefetch_at(A, r, c)``: the line of ``A[r, c]`` (2-D).

    Built with ``numba.extending.intrinsic`` (LLVM's ``llvm.prefetch``); in pure
    Python (``NUMBA_DISABLE_JIT=1``) they are no-ops, which changes no number.
    """
    def prefetch(A, r):  # pure Python / NUMBA_DISABLE_JIT: nothing to do
        return None

    def prefetch_at(A, r, c):
        return None

    if not _jit.HAVE_NUMBA or _jit.numba.config.DISABLE_JIT:
        return prefetch, prefetch_at
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index = [context.cast(builder, a, t, types.intp) for a, t in zip(args[1:], sig.args[1:])]
        index += [context.get_constant(types.intp, 0)] * (aryty.ndim - len(index))
        ptr = cgutils.get_item_pointer2(context, builder, ary.data, cgutils.unpack_tuple(builder, ary.shape),
                                        cgutils.unpack_tuple(builder, ary.strides), aryty.layout, index)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(1), i32(3), i32(1)])  # write, keep, data
        return context.get_dummy_value()

    @intrinsic
    def prefetch_row(typingctx, A, r):
        return types.void(A, r), codegen

    @intrinsic
    def prefetch_line(typingctx, A, r, c):
        return types.void(A, r, c), codegen

    return prefetch_row, prefetch_line


prefetch, prefetch_at = _make_prefetch()


def _padded_epoch(records, order, mu, bu, bi, P, Q, lr, reg, biased, block_u, block_i, block_r,
                  distance):
    """(U1)-(U4) (``biased``) or (U3)-(U4) over ``order`` on padded P, Q (n, W); returns the SSE.

    ``records`` holds the ratings as 16-byte (u, i, r) records (:func:`pack_ratings`).
    """
    W = P.shape[1]
    B = block_u.shape[0]
    n = order.shape[0]
    sse = 0.0
    for start in range(0, n, B):
        m = min(B, n - start)
        # (0) gather the block's ratings in order: one cache line per rating, fetched ahead
        for k in range(m):
            if start + k + 2 * distance < n:
                prefetch(records, order[start + k + 2 * distance])
            rec = records[order[start + k]]
            block_u[k] = rec["u"]
            block_i[k] = rec["i"]
            block_r[k] = rec["r"]
        for k in range(m):
            if k + distance < m:  # rows needed `distance` ratings from now
                prefetch(P, block_u[k + distance])
                prefetch(Q, block_i[k + distance])
            u = block_u[k]
            i = block_i[k]
            pu = P[u]  # (W,) view: p_u and its zero padding
            qi = Q[i]  # (W,) view: q_i and its zero padding
            # (1) error, the same operations as mf_loop (summed in lanes under fast-math)
            e = block_r[k]
            if biased:
                e = e - mu - bu[u] - bi[i]
            for f in range(W):
                e -= pu[f] * qi[f]
            sse += float(e * e)
            # (2) biases: (U1) and (U2)
            if biased:
                bu[u] += lr * (e - reg * bu[u])
                bi[i] += lr * (e - reg * bi[i])
            # (3) factors: (U3) and (U4), both from the values before the step
            for f in range(W):
                puf = pu[f]
                qif = qi[f]
                pu[f] = puf + lr * (e * qif - reg * puf)
                qi[f] = qif + lr * (e * puf - reg * qif)
    return sse


FASTMATH = {"reassoc", "contract"}
padded_epoch = _jit.jit(_padded_epoch, fastmath=FASTMATH)
# The exact twin (no fast-math) is not cached: Numba's cache ignores fastmath flags,
# and the cached entry of _padded_epoch belongs to the fast version.
padded_epoch_exact = _jit.jit(_padded_epoch, cache=False)

prange = _jit.numba.prange if _jit.HAVE_NUMBA else range


def _hogwild_padded(records, order, mu, bu, bi, P, Q, lr, reg, biased, block_u, block_i, block_r,
                    distance):
    """``padded_epoch`` on ``len(block_u)`` slices of ``order`` in parallel threads, no locks."""
    n_chunks = block_u.shape[0]
    n = order.shape[0]
    sse = 0.0
    for c in prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        sse += padded_epoch(records, order[lo:hi], mu, bu, bi, P, Q, lr, reg, biased, block_u[c],
                            block_i[c], block_r[c], distance)
    return sse


hogwild_padded_epoch = _jit.parallel_jit(_hogwild_padded)


def padded_width(K, itemsize):
    """W: K rounded up to whole 64-byte cache lines (the width of :func:`pad_rows`)."""
    per_line = LINE_BYTES // itemsize
    return -(-K // per_line) * per_line


def pad_rows(A):
    """A 64-byte aligned copy of ``A`` (n, K) with zero columns up to whole cache lines: (n, W)."""
    W = padded_width(A.shape[1], A.itemsize)
    buf = np.zeros(A.shape[0] * W * A.itemsize + LINE_BYTES, dtype=np.uint8)  # (bytes,)
    start = -buf.ctypes.data % LINE_BYTES
    out = buf[start:start + A.shape[0] * W * A.itemsize].view(A.dtype).reshape(A.shape[0], W)  # (n, W)
    out[:, :A.shape[1]] = A
    return out


def pack_ratings(users, items, ratings):
    """The ratings as one array of 16-byte records (u int32, i int32, r): one cache line each."""
    pad = [("pad", ratings.dtype)] if ratings.dtype.itemsize == 4 else []
    records = np.empty(len(ratings), dtype=[("u", np.int32), ("i", np.int32), ("r", ratings.dtype)] + pad)
    records["u"], records["i"], records["r"] = users, items, ratings  # (n,)
    return records


class PaddedRows:
    """P and Q in reused 64-byte aligned buffers whose rows are padded to whole cache lines
    (:func:`pad_rows`): what the padded kernels read and write. Each call copies P and Q in and
    back, unless they are the (n, K) views :meth:`padded_view` returned (as ``BiasedMF.fit``
    keeps them): then the kernel updates them where they are, with no copy at all."""

    def padded_view(self, name, A):
        """``A`` (n, K) moved into the padded buffer ``name`` ("P" or "Q"); returns the (n, K)
        view of the buffer's leading columns, for a fit to keep as its parameter array."""
        return self._pad(name, A)[:, :A.shape[1]]

    def _pad(self, name, A):
        """The padded buffer ``name`` (n, W) holding ``A``: copied in, unless ``A`` is its view."""
        buf = self._padded.get(name)  # every subclass sets _padded = {} in its __init__
        shape = (A.shape[0], padded_width(A.shape[1], A.itemsize))
        if buf is None or buf.dtype != A.dtype or buf.shape != shape:
            buf = self._padded[name] = pad_rows(A)
        elif not _is_leading_view(A, buf):
            buf[:, :A.shape[1]] = A
        return buf

    @staticmethod
    def _unpad(A, buf):
        """The kernel's result back into ``A``, unless ``A`` is the buffer's view (it holds it)."""
        if not _is_leading_view(A, buf):
            A[...] = buf[:, :A.shape[1]]


def _is_leading_view(A, buf):
    """Whether ``A`` is the view of ``buf``'s leading columns (same memory, same rows)."""
    return (A.ctypes.data == buf.ctypes.data and A.strides == buf.strides and A.shape[0] == buf.shape[0]
            and A.dtype == buf.dtype)


class FastEpoch(PaddedRows):
    """An epoch function of the engine contract (``kind`` "biased" or "plain") for ``jit-fast``.

    It packs ``users``, ``items``, ``ratings`` into records once and reuses them
    while it is called with the very same three arrays (one object per fit: the
    model asks :func:`mfcore.engines.get_epoch_fn` for a new one each fit). Do
    not modify those arrays in place between calls. P and Q are copied into
    padded arrays and back at every call (so the model may change them freely),
    unless they are the views of :meth:`PaddedRows.padded_view`.

    With ``n_threads`` (``jit-fast-hogwild``), that many threads run the kernel on
    slices of ``order`` at once without locks (Hogwild): non-deterministic.
    ``exact=True`` runs the kernel compiled without fast-math (bit-identical to
    ``loop``; single thread only).
    """

    def __init__(self, kind="biased", block_size=BLOCK_SIZE, prefetch_distance=PREFETCH_DISTANCE,
                 n_threads=None, exact=False):
        if exact and n_threads:
            raise ValueError("exact=True runs on one thread: Hogwild is never exact; drop n_threads")
        self.kind, self.block_size, self.prefetch_distance = kind, block_size, prefetch_distance
        self.n_threads, self.exact = n_threads, exact
        self._source, self._records, self._padded = None, None, {}

    def _pack(self, users, items, ratings):
        src = self._source
        if src is None or not (src[0] is users and src[1] is items and src[2] is ratings):
            self._records = pack_ratings(users, items, ratings)
            self._source = (users, items, ratings)  # keeps them alive, so `is` stays meaningful
        return self._records

    def __call__(self, users, items, ratings, order, *params):
        if self.kind == "biased":
            mu, bu, bi, P, Q, lr, reg = params
        else:
            P, Q, lr, reg = params
            mu = P.dtype.type(0)
            bu = bi = np.zeros(1, dtype=P.dtype)  # (1,) unused
        records = self._pack(users, items, ratings)
        Pp, Qp = self._pad("P", P), self._pad("Q", Q)  # (n_users, W), (n_items, W)
        B = max(1, min(self.block_size, order.shape[0]))
        T = self.n_threads or 1
        shape = (T, B) if self.n_threads else (B,)  # scratch: one block per thread
        kernel = (hogwild_padded_epoch if self.n_threads
                  else padded_epoch_exact if self.exact else padded_epoch)
        sse = kernel(records, order, mu, bu, bi, Pp, Qp, lr, reg, self.kind == "biased",
                     np.empty(shape, np.int32), np.empty(shape, np.int32),
                     np.empty(shape, ratings.dtype), self.prefetch_distance)
        self._unpad(P, Pp)
        self._unpad(Q, Qp)
        return sse


def biased_epoch(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg):
    """One pass of (U1)-(U4) of BiasedMF over ``order`` (packs the ratings on every call)."""
    return FastEpoch("biased")(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg)


def plain_epoch(users, items, ratings, order, P, Q, lr, reg):
    """One pass of (U3)-(U4) of FunkMF over ``order`` (packs the ratings on every call)."""
    return FastEpoch("plain")(users, items, ratings, order, P, Q, lr, reg)
