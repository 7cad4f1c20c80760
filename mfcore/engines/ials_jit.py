"""The implicit-ALS loop engine compiled by Numba: the same function, no new maths.

``cg_half_step`` is :func:`mfcore.engines.ials_loop.cg_half_step` through
:func:`mfcore._jit.jit`; its cache lives beside ``ials_loop.py``.
"""
from .. import _jit
from . import ials_loop

cg_half_step = _jit.jit(ials_loop.cg_half_step)

__all__ = ["cg_half_step"]
