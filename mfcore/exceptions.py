"""Exceptions raised by mfcore.

Every error says what is wrong, where (file, row, parameter) and how to fix it.
All of them subclass the built-in exception a caller would expect, so
``except ValueError`` keeps working.
"""


class DataError(ValueError):
    """Ratings that cannot be used: malformed files, NaN, duplicates, empty data."""


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit`` was called."""


class ModelFileError(ValueError):
    """A saved model file that is not an mfcore model, or of another model or version."""


class ChecksumError(OSError):
    """A downloaded archive whose checksum does not match the published one."""


class DivergenceError(FloatingPointError):
    """Training diverged: a non-finite or exploding loss, or a validation RMSE far above the
    global mean's and rising (usually: the learning rate is too high). See
    :class:`mfcore.training.DivergenceGuard`."""


class DivergenceWarning(UserWarning):
    """A divergence that a model expects by design was handled by restoring its best epoch."""


class TrainingWarning(UserWarning):
    """A fit that finished but learned less than the global mean: its validation RMSE is above
    the global mean's or, without validation ratings, it fits its own training ratings worse
    than their mean does."""
