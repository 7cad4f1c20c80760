"""The model base class: unknown-id policy, evaluate, save/load, parameter errors;
and the baselines GlobalMean and Biases on hand-checked data."""
import json
import re

import numpy as np
import pytest

import mfcore
from mfcore import Biases, DataError, GlobalMean, ModelFileError, NotFittedError, Ratings


def test_global_mean_predicts_the_mean(tiny_ratings):
    m = GlobalMean().fit(tiny_ratings)
    assert m.global_mean_ == pytest.approx(np.mean(tiny_ratings.values))
    np.testing.assert_allclose(m.predict([0, 1], [0, 1]), m.global_mean_)


def test_biases_closed_form_single_pass_by_hand():
    # users a, b; items x, y. r(a,x)=5, r(a,y)=3, r(b,x)=4. mu = 4.
    r = Ratings.from_arrays(["a", "a", "b"], ["x", "y", "x"], [5.0, 3.0, 4.0])
    m = Biases(reg_user=1.0, reg_item=1.0, method="closed").fit(r)
    # (B1) with b_u = 0: b_x = ((5-4)+(4-4))/(1+2) = 1/3 ; b_y = (3-4)/(1+1) = -1/2
    np.testing.assert_allclose(m.item_bias_, [1 / 3, -1 / 2])
    # (B2): b_a = ((5-4-1/3)+(3-4+1/2))/(1+2) = (2/3-1/2)/3 = 1/18 ; b_b = (4-4-1/3)/2 = -1/6
    np.testing.assert_allclose(m.user_bias_, [1 / 18, -1 / 6])
    assert m.predict([0], [1])[0] == pytest.approx(4 + 1 / 18 - 1 / 2)


def test_biases_als_converges_to_the_regularized_optimum(planted):
    ratings, _, _ = planted
    m = Biases(reg_user=2.0, reg_item=3.0, n_epochs=200).fit(ratings)
    u, i, r = ratings.users, ratings.items, ratings.values
    e = r - (m.global_mean_ + m.user_bias_[u] + m.item_bias_[i])
    # stationarity of the loss: the gradient with respect to every bias is zero
    gu = -np.bincount(u, weights=e, minlength=ratings.n_users) + 2.0 * m.user_bias_
    gi = -np.bincount(i, weights=e, minlength=ratings.n_items) + 3.0 * m.item_bias_
    assert np.abs(gu).max() < 1e-8 and np.abs(gi).max() < 1e-8


def test_biases_history_has_one_entry_per_epoch(tiny_ratings):
    m = Biases(n_epochs=4).fit(tiny_ratings, valid=tiny_ratings)
    assert m.history_.epoch == [1, 2, 3, 4]
    assert set(m.history_.metrics) >= {"train_loss", "val_rmse", "seconds"}
    # train_loss is the (unregularized) training MSE of the biases after that epoch
    e = tiny_ratings.values - m.predict(tiny_ratings.users, tiny_ratings.items)
    assert m.history_["train_loss"][-1] == pytest.approx(np.mean(e ** 2), rel=1e-12)


def test_unknown_user_and_item_fall_back_to_known_biases(tiny_ratings):
    m = Biases(reg_user=0.5, reg_item=0.5).fit(tiny_ratings)
    x = tiny_ratings.item_map.to_index("x")
    z = tiny_ratings.item_map.to_index("z")  # in the map, never rated
    a = tiny_ratings.user_map.to_index("a")
    mu = m.global_mean_
    assert m.predict([-1], [x])[0] == pytest.approx(mu + m.item_bias_[x])
    assert m.predict([a], [z])[0] == pytest.approx(mu + m.user_bias_[a])
    assert m.predict([-1], [-1])[0] == pytest.approx(mu)
    with pytest.raises(KeyError, match="no training rating"):
        m.predict([a], [z], strict=True)
    assert m.predict_raw(["nobody"], ["x"])[0] == pytest.approx(mu + m.item_bias_[x])


