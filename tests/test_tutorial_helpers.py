"""The helpers the tutorial scripts share."""
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mfcore.tutorial import Figures, find_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_find_results_from_the_tutorials_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_results(REPO / "tutorials") == REPO / "benchmarks" / "results"


def test_figures_go_to_one_predictable_folder_named_once(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    figures = Figures(3)
    assert figures.dir == Path("mfcore-output", "tutorials", "03") and figures.dir.is_dir()
    assert capsys.readouterr().out.strip() == "figures of this tutorial go to mfcore-output/tutorials/03/"
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    path = Path(figures.show(fig, "line"))
    assert path == figures.dir / "line.png" and path.stat().st_size > 500
    assert capsys.readouterr().out.strip() == "[figure line.png]"  # the folder is not repeated
    assert not plt.get_fignums()  # closed, and no window was waited for
    assert Figures(3).dir == figures.dir  # the same folder on every run


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


def test_docstring_maths_prints_as_unicode_and_renders_as_latex():
    from mfcore.tutorial import rst_to_markdown, rst_to_text

    doc = ("(U3) :math:`p_u \\leftarrow p_u + \\eta\\,(e_{ui}\\, q_i - \\lambda p_u)` with ``lr``\n"
           "and :class:`~mfcore.nn.Dense`, :math:`\\partial L/\\partial\n W_{x_b}`:\n\n"
           ".. math:: \\hat g_j = \\frac{L(\\theta + \\epsilon e_j)}{2 \\epsilon}, \\quad 10^{-6}\n\n"
           "end")
    text = rst_to_text(doc)
    assert text.splitlines()[0] == "(U3) p_u ← p_u + η (e_ui q_i - λ p_u) with lr"
    assert "Dense, ∂L/∂W_(x_b):" in text
    assert "    g\u0302_j = (L(θ + ε e_j))/(2 ε),    10⁻⁶" in text and text.endswith("end")
    assert not any(mark in text for mark in (":math:", ".. math::", "``", ":class:", "\\"))
    md = rst_to_markdown(doc)
    assert "$p_u \\leftarrow p_u + \\eta\\,(e_{ui}\\, q_i - \\lambda p_u)$ with `lr`" in md
    assert "$$ \\hat g_j = \\frac{L(\\theta + \\epsilon e_j)}{2 \\epsilon}, \\quad 10^{-6} $$" in md
    assert "and `Dense`, " in md and "$\\partial L/\\partial W_{x_b}$" in md


def test_rst_tables_stay_tables_and_sources_keep_their_code():
    import mfcore
    from mfcore.engines import mf_loop
    from mfcore.tutorial import rst_to_markdown, source

    md = rst_to_markdown(__import__("inspect").getdoc(mfcore))
    assert md.count("```") == 2 and "user bias, item bias (user_bias_, item_bias_)" in md
    src = source(mfcore.nn.losses.masked_mse)
    assert "def masked_mse(y_pred, y_true, mask=None):" in src and "return float(np.sum(e * e) / count)" in src
    assert ".. math::" not in src and "L = (Σ_j m_j (y\u0302_j - y_j)²)/(Σ_j m_j)" in src
    assert source(mf_loop.biased_epoch).count("\n") == __import__("inspect").getsource(
        mf_loop.biased_epoch).count("\n")


def test_fast_mode_prints_the_committed_full_run_beside_its_own(tmp_path, monkeypatch, capsys):
    import json

    from mfcore.tutorial import FullRun

    folder = tmp_path / "tutorials"
    folder.mkdir()
    (folder / "03_x.py").write_text("# a tutorial\n")
    record = {"rmse": "test RMSE 0.9394 after 20 epochs", "table": "a  b\n1  2", "curves": {"B=1": [1.0, 0.9]}}
    (folder / "full_runs.json").write_text(json.dumps({"tutorials": {"03": {"record": record}}}))
    monkeypatch.chdir(tmp_path)

    fast = FullRun(3, fast=True)
    assert "printed beside this run's, marked 'full run'" in capsys.readouterr().out
    fast.show("rmse", "test RMSE 0.9667 after 2 epochs")
    fast.show("table", "a  b\n3  4")
    fast.show("new key", "no full-run twin")
    out = capsys.readouterr().out
    assert out.splitlines() == ["test RMSE 0.9667 after 2 epochs",
                                "    full run (committed): test RMSE 0.9394 after 20 epochs",
                                "a  b", "3  4", "--- full run (committed):", "a  b", "1  2", "---",
                                "no full-run twin"]
    assert fast.curves("curves", {"B=1": np.array([1.2, 1.1])}) == {"B=1": [1.0, 0.9]}
    assert fast.record["curves"] == {"B=1": [1.2, 1.1]} and fast.record["rmse"].endswith("2 epochs")

    full = FullRun(3, fast=False)  # a full run records and prints only its own
    full.show("rmse", "test RMSE 0.9394 after 20 epochs")
    assert capsys.readouterr().out == "test RMSE 0.9394 after 20 epochs\n"
    assert full.curves("curves", {"B=1": [1.0]}) == {}
