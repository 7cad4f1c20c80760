"""What the tests share: tolerances, small planted data sets and the ML-100k splits.

A test imports what it needs from here, for example::

    from helpers import F64, make_planted

pytest puts this folder on ``sys.path`` (tests/ has no ``__init__.py``), so the
import works with ``python -m pytest`` and ``pytest`` alike, from any folder.
The fixtures of ``conftest.py`` are built from these functions; no test imports
``conftest``.
"""
import importlib.util
import json
import os
from pathlib import Path

import numpy as np

from mfcore import Ratings, RatingScale

# ------------------------------------------------------------------ tolerances
# (STYLE.md section 5). A test that needs another tolerance writes it inline with
# a one-line comment saying why.
EXACT = dict(rtol=0, atol=0)  # bit-identical; prefer np.array_equal where possible
F64 = dict(rtol=1e-10, atol=1e-12)  # float64 engines that differ only in summation order
F32 = dict(rtol=1e-4, atol=1e-6)  # float32 engines after a few epochs
GRAD = 1e-6  # max relative error of a central-difference gradient check


# ------------------------------------------------------------------ synthetic data
def make_planted(rng, n_users=60, n_items=40, k=3, density=0.5, noise=0.1):
    """Ratings from known rank-k factors plus Gaussian noise (no rounding): ``(ratings, P, Q)``."""
    P = rng.normal(0, 1, (n_users, k))
    Q = rng.normal(0, 1, (n_items, k))
    mask = rng.random((n_users, n_items)) < density
    u, i = np.nonzero(mask)
    r = 3.0 + np.sum(P[u] * Q[i], axis=1) + rng.normal(0, noise, u.size)
    ratings = Ratings.from_arrays(u, i, r, name="planted")
    return ratings, P, Q


def planted_split(stars=False):
    """``make_planted(default_rng(0))`` split into 1000 training ratings and the rest (about 200).

    ``stars=True`` rounds the ratings to whole stars 1..5 first (for the RBMs,
    which model each star as a category).
    """
    ratings, _, _ = make_planted(np.random.default_rng(0))
    if stars:
        values = np.clip(np.round(ratings.values), 1, 5)
        ratings = Ratings.from_arrays(ratings.users, ratings.items, values, scale=RatingScale(1, 5, 1))
    perm = np.random.default_rng(1).permutation(len(ratings))
    return ratings.subset(perm[:1000]), ratings.subset(perm[1000:])


def raw_triples(ratings):
    """(user, item, rating) triples in row order, with raw ids."""
    return list(zip(ratings.user_map.raw[ratings.users].tolist(),
                    ratings.item_map.raw[ratings.items].tolist(), ratings.values.tolist()))


# ------------------------------------------------------------------ ML-100k
def data_dir():
    """The folder that should hold ``ml-100k/``: ``$MFCORE_DATA_DIR``, else the
    sibling ``../shared/data`` of the checkout when it exists, else None."""
    env = os.environ.get("MFCORE_DATA_DIR")
    if env:
        return Path(env)
    guess = Path(__file__).resolve().parents[2] / "shared" / "data"
    return guess if guess.is_dir() else None


def ml100k_80_20(folder):
    """The 80/20 split of the Keras reference numbers: ``random_split(ml-100k, 0.2, rng=42)``."""
    from mfcore.data import load_ml100k, random_split

    return random_split(load_ml100k(folder), 0.2, rng=42)


def ml100k_u1(folder):
    """The canonical ``u1.base`` / ``u1.test`` split."""
    from mfcore.data import load_ml100k_split

    return load_ml100k_split(folder, "u1")


# ------------------------------------------------------------------ model contracts
def assert_scores_match_predict(model, users):
    """``score_users(users)`` row by row equals ``predict`` of (u, every item)."""
    scores = model.score_users(users)
    items = np.arange(model.item_counts_.size)
    assert scores.shape == (len(users), items.size)
    for row, u in zip(scores, users):
        np.testing.assert_allclose(row, model.predict(np.full(items.size, u), items), **F64)


def assert_loads_back(model, ratings, path):
    """``model`` saved to ``path`` and loaded back: same class, parameters, history epochs
    and, bit for bit, the same predictions on ``ratings``. Returns the loaded model."""
    from mfcore import load_model

    back = load_model(model.save(path))
    assert type(back) is type(model) and back.get_params() == model.get_params()
    np.testing.assert_array_equal(back.predict_ratings(ratings), model.predict_ratings(ratings))
    if model.history_ is not None:
        assert back.history_.epoch == model.history_.epoch
    return back


class OldRecording:
    """A folder of ``tests/fixtures`` that holds what the code did before a rewrite: ``cases.json``
    (the recorded numbers), ``record.py`` (the script that recorded them, reused to run the same
    cases on today's code) and model files written by the old code (``*.npz``)."""

    def __init__(self, name):
        self.folder = Path(__file__).parent / "fixtures" / name
        self.cases = json.loads((self.folder / "cases.json").read_text())
        self.name = name

    def recorder(self):
        """``record.py`` imported as a module."""
        spec = importlib.util.spec_from_file_location(f"{self.name}_record", self.folder / "record.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def model_files(self):
        return sorted(self.folder.glob("*.npz"))


# Quick settings per model, for tests whose subject does not depend on size (the fit
# protocol, save/load round trips).
SMALL = {
    "biases": {"n_epochs": 3},
    "svd": {"n_factors": 3},
    "mf": {"n_factors": 4, "n_epochs": 3},
    "biased-mf": {"n_factors": 4, "n_epochs": 3},
    "svdpp": {"n_factors": 4, "n_epochs": 3},
    "als": {"n_factors": 4, "n_epochs": 3},
    "implicit-als": {"n_factors": 4, "n_epochs": 3},
    "bpr": {"n_factors": 4, "n_epochs": 3},
    "biased-mf-keras": {"n_factors": 4, "n_epochs": 3},
    "dot-mf": {"n_factors": 4, "n_epochs": 3},
    "i-autorec": {"hidden_units": 8, "n_epochs": 2, "lbfgs_iter": 3},
    "u-autorec": {"hidden_units": 8, "n_epochs": 2, "lbfgs_iter": 3},
    "deep-autorec": {"hidden_units": (16, 8), "n_epochs": 2},
    "rbm": {"hidden_units": 8, "n_epochs": 3},
    "bernoulli-rbm": {"hidden_units": 8, "n_epochs": 3},
    "residual-mf": {"n_factors": 4, "hidden_units": 8, "n_epochs": 3, "mf_epochs": 2},
    "deep": {"n_factors": 4, "hidden_units": (16, 8), "n_epochs": 3, "batch_size": 64},
    "resnet-mf": {"n_factors": 4, "hidden_units": 8, "n_epochs": 2},
    "rncf": {"n_factors": 4, "hidden_units": (16, 8, 8), "n_epochs": 2},
    "blend": {"models": ["biases", {"model": "biased-mf", "params": {"n_factors": 3, "n_epochs": 3}}],
              "n_folds": 2},
}


def small_model(name, **extra):
    """Model ``name`` with the SMALL settings it takes, rng 0 where it has one, and ``extra``."""
    from mfcore import make_model

    cls = type(make_model(name))
    params = {k: v for k, v in SMALL.get(name, {}).items() if k in cls._param_names()}
    if "rng" in cls._param_names():
        params["rng"] = 0
    params.update(extra)
    return cls(**params)
