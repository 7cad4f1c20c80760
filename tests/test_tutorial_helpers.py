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
