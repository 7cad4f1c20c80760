"""Weight initializers with Keras' defaults. Each takes a seeded Generator.

=====================  =============================================  ===========================
mfcore                 draw                                           Keras equivalent
=====================  =============================================  ===========================
``glorot_uniform``     U(-a, a), a = sqrt(6 / (fan_in + fan_out))     ``"glorot_uniform"`` (Dense
                                                                      kernel default)
``uniform``            U(low, high), default (-0.05, 0.05)            ``"uniform"`` =
                                                                      ``RandomUniform(-0.05, 0.05)``
                                                                      (Embedding default)
``normal``             N(0, std^2)                                    ``RandomNormal(0, std)``
``zeros``              0                                              ``"zeros"`` (biases, beta)
``ones``               1                                              ``"ones"`` (BN gamma)
=====================  =============================================  ===========================

Fans follow Keras for 2-D shapes: ``fan_in, fan_out = shape``. Numbers are drawn
in float64 and cast, so a float32 table holds the float64 draw rounded.
"""
import numpy as np

from .._random import as_generator


def _fans(shape):
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(shape, rng, dtype=np.float64):
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio 2010)."""
    fan_in, fan_out = _fans(tuple(shape))
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return as_generator(rng).uniform(-limit, limit, size=shape).astype(dtype)  # shape


def uniform(shape, rng, low=-0.05, high=0.05, dtype=np.float64):
    """U(low, high); the default is Keras' Embedding initializer."""
    return as_generator(rng).uniform(low, high, size=shape).astype(dtype)  # shape


def normal(shape, rng, std=0.05, dtype=np.float64):
    """N(0, std^2)."""
    return (as_generator(rng).standard_normal(size=shape) * std).astype(dtype)  # shape


def zeros(shape, rng=None, dtype=np.float64):
    """All zeros (``rng`` is accepted and ignored, for a uniform signature)."""
    return np.zeros(shape, dtype=dtype)  # shape


def ones(shape, rng=None, dtype=np.float64):
    """All ones (``rng`` is accepted and ignored)."""
    return np.ones(shape, dtype=dtype)  # shape


INITIALIZERS = {"glorot_uniform": glorot_uniform, "uniform": uniform, "normal": normal,
                "zeros": zeros, "ones": ones}


def get(name):
    """The initializer called ``name`` (a callable passes through)."""
    if callable(name):
        return name
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise ValueError(f"unknown initializer {name!r}; choose one of {sorted(INITIALIZERS)}") from None
