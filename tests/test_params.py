"""One vocabulary: the shared parameter names, their checks, and the renamed ones."""
import warnings

import pytest
from helpers import planted_split

from mfcore import DeepAutoRec, DeepMF, IAutoRec, ResidualMF, RNCF, SoftmaxRBM
from mfcore.cli import main
from mfcore.models.params import NUMBERS, RENAMED, check_params
from mfcore.models.registry import get_model_class, model_names

OLD_NAMES = {"n_hidden", "hidden", "units", "weight_decay", "n_hidden1", "n_hidden2"}


def test_no_model_uses_an_old_name():
    for name in model_names():
        params = set(get_model_class(name)._param_names())
        assert not params & OLD_NAMES, (name, params & OLD_NAMES)


def test_shared_names_mean_one_thing_everywhere():
    """Every model that has a shared parameter rejects the same bad value with the same message."""
    bad = {"n_factors": 0, "n_epochs": 0, "lr": 0.0, "reg": -1.0, "batch_size": 0, "momentum": 1.0,
           "dropout": 1.0, "patience": 0, "validation_fraction": 1.0}
    assert set(bad) <= set(NUMBERS)
    for name in model_names():
        cls = get_model_class(name)
        for param, value in bad.items():
            if param not in cls._param_names():
                continue
            model = cls(**{param: value})
            with pytest.raises(ValueError, match=f"The '{param}' parameter of {cls.__name__} must be"):
                check_params(model, param)


@pytest.mark.parametrize("cls, old, value, new", [
    (IAutoRec, "n_hidden", 7, 7), (SoftmaxRBM, "n_hidden", 7, 7), (SoftmaxRBM, "weight_decay", 0.5, 0.5),
    (ResidualMF, "hidden", 9, 9), (DeepMF, "units", (8, 4), (8, 4)), (RNCF, "units", (8, 4, 4), (8, 4, 4)),
])
def test_old_names_still_work_with_a_future_warning(cls, old, value, new):
    with pytest.warns(FutureWarning, match=f"'{old}' is now called '{RENAMED[old]}'"):
        model = cls(**{old: value})
    assert getattr(model, RENAMED[old]) == new
    assert old not in model.get_params()


def test_deep_autorec_old_layer_names():
    with pytest.warns(FutureWarning, match="hidden_units=\\(n_hidden1, n_hidden2\\)"):
        model = DeepAutoRec(n_hidden1=32, n_hidden2=8)
    assert model.hidden_units == (32, 8) and "n_hidden1" not in model.get_params()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DeepAutoRec(hidden_units=(32, 8))  # the new name: no warning


def test_an_unknown_keyword_is_still_an_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_hiden'"):
        IAutoRec(n_hiden=5)


def test_old_name_on_the_command_line(tmp_path, capsys):
    train, test = planted_split(stars=True)
    rows = zip(train.user_map.raw[train.users], train.item_map.raw[train.items], train.values)
    path = tmp_path / "r.csv"
    path.write_text("".join(f"{u},{i},{r:g}\n" for u, i, r in rows))
    assert main(["train", "rbm", "--data", str(path), "--param", "n_hidden=4", "--param", "n_epochs=1",
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "hidden_units" in captured.out + captured.err


def test_a_model_file_saved_with_an_old_name_loads_without_a_warning(tmp_path):
    """A file written before the rename (header params with n_hidden) loads under the new name."""
    import json

    import numpy as np

    from mfcore import load_model

    train, _ = planted_split(stars=True)
    model = SoftmaxRBM(hidden_units=3, n_epochs=1, rng=0).fit(train)
    path = model.save(tmp_path / "rbm.npz")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays["__header__"]))
    header["params"]["n_hidden"] = header["params"].pop("hidden_units")
    header["params"]["weight_decay"] = header["params"].pop("reg")
    arrays["__header__"] = np.array(json.dumps(header))
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = load_model(old)
    assert back.hidden_units == 3 and back.reg == model.reg
    np.testing.assert_array_equal(back.predict_ratings(train), model.predict_ratings(train))


@pytest.mark.parametrize("name", [n for n in model_names() if "verbose" in get_model_class(n)._param_names()])
def test_verbose_takes_a_level_or_a_bool_and_nothing_else(name):
    train, _ = planted_split()
    for bad in ("abc", -1, 0.5):
        with pytest.raises(TypeError, match=r"The 'verbose' parameter of \w+ must be 0 \(silent\), 1"):
            get_model_class(name)(verbose=bad).fit(train)
