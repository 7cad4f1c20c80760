"""Model files and the other files mfcore writes: what load checks, how save writes, and the
index handling of predict.

* Every registered model saves and loads back (valid files are never refused), and so do
  the model files of older code (``tests/fixtures``).
* A file edited after save (another model's state, a missing, truncated, too wide or NaN
  array, any array one row or column off or of another dtype, a damaged header, an
  invalid parameter) is refused by load with one ModelFileError naming the file, the
  array or field, and the fix.
* ``save`` and ``write_json`` write atomically, create a missing folder, give the file the
  permissions of ``open(path, "w")``, and name the user's path (never their temp file)
  when they cannot write. ``write_json`` writes NaN as ``null`` (valid JSON).
* ``predict`` refuses non-integer indices and takes two scalars.
"""
import json
import os
import re
import stat
import warnings

import numpy as np
import pytest

from helpers import OldRecording, assert_loads_back, planted_split, small_model
from mfcore import Ratings, RatingScale, load_model, make_model, model_names
from mfcore._json import write_json
from mfcore.cli import main
from mfcore.data.ratings import IdMap
from mfcore.exceptions import ModelFileError

@pytest.fixture(scope="module")
def train():
    """planted_split's training stars, with a user and an item in the maps that have no rating
    (their rows are the fallback's: a state must still be finite and load)."""
    ratings, _ = planted_split(stars=True)
    users, items = ratings.user_map.raw[ratings.users], ratings.item_map.raw[ratings.items]
    return Ratings.from_arrays(users, items, ratings.values, scale=RatingScale(1, 5, 1),
                               user_map=IdMap(list(ratings.user_map.raw) + [1000]),
                               item_map=IdMap(list(ratings.item_map.raw) + [1000]))


@pytest.fixture(scope="module")
def saved(train, tmp_path_factory):
    """A small biased-mf model and its file."""
    model = make_model("biased-mf", n_factors=4, n_epochs=3, rng=0).fit(train)
    return model, model.save(tmp_path_factory.mktemp("saved") / "m.npz")


def _edited(path, out, change):
    """The model file ``path`` loaded in full, changed by ``change(arrays, header)``, saved to ``out``."""
    arrays = dict(np.load(path, allow_pickle=False))
    header = json.loads(str(arrays.pop("__header__")))
    change(arrays, header)
    np.savez(out, __header__=np.array(json.dumps(header)), **arrays)
    return out


