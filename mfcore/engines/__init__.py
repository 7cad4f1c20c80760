"""Engines: HOW one epoch of SGD runs. Models (``mfcore.models``) say WHAT is learned.

The engine contract (matrix factorization; the maths is in
:class:`mfcore.models.mf.BiasedMF`):

* Model (M): r_hat_ui = mu + b_u + b_i + p_u . q_i  (``"plain"``: p_u . q_i).
* Per-rating loss (L): 1/2 e_ui^2 + 1/2 reg (b_u^2 + b_i^2 + |p_u|^2 + |q_i|^2),
  with e_ui = r_ui - r_hat_ui; a rating shrinks only the rows it touches.
* Updates (U1)-(U4), each computed from the values before the step.
* ``loop`` and ``jit`` apply (U1)-(U4) one rating at a time in the order given;
  ``jit`` is ``loop``'s source compiled by Numba, so in float64 the two give
  bit-identical results. ``vectorized`` SUMS the per-rating updates of each
  minibatch, all taken at the batch-start parameters, with a scatter-add. At
  ``batch_size=1`` the three engines are one algorithm; ``batch_size > 1`` is
  valid only for ``vectorized``.
* ``jit-fast`` is ``jit``'s algorithm with a cache-friendly memory schedule
  (rows padded to cache lines, ratings packed into 16-byte records, the next
  ratings' rows prefetched) and two fast-math flags that let LLVM sum the dot
  product in vector lanes and fuse multiply-adds (:mod:`mfcore.engines.mf_jit_fast`).
  The same numbers as ``loop`` and ``jit`` up to rounding (bit-identical
  without the fast-math flags, tested); what it gains over ``jit`` is
  measured in benchmarks/results/engines.md and scaling.md.
* ``blocks`` applies the same updates in another order: ratings grouped once
  into a grid of user-range x item-range blocks, an epoch visiting the blocks
  in random steps (strata) of blocks that share no row, in a random order
  inside each block (:mod:`mfcore.engines.mf_blocks`). The rows of a block sit
  in cache, and ``n_threads`` threads run the blocks of a step at once with
  bit-identical results for any number of threads. Its per-epoch order is drawn
  by the engine itself (cheaply, from the order stream): see
  :func:`epoch_order`. Without fast-math it is bit-identical to ``loop`` over
  the same visiting order (tested).
* ``jit-hogwild`` (not in ``ENGINES``) runs the ``jit`` kernel on slices of the
  shuffled order in parallel threads without locks: fast and non-deterministic;
  ``jit-fast-hogwild`` does the same with the ``jit-fast`` kernel.

Every kernel has the signature ``(users, items, ratings, order, [mu, bu, bi,] P,
Q, lr, reg) -> sse``: ``users``/``items`` int32 (n,), ``ratings`` (n,) in the
parameters' dtype, ``order`` int64 (n,) (a permutation, drawn in Python), ``bu``
(n_users,), ``bi`` (n_items,), ``P`` (n_users, K), ``Q`` (n_items, K), all
C-contiguous, writable and of one dtype (float32 or float64); the scalars
``mu``, ``lr``, ``reg`` in that same dtype. Arrays are updated in place; the
return value is the float64 sum of squared errors, each taken before its update.
Kernels draw no random numbers, read no globals and never raise. The one
exception to ``order``: an epoch function with ``draws_order = True``
(``blocks``) takes the order *stream*, a numpy Generator, and draws its own
order from it in Python; :func:`epoch_order` gives each engine what it takes.

Every compiled kernel of mfcore lives in this package, compiled through
:func:`mfcore._jit.jit`, one file per family beside its NumPy twin:

* ``mf_loop`` / ``mf_vectorized`` / ``mf_jit`` (``mf_jit_fast``): SGD matrix factorization (above);
* ``optim_numpy`` / ``optim_jit``: the update rules (SGD with momentum and Nesterov,
  Adam, Adamax; RMSprop in NumPy only), each written once per language, and the one
  L2 convention (L2) every objective maps its ``reg`` onto. Users: :mod:`mfcore.nn.optim`,
  the Keras-regime MF, residual and deep models, AutoRec and the RBMs;
* ``nn_numpy`` / ``nn_jit``: the layers' gathers and scatters, SplitMix64 dropout
  bits and the fused BatchNorm -> ReLU -> Dropout block;
* ``mfkeras_jit``: the epochs of the Keras-regime MF models (twin: the layer graph
  ``mfcore.models.keras_mf.MFNet`` with an :mod:`mfcore.nn.optim` optimizer);
* ``residual_jit`` / ``residual_epoch``: the residual MF's fused batch (twin: ``ResidualNet``);
* ``deep_epoch``: the deep model's fused epoch, on ``nn_jit``'s kernels (twin: ``DeepNet``);
* ``autorec_numpy`` / ``autorec_jit`` and ``rbm_numpy`` / ``rbm_jit``; ``lbfgs_numpy`` /
  ``lbfgs_jit``: the passes over memory of an L-BFGS step (:mod:`mfcore.nn.lbfgs`);
* ``knn_loop`` / ``knn_jit``: item-kNN's k-neighbour prediction; ``svdpp_loop`` / ``svdpp_jit``: SVD++'s epoch.
* ``als_loop`` / ``als_vectorized`` / ``als_jit``: the ridge half steps of
  :class:`mfcore.models.als.ALS`; ``ials_loop`` / ``ials_jit``: the conjugate-gradient
  half steps of :class:`mfcore.models.implicit_als.ImplicitALS`.
* ``bpr_loop`` / ``bpr_jit``: BPR's epoch (per-triple SGD on ln sigma(x_uij)).

Numba's cache and other modules. A cached kernel is checked against the file
that defines it only: if it compiles in a function (or constant) of another
module, an edit of that module leaves the stale copy in the cache. mfcore keeps
the update rules in ONE file (``optim_jit``) rather than copying them into every
family's file, and therefore handles it: most callers call the rules from Python
(residual, AutoRec, RBM, :mod:`mfcore.nn.optim`), which needs nothing; the few
kernels that compile code of another module in (``mfkeras_jit``'s epochs, which
inline the rules; ``nn_jit``'s dropout kernels, which read nn_numpy's SplitMix64
constants) say so with ``jit(depends_on=...)``, and that module's file stamp
joins theirs in the cache's check. ``tests/test_imports.py`` fails on an
undeclared one; ``tests/test_jit.py`` shows the stale copy and the fix.
"""
import functools
import importlib

