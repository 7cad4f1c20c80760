"""SVD++'s epoch compiled by Numba: ``svdpp_loop``'s function, no new maths.

As in :mod:`mfcore.engines.mf_jit`, Numba caches the kernel beside its defining
file (``svdpp_loop.py``) and recompiles when that file changes.
"""
from .. import _jit
from . import svdpp_loop

svdpp_epoch = _jit.jit(svdpp_loop.svdpp_epoch)

__all__ = ["svdpp_epoch"]
