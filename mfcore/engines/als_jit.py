"""The ALS loop engine compiled by Numba: the same function, no new maths.

``half_step`` is :func:`mfcore.engines.als_loop.half_step` passed through
:func:`mfcore._jit.jit` (``njit(cache=True)``); the cache lives beside
``als_loop.py`` and is invalidated when that file changes (see ``mf_jit``).
"""
from .. import _jit
from . import als_loop

half_step = _jit.jit(als_loop.half_step)

__all__ = ["half_step"]
