"""Shared fixtures.

ML-100k is never committed (its licence forbids it). Tests that need it read it
from ``$MFCORE_DATA_DIR/ml-100k`` (``.ci/run`` sets the variable to
``../shared/data``). When the variable is set and the files are missing the
test fails: CI must never silently skip real-data tests. When it is unset, the
sibling ``../shared/data`` of the checkout is tried, and only then are the
ML-100k tests skipped with a message saying how to enable them.
"""
import os
from pathlib import Path

import numpy as np
import pytest

from mfcore import Ratings, RatingScale

REPO = Path(__file__).resolve().parents[1]


def data_dir():
    env = os.environ.get("MFCORE_DATA_DIR")
    if env:
        return Path(env)
    guess = REPO.parent / "shared" / "data"
    return guess if guess.is_dir() else None


@pytest.fixture(scope="session")
def ml100k_dir():
    d = data_dir()
    if d is None or not (d / "ml-100k" / "u.data").is_file():
        if os.environ.get("MFCORE_DATA_DIR"):
            pytest.fail(f"MFCORE_DATA_DIR={os.environ['MFCORE_DATA_DIR']} has no ml-100k/u.data; "
                        "point it at the folder that holds ml-100k/")
        pytest.skip("ML-100k not found: set MFCORE_DATA_DIR to a folder holding ml-100k/ "
                    "(mfcore fetch ml-100k puts it in the cache)")
    return d / "ml-100k"


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


def make_planted(rng, n_users=60, n_items=40, k=3, density=0.5, noise=0.1):
    """Ratings from known rank-k factors plus Gaussian noise (no rounding)."""
    P = rng.normal(0, 1, (n_users, k))
    Q = rng.normal(0, 1, (n_items, k))
    mask = rng.random((n_users, n_items)) < density
    u, i = np.nonzero(mask)
    r = 3.0 + np.sum(P[u] * Q[i], axis=1) + rng.normal(0, noise, u.size)
    ratings = Ratings.from_arrays(u, i, r, name="planted")
    return ratings, P, Q


@pytest.fixture
def planted():
    return make_planted(np.random.default_rng(0))
