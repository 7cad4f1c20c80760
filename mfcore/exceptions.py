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
    """Training produced a non-finite loss (usually: the learning rate is too high)."""
