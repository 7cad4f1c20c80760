"""The loop engine compiled by Numba: the same functions, no new maths.

``biased_epoch`` and ``plain_epoch`` are ``mf_loop``'s functions passed through
:func:`mfcore._jit.jit` (``njit(cache=True)``). Caching works for a function
defined in another module: Numba indexes the cache by the *defining* file
(``mf_loop.py``, its ``__pycache__`` holds ``mf_loop.biased_epoch-*.nbi/.nbc``)
and invalidates it when that file changes, which is exactly the file holding the
maths. (Checked with numba 0.68 and NUMBA_DEBUG_CACHE=1: a new process loads the
kernels from ``mf_loop``'s cache; only Numba's one-off start-up remains in
``history_.compile_seconds``, which ``benchmarks/bench_engines.py`` reports apart.)

The Hogwild variants run the serial kernel on ``n_chunks`` contiguous slices of
the shuffled order in parallel threads, without locks (Recht et al., 2011).
Threads race on shared rows of P, Q, b_u and b_i, so results vary from run to
run: never deterministic, never cached (``parallel=True``).
"""
from .. import _jit
from . import mf_loop

biased_epoch = _jit.jit(mf_loop.biased_epoch)
plain_epoch = _jit.jit(mf_loop.plain_epoch)

prange = _jit.prange


def _hogwild_biased(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg, n_chunks):
    """(U1)-(U4) of BiasedMF on ``n_chunks`` slices of ``order`` at once (Hogwild)."""
    n = order.shape[0]
    sse = 0.0
    for c in prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        sse += biased_epoch(users, items, ratings, order[lo:hi], mu, bu, bi, P, Q, lr, reg)
    return sse


def _hogwild_plain(users, items, ratings, order, P, Q, lr, reg, n_chunks):
    """(U3)-(U4) of FunkMF on ``n_chunks`` slices of ``order`` at once (Hogwild)."""
    n = order.shape[0]
    sse = 0.0
    for c in prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        sse += plain_epoch(users, items, ratings, order[lo:hi], P, Q, lr, reg)
    return sse


hogwild_biased_epoch = _jit.parallel_jit(_hogwild_biased)
hogwild_plain_epoch = _jit.parallel_jit(_hogwild_plain)

__all__ = ["biased_epoch", "plain_epoch", "hogwild_biased_epoch", "hogwild_plain_epoch"]
