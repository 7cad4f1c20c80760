"""The item-kNN prediction loop compiled by Numba: ``knn_loop``'s function, no new maths.

As in :mod:`mfcore.engines.mf_jit`, Numba caches the kernel beside its defining
file (``knn_loop.py``) and recompiles when that file changes.
"""
from .. import _jit
from . import knn_loop

predict_pairs = _jit.jit(knn_loop.predict_pairs)

__all__ = ["predict_pairs"]
