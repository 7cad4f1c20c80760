"""History, callbacks and the divergence check of run_epochs."""
import io
import math

import numpy as np
import pytest

from mfcore import DivergenceError, EarlyStopping, History, PrintProgress
from mfcore.training import run_epochs


class Toy:
    """A stand-in model with one parameter and a scripted validation curve."""

    lr = 0.5

    def __init__(self, curve):
        self.curve = list(curve)
        self.w = np.zeros(1)
        self.history_ = None

    def _get_state(self):
        return {"w": self.w}

    def _set_state(self, state):
        self.w = state["w"]


def test_history_records_and_best():
    h = History()
    h.append(1, {"train_loss": 2.0, "val_rmse": 1.0})
    h.append(2, {"train_loss": 1.0, "val_rmse": 0.9})
    h.append(3, {"train_loss": 0.5})
    assert h.epoch == [1, 2, 3]
    assert math.isnan(h["val_rmse"][2])
    assert h.best("val_rmse") == (2, 0.9)
    recs = h.to_records()
    assert recs[2] == {"epoch": 3, "train_loss": 0.5, "val_rmse": None}


def test_early_stopping_restores_best_weights():
    model = Toy([1.0, 0.8, 0.9, 0.95, 0.7])
    step = {"k": 0}

    def epoch(e):
        model.w = model.w + 1.0  # parameters change every epoch
        return 1.0

    def validate():
        return {"val_rmse": model.curve[step.__setitem__("k", step["k"] + 1) or step["k"] - 1]}

    es = EarlyStopping(patience=2)
    hist = run_epochs(model, 5, epoch, validate, [es])
    assert hist.epoch == [1, 2, 3, 4]          # stopped after 2 epochs without improvement
    assert hist.stopped_epoch == 4 and hist.best_epoch == 2
    assert model.w[0] == 2.0                   # the weights of epoch 2


def test_early_stopping_needs_the_monitored_key():
    model = Toy([])
    with pytest.raises(ValueError, match="monitors 'val_rmse'.*pass validation ratings"):
        run_epochs(model, 2, lambda e: 1.0, None, [EarlyStopping()])


def test_divergence_names_epoch_and_lr():
    model = Toy([])
    losses = iter([1.0, 3.0, float("nan")])
    with pytest.raises(DivergenceError, match=r"became nan at epoch 3; lower lr \(now 0.5\)"):
        run_epochs(model, 5, lambda e: next(losses))


def test_seconds_exclude_validation(monkeypatch):
    """A fake clock: each epoch takes 1 s and each validation 100 s; only the epochs count."""
    import time

    clock = {"now": 0.0}
    monkeypatch.setattr(time, "perf_counter", lambda: clock["now"])

    def epoch(e):
        clock["now"] += 1.0
        return 1.0

    def slow_validate():
        clock["now"] += 100.0
        return {"val_rmse": 1.0}

    hist = run_epochs(Toy([]), 2, epoch, slow_validate)
    np.testing.assert_array_equal(hist["seconds"], [1.0, 1.0])


def test_callback_returning_true_stops():
    model = Toy([])
    hist = run_epochs(model, 10, lambda e: 1.0, callbacks=[lambda e, logs, m: e == 3])
    assert hist.epoch == [1, 2, 3]


def test_print_progress_prints_one_line_per_epoch():
    out = io.StringIO()
    model = Toy([])
    run_epochs(model, 3, lambda e: 0.25, callbacks=[PrintProgress(stream=out)])
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 3 and "train_loss 0.2500" in lines[0] and lines[2].startswith("epoch   3")
