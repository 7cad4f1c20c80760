"""Do the defaults travel? A validation search on the training ratings of ML-100k u1.base and of the
bundled ml-latest-small (80/20, rng 42) for the models whose defaults were tuned on ML-100k.

For each data set, 10% of the training ratings (``random_split(train, 0.1, rng=0)``) are held
out; every cell of a small grid around the defaults is fitted on the other 90% and scored on
that slice (RMSE clipped). No test rating is read. A default "travels" when it is within 0.005
of the best cell on both sets; the table says where it does not, and by how much.

    python benchmarks/bench_travel.py                    # about 20 minutes on 2 CPUs
    python benchmarks/bench_travel.py --models biased-mf svdpp

Writes ``benchmarks/results/defaults_travel.json`` and ``.md`` (merging rows).
"""
import argparse
import itertools
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from _common import RESULTS, load_average, markdown_table, ml100k_dir, write_results  # noqa: E402

GRIDS = {  # model -> {parameter: values}; the default is always among them
    "biased-mf": {"lr": [0.005, 0.01, 0.02], "reg": [0.02, 0.05, 0.1]},
    "svdpp": {"lr": [0.007, 0.01], "reg": [0.02, 0.05, 0.1]},
    "als": {"reg": [0.08, 0.12, 0.2]},
    "item-knn": {"n_neighbors": [20, 40, 80], "shrinkage": [25.0, 100.0, 400.0]},
    "i-autorec": {"reg": [100.0, 300.0, 1000.0, 3000.0]},
}
TRAVELS = 0.005


def training_sets():
    from mfcore.data import load_dataset, load_ml100k_split, random_split

    yield "ml-100k u1.base", load_ml100k_split(ml100k_dir(), "u1")[0]
    yield "ml-latest-small 80/20 train", random_split(load_dataset("ml-latest-small"), 0.2, rng=42).train


def main(argv=None):
    from mfcore.data import random_split
    from mfcore.models.registry import get_model_class

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", choices=list(GRIDS), default=list(GRIDS))
    args = p.parse_args(argv)
    out_json = RESULTS / "defaults_travel.json"
    rows = json.loads(out_json.read_text())["rows"] if out_json.exists() else {}
    load_before = load_average()
    for data_name, train in training_sets():
        fit, val = (lambda s: (s.train, s.test))(random_split(train, 0.1, rng=0))
        for name in args.models:
            cls = get_model_class(name)
            default = cls()
            grid = GRIDS[name]
            cells = []
            for values in itertools.product(*grid.values()):
                params = dict(zip(grid, values))
                if "rng" in default.get_params():
                    params["rng"] = 0
                rmse = cls(**params).fit(fit).evaluate(val)["rmse"]
                is_default = all(getattr(default, k) == v for k, v in zip(grid, values))
                cells.append({"params": dict(zip(grid, values)), "val_rmse": rmse, "default": is_default})
                print(f"{data_name} {name} {dict(zip(grid, values))} {rmse:.4f}{' (default)' if is_default else ''}",
                      flush=True)
            rows.setdefault(name, {})[data_name] = cells
    data = {"rows": rows, "load_average": [load_before, load_average()], "travels_within": TRAVELS}
    table = []
    for name, sets in rows.items():
        for data_name, cells in sets.items():
            best = min(cells, key=lambda c: c["val_rmse"])
            dflt = next((c for c in cells if c["default"]), None)
            gap = dflt["val_rmse"] - best["val_rmse"] if dflt else None
            table.append([name, data_name, dflt["val_rmse"] if dflt else None, best["val_rmse"],
                          ", ".join(f"{k}={v}" for k, v in best["params"].items()),
                          gap, "yes" if gap is not None and gap <= TRAVELS else "no"])
    text = ["# Do the defaults travel? Validation search on training ratings only", "",
            "10% of each training set held out (rng 0), every grid cell fitted on the rest; RMSE clipped on "
            f"the held-out slice. A default travels when it is within {TRAVELS} of the best cell. Load "
            f"average before/after: {data['load_average'][0]} / {data['load_average'][1]}.", "",
            markdown_table(["model", "training set", "default", "best cell", "best settings", "gap",
                            "travels"], table), ""]
    write_results("defaults_travel", data, "\n".join(text))


if __name__ == "__main__":
    main()
