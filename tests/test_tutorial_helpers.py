"""The helpers the tutorial scripts share."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mfcore.tutorial import Figures, find_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_find_results_from_the_tutorials_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_results(REPO / "tutorials") == REPO / "benchmarks" / "results"


def test_figures_go_to_a_fresh_temporary_folder():
    a, b = Figures("t"), Figures("t")
    assert a.dir != b.dir and a.dir.is_dir() and not any(a.dir.iterdir())
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    path = Path(a.show(fig, "line"))
    assert path == a.dir / "line.png" and path.stat().st_size > 500
    assert not plt.get_fignums()  # closed


def test_tutorial_dataset_prefers_ml100k_and_says_what_the_fallback_changes(tmp_path, monkeypatch, capsys):
    from mfcore.tutorial import tutorial_dataset

    monkeypatch.setenv("MFCORE_DATA_DIR", str(tmp_path))  # an empty folder: no ML-100k here
    monkeypatch.setenv("MFCORE_CACHE", str(tmp_path / "cache"))  # nor in the download cache
    path, name = tutorial_dataset("The Keras figures do not apply.")
    out = capsys.readouterr().out
    assert (path, name) == (None, "ml-latest-small")
    assert "MFCORE_DATA_DIR" in out and "mfcore fetch ml-100k" in out
    assert out.rstrip().endswith("The Keras figures do not apply.")

    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text("1\t1\t5\t881250949\n")
    (folder / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995||x|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n")
    path, name = tutorial_dataset("unused")
    assert name == "ml-100k" and path is not None and capsys.readouterr().out == ""
