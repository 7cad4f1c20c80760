"""`mfcore tutorials`: the listing, and a tutorial written and executed as a notebook (nbclient).

The notebook packages are in the ``test`` extra (and the ``notebooks`` extra);
without them the notebook tests are skipped with the reason.
"""
from pathlib import Path

import pytest

from mfcore.cli import main

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


def test_tutorials_lists_every_tutorial_with_times_and_exercises(capsys):
    assert main(["tutorials", "--from", str(TUTORIALS)]) == 0
    out = capsys.readouterr().out
    for n in range(12):
        assert f"\n{n:02d} " in out
    assert "Backprop by hand" in out and "dense_backward, embedding_backward, dot_backward" in out
    assert "mfcore tutorials --notebook 03" in out


def test_tutorials_says_what_is_missing(tmp_path, capsys):
    assert main(["tutorials", "--from", str(TUTORIALS), "--notebook", "42"]) == 2
    assert "no tutorial 42" in capsys.readouterr().err
    assert main(["tutorials", "--from", str(TUTORIALS), "--notebook", "abc"]) == 2
    assert "no tutorial abc" in capsys.readouterr().err
    assert main(["tutorials", "--from", str(tmp_path)]) == 2  # never another folder than the one asked for
    assert f"--from {tmp_path}: no tutorials there" in capsys.readouterr().err


def test_a_tutorial_becomes_a_notebook(tmp_path, capsys):
    pytest.importorskip("jupytext", reason="needs the notebooks extra")
    import nbformat

    assert main(["tutorials", "--from", str(TUTORIALS), "--notebook", "5", "--out", str(tmp_path)]) == 0
    nb = nbformat.read(tmp_path / "05_backprop_by_hand.ipynb", as_version=4)
    kinds = {c.cell_type for c in nb.cells}
    assert kinds == {"markdown", "code"} and nb.metadata.kernelspec["name"] == "python3"
    assert any("## Exercises" in c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.slow
def test_a_tutorial_executes_as_a_notebook(tmp_path, monkeypatch):
    """Tutorial 05 (no data needed) run cell by cell in a Jupyter kernel, in fast mode."""
    for package in ("jupytext", "nbclient", "ipykernel"):
        pytest.importorskip(package, reason="needs the notebooks extra")
    import nbformat

    from mfcore._teaching_cli import write_notebook

    monkeypatch.chdir(tmp_path)
    write_notebook(TUTORIALS / "05_backprop_by_hand.py", tmp_path / "nb", execute=True, fast=True, timeout=600)
    nb = nbformat.read(tmp_path / "nb" / "05_backprop_by_hand.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    markdown = [o.data["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert any("$$" in md for md in markdown)          # docstring maths rendered as LaTeX
    assert any(md.startswith("```python") for md in markdown)  # sources as highlighted code
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the figure shown inline
    assert (tmp_path / "mfcore-output" / "tutorials" / "05" / "finite_difference_error.png").is_file()


def test_a_failing_cell_is_one_line_and_writes_nothing(tmp_path, capsys):
    for package in ("jupytext", "nbclient", "ipykernel"):
        pytest.importorskip(package, reason="needs the notebooks extra")
    folder = tmp_path / "tuts"
    folder.mkdir()
    (folder / "00_broken.py").write_text("# %% [markdown]\n# # 00 · Broken\n\n# %%\nx = 1\n\n# %%\n1 / 0\n")
    out_dir = tmp_path / "out"
    assert main(["tutorials", "--from", str(folder), "--notebook", "0", "--execute", "--out", str(out_dir)]) == 2
    err = capsys.readouterr().err
    assert "00_broken.py: cell 3 raised ZeroDivisionError: division by zero; run the script itself" in err
    assert "Traceback" not in err and not out_dir.exists()


def test_a_missing_notebook_package_is_one_line(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "jupytext", None)  # import jupytext now raises ImportError
    assert main(["tutorials", "--from", str(TUTORIALS), "--notebook", "5", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'writing a notebook needs jupytext: pip install "mfcore[notebooks]"' in err and "Traceback" not in err