def test_predict_rejects_out_of_range_indices(tiny_ratings):
    m = GlobalMean().fit(tiny_ratings)
    with pytest.raises(IndexError, match="out of range.*use -1"):
        m.predict([99], [0])


def test_evaluate_counts_unknown_pairs_and_reports_clipped(tiny_ratings):
    m = Biases().fit(tiny_ratings)
    test = Ratings.from_arrays(["a", "new"], ["x", "x"], [5.0, 1.0])
    rep = m.evaluate(test)
    assert rep["n"] == 2 and rep["n_unknown"] == 1
    assert rep["rmse"] <= rep["rmse_unclipped"] + 1e-12


def test_clip_uses_training_scale(tiny_ratings):
    m = Biases(reg_user=0.0, reg_item=0.0).fit(tiny_ratings)
    raw = m.predict(tiny_ratings.users, tiny_ratings.items)
    clipped = m.predict(tiny_ratings.users, tiny_ratings.items, clip=True)
    assert clipped.min() >= 1 and clipped.max() <= 5
    np.testing.assert_allclose(np.clip(raw, 1, 5), clipped)


def test_not_fitted_error_names_the_class():
    with pytest.raises(NotFittedError, match="This Biases instance is not fitted"):
        Biases().predict([0], [0])


def test_fit_rejects_empty_and_wrong_types(tiny_ratings):
    with pytest.raises(DataError, match="no training ratings"):
        Biases().fit(tiny_ratings.subset([]))
    with pytest.raises(TypeError, match="expects mfcore Ratings"):
        Biases().fit(np.zeros((3, 3)))


@pytest.mark.parametrize("param, value, exc, msg", [
    ("reg_user", -1.0, ValueError, "'reg_user' parameter of Biases must be a float >= 0"),
    ("n_epochs", 0, ValueError, "'n_epochs' parameter of Biases must be an int >= 1"),
    ("n_epochs", 2.5, TypeError, "'n_epochs' parameter of Biases must be an int"),
    ("method", "sgd", ValueError, "'method' parameter of Biases must be one of 'als', 'closed'"),
    ("reg_item", float("nan"), ValueError, "'reg_item' parameter"),
])
def test_bad_hyperparameters(tiny_ratings, param, value, exc, msg):
    with pytest.raises(exc, match=msg):
        Biases(**{param: value}).fit(tiny_ratings)


def test_set_params_rejects_unknown_names():
    with pytest.raises(ValueError, match="has no parameter 'lr'"):
        Biases().set_params(lr=0.1)


def test_save_load_round_trip(tmp_path, tiny_ratings):
    m = Biases(reg_user=3.0, n_epochs=3).fit(tiny_ratings, valid=tiny_ratings)
    path = m.save(tmp_path / "b.npz")
    back = mfcore.load_model(path)
    assert isinstance(back, Biases) and back.reg_user == 3.0
    u, i = tiny_ratings.users, tiny_ratings.items
    np.testing.assert_array_equal(back.predict(u, i), m.predict(u, i))
    assert back.history_.epoch == [1, 2, 3]
    assert back.predict_raw(["a"], ["x"])[0] == m.predict_raw(["a"], ["x"])[0]
    # no temporary file is left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.npz"]
    # and it loads with pickle disabled
    np.load(path, allow_pickle=False)["__header__"]


def test_loading_another_models_file_fails_clearly(tmp_path, tiny_ratings):
    path = GlobalMean().fit(tiny_ratings).save(tmp_path / "m.npz")
    with pytest.raises(ModelFileError, match="holds a 'mean' model.*not Biases"):
        Biases.load(path)


