"""The blend model: weights learned on held-out training ratings only, save/load, bad input."""
import numpy as np
import pytest
from helpers import assert_loads_back, planted_split

from mfcore import Blend, Ratings
from mfcore.models.blend import choose_alpha, design, model_specs, ridge

FAST = ["biases", {"model": "biased-mf", "params": {"n_factors": 3, "n_epochs": 100, "lr": 0.02, "reg": 0.05}}]


@pytest.fixture(scope="module")
def split():
    return planted_split()


@pytest.fixture(scope="module")
def blend(split):
    return Blend(models=FAST, rng=0).fit(split[0])


def _noisy(test, seed):
    """The same pairs with their ratings replaced by noise."""
    noise = np.random.default_rng(seed).uniform(test.scale.low, test.scale.high, len(test))
    return Ratings.from_arrays(test.user_map.raw[test.users], test.item_map.raw[test.items], noise,
                               user_map=test.user_map, item_map=test.item_map, scale=test.scale)


def test_blend_beats_or_matches_its_best_base_on_test(split, blend):
    train, test = split
    rmse = blend.evaluate(test)["rmse"]
    bases = [m.evaluate(test)["rmse"] for m in blend.models_]
    assert rmse <= min(bases) + 0.01, (rmse, bases)
    assert rmse < max(bases)


def test_weights_are_reported_per_base_model(blend):
    w = blend.weights()
    assert list(w) == ["0:biases", "1:biased-mf"]
    assert all(np.isfinite(v) for v in w.values())
    # on planted rank-3 data the factor model carries the blend
    assert w["1:biased-mf"] > w["0:biases"]
    assert blend.alpha_ in (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


def test_the_test_set_never_reaches_the_blender(split):
    """Fitted with the test ratings as a monitor, or with those ratings replaced by noise,
    or with no monitor: the same weights, bit for bit."""
    train, test = split
    fits = [Blend(models=FAST, rng=3).fit(train, monitor=m) for m in (test, _noisy(test, 1), None)]
    for f in fits[1:]:
        assert np.array_equal(f.coef_, fits[0].coef_)
        assert f.alpha_ == fits[0].alpha_


def test_blend_is_seeded(split):
    a = Blend(models=FAST, rng=5).fit(split[0])
    b = Blend(models=FAST, rng=5).fit(split[0])
    c = Blend(models=FAST, rng=6).fit(split[0])
    assert np.array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, c.coef_)


def test_refit_false_keeps_the_holdout_models(split):
    train, test = split
    kept = Blend(models=FAST, rng=0, refit=False).fit(train)
    assert kept.models_[0].user_counts_.sum() == kept.n_fit_part_
    assert np.isfinite(kept.evaluate(test)["rmse"])


def test_plain_linear_blend_without_meta_features(split):
    plain = Blend(models=FAST, features=None, rng=0).fit(split[0])
    assert plain.coef_.shape == (3,)  # intercept + one weight per base model
    assert np.isfinite(plain.evaluate(split[1])["rmse"])


def test_unknown_users_and_items_get_the_bases_fallback(blend):
    pred = blend.predict(np.array([-1, 0, -1]), np.array([0, -1, -1]))
    assert np.all(np.isfinite(pred))
    raw = blend.predict_raw(["nobody"], [blend.item_map_.raw[0]])
    assert np.isfinite(raw).all()


def test_save_and_load_without_pickle(tmp_path, split, blend):
    back = assert_loads_back(blend, split[1], tmp_path / "blend.npz")
    assert back.weights() == blend.weights()


def test_models_given_as_objects_save_and_load(tmp_path, split):
    from mfcore import Biases, BiasedMF

    b = Blend(models=[Biases(), BiasedMF(n_factors=2, n_epochs=5, rng=1)], rng=0).fit(split[0])
    from mfcore import load_model
    back = load_model(b.save(tmp_path / "b.npz"))
    np.testing.assert_array_equal(back.predict_ratings(split[1]), b.predict_ratings(split[1]))
    assert [n for n, _ in back.specs_] == ["biases", "biased-mf"]


def test_ridge_and_alpha_choice():
    rng = np.random.default_rng(0)
    X = np.hstack([np.ones((200, 1)), rng.normal(size=(200, 3))])
    w_true = np.array([3.0, 1.0, -2.0, 0.5])
    y = X @ w_true + rng.normal(0, 0.01, 200)
    np.testing.assert_allclose(ridge(X, y, 0.0), w_true, atol=0.01)
    shrunk = ridge(X, y, 1e6)
    assert abs(shrunk[0] - y.mean()) < 0.05 and np.all(np.abs(shrunk[1:]) < 0.01)  # intercept free
    alpha, errors = choose_alpha(X, y, [0.0, 1e6], 5, 0)
    assert alpha == 0.0 and errors[0] < errors[1]


def test_design_columns():
    preds = np.array([[1.0, 2.0], [3.0, 4.0]])
    meta = np.array([[0.5, -1.0], [2.0, 0.0]])
    X = design(preds, meta)
    assert X.shape == (2, 9)
    np.testing.assert_array_equal(X[0], [1, 0.5, -1, 1, 0.5, -1, 2, 1.0, -2])


@pytest.mark.parametrize("models, match", [
    ("", "non-empty"), (["no-such-model"], "unknown model"), (["blend"], "cannot contain"),
    (["biases", "implicit-als"], "implicit-feedback"),
    ([{"model": "biases", "params": {"n_factors": 3}}], "no parameter 'n_factors'"), ([3], "a name"),
])
def test_bad_base_models_are_refused(models, match):
    with pytest.raises(ValueError, match=match):
        model_specs(models)


@pytest.mark.parametrize("params, match", [
    ({"holdout_fraction": 1.5}, "holdout_fraction"), ({"features": "ages"}, "features"),
    ({"alphas": []}, "alphas"), ({"alphas": [-1.0]}, "alphas"), ({"n_folds": 1}, "n_folds"),
])
def test_bad_parameters_are_refused(split, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Blend(models=FAST, **params).fit(split[0])


def test_too_few_held_out_ratings_say_so():
    from mfcore import DataError

    tiny = Ratings.from_arrays(np.arange(20) % 5, np.arange(20) % 4, np.ones(20) * 3)
    with pytest.raises(DataError, match="too few"):
        Blend(models=["biases"]).fit(tiny)


def test_blend_from_the_command_line(tmp_path, split, capsys):
    from mfcore.cli import main

    rows = [(u, i, r) for u, i, r in zip(split[0].users, split[0].items, split[0].values)]
    path = tmp_path / "r.csv"
    path.write_text("".join(f"{u},{i},{r:.3f}\n" for u, i, r in rows))
    out = tmp_path / "b.json"
    assert main(["train", "blend", "--data", str(path), "--param", "models=biases,biased-mf",
                 "--json", str(out), "--quiet"]) == 0
    import json
    rec = json.loads(out.read_text())
    assert rec["model"] == "blend" and np.isfinite(rec["test_rmse"])
