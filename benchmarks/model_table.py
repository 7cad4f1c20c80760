"""The README's model table, from the committed results (no fitting).

Each rating model with its default settings: the seed notebook it reproduces (if
any), its test RMSE on ML-100k u1 and the u1-u5 mean (``results/cv_ml100k.json``,
``bench_cv.py``) and on the bundled ml-latest-small 80/20 split of the tour
(``results/tour.json``, ``bench_tour.py``), each beside the biases baseline of the
same split; ranking models are listed apart.

    python benchmarks/model_table.py        # prints the markdown table
"""
import json

from _common import RESULTS, flags
from mfcore.models.registry import get_model_class, model_names


def main():
    cv = json.loads((RESULTS / "cv_ml100k.json").read_text())["rows"]
    tour = json.loads((RESULTS / "tour.json").read_text())["models"]
    u1_biases = next(f["rmse"] for f in cv["biases"]["folds"] if f["fold"] == "u1")
    small_biases = tour["biases"]["full"]["test_rmse"]

    def fmt(x, base):
        if x is None:
            return "not run"
        mark = " (better)" if x < base else " (worse)" if x > base else ""
        return f"{x:.4f}{mark}"

    lines = ["| model | reproduces | ML-100k u1 | u1-u5 mean | ml-latest-small 80/20 |",
             "|---|---|---|---|---|",
             f"| *biases, for comparison* | | {u1_biases:.4f} | {cv['biases']['rmse_mean']:.4f} | "
             f"{small_biases:.4f} |"]
    for name in model_names():
        cls = get_model_class(name)
        if cls.implicit or name == "biases":
            continue
        row = cv.get(name)
        u1 = next((f["rmse"] for f in row["folds"] if f["fold"] == "u1"), None) if row else None
        mean = row["rmse_mean"] if row and len(row["folds"]) == 5 else None
        small = tour[name]["full"]["test_rmse"] if name in tour else None
        nb = f"{cls.notebook} notebook" if cls.notebook else ""
        lines.append(f"| `{name}` | {nb} | {fmt(u1, u1_biases)} | "
                     f"{'not run' if mean is None else f'{mean:.4f}'} | {fmt(small, small_biases)} |")
    print("\n".join(lines))


if __name__ == "__main__":
    flags(__doc__)
    main()
