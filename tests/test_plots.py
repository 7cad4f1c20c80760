"""Tests of mfcore.plots: each plot draws the data it claims, errors are clear."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mfcore import DataError, History, Ratings, RatingScale  # noqa: E402
from mfcore import plots  # noqa: E402
from mfcore.data.synthetic import make_ratings  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def synth():
    return make_ratings(n_users=300, n_items=120, n_ratings=4000, rng=0, timestamps=True)


def bar_heights(ax):
    return np.array([p.get_height() for p in ax.patches])


def test_matplotlib_is_imported_lazily():
    code = "import sys, mfcore.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rating_distribution_counts_each_level(tiny_ratings):
    ax = plots.plot_rating_distribution(tiny_ratings)
    # tiny values: 5 3 1 4 2 1 5 4 1 5 3 2 -> levels 1..5 occur 3, 2, 2, 2, 3 times
    np.testing.assert_array_equal(bar_heights(ax), [3, 2, 2, 2, 3])
    np.testing.assert_array_equal([p.get_x() + p.get_width() / 2 for p in ax.patches],
                                  [1, 2, 3, 4, 5])
    ax = plots.plot_rating_distribution(tiny_ratings, normalize=True)
    assert bar_heights(ax).sum() == pytest.approx(1.0)


def test_rating_distribution_half_steps_and_continuous():
    r = Ratings.from_arrays([1, 2, 3], [1, 1, 1], [0.5, 4.5, 4.5], scale=RatingScale(0.5, 5, 0.5))
    h = bar_heights(plots.plot_rating_distribution(r))
    assert h.size == 10 and h[0] == 1 and h[8] == 2 and h.sum() == 3
    c = make_ratings(n_ratings=2000, scale=None, rng=0)
    assert bar_heights(plots.plot_rating_distribution(c)).sum() == 2000


@pytest.mark.parametrize("log", [False, True])
def test_ratings_per_user_and_item(synth, log):
    ax = plots.plot_ratings_per_user(synth, log=log)
    assert bar_heights(ax).sum() == synth.n_users  # every synthetic user has a rating
    assert ax.get_xscale() == ("log" if log else "linear")
    ax = plots.plot_ratings_per_item(synth, log=log, bins=10)
    assert bar_heights(ax).sum() == synth.n_items


def test_per_item_leaves_out_unrated_items(tiny_ratings):
    ax = plots.plot_ratings_per_item(tiny_ratings, bins=3)
    assert bar_heights(ax).sum() == 4  # item 'z' has no rating


def test_ratings_per_day(synth):
    ax = plots.plot_ratings_per_day(synth)
    (line,) = ax.lines
    y = np.asarray(line.get_ydata())
    assert y.sum() == len(synth)
    days = synth.timestamps // 86400
    assert y.size == days.max() - days.min() + 1
    assert y[0] == np.sum(days == days.min())
    assert np.asarray(line.get_xdata())[0] == np.datetime64(int(days.min()), "D")


def test_ratings_per_day_errors(tiny_ratings):
    with pytest.raises(DataError, match="has no timestamps"):
        plots.plot_ratings_per_day(tiny_ratings)
    ms = Ratings.from_arrays([1, 2], [1, 2], [1, 2], timestamps=[0, 10**15])
    with pytest.raises(DataError, match="Unix seconds"):
        plots.plot_ratings_per_day(ms)


def test_items_per_release_year():
    info = pd.DataFrame({"title": list("abcde"),
                         "year": pd.array([1995, 1995, None, 2001, 1980], dtype="Int64")},
                        index=[10, 11, 12, 13, 99])
    r = Ratings.from_arrays([1, 1, 2, 3], [10, 11, 12, 13], [1, 2, 3, 4], item_info=info)
    ax = plots.plot_items_per_release_year(r)
    x = [p.get_x() + p.get_width() / 2 for p in ax.patches]
    assert x == [1995, 2001] and list(bar_heights(ax)) == [2, 1]  # item 99 is not in the data
    assert "1 without a year" in ax.get_title()


def test_items_per_release_year_errors(tiny_ratings):
    with pytest.raises(DataError, match="no item_info with a 'year' column"):
        plots.plot_items_per_release_year(tiny_ratings)
    info = pd.DataFrame({"year": [np.nan]}, index=["x"])
    r = Ratings.from_arrays(["a"], ["x"], [3.0], item_info=info)
    with pytest.raises(DataError, match="no item .* has a year"):
        plots.plot_items_per_release_year(r)


def test_data_plots_check_input():
    with pytest.raises(TypeError, match="expects mfcore Ratings"):
        plots.plot_ratings_per_user([1, 2, 3])


def make_history():
    h = History()
    for e, (loss, val) in enumerate([(1.0, 1.1), (0.8, 0.95), (0.7, 0.93)], start=1):
        h.append(e, {"train_loss": loss, "val_rmse": val, "seconds": 0.1})
    return h


def test_plot_history_lines_equal_values():
    h = make_history()
    fig, ax = plt.subplots()
    out = plots.plot_history(h, ax=ax, label="run A")
    assert out is ax
    assert [ln.get_label() for ln in ax.lines] == ["run A: train_loss", "run A: val_rmse"]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), h["val_rmse"])


def test_plot_history_from_model_and_dict():
    class Fitted:
        history_ = make_history()

    ax = plots.plot_history(Fitted(), keys="val_rmse")
    assert len(ax.lines) == 1 and list(ax.lines[0].get_ydata()) == [1.1, 0.95, 0.93]
    ax = plots.plot_history({"loss": [3, 2, 1], "val_loss": [4, 3, 3]}, keys=("loss", "val_loss"))
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [4, 3, 3])
    np.testing.assert_array_equal(ax.lines[1].get_xdata(), [1, 2, 3])


def test_plot_history_skips_missing_keys_and_errors():
    h = History()
    h.append(1, {"train_loss": 0.5})
    assert len(plots.plot_history(h).lines) == 1  # no val_rmse: only train_loss is drawn
    with pytest.raises(ValueError, match=r"none of the keys \['val_mae'\].*train_loss"):
        plots.plot_history(h, keys="val_mae")

    class Unfitted:
        history_ = None

    with pytest.raises(ValueError, match="fit it first"):
        plots.plot_history(Unfitted())
    with pytest.raises(TypeError, match="plot_history expects"):
        plots.plot_history(3.0)


def test_plot_learning_curves():
    curves = {"mfcore": np.array([0.99, 0.95, 0.94]), "Keras": [1.0, 0.96, 0.95, 0.93]}
    ax = plots.plot_learning_curves(curves, ylabel="test RMSE")
    assert [ln.get_label() for ln in ax.lines] == ["mfcore", "Keras"]
    np.testing.assert_array_equal(ax.lines[1].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), curves["Keras"])
    assert ax.get_ylabel() == "test RMSE"
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.plot_learning_curves({})
    with pytest.raises(ValueError, match="must be 1-D"):
        plots.plot_learning_curves({"x": [[1, 2]]})


def test_save_figure(tmp_path):
    ax = plots.plot_learning_curves({"a": [1, 2]})
    path = plots.save_figure(ax.figure, tmp_path / "deep" / "er" / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    path.write_bytes(b"old")
    plots.save_figure(ax, path)  # an Axes is accepted; the file is replaced
    assert path.read_bytes()[:4] == b"\x89PNG"
    svg = plots.save_figure(ax.figure, tmp_path / "c.svg")
    assert b"<svg" in svg.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.svg", "deep"]  # no temp files left


def test_save_figure_failure_leaves_no_file(tmp_path):
    ax = plots.plot_learning_curves({"a": [1, 2]})
    with pytest.raises(ValueError):
        plots.save_figure(ax.figure, tmp_path / "x.notaformat")
    assert list(tmp_path.iterdir()) == []