# ------------------------------------------------------------ valid files load
@pytest.mark.parametrize("name", model_names())
def test_every_model_saves_and_loads_back(name, train, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few epochs on 1000 ratings may warn about the fit
        model = small_model(name).fit(train)
    back = assert_loads_back(model, train, tmp_path / f"{name}.npz")
    assert sorted(back._get_state()) == sorted(model._get_state())
    users = np.arange(train.n_users)
    np.testing.assert_array_equal(back.predict(users, np.full(users.size, train.n_items - 1)),
                                  model.predict(users, np.full(users.size, train.n_items - 1)))


@pytest.mark.parametrize("path", OldRecording("deep_old").model_files() + OldRecording("keras_mf_old").model_files(),
                         ids=lambda p: p.stem)
def test_model_files_of_older_code_still_load(path):
    model = load_model(path)
    assert np.all(np.isfinite(model.predict(np.arange(model.user_counts_.size),
                                            np.zeros(model.user_counts_.size, dtype=int))))


# ------------------------------------------------------------ edited files are refused
def _drop_state(arrays):
    for key in [k for k in arrays if k.startswith("state__")]:
        del arrays[key]


def _other_state(name, train, tmp_path):
    other = dict(np.load(small_model(name).fit(train).save(tmp_path / f"{name}.npz"), allow_pickle=False))

    def change(arrays, header):
        _drop_state(arrays)
        arrays.update({k: v for k, v in other.items() if k.startswith("state__")})
    return change


def _set(key, fn):
    def change(arrays, header):
        arrays[key] = fn(arrays[key].copy())
    return change


def _with_nan(a):
    a[3, 1] = np.nan
    return a


def _with_inf(a):
    a[-1] = np.inf
    return a


def _decreasing(a):
    a[5], a[6] = a[6], a[5] - 1
    return a


def _out_of_range(a):
    a[0] = 10_000
    return a


def _one_more(a):
    a[0] += 1
    return a


CASES = {
    # name: (change(arrays, header), what the message must say)
    "missing state array": (lambda a, h: a.pop("state__item_bias_"), r"state array state__item_bias_ is missing"),
    "unknown state array": (lambda a, h: a.__setitem__("state__extra_", np.zeros(3)),
                            r"state__extra_ is not state of a 'biased-mf' model"),
    "truncated item factors": (_set("state__item_factors_", lambda a: a[:-2]),
                               r"state__item_factors_ has shape \(39, 4\); it needs one row per id in item_raw \(41"),
    "truncated user bias": (_set("state__user_bias_", lambda a: a[:-1]),
                            r"state__user_bias_ has shape \(60,\); it needs one row per id in user_raw \(61"),
    "factors too wide": (_set("state__item_factors_", lambda a: np.ones((a.shape[0], 5))),
                         r"state__item_factors_ has shape \(41, 5\); it needs n_factors = 4 columns"),
    "NaN factor": (_set("state__user_factors_", _with_nan),
                   r"state__user_factors_ holds 1 NaN or infinite value \(the first at \(3, 1\): nan\)"),
    "infinite bias": (_set("state__item_bias_", _with_inf), r"state__item_bias_ holds 1 NaN or infinite"),
    "truncated rated_indptr": (_set("rated_indptr", lambda a: a[:-5]), r"rated_indptr has dtype int64 and "
                               r"shape \(57,\), not 62 integers"),
    "decreasing rated_indptr": (_set("rated_indptr", _decreasing), r"rated_indptr is not the row pointer"),
    "rated_indices out of range": (_set("rated_indices", _out_of_range),
                                   r"rated_indices holds the item index 10000, outside 0\.\.40"),
    "user_counts off": (_set("user_counts", _one_more), r"user_counts does not match rated_indptr"),
    "truncated user_counts": (_set("user_counts", lambda a: a[:-1]), r"user_counts has dtype int64 and shape"),
    "missing user_raw": (lambda a, h: a.pop("user_raw"), r"the array user_raw is missing"),
    "missing rated_indices": (lambda a, h: a.pop("rated_indices"), r"the array rated_indices is missing"),
    "header without scale": (lambda a, h: h.pop("scale"), r"its header has no 'scale' field"),
    "header without params": (lambda a, h: h.pop("params"), r"its header has no 'params' field"),
    "NaN global mean": (lambda a, h: h.__setitem__("global_mean", float("nan")),
                        r"the 'global_mean' field of its header is nan, not a finite number"),
    "bad scale": (lambda a, h: h.__setitem__("scale", [5, 1, 1]), r"the 'scale' field of its header"),
    "invalid n_factors": (lambda a, h: h["params"].__setitem__("n_factors", -1),
                          r"a parameter in its header is invalid: The 'n_factors' parameter of BiasedMF "
                          r"must be an int >= 1\. Got -1 instead"),
    "invalid lr": (lambda a, h: h["params"].__setitem__("lr", "fast"), r"The 'lr' parameter of BiasedMF"),
    "unknown parameter": (lambda a, h: h["params"].__setitem__("n_layers", 3),
                          r"the parameters in its header do not fit BiasedMF"),
    "damaged history": (lambda a, h: h.__setitem__("history", {"epoch": [1]}),
                        r"the training history in its header is incomplete"),
    "float16 factors": (_set("state__user_factors_", lambda a: a.astype(np.float16)),
                        r"the array state__user_factors_ has dtype float16; model\.save wrote it as float64"),
    "integer bias": (_set("state__item_bias_", lambda a: a.astype(np.int64)),
                     r"the array state__item_bias_ has dtype int64; model\.save wrote it as float64"),
    "float indices": (_set("rated_indices", lambda a: a.astype(np.float64)),
                      r"the array rated_indices has dtype float64; model\.save wrote it as int32"),
    "damaged dtypes field": (lambda a, h: h.__setitem__("dtypes", ["float64"]),
                             r"the 'dtypes' field of its header is \['float64'\], not a dict"),
}


@pytest.mark.parametrize("case", CASES)
def test_an_edited_model_file_is_refused_clearly(case, saved, tmp_path):
    change, reason = CASES[case]
    bad = _edited(saved[1], tmp_path / "bad.npz", change)
    with pytest.raises(ModelFileError) as info:
        load_model(bad)
    message = str(info.value)
    assert message.startswith(f"{bad} is a damaged 'biased-mf' model file: "), message
    assert re.search(reason, message), message
    assert message.endswith("save the model again (model.save(path), or `mfcore train ... --save FILE`)")


def _one_off(a, axis, more):
    """``a`` with one slice more (a copy of the last) or one fewer along ``axis``."""
    if more:
        return np.concatenate([a, np.take(a, [-1], axis=axis)], axis=axis)
    return np.take(a, np.arange(a.shape[axis] - 1), axis=axis)


def _other_dtype(a):
    """``a`` as numbers of another kind: floats as int64, integers as float64, bools as int8."""
    return a.astype({"f": np.int64, "i": np.float64, "u": np.float64, "b": np.int8}[a.dtype.kind])


@pytest.mark.parametrize("name", model_names())
def test_every_array_one_slice_off_or_of_another_dtype_is_refused(name, train, tmp_path):
    """Every numeric array of every model's file, one row (or column...) longer or shorter along
    each axis, or of another kind of number, is refused: a prediction never reads past an array
    or from numbers that save did not write."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = small_model(name).fit(train).save(tmp_path / "m.npz")
    edits = []
    with np.load(path, allow_pickle=False) as npz:
        for key in (k for k in npz.files if k != "__header__" and npz[k].dtype.kind in "fiub"):
            edits.append((key, "another dtype", _other_dtype))
            edits += [(key, f"one {'more' if more else 'fewer'} along axis {axis}",
                       lambda a, axis=axis, more=more: _one_off(a, axis, more))
                      for axis in range(npz[key].ndim) for more in (True, False)]
    assert len(edits) >= 8
    for key, what, fn in edits:
        bad = _edited(path, tmp_path / "bad.npz", _set(key, fn))
        with pytest.raises(ModelFileError, match=f"damaged '{name}' model file: ") as info:
            load_model(bad)
        named = key if not key.startswith("state__arch.") else "state__"  # the layer sizes: the net
        message = str(info.value)                                          # built from them is named
        assert named in message or "do not fit" in message or "does not match" in message, (key, what, message)


def test_a_blend_not_refitted_keeps_its_base_models_own_training_ratings(train, tmp_path):
    """refit=False: the base models learned on the fit part, so k-NN's residuals follow that part's
    ratings. The file keeps them (before, a loaded model paired them with the blend's own training
    ratings and predicted NaN), and a truncated one is still refused."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_model("blend", models="biases,item-knn", refit=False, rng=0).fit(train)
    path = model.save(tmp_path / "b.npz")
    users = np.repeat(np.arange(train.n_users), train.n_items)
    items = np.tile(np.arange(train.n_items), train.n_users)
    np.testing.assert_array_equal(load_model(path).predict(users, items), model.predict(users, items))
    bad = _edited(path, tmp_path / "bad.npz", _set("state__base1__residuals_", lambda a: a[:-1]))
    with pytest.raises(ModelFileError, match=rf"state__base1__residuals_ has shape .* needs shape "
                                             rf"\({model.n_fit_part_},\)"):  # the fit part's ratings
        load_model(bad)


def test_a_file_saved_before_the_dtypes_were_kept_loads_and_is_still_checked(saved, tmp_path):
    old = _edited(saved[1], tmp_path / "old.npz", lambda a, h: h.pop("dtypes"))
    np.testing.assert_array_equal(load_model(old).predict(np.arange(5), np.arange(5)),
                                  saved[0].predict(np.arange(5), np.arange(5)))
    bad = _edited(old, tmp_path / "bad.npz", _set("state__user_bias_", lambda a: a.astype(np.float16)))
    with pytest.raises(ModelFileError, match=r"the array state__user_bias_ has dtype float16; model\.save "
                                             r"writes float64, float32, int64, int32 or strings"):
        load_model(bad)


@pytest.mark.parametrize("other", ["biases", "svd", "dot-mf", "rbm"])
def test_a_header_with_another_models_state_is_refused(other, saved, train, tmp_path):
    bad = _edited(saved[1], tmp_path / "bad.npz", _other_state(other, train, tmp_path))
    with pytest.raises(ModelFileError, match=r"damaged 'biased-mf' model file: (the state array|its state "
                                             r"arrays do not fit|the state arrays? .* not state of)") as info:
        load_model(bad)
    assert str(bad) in str(info.value)


def test_a_neural_file_with_edited_shapes_is_refused(train, tmp_path):
    model = small_model("deep").fit(train)
    path = model.save(tmp_path / "deep.npz")
    # the output layer's kernel with one column less: numpy would broadcast it into the net
    bad = _edited(path, tmp_path / "bad.npz", _set("state__net.output.kernel", lambda a: a[:, :1][:1]))
    with pytest.raises(ModelFileError, match=r"damaged 'deep' model file: .*state__net\.output\.kernel|"
                                             r"damaged 'deep' model file: its state arrays do not fit"):
        load_model(bad)
    missing = _edited(path, tmp_path / "missing.npz", lambda a, h: a.pop("state__net.dense_2.kernel"))
    with pytest.raises(ModelFileError, match=r"state__net\.dense_2\.kernel is missing"):
        load_model(missing)


@pytest.mark.parametrize("name,key", [("deep-autorec", "state__codes_"), ("rbm", "state__W_"),
                                      ("deep-autorec", "state__out_bias_"),
                                      ("item-knn", "state__neighbor_indptr_")])
def test_a_truncated_array_that_predictions_read_is_refused(name, key, train, tmp_path):
    path = small_model(name).fit(train).save(tmp_path / "m.npz")
    bad = _edited(path, tmp_path / "bad.npz", _set(key, lambda a: a[:-1]))
    with pytest.raises(ModelFileError, match=f"damaged '{name}' model file: "):
        load_model(bad)


def test_the_command_line_reports_an_edited_file_in_one_line(saved, train, tmp_path, capsys):
    model, path = saved
    bad = _edited(path, tmp_path / "bad.npz", _other_state("biases", train, tmp_path))
    assert main(["recommend", str(bad), "--user", str(model.user_map_.raw[0])]) == 2
    err = capsys.readouterr().err
    assert f"{bad} is a damaged 'biased-mf' model file" in err and "Traceback" not in err


# ------------------------------------------------------------ writing files
def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o640
    os.umask(old)


def test_save_creates_a_missing_folder(saved, train, tmp_path):
    model, _ = saved
    path = tmp_path / "new" / "deeper" / "m.npz"
    assert model.save(path) == str(path)
    assert_loads_back(model, train, path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.npz"]  # no temp file left


def test_saved_files_get_the_permissions_of_open_for_writing(saved, tmp_path, umask_027):
    model, _ = saved
    assert _mode(model.save(tmp_path / "m.npz")) == umask_027
    write_json(tmp_path / "r.json", {"a": 1})
    assert _mode(tmp_path / "r.json") == umask_027
    # a file that is replaced keeps its own permissions, as open(path, "w") leaves them
    os.chmod(tmp_path / "m.npz", 0o604)
    model.save(tmp_path / "m.npz")
    assert _mode(tmp_path / "m.npz") == 0o604


def test_save_to_an_empty_path_is_a_value_error(saved):
    with pytest.raises(ValueError, match="the path to write the model to is empty; pass a file name"):
        saved[0].save("")


@pytest.mark.parametrize("where", ["under a file", "a folder"])
def test_a_path_save_cannot_write_is_named_in_the_error(where, saved, tmp_path):
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("x")
    path, why = {"under a file": (a_file / "sub" / "m.npz", f"{a_file} is a file, not a folder; pass another path"),
                 "a folder": (tmp_path, "it is a folder; pass a file path")}[where]
    for what, write in (("model", saved[0].save), ("JSON record", lambda p: write_json(p, {"a": 1}))):
        with pytest.raises(OSError) as info:
            write(path)
        message = str(info.value)
        assert message.startswith(f"cannot write the {what} to {path}: {why}"), message
        assert ".part" not in message and ".mfcore-" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file.txt"]  # nothing half-written


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize("path", ["/proc/m.npz", "/proc/nodir/m.npz"])
def test_save_into_proc_names_the_path(path, saved):
    with pytest.raises(OSError) as info:
        saved[0].save(path)
    message = str(info.value)
    assert message.startswith(f"cannot write the model to {path}: ") and ".part" not in message, message


def test_write_json_writes_nan_as_null(tmp_path):
    record = {"rmse": float("nan"), "best": np.float64("inf"), "f32": np.float32("nan"),
              "curve": np.array([1.5, np.nan, -np.inf]), "nested": [{"x": float("-inf")}, 2.0],
              "n": np.int64(3)}
    write_json(tmp_path / "r.json", record)

    def strict(constant):
        raise AssertionError(f"{constant} is not JSON")

    back = json.loads((tmp_path / "r.json").read_text(), parse_constant=strict)
    assert back == {"rmse": None, "best": None, "f32": None, "curve": [1.5, None, None],
                    "nested": [{"x": None}, 2.0], "n": 3}


# ------------------------------------------------------------ predict's indices
def test_predict_refuses_indices_that_are_not_integers(saved):
    model, _ = saved
    for users, items, shown in (([1.7], [0], "user index 1.7"), ([0], [np.nan], "item index nan"),
                                ([np.nan], [0], "user index nan"), ([True], [0], "user index True"),
                                (["a"], [0], "user index 'a'")):
        with pytest.raises(ValueError, match=f"{shown} is not an integer: predict takes the integer"):
            model.predict(users, items)
    # floats that hold integers are indices (a column read as floats)
    np.testing.assert_array_equal(model.predict([1.0, 2.0], [0.0, 3.0]), model.predict([1, 2], [0, 3]))


def test_predict_and_predict_raw_take_scalars(saved):
    model, _ = saved
    one = model.predict(2, 3)
    assert isinstance(one, float) and one == model.predict([2], [3])[0]
    raw_u, raw_i = model.user_map_.raw[2], model.item_map_.raw[3]
    assert model.predict_raw(raw_u, raw_i) == one
    assert model.predict(np.int64(2), 3, clip=True) == model.predict([2], [3], clip=True)[0]
    with pytest.raises(ValueError, match="users and items must have one shape"):
        model.predict(2, [3, 4])

