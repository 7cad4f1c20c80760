"""Fixtures shared by the tests; the functions behind them live in ``helpers.py``.

Import helpers with ``from helpers import ...``; never import this file.

ML-100k is never committed (its licence forbids it). Tests that need it read it
from ``$MFCORE_DATA_DIR/ml-100k`` (``.ci/run`` sets the variable to
``../shared/data``). When the variable is set and the files are missing the
test fails: CI must never silently skip real-data tests. When it is unset, the
sibling ``../shared/data`` of the checkout is tried, and only then are the
ML-100k tests skipped with a message saying how to enable them.
"""
import os

import numpy as np
import pytest

import helpers
from mfcore import Ratings, RatingScale


@pytest.fixture(scope="session")
def ml100k_dir():
    d = helpers.data_dir()
    if d is None or not (d / "ml-100k" / "u.data").is_file():
        if os.environ.get("MFCORE_DATA_DIR"):
            pytest.fail(f"MFCORE_DATA_DIR={os.environ['MFCORE_DATA_DIR']} has no ml-100k/u.data; "
                        "point it at the folder that holds ml-100k/")
        pytest.skip("ML-100k not found: set MFCORE_DATA_DIR to a folder holding ml-100k/ "
                    "(mfcore fetch ml-100k puts it in the cache)")
    return d / "ml-100k"


@pytest.fixture(scope="session")
def ml100k_80_20(ml100k_dir):
    """``(train, test)``: ``random_split(ml-100k, 0.2, rng=42)``, the Keras reference split."""
    return helpers.ml100k_80_20(ml100k_dir)


@pytest.fixture(scope="session")
def ml100k_u1(ml100k_dir):
    """``(train, test)``: ``u1.base`` / ``u1.test``."""
    return helpers.ml100k_u1(ml100k_dir)


@pytest.fixture
def tiny_ratings():
    """Twelve ratings typed by hand: a user with one rating, an item nobody rated
    (item 'z' is in the map only through `item_map`), both ends of the 1-5 scale."""
    users = ["a", "a", "a", "b", "b", "b", "c", "c", "d", "d", "d", "e"]
    items = ["x", "y", "w", "x", "y", "v", "w", "v", "x", "w", "v", "y"]
    values = [5, 3, 1, 4, 2, 1, 5, 4, 1, 5, 3, 2]
    from mfcore.data.ratings import IdMap

    item_map = IdMap(["v", "w", "x", "y", "z"])
    return Ratings.from_arrays(users, items, values, item_map=item_map,
                               scale=RatingScale(1, 5, 1), name="tiny")


@pytest.fixture
def planted():
    """``(ratings, P, Q)``: :func:`helpers.make_planted` with ``default_rng(0)``."""
    return helpers.make_planted(np.random.default_rng(0))


@pytest.fixture(scope="session")
def planted_split():
    """``(train, test)``: :func:`helpers.planted_split`, 1000 training ratings."""
    return helpers.planted_split()
