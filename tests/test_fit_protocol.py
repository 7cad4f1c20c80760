"""The fit protocol every registered model shares.

* The test monitor (``fit(train, monitor=test)``) is recorded and never used:
  the fitted parameters are bit-identical with and without it.
* ``early_stopping=True`` without ``valid`` carves a validation slice from the
  training ratings (or the model has no early stopping and says so).
* Every family of models, driven to explode with a huge learning rate, stops
  with a clear DivergenceError (or, for RNCF's stages, restores its best epoch
  and says so) within a few epochs.
"""
import warnings

import numpy as np
import pytest

from mfcore import DataError, DivergenceError, make_model, model_names
from mfcore.data.split import random_split
from mfcore.data.synthetic import make_ratings
from mfcore.exceptions import TrainingWarning
from helpers import small_model


@pytest.fixture(scope="module")
def data():
    ratings = make_ratings(120, 60, 3000, rng=0)
    parts = random_split(ratings, 0.2, rng=1)
    return parts.train, parts.test


def _iterative():
    return [n for n in model_names() if make_model(n).iterative]


def _state_equal(a, b):
    sa, sb = a._get_state(), b._get_state()
    assert sorted(sa) == sorted(sb)
    for key in sa:
        assert np.array_equal(np.asarray(sa[key]), np.asarray(sb[key])), key


# bpr scores ranks, not ratings: its monitor logs test_auc (tested in test_bpr.py)
@pytest.mark.parametrize("name", [n for n in _iterative() if n != "bpr"])
def test_the_monitor_changes_nothing(data, name):
    train, test = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = small_model(name).fit(train)
        watched = small_model(name).fit(train, monitor=test)
    _state_equal(plain, watched)
    h = watched.history_
    assert "test_rmse" in h and len(h["test_rmse"]) == len(h)
    assert np.all(np.isfinite(h["test_rmse"]))
    assert "test_rmse" not in (plain.history_ or {})
    # the last monitor value is the fitted model scored on the test ratings
    assert h["test_rmse"][-1] == pytest.approx(watched.evaluate(test)["rmse_unclipped"], rel=1e-9)


