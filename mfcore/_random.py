"""Random number generation, following SPEC 7.

Every stochastic function takes ``rng: None | int | numpy.random.Generator``.
Models store it unchanged in ``__init__`` and convert it in ``fit``; an int seed
makes ``fit`` repeatable, a Generator advances between calls.
"""
import numpy as np


def as_generator(rng):
    """Return a ``numpy.random.Generator`` for ``None``, an int seed or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (bool, np.bool_)):
        raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator. Got {rng!r} instead.")
    if isinstance(rng, (int, np.integer)) and rng < 0:
        raise ValueError(f"rng (the seed; --seed on the command line) must be an int >= 0. Got {int(rng)} "
                         "instead.")
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be None, an int seed or a numpy.random.Generator. Got {type(rng).__name__} instead."
    )


def spawn(rng, n):
    """Split ``rng`` into ``n`` independent child generators (init, order, noise, ...)."""
    return as_generator(rng).spawn(n)
