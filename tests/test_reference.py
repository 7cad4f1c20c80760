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

    cls = get_model_class("dot-mf")
    assert _tour_params(cls, fast=False)["n_epochs"] == TOUR_OVERRIDES["dot-mf"]["n_epochs"]
    assert "n_epochs" not in _tour_params(cls, fast=False, full=True)
    assert _tour_params(cls, fast=True)["n_epochs"] == 3