@pytest.mark.parametrize("name", model_names())
def test_early_stopping_without_valid_carves_from_train(data, name):
    train, _ = data
    model = small_model(name)
    if "early_stopping" not in model._param_names():
        with pytest.raises(ValueError, match="has no parameter 'early_stopping'"):
            model.set_params(early_stopping=True)
        return
    model.set_params(early_stopping=True, validation_fraction=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(train)
    assert model.n_valid_ == round(0.2 * len(train))
    assert int(model.item_counts_.sum()) == len(train) - model.n_valid_
    assert "val_rmse" in model.history_ and model.history_.best_epoch is not None


@pytest.mark.parametrize("name", [n for n in model_names() if "validation_fraction" in
                                  make_model(n)._param_names()])
def test_validation_fraction_is_checked(data, name):
    with pytest.raises(ValueError, match="'validation_fraction' parameter of"):
        small_model(name, early_stopping=True, validation_fraction=1.5).fit(data[0])


# lr that makes each family explode (the models' own defaults train fine)
EXPLODE = {
    "biased-mf": {"lr": 5.0, "engine": "jit"},
    "mf": {"lr": 5.0, "engine": "loop"},
    "biased-mf-keras": {"lr": 50.0},
    "dot-mf": {"lr": 50.0, "early_stopping": False},
    "residual-mf": {"lr": 50.0},
    "deep": {"lr": 50.0, "engine": "vectorized"},
    "i-autorec": {"optimizer": "adam", "lr": 50.0, "reg": 0.0},
    "rncf": {"mlp_lr": 0.5},
    "svdpp": {"lr": 5.0, "engine": "jit"},
    "bpr": {"lr": 5.0},
}


@pytest.mark.parametrize("name", sorted(EXPLODE))
def test_an_exploding_run_stops_with_a_clear_error(data, name):
    train, test = data
    model = small_model(name, **EXPLODE[name], n_epochs=6)
    with pytest.raises(DivergenceError, match=r"diverged at epoch \d: .*(lower lr|lower mlp_lr)"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            model.fit(train, valid=test)


def test_a_saturated_rbm_is_not_silent(data):
    # the RBM's reconstruction is an average of rating levels, so its loss cannot explode;
    # a huge lr saturates it instead, worse than the global mean, and the fit says so
    train, test = data
    with pytest.warns(TrainingWarning, match="above the global mean's"):
        small_model("rbm", lr=1e4, n_epochs=4).fit(train, valid=test)


@pytest.mark.parametrize("name", ["rbm", "bernoulli-rbm"])
def test_a_saturated_rbm_without_validation_is_not_silent(name, data):
    # no validation ratings to compare with: the fit checks its own training ratings
    train, _ = data
    with pytest.warns(TrainingWarning, match="fits its own training ratings worse than their mean"):
        small_model(name, lr=1e4, n_epochs=4).fit(train)


def test_no_model_with_its_defaults_fits_worse_than_the_mean(data):
    # the end-of-fit check is no false alarm: every iterative rating model, defaults, no validation
    # given (models that stop early carve theirs, and the validation check speaks for them)
    train, _ = data
    for name in _iterative():
        model = make_model(name)
        if model.implicit:
            continue
        if "rng" in model._param_names():
            model.set_params(rng=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(train)
        assert not [w for w in caught if "fits its own training ratings" in str(w.message)], name


def test_every_registered_model_is_exported_at_the_top_level():
    import mfcore

    for name in model_names():
        cls = make_model(name).__class__
        assert getattr(mfcore, cls.__name__) is cls and cls.__name__ in mfcore.__all__


def test_constant_ratings_warn_once_and_are_not_a_divergence():
    from mfcore.data.ratings import Ratings

    rng = np.random.default_rng(0)
    train = Ratings.from_arrays(rng.integers(0, 40, 300), rng.integers(0, 30, 300), np.full(300, 4.0),
                                duplicates="keep")
    # i-autorec also fits a fallback baseline inside its fit; mf and the neural models predict the
    # ratings from 0, so their first loss is about 16 (the ratings' mean square), not their variance
    for name in ("biased-mf", "i-autorec", "mf", "dot-mf", "deep", "resnet-mf", "rncf"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            make_model(name, n_epochs=2, rng=0).fit(train)  # biased-mf: "diverged" on a near-zero loss
        said = [w for w in caught if "every training rating is 4" in str(w.message)]
        assert len(said) == 1, name
    # the RBMs need two levels: a clear error, not a "divergence" (the softmax one's single level
    # would have been trained as a one-unit sigmoid)
    for name, msg in (("rbm", "at least two levels; 4..4 step 1 has one"), ("bernoulli-rbm", "low < high")):
        with pytest.raises(DataError, match=msg):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                make_model(name, n_epochs=2, rng=0).fit(train)


def test_autorec_divergence_is_caught_on_its_error_not_its_penalised_loss():
    train = make_ratings(100, 60, 1500, rng=0)
    with pytest.raises(DivergenceError, match=r"training error \(mean squared\) .* exceeds"):
        make_model("i-autorec", optimizer="adam", lr=1000.0, n_epochs=3, hidden_units=8, rng=0).fit(train)
    model = make_model("i-autorec", n_epochs=2, hidden_units=8, rng=0).fit(train)
    mse = model.history_["train_mse"]
    assert len(mse) == 2 and all(0.0 < m < np.var(train.values) * 100 for m in mse)


def test_early_stopping_on_too_few_ratings_says_it_in_the_models_terms():
    from mfcore.data.ratings import Ratings
    from mfcore.exceptions import DataError

    tiny = Ratings.from_arrays([1, 2, 3], [1, 2, 3], [3.0, 4.0, 5.0])
    with pytest.raises(DataError, match="early_stopping=True carves validation_fraction=0.1 of the 3 training"):
        make_model("biased-mf", n_epochs=2, early_stopping=True).fit(tiny)