def test_loading_a_non_model_or_other_version_fails_clearly(tmp_path, tiny_ratings):
    junk = tmp_path / "junk.npz"
    np.savez(junk, a=np.zeros(3))
    with pytest.raises(ModelFileError, match="not an mfcore model file"):
        mfcore.load_model(junk)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not an mfcore model file"):
        mfcore.load_model(text)
    path = Biases().fit(tiny_ratings).save(tmp_path / "b.npz")
    data = dict(np.load(path, allow_pickle=False))
    header = json.loads(str(data["__header__"]))
    header["format_version"] = 999
    data["__header__"] = np.array(json.dumps(header))
    np.savez(tmp_path / "future.npz", **data)
    with pytest.raises(ModelFileError, match="format 999.*retrain"):
        mfcore.load_model(tmp_path / "future.npz")


@pytest.mark.parametrize("damage,reason", [
    ("garbage", r"it is not an \.npz archive, the format model\.save writes\. Make one by saving"),
    ("empty", r"it is empty\. Make one by saving a fitted model: model\.save\(path\)"),
    ("truncated", r"truncated or damaged .*Copy it again, or save the model again"),
    ("cut short", r"truncated or damaged .*Copy it again, or save the model again"),
    ("flipped byte", r"truncated or damaged .*Copy it again, or save the model again"),
])
def test_damaged_model_files_get_one_clear_error(tmp_path, tiny_ratings, damage, reason):
    with open(Biases().fit(tiny_ratings).save(tmp_path / "b.npz"), "rb") as fh:
        data = fh.read()
    bad = tmp_path / "bad.npz"
    bad.write_bytes({"garbage": b"\x80\x04not a model" * 10, "empty": b"",
                     "truncated": data[:len(data) // 2], "cut short": data[:-10],
                     "flipped byte": data[:len(data) // 3] + bytes([data[len(data) // 3] ^ 0xFF])
                     + data[len(data) // 3 + 1:]}[damage])
    with pytest.raises(ModelFileError) as info:
        mfcore.load_model(bad)
    message = str(info.value)
    assert message.startswith(f"{bad} is not an mfcore model file: ")
    assert re.search(reason, message), message
    assert "pickle" not in message and "zip" not in message.lower()


def test_failed_save_leaves_nothing(tmp_path, tiny_ratings, monkeypatch):
    m = Biases().fit(tiny_ratings)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError, match="disk full"):
        m.save(tmp_path / "b.npz")
    assert list(tmp_path.iterdir()) == []


def test_evaluate_names_what_it_takes():
    import mfcore
    from mfcore.data.synthetic import make_ratings

    model = mfcore.Biases().fit(make_ratings(30, 20, 200, rng=0))
    with pytest.raises(TypeError, match="evaluate takes mfcore Ratings"):
        model.evaluate([(1, 2, 3.0)])


@pytest.mark.parametrize("name, param", [("biased-mf", "n_factors"), ("mf", "n_factors"), ("svdpp", "n_factors"),
                                         ("i-autorec", "hidden_units"), ("rbm", "hidden_units")])
def test_tables_larger_than_the_available_memory_stop_before_anything_is_allocated(name, param, tiny_ratings,
                                                                                   monkeypatch):
    """A MemoryError naming the parameter and the sizes, instead of the system ending the process."""
    import mfcore.models.base as base

    monkeypatch.setattr(base, "_available_memory", lambda: 2 ** 20)  # 1 MiB available
    n = tiny_ratings.n_users + tiny_ratings.n_items
    model = mfcore.make_model(name, **{param: 2 ** 20 // (8 * n) + 1, "n_epochs": 1})
    with pytest.raises(MemoryError, match=rf"{type(model).__name__} with {param} = \d+ needs 1\.\d MiB for its "
                                          rf"tables of {tiny_ratings.n_users} users and .* alone; this machine has "
                                          r"1\.0 MiB available"):
        model.fit(tiny_ratings)
    assert not hasattr(model, "user_map_")  # stopped before fit set anything
    monkeypatch.setattr(base, "_available_memory", lambda: 2 ** 30)
    mfcore.make_model(name, **{param: 4, "n_epochs": 1}).fit(tiny_ratings)  # the same model, small: fits