from .. import _jit

ENGINES = ("loop", "vectorized", "jit", "jit-fast", "blocks")
PARALLEL_ENGINES = ("jit-hogwild", "jit-fast-hogwild")
KINDS = ("biased", "plain")


def epoch_order(epoch_fn, rng, n):
    """The ``order`` argument of one epoch of ``epoch_fn`` over ``n`` ratings.

    ``rng.permutation(n)`` (a fresh shuffle), or ``rng`` itself for an engine
    that draws its own order from the stream (``epoch_fn.draws_order``).
    """
    return rng if getattr(epoch_fn, "draws_order", False) else rng.permutation(n)


def get_epoch_fn(kind, engine, batch_size=1, n_threads=None, grid=None):
    """The epoch function of ``kind`` ("biased" or "plain") for ``engine``.

    The result has the kernel signature of the contract above (``batch_size``,
    the thread count and the ``blocks`` grid size are bound here; ``n_threads``
    None means one thread for ``blocks``, all of Numba's threads for Hogwild).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    if engine not in ENGINES + PARALLEL_ENGINES:
        raise ValueError(f"engine must be one of {ENGINES + PARALLEL_ENGINES}; got {engine!r}")
    if batch_size != 1 and engine != "vectorized":
        raise ValueError(f"batch_size={batch_size} needs engine='vectorized': engine={engine!r} "
                         "updates after every rating (batch_size=1)")
    if engine == "loop":
        from . import mf_loop
        return getattr(mf_loop, f"{kind}_epoch")
    if engine == "vectorized":
        from . import mf_vectorized
        return functools.partial(getattr(mf_vectorized, f"{kind}_epoch"), batch_size=batch_size)
    _jit.require_numba(f"engine={engine!r}")
    if engine == "blocks":
        from . import mf_blocks  # a new object (and grid of the ratings) per call
        return mf_blocks.BlockEpoch(kind, grid=grid, n_threads=n_threads)
    from . import mf_jit
    if engine == "jit":
        return getattr(mf_jit, f"{kind}_epoch")
    n_chunks = int(n_threads or _jit.numba.get_num_threads())
    if engine.startswith("jit-fast"):
        from . import mf_jit_fast  # a new object (and packed copy of the ratings) per call
        return mf_jit_fast.FastEpoch(kind, n_threads=n_chunks if engine.endswith("hogwild") else None)
    return functools.partial(getattr(mf_jit, f"hogwild_{kind}_epoch"), n_chunks=n_chunks)


def get_half_step(family, engine):
    """The half-step kernel of an ALS family: ``"als"`` (engines loop, vectorized, jit;
    :class:`mfcore.models.als.ALS`) or ``"ials"`` (loop, jit;
    :class:`mfcore.models.implicit_als.ImplicitALS`). The model checks ``engine``."""
    if engine == "jit":
        _jit.require_numba(f"engine={engine!r}")
    module = importlib.import_module(f"{__name__}.{family}_{engine}")
    return module.cg_half_step if family == "ials" else module.half_step


def get_kernel(family, name, engine):
    """``name`` from ``mfcore.engines.<family>_<engine>``: the readable ``loop`` function or the
    same source compiled (``jit``), for the models whose two engines share one source
    (svdpp, bpr). The model checks ``engine``."""
    if engine == "jit":
        _jit.require_numba(f"engine={engine!r}")
    return getattr(importlib.import_module(f"{__name__}.{family}_{engine}"), name)
