"""The one place that imports numba.

``jit`` is ``numba.njit(cache=True)``: no fastmath (unless asked, for
``jit-fast`` only), no parallel, no eager signatures. ``import mfcore`` works without numba; asking for a JIT engine then
raises an ImportError that names the fix.
"""
try:
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a hard dependency, but keep mfcore importable
    numba = None
    HAVE_NUMBA = False


def jit(func, fastmath=False, cache=True):
    """Compile ``func`` with numba (``cache=True``); without numba return it unchanged.

    ``fastmath`` (a set of LLVM flags, e.g. ``{"reassoc", "contract"}``) lets
    LLVM reorder sums and fuse multiply-adds: faster, but no longer the same
    rounding as the Python source. Numba's cache does not key on these flags, so
    compile one Python function at most once with ``cache=True``.
    """
    if not HAVE_NUMBA:
        return func
    return numba.njit(cache=cache, fastmath=fastmath)(func)


def parallel_jit(func, fastmath=False, cache=False):
    """Compile with ``parallel=True``: ``prange`` loops run on Numba's threads.

    The Hogwild kernels use it uncached (their threads race: never deterministic);
    the ``blocks`` engine cached and with fast-math (its threads never share a row).
    """
    if not HAVE_NUMBA:
        return func
    return numba.njit(parallel=True, fastmath=fastmath, cache=cache)(func)


def require_numba(what="engine='jit'"):
    """Raise a helpful ImportError when numba is missing."""
    if not HAVE_NUMBA:
        raise ImportError(f"{what} needs numba (pip install numba), or use engine='vectorized'")
