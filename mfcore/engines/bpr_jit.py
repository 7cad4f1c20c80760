"""BPR's epoch compiled by Numba: ``bpr_loop``'s function, no new maths.

As in :mod:`mfcore.engines.mf_jit`, Numba caches the kernel beside its defining
file (``bpr_loop.py``) and recompiles when that file changes.
"""
from .. import _jit
from . import bpr_loop

bpr_epoch = _jit.jit(bpr_loop.bpr_epoch)

__all__ = ["bpr_epoch"]
