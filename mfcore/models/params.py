"""The parameters mfcore's models share: one name, one check and one meaning each.

Every model spells its constructor out in full (so ``help(BiasedMF)`` and
``inspect.signature`` show every parameter and its default, as in
scikit-learn) and stores the arguments with one line::

    def __init__(self, n_factors=15, n_epochs=20, lr=0.01, ..., verbose=0):
        store_params(self, locals())

and checks them at fit time with :func:`check_params`, which knows the shared
names below. A parameter a model alone has is checked by that model.

The shared vocabulary
---------------------
n_factors      K, the number of latent factors (an int >= 1)
hidden_units   the width of hidden layers: an int, or a tuple with one int per layer
n_epochs       passes over the training ratings (an int >= 1)
lr             the learning rate (a float > 0)
reg            the weight of the L2 penalty; *which* objective it weights is stated
               in each model's docstring (per rating, per batch or over the whole
               table), because the conventions of the seed notebooks differ
batch_size     ratings (or rows) per update (an int >= 1)
momentum       SGD momentum, in [0, 1)
dropout        the rate of dropped units, in [0, 1)
init_std       the standard deviation of the initial factors (>= 0)
early_stopping stop when the validation RMSE stops improving (True or False)
validation_fraction  the share of the training ratings carved out for validation
               when ``early_stopping=True`` and ``fit`` gets no ``valid`` (in (0, 1))
patience       epochs without improvement before stopping (an int >= 1)
rng            None, an int seed or a numpy Generator
dtype          "float32" or "float64"
engine         how an epoch runs ("loop", "vectorized", "jit", ...)
verbose        0 (silent) or 1 (a line per epoch)

Renamed parameters
------------------
Older names still work, with a ``FutureWarning`` saying the new name
(:data:`RENAMED`): ``n_hidden``, ``hidden`` and ``units`` are ``hidden_units``;
the RBMs' ``weight_decay`` is ``reg``; DeepAutoRec's ``n_hidden1, n_hidden2`` are
``hidden_units=(n_hidden1, n_hidden2)``.
"""
import warnings

import numpy as np

from .._validation import check_dtype, check_number

# name -> keyword arguments of check_number
NUMBERS = {
    "n_factors": dict(kind="int", low=1, low_inclusive=True),
    "n_epochs": dict(kind="int", low=1, low_inclusive=True),
    "lr": dict(low=0),
    "reg": dict(low=0, low_inclusive=True),
    "batch_size": dict(kind="int", low=1, low_inclusive=True),
    "momentum": dict(low=0, low_inclusive=True, high=1, high_inclusive=False),
    "dropout": dict(low=0, low_inclusive=True, high=1, high_inclusive=False),
    "init_std": dict(low=0, low_inclusive=True),
    "patience": dict(kind="int", low=1, low_inclusive=True),
    "validation_fraction": dict(low=0, high=1, high_inclusive=False),
}

# old name -> new name, for every model (DeepAutoRec's n_hidden1/2 are handled there)
RENAMED = {"n_hidden": "hidden_units", "hidden": "hidden_units", "units": "hidden_units",
           "weight_decay": "reg"}


def store_params(model, values):
    """Set the constructor arguments ``values`` (the constructor's ``locals()``) on ``model``.

    A ``renamed`` entry (the constructor's ``**renamed``) holds old parameter names:
    each is moved to its new name with a FutureWarning; anything else is a TypeError,
    as for any unexpected keyword argument.
    """
    values = dict(values)
    values.pop("self", None)
    values.pop("__class__", None)
    renamed = values.pop("renamed", None) or {}
    cls = type(model).__name__
    for old, value in renamed.items():
        new = RENAMED.get(old)
        if new is None or new not in values:
            raise TypeError(f"{cls}.__init__() got an unexpected keyword argument {old!r}")
        warnings.warn(f"{cls}: the parameter {old!r} is now called {new!r}; {old!r} will stop "
                      "working in a later version", FutureWarning, stacklevel=3)
        values[new] = value
    for name, value in values.items():
        setattr(model, name, value)


def check_hidden_units(model, n_layers=None):
    """``hidden_units`` checked: a tuple of ints >= 1 (an int is one layer); ``n_layers``
    (if given) is the number of layers the model has. TypeError for a non-int, ValueError
    for a width < 1 or the wrong number of layers (as :func:`check_number`)."""
    value = model.hidden_units

    def is_int(n):
        return isinstance(n, (int, np.integer)) and not isinstance(n, bool)

    layers = (value,) if is_int(value) else value
    what = "an int >= 1" if n_layers == 1 else (
        f"a tuple of {n_layers} ints >= 1" if n_layers else "an int >= 1 or a tuple of ints >= 1")
    message = f"The 'hidden_units' parameter of {type(model).__name__} must be {what}. Got {value!r} instead."
    if not isinstance(layers, (tuple, list)) or not all(is_int(n) for n in layers):
        raise TypeError(message)
    if len(layers) == 0 or any(n < 1 for n in layers) or (n_layers is not None and len(layers) != n_layers):
        raise ValueError(message)
    return tuple(int(n) for n in layers)


def check_params(model, *names):
    """Check ``model``'s shared parameters; returns ``{name: checked value}``.

    ``names``: the parameters to check (default: every shared one the model has).
    """
    names = names or tuple(n for n in (*NUMBERS, "dtype", "early_stopping") if hasattr(model, n))
    out = {}
    for name in names:
        value = getattr(model, name)
        if name in NUMBERS:
            out[name] = check_number(value, name, model, **NUMBERS[name])
        elif name == "dtype":
            out[name] = check_dtype(value, model)
        elif name == "early_stopping":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"The 'early_stopping' parameter of {type(model).__name__} must be "
                                f"True or False. Got {value!r} instead.")
            out[name] = bool(value)
        elif name == "verbose":
            if not isinstance(value, (bool, np.bool_, int, np.integer)) or value < 0:
                raise TypeError(f"The 'verbose' parameter of {type(model).__name__} must be 0 (silent), 1 "
                                f"(a line per epoch), True or False. Got {value!r} instead.")
            out[name] = int(value)
        else:  # pragma: no cover - a programming error
            raise KeyError(f"no shared check for parameter {name!r}")
    return out
