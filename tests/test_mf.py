"""FunkMF and BiasedMF (mfcore.models.mf): learning, determinism, parameters,
the unknown-id policy, save/load, and an ML-100k accuracy band."""
import numpy as np
import pytest

from helpers import F32, make_planted
from mfcore import DivergenceError, EarlyStopping, load_model, make_model
from mfcore.metrics import rmse
from mfcore.models.mf import BiasedMF, FunkMF


SMALL = dict(n_factors=3, n_epochs=30, lr=0.02, reg=0.01)


@pytest.fixture(scope="module")
def split():
    """Planted rank-3 ratings (noise 0.1) split 80/20 into train and valid."""
    ratings, _, _ = make_planted(np.random.default_rng(0))
    mask = np.random.default_rng(1).random(len(ratings)) < 0.8
    return ratings.subset(mask, "train"), ratings.subset(~mask, "valid")


@pytest.mark.parametrize("cls,K", [(BiasedMF, 3), (FunkMF, 5)])
def test_learns_planted_structure(split, cls, K):
    """Measured: BiasedMF train 0.084, valid 0.135; FunkMF (rank 3 + the offset 3
    needs K >= 4) train 0.081, valid 0.27; the global mean scores 1.85."""
    train, valid = split
    model = cls(n_factors=K, n_epochs=150, lr=0.02, reg=0.001, rng=0).fit(train, valid)
    h = model.history_
    assert len(h) == 150
    assert h["train_loss"][-1] < h["train_loss"][0] / 10
    assert model.evaluate(train)["rmse_unclipped"] < 1.2 * 0.1
    baseline = rmse(valid.values, np.full(len(valid), train.global_mean))
    assert h["val_rmse"][-1] < 0.5 * baseline


@pytest.mark.parametrize("engine,batch_size", [("loop", 1), ("vectorized", 8), ("vectorized", 64)])
def test_every_engine_learns(split, engine, batch_size):
    train, valid = split
    model = BiasedMF(**SMALL, engine=engine, batch_size=batch_size, rng=0).fit(train, valid)
    assert model.history_["val_rmse"][-1] < 0.5 * model.history_["val_rmse"][0]


