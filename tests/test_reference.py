"""The packaged Keras reference curves agree with the benchmark record they come from."""
import json
from pathlib import Path

import pytest

from mfcore.reference import keras_curve, keras_entries, keras_reference

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "keras_reference.json"


def test_packaged_copy_matches_the_benchmark_record():
    full = json.loads(RESULTS.read_text())["results"]
    entries = keras_entries()
    assert len(entries) >= 10
    for e in entries:
        split = {("ml-100k", "random:0.2"): "80/20", ("ml-100k", "u1"): "u1",
                 ("ml-latest-small", "random:0.2"): "ml-latest-small 80/20"}[(e["dataset"], e["split"])]
        rec = full[e["keras_key"]][split]
        assert e["final"] == rec["final"] and e["best"] == rec["best"]
        assert e["val_rmse_clipped"] == pytest.approx(rec["epochs"].get("val_rmse_clipped", []), abs=1e-6)


def test_lookup_by_mfcore_names():
    e = keras_curve("biased-mf-keras")
    assert e["settings"]["batch_size"] == 128 and len(e["val_rmse_clipped"]) == 15
    assert e["best"]["epoch"] == 1 + min(range(15), key=lambda k: e["val_rmse_clipped"][k])
    assert keras_reference("ml-100k", "random:0.2", 42, "biased-mf-keras") == e["final"]["val_rmse_clipped"]
    assert keras_reference("ml-100k", "random:0.2", 7, "biased-mf-keras") is None  # another split
    full = json.loads(RESULTS.read_text())["results"]
    small = full["biased_mf"]["ml-latest-small 80/20"]["final"]["val_rmse_clipped"]
    assert keras_reference("ml-latest-small", "random:0.2", 42, "biased-mf-keras") == small
    assert keras_reference("ml-latest-small", "random:0.2", 7, "biased-mf-keras") is None
    assert keras_reference("ml-25m", "random:0.2", 42, "biased-mf-keras") is None
    assert keras_curve("residual-mf", variant="k10-400")["settings"]["K"] == 10


def test_reference_after_fewer_epochs_reads_the_curve():
    e = keras_curve("dot-mf")
    assert keras_reference("ml-100k", "random:0.2", 42, "dot-mf", epoch=10) == e["val_rmse_clipped"][9]
    assert keras_reference("ml-100k", "random:0.2", 42, "dot-mf", epoch=99) == e["final"]["val_rmse_clipped"]


def test_tour_marks_shortened_models(capsys):
    from mfcore.tour import TOUR_OVERRIDES, _tour_params
    from mfcore.models.registry import get_model_class

    cls = get_model_class("rbm")
    assert _tour_params(cls, fast=False)["n_epochs"] == TOUR_OVERRIDES["rbm"]["n_epochs"]
    assert "n_epochs" not in _tour_params(cls, fast=False, full=True)
    assert _tour_params(cls, fast=True)["n_epochs"] == 3
    assert "n_epochs" not in _tour_params(get_model_class("dot-mf"), fast=False)  # its defaults


TOUR_RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "tour.json"


def test_packaged_tour_defaults_match_the_benchmark_record():
    from mfcore.reference import _tour_runs, tour_reference
    from mfcore.tour import TOUR_OVERRIDES

    record = json.loads(TOUR_RESULTS.read_text())["models"]
    (run,) = _tour_runs()
    assert (run["data"], run["split"], run["seed"]) == ("ml-latest-small", "random:0.2", 42)
    for name, row in run["rows"].items():
        assert row["test_rmse"] == pytest.approx(record[name]["full"]["test_rmse"], abs=1e-6)
    for name in TOUR_OVERRIDES:  # every model the tour runs faster has its default figure beside it
        assert tour_reference("ml-latest-small", "random:0.2", 42, name) is not None
    assert tour_reference("ml-latest-small", "random:0.2", 7, "rbm") is None  # another split
    assert tour_reference("ml-latest-small", "random:0.2", 42, "no-such-model") is None


def test_the_tour_record_ran_the_tour_settings_within_001_of_the_defaults():
    # a changed override without a re-run of benchmarks/bench_tour.py fails here
    from mfcore.tour import TOUR_OVERRIDES

    record = json.loads(TOUR_RESULTS.read_text())["models"]
    for name, override in TOUR_OVERRIDES.items():
        tour, full = record[name]["tour"], record[name]["full"]
        assert tour["changed_params"] == override, name
        assert abs(tour["test_rmse"] - full["test_rmse"]) <= 0.01, name


def test_tour_table_shows_notebook_and_default_columns():
    from mfcore.models.registry import get_model_class, model_names
    from mfcore.tour import format_table

    marked = {n: get_model_class(n).notebook for n in model_names() if get_model_class(n).notebook}
    assert set(marked.values()) <= {"toy", "Netflix", "ML-1M", "residual"}
    assert {"dot-mf", "deep", "residual-mf", "rncf"} <= set(marked)
    assert not {"biased-mf", "i-autorec", "rbm", "blend"} & set(marked)
    row = {"test_rmse": 0.9, "test_mae": 0.7, "fit_seconds": 1.0, "keras_rmse": None}
    text = format_table([dict(row, model="deep", notebook="Netflix", default_rmse=0.9123),
                         dict(row, model="biases", notebook=None, default_rmse=None, test_rmse=0.95)])
    head, _, deep, biases = text.splitlines()[:4]
    assert head.split()[:4] == ["model", "notebook", "test", "RMSE"] and "defaults" in head
    assert deep.split()[:4] == ["deep", "Netflix", "0.9000", "0.9123"]
    assert biases.split()[:4] == ["biases", "-", "0.9500", "-"]
