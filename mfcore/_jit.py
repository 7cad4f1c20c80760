"""The one place that imports numba.

``jit`` is ``numba.njit(cache=True)``: no fastmath (unless asked, for
``jit-fast`` only), no parallel, no eager signatures. ``import mfcore`` works without numba; asking for a JIT engine then
raises an ImportError that names the fix.

Numba's cache checks only the file that defines a kernel: a cached kernel that
calls a compiled function of ANOTHER module keeps the old copy of that function
after it changes. Such a kernel names the modules it calls with
``jit(depends_on=...)``, and their files' stamps join its own in the cache's
freshness check (see :mod:`mfcore.engines` for when mfcore does this).
"""
import os

try:
    import numba

    HAVE_NUMBA = True
    prange = numba.prange  # a loop whose iterations Numba's threads share (parallel_jit)
except ImportError:  # pragma: no cover - numba is a hard dependency, but keep mfcore importable
    numba = None
    prange = range
    HAVE_NUMBA = False


def jit(func=None, *, fastmath=False, cache=True, depends_on=(), inline=False):
    """Compile ``func`` with numba (``cache=True``); without numba return it unchanged.

    Use as ``jit(f)``, ``@jit`` or ``@jit(depends_on=(module, ...))``.

    ``fastmath`` (a set of LLVM flags, e.g. ``{"reassoc", "contract"}``) lets
    LLVM reorder sums and fuse multiply-adds: faster, but no longer the same
    rounding as the Python source. Numba's cache does not key on these flags, so
    compile one Python function at most once with ``cache=True``.

    ``depends_on``: the modules whose compiled functions (or constants) ``func``
    uses; the cached copy is reused only while their files, too, are unchanged.

    ``inline=True``: Numba copies ``func`` into every compiled caller (LLVM does not
    reliably inline a small helper on its own, and a call per row can cost a few %).
    """
    if func is None:
        return lambda f: jit(f, fastmath=fastmath, cache=cache, depends_on=depends_on, inline=inline)
    if not HAVE_NUMBA:
        return func
    kernel = numba.njit(cache=cache, fastmath=fastmath, inline="always" if inline else "never")(func)
    if cache and depends_on:
        _add_dependencies(kernel, depends_on)
    return kernel


def _stamp(module):
    st = os.stat(module.__file__)
    return module.__name__, st.st_mtime, st.st_size


def _add_dependencies(kernel, modules):
    """Fold the modules' file stamps into the kernel's cache stamp (Numba compares the
    stamp saved in the cache index with this one and recompiles when they differ).
    If this Numba keeps its cache elsewhere, the kernel is compiled without a cache."""
    kernel.depends_on = tuple(m.__name__ for m in modules)
    if not hasattr(kernel, "_cache"):  # NUMBA_DISABLE_JIT=1: a plain Python function
        return
    index = getattr(kernel._cache, "_cache_file", None)
    if index is None or not hasattr(index, "_source_stamp"):  # pragma: no cover - other Numba
        kernel._cache = numba.core.caching.NullCache()
        return
    index._source_stamp = (index._source_stamp,) + tuple(_stamp(m) for m in modules)


def parallel_jit(func, fastmath=False, cache=False, depends_on=()):
    """Compile with ``parallel=True``: ``prange`` loops run on Numba's threads.

    The Hogwild kernels use it uncached (their threads race: never deterministic);
    the ``blocks`` engine cached and with fast-math (its threads never share a row).
    ``depends_on`` as in :func:`jit`.
    """
    if not HAVE_NUMBA:
        return func
    kernel = numba.njit(parallel=True, fastmath=fastmath, cache=cache)(func)
    if cache and depends_on:
        _add_dependencies(kernel, depends_on)
    return kernel


def require_numba(what="engine='jit'"):
    """Raise a helpful ImportError when numba is missing."""
    if not HAVE_NUMBA:
        raise ImportError(f"{what} needs numba (pip install numba), or use engine='vectorized'")
