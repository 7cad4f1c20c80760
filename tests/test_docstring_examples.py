"""The examples in mfcore's docstrings run and show what they print (doctest).

Found by reading the package's sources for ``>>>``, so a new example is checked
without being listed here. Examples marked ``# doctest: +SKIP`` (a download)
are shown, not run.
"""
import doctest
import importlib
from pathlib import Path

import pytest

import mfcore

ROOT = Path(mfcore.__file__).resolve().parent
MODULES = sorted("mfcore." + ".".join(p.relative_to(ROOT).with_suffix("").parts)
                 for p in ROOT.rglob("*.py")
                 if p.name != "__main__.py" and ">>> " in p.read_text(encoding="utf-8"))


def test_the_package_has_examples_to_check():
    assert len(MODULES) >= 10 and "mfcore.models.mf" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(name.replace(".__init__", ""))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             report=False)
    assert result.failed == 0, (f"{result.failed} of {result.attempted} examples in {name} failed (run "
                                "python -m doctest -v on its file to see them)")
