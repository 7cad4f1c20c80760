"""Parameter and array checks, with scikit-learn's message template.

    The 'lr' parameter of BiasedMF must be a float > 0. Got -0.1 instead.

``TypeError`` for a wrong type, ``ValueError`` for a wrong value. Models call
these in ``fit``/``predict``, never in ``__init__``.
"""
import numbers

import numpy as np

from .exceptions import NotFittedError


def _owner(owner):
    return owner if isinstance(owner, str) else type(owner).__name__


def plain_repr(value):
    """``repr`` for messages, NumPy scalars shown as the Python value they hold.

    ``plain_repr(np.float64(-0.1))`` is ``-0.1`` and ``plain_repr(np.int64(7))`` is
    ``7``, where ``repr`` (NumPy >= 2) gives ``np.float64(-0.1)`` and ``np.int64(7)``.
    Tuples and lists are shown element by element: ``(1.0, 5.0)``.
    """
    if isinstance(value, np.generic):
        return repr(value.item())
    if type(value) in (tuple, list):
        inner = ", ".join(plain_repr(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})" if type(value) is tuple else f"[{inner}]"
    return repr(value)


def check_number(value, name, owner, *, kind="float", low=None, high=None,
                 low_inclusive=False, high_inclusive=True, allow_none=False):
    """Check a scalar hyperparameter and return it as a Python int or float.

    ``kind`` is "float" (ints accepted) or "int". ``low``/``high`` bound it.
    """
    if value is None and allow_none:
        return None
    who = _owner(owner)
    if kind == "int":
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        what = "an int"
    else:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        what = "a float"
    bounds = []
    if low is not None:
        bounds.append(f"{'>=' if low_inclusive else '>'} {low}")
    if high is not None:
        bounds.append(f"{'<=' if high_inclusive else '<'} {high}")
    desc = f"{what}{' ' + ' and '.join(bounds) if bounds else ''}"
    if not ok:
        raise TypeError(f"The '{name}' parameter of {who} must be {desc}. Got {plain_repr(value)} instead.")
    if not np.isfinite(value):
        raise ValueError(f"The '{name}' parameter of {who} must be {desc}. Got {plain_repr(value)} instead.")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        raise ValueError(f"The '{name}' parameter of {who} must be {desc}. Got {plain_repr(value)} instead.")
    return int(value) if kind == "int" else float(value)


def check_choice(value, name, owner, choices):
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        raise ValueError(
            f"The '{name}' parameter of {_owner(owner)} must be one of {opts}. Got {plain_repr(value)} instead."
        )
    return value


def check_dtype(value, owner):
    """Accept float32/float64 in any spelling and return the numpy dtype."""
    try:
        dt = np.dtype(value)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(
            f"The 'dtype' parameter of {_owner(owner)} must be float32 or float64. Got {plain_repr(value)} instead."
        )
    return dt


def check_is_fitted(model, attribute):
    """Raise NotFittedError unless ``model`` has ``attribute`` (set by fit)."""
    if getattr(model, attribute, None) is None:
        name = type(model).__name__
        raise NotFittedError(
            f"This {name} instance is not fitted yet. Call 'fit' with training ratings before using it."
        )


def check_finite(array, what):
    """Raise ValueError naming the first non-finite entry of ``array``."""
    array = np.asarray(array)
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(
            f"{what} contain {int(bad.sum())} NaN or infinite values (first at position {first}); "
            "drop or impute them first"
        )
    return array
