"""Small helpers shared by the tutorial scripts in ``tutorials/``.

They keep each tutorial's set-up cell short: where the committed benchmark
results are, and where figures go (a temporary folder; tutorials write nothing
else). :mod:`mfcore.tutorial.toy` reproduces the toy notebook's two
factorizations (tutorials 02 and 09).
"""
import tempfile
from pathlib import Path


def find_results(start=None):
    """The ``benchmarks/results`` folder of this checkout, or None (e.g. in an installed copy).

    Looks beside ``start`` (a tutorial's folder), the working folder and the
    package's source tree.
    """
    import mfcore

    bases = [Path(start).resolve()] if start else []
    bases += [Path.cwd(), Path(mfcore.__file__).resolve().parent.parent]
    for base in bases:
        for folder in (base.parent / "benchmarks" / "results", base / "benchmarks" / "results"):
            if folder.is_dir():
                return folder
    return None


class Figures:
    """Figures of one tutorial, saved into a fresh temporary folder ``self.dir``."""

    def __init__(self, prefix):
        self.dir = Path(tempfile.mkdtemp(prefix=f"mfcore-{prefix}-"))

    def show(self, fig, name):
        """Save ``fig`` as ``name.png``, display it (if the backend can), close it."""
        import matplotlib.pyplot as plt

        from ..plots import save_figure

        path = save_figure(fig, self.dir / f"{name}.png", dpi=80)
        print(f"[figure] {path}")
        plt.show()
        plt.close(fig)
        return path


def tutorial_dataset(consequence=""):
    """``(path, name)`` of the data a tutorial runs on: ML-100k when this machine has it.

    Otherwise ``(None, "ml-latest-small")`` (bundled), after a note that says how to
    get ML-100k and ``consequence``: what changes in the tutorial without it.
    """
    from ..data import find_dataset

    path = find_dataset("ml-100k")  # $MFCORE_DATA_DIR/ml-100k, or the download cache
    if path is not None:
        return path, "ml-100k"
    print("note: ML-100k was not found (set MFCORE_DATA_DIR to the folder holding ml-100k/, or run "
          "`mfcore fetch ml-100k`); using the bundled ml-latest-small. " + consequence)
    return None, "ml-latest-small"