def test_engines_agree_through_the_model(split):
    train, _ = split
    params = dict(SMALL, n_epochs=5, rng=3)
    a = BiasedMF(**params, engine="loop").fit(train)
    b = BiasedMF(**params, engine="jit").fit(train)
    assert np.array_equal(a.user_factors_, b.user_factors_)
    assert np.array_equal(a.item_bias_, b.item_bias_)
    c = BiasedMF(**params, engine="vectorized").fit(train)
    np.testing.assert_allclose(c.item_factors_, a.item_factors_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cls", [BiasedMF, FunkMF])
def test_float32_is_kept_end_to_end(split, cls):
    train, valid = split
    a = cls(**SMALL, dtype="float32", rng=0).fit(train, valid)
    b = cls(**SMALL, dtype=np.float64, rng=0).fit(train, valid)
    for key, value in a._get_state().items():
        assert value.dtype == np.float32, key
    assert b.user_factors_.dtype == np.float64
    # 30 epochs of float32 rounding: looser than F32, which is for 3 epochs
    np.testing.assert_allclose(a.predict(valid.users, valid.items),
                               b.predict(valid.users, valid.items), rtol=1e-3, atol=1e-4)
    assert a.predict(valid.users, valid.items).dtype == np.float64


def test_int_seed_is_idempotent_and_seeds_differ(split):
    train, _ = split
    model = BiasedMF(**SMALL, rng=7)
    first = model.fit(train).user_factors_.copy()
    assert np.array_equal(model.fit(train).user_factors_, first)
    other = BiasedMF(**SMALL, rng=8).fit(train).user_factors_
    assert not np.allclose(other, first)


def test_generator_advances_between_fits(split):
    train, _ = split
    model = BiasedMF(**SMALL, rng=np.random.default_rng(0))
    first = model.fit(train).user_factors_.copy()
    assert not np.allclose(model.fit(train).user_factors_, first)


@pytest.mark.parametrize("param,value", [("n_factors", 4), ("n_epochs", 10), ("lr", 0.01),
                                         ("reg", 0.2), ("init_std", 0.3), ("rng", 1),
                                         ("batch_size", 4)])
def test_every_hyperparameter_changes_the_result(split, param, value):
    train, valid = split
    base = dict(SMALL, rng=0)
    if param == "batch_size":  # minibatches need the (slower) vectorized engine
        base.update(engine="vectorized", n_epochs=3)
    a = BiasedMF(**base).fit(train).predict(valid.users, valid.items)
    b = BiasedMF(**dict(base, **{param: value})).fit(train).predict(valid.users, valid.items)
    assert not np.allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("engine", ["loop", "jit"])
def test_batch_size_needs_vectorized(split, engine):
    with pytest.raises(ValueError, match="engine='vectorized'"):
        BiasedMF(engine=engine, batch_size=8).fit(split[0])


def test_hogwild_refuses_an_int_seed_but_runs_with_a_generator(split):
    train, valid = split
    with pytest.raises(ValueError, match="not reproducible"):
        BiasedMF(engine="jit-hogwild", rng=0).fit(train)
    # Hogwild's lost updates slow the escape from the small initialization by a
    # varying number of epochs, so give it 80 (the serial kernel reaches 0.137;
    # Hogwild runs measured 0.137-0.141) and require the planted structure found.
    params = dict(SMALL, n_epochs=80)
    model = BiasedMF(**params, engine="jit-hogwild", dtype="float32",  # the float32 kernel
                     rng=np.random.default_rng(0)).fit(train, valid)  # compiled for test_engines_mf
    assert model.history_["val_rmse"][-1] < 0.25


@pytest.mark.parametrize("param,value,exc,msg", [
    ("lr", -0.1, ValueError, "The 'lr' parameter of BiasedMF must be a float > 0. Got -0.1 instead."),
    ("reg", "x", TypeError, "The 'reg' parameter of BiasedMF must be a float >= 0"),
    ("n_factors", 0, ValueError, "The 'n_factors' parameter of BiasedMF must be an int >= 1"),
    ("n_epochs", 2.5, TypeError, "The 'n_epochs' parameter of BiasedMF must be an int"),
    ("engine", "gpu", ValueError, "The 'engine' parameter of BiasedMF must be one of"),
    ("dtype", "float16", ValueError, "The 'dtype' parameter of BiasedMF must be float32 or float64"),
    ("init_std", -1.0, ValueError, "The 'init_std' parameter of BiasedMF"),
])
def test_parameter_errors(split, param, value, exc, msg):
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        BiasedMF(**{param: value}).fit(split[0])


def test_early_stopping_without_valid_carves_a_validation_slice(split):
    train = split[0]
    model = BiasedMF(n_factors=4, n_epochs=5, early_stopping=True, validation_fraction=0.2,
                     rng=0).fit(train)
    assert model.n_valid_ == round(0.2 * len(train))
    assert int(model.user_counts_.sum()) == len(train) - model.n_valid_  # trained on the rest
    assert "val_rmse" in model.history_ and model.history_.best_epoch is not None
    again = BiasedMF(n_factors=4, n_epochs=5, early_stopping=True, validation_fraction=0.2,
                     rng=0).fit(train)
    assert np.array_equal(again.user_factors_, model.user_factors_)  # the same slice, int rng


def test_early_stopping_restores_the_best_epoch(split):
    train, valid = split
    # lr too high for 400 epochs with little reg: validation error turns up and stops it
    model = BiasedMF(n_factors=8, n_epochs=400, lr=0.05, reg=0.0, rng=0, early_stopping=True,
                     patience=2).fit(train, valid)
    h = model.history_
    assert h.stopped_epoch is not None and len(h) < 400
    best_epoch, best = h.best("val_rmse")
    assert h.best_epoch == best_epoch
    assert model.evaluate(valid)["rmse_unclipped"] == pytest.approx(best, rel=1e-12)


def test_callbacks_argument(split):
    train, valid = split
    stop = EarlyStopping(monitor="train_loss", patience=1, min_delta=10.0)
    model = BiasedMF(**SMALL, rng=0).fit(train, valid, callbacks=[stop])
    assert len(model.history_) == 2


@pytest.mark.parametrize("engine", ["blocks", "jit", "vectorized"])
def test_divergence_raises(split, engine):
    with pytest.raises(DivergenceError, match="lower lr"):
        BiasedMF(n_factors=3, lr=50.0, engine=engine, rng=0).fit(split[0])


def test_history_and_verbose(split, capsys):
    train, valid = split
    model = BiasedMF(**dict(SMALL, n_epochs=4), rng=0, verbose=2).fit(train, valid)
    h = model.history_
    assert h.epoch == [1, 2, 3, 4]
    for key in ("train_loss", "train_rmse", "val_rmse", "val_rmse_clipped", "seconds"):
        assert len(h[key]) == 4, key
    np.testing.assert_allclose(h["train_rmse"] ** 2, h["train_loss"], rtol=1e-12)
    assert h.compile_seconds >= 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_unknown_ids_follow_the_policy(tiny_ratings):
    """Item 'z' has no rating; index -1 is a user the model never saw."""
    model = BiasedMF(n_factors=2, n_epochs=5, rng=0).fit(tiny_ratings)
    mu = tiny_ratings.global_mean
    a = tiny_ratings.user_map.to_index(["a"])[0]
    z, x = tiny_ratings.item_map.to_index(["z", "x"])
    pred = model.predict([a, -1, -1], [z, x, z])
    np.testing.assert_allclose(pred, [mu + model.user_bias_[a], mu + model.item_bias_[x], mu])
    with pytest.raises(KeyError, match="strict=False"):
        model.predict([a], [z], strict=True)
    funk = FunkMF(n_factors=2, n_epochs=5, rng=0).fit(tiny_ratings)
    np.testing.assert_allclose(funk.predict([a, -1], [z, x]), [mu, mu])


@pytest.mark.parametrize("cls", [BiasedMF, FunkMF])
def test_score_users_matches_predict(tiny_ratings, cls):
    model = cls(n_factors=2, n_epochs=5, rng=0).fit(tiny_ratings)
    users = np.arange(tiny_ratings.n_users)
    S = model.score_users(users)
    assert S.shape == (tiny_ratings.n_users, tiny_ratings.n_items)
    uu, ii = np.meshgrid(users, np.arange(tiny_ratings.n_items), indexing="ij")
    np.testing.assert_allclose(S, model.predict(uu.ravel(), ii.ravel()).reshape(S.shape),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_load_round_trip(split, tmp_path, dtype):
    train, valid = split
    model = BiasedMF(**SMALL, dtype=dtype, rng=0).fit(train, valid)
    path = model.save(tmp_path / "model.npz")
    loaded = load_model(path)
    assert type(loaded) is BiasedMF and loaded.user_factors_.dtype == np.dtype(dtype)
    assert np.array_equal(loaded.predict(valid.users, valid.items),
                          model.predict(valid.users, valid.items))
    assert loaded.history_.epoch == model.history_.epoch


def test_registry_names():
    assert type(make_model("biased-mf")) is BiasedMF
    assert type(make_model("mf", n_factors=4)) is FunkMF


def test_float32_default_engines_close(split):
    """The same fit on jit and vectorized in float32 (3 epochs): F32 apart."""
    train, _ = split
    a = BiasedMF(**dict(SMALL, n_epochs=3), dtype="float32", engine="jit", rng=0).fit(train)
    b = BiasedMF(**dict(SMALL, n_epochs=3), dtype="float32", engine="vectorized", rng=0).fit(train)
    np.testing.assert_allclose(a.user_factors_, b.user_factors_, **F32)


@pytest.mark.slow
def test_ml100k_u1_accuracy_band(ml100k_u1):
    """Default BiasedMF (engine "blocks") on u1.base -> u1.test. Measured (numba 0.68,
    rng=0): RMSE (clipped) 0.9161 (the "jit" engine's full reshuffle: 0.9157; mean over
    u1..u5 0.9056). The band stays under Surprise's 0.956."""
    train, test = ml100k_u1
    model = BiasedMF(rng=0).fit(train)
    assert model.evaluate(test)["rmse"] == pytest.approx(0.9157, abs=0.01)
