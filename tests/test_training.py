"""History, callbacks, the monitor and the divergence guard of run_epochs."""
import io
import math
import warnings

import numpy as np
import pytest

from mfcore import DivergenceError, EarlyStopping, History, PrintProgress
from mfcore.exceptions import DivergenceWarning
from mfcore.training import DivergenceGuard, run_epochs


class Toy:
    """Something with one parameter whose state a callback can save and restore."""

    def __init__(self):
        self.w = np.zeros(1)

    def _get_state(self):
        return {"w": self.w}

    def _set_state(self, state):
        self.w = state["w"]


def scripted(values, key="val_rmse"):
    """A ``validate`` that returns the next value of a scripted curve."""
    it = iter(values)
    return lambda: {key: next(it)}


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
    assert History.from_dict(h.to_dict()).to_records() == recs
    with pytest.raises(ValueError, match="no 'test_rmse'"):
        h.best("test_rmse")


def test_early_stopping_restores_best_weights():
    model = Toy()

    def epoch(e):
        model.w = model.w + 1.0  # parameters change every epoch
        return 1.0

    es = EarlyStopping(patience=2)
    hist = run_epochs(5, epoch, scripted([1.0, 0.8, 0.9, 0.95, 0.7]), callbacks=[es], model=model)
    assert hist.epoch == [1, 2, 3, 4]          # stopped after 2 epochs without improvement
    assert hist.stopped_epoch == 4 and hist.best_epoch == 2
    assert model.w[0] == 2.0                   # the weights of epoch 2


def test_early_stopping_needs_the_monitored_key():
    with pytest.raises(ValueError, match="monitors 'val_rmse'.*pass validation ratings"):
        run_epochs(2, lambda e: 1.0, callbacks=[EarlyStopping()], model=Toy())


def test_monitor_metrics_reach_the_history_but_no_callback():
    seen = []
    hist = run_epochs(3, lambda e: 1.0, validate=scripted([0.9, 0.8, 0.7]),
                      monitor=scripted([0.5, 0.4, 0.3], "test_rmse"),
                      callbacks=[lambda e, logs, m: seen.append(sorted(logs))])
    assert list(hist["test_rmse"]) == [0.5, 0.4, 0.3]
    assert list(hist["val_rmse"]) == [0.9, 0.8, 0.7]
    assert all("test_rmse" not in keys for keys in seen) and all("val_rmse" in keys for keys in seen)
    # early stopping cannot be pointed at the monitor
    with pytest.raises(ValueError, match="monitoring only"):
        run_epochs(2, lambda e: 1.0, monitor=scripted([0.5, 0.4], "test_rmse"),
                   callbacks=[EarlyStopping(monitor="test_rmse")], model=Toy())


def test_nan_loss_names_epoch_and_lr():
    losses = iter([1.0, 3.0, float("nan")])
    with pytest.raises(DivergenceError, match=r"diverged at epoch 3: the training loss became nan "
                                              r"\(lr 0.5\).*lower lr"):
        run_epochs(5, lambda e: next(losses), lr=0.5, guard=DivergenceGuard(fix="lower lr"))


def test_a_finite_explosion_is_caught():
    # the RNCF run of issue 13: 1.07, 0.79, then 978 -- finite, three orders of magnitude up
    losses = iter([1.07, 0.79, 978.0, 0.5])
    with pytest.raises(DivergenceError, match=r"epoch 3: the training loss grew to 978"):
        run_epochs(4, lambda e: next(losses), label="RNCF")


def test_a_first_epoch_explosion_is_caught_by_the_variance_bound():
    guard = DivergenceGuard(loss_bound=100 * 0.5)
    with pytest.raises(DivergenceError, match=r"epoch 1: the training loss 3e\+08 exceeds 50"):
        run_epochs(3, lambda e: 3e8, guard=guard)
    assert len(run_epochs(3, lambda e: 49.0, guard=guard)) == 3  # under the bound: fine


def test_validation_far_above_the_mean_and_rising_is_caught():
    guard = DivergenceGuard(baseline_val_rmse=1.0)
    with pytest.raises(DivergenceError, match=r"epoch 3: the validation RMSE rose to 2.98"):
        run_epochs(4, lambda e: 1.0, scripted([0.95, 0.9, 2.98, 1.0]), guard=guard)
    # a slow start far above the mean that keeps falling is not a divergence
    hist = run_epochs(4, lambda e: 1.0, scripted([3.5, 3.2, 2.9, 2.5]), guard=guard)
    assert len(hist) == 4


def test_restore_action_restores_the_best_epoch_and_says_so():
    model = Toy()
    losses = iter([1.0, 0.8, 0.9, 50.0, 0.1])

    def epoch(e):
        model.w = np.array([float(e)])
        return next(losses)

    with pytest.warns(DivergenceWarning, match="restored epoch 2"):
        hist = run_epochs(5, epoch, guard=DivergenceGuard(action="restore"), model=model)
    assert hist.epoch == [1, 2, 3] and model.w[0] == 2.0
    assert hist.diverged["epoch"] == 4 and hist.diverged["restored_epoch"] == 2
    assert hist.diverged["restored_by"] == "train_loss"
    # a NaN in the very first epoch has nothing to restore: it raises
    with pytest.raises(DivergenceError):
        run_epochs(3, lambda e: float("nan"), guard=DivergenceGuard(action="restore"), model=Toy())


def test_seconds_exclude_validation_and_monitor(monkeypatch):
    """A fake clock: each epoch takes 1 s, each validation 100 s and each monitor 1000 s;
    only the epochs count."""
    import time

    clock = {"now": 0.0}
    monkeypatch.setattr(time, "perf_counter", lambda: clock["now"])

    def epoch(e):
        clock["now"] += 1.0
        return 1.0

    def slow_validate():
        clock["now"] += 100.0
        return {"val_rmse": 1.0}

    def slow_monitor():
        clock["now"] += 1000.0
        return {"test_rmse": 1.0}

    hist = run_epochs(2, epoch, slow_validate, slow_monitor, compile_seconds=0.25)
    np.testing.assert_array_equal(hist["seconds"], [1.0, 1.0])
    assert hist.compile_seconds == 0.25


def test_callback_returning_true_stops():
    hist = run_epochs(10, lambda e: 1.0, callbacks=[lambda e, logs, m: e == 3])
    assert hist.epoch == [1, 2, 3] and hist.stopped_epoch == 3


def test_print_progress_prints_one_line_per_epoch():
    out = io.StringIO()
    run_epochs(3, lambda e: 0.25, callbacks=[PrintProgress(stream=out)])
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 3 and "train_loss 0.2500" in lines[0] and lines[2].startswith("epoch   3")


def test_verbose_prints_the_monitor(capsys):
    run_epochs(2, lambda e: 0.5, monitor=scripted([0.9, 0.8], "test_rmse"), verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "test_rmse 0.9000" in out[0]


def test_no_warning_on_a_healthy_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_epochs(5, lambda e: 1.0 / e, scripted([1.0, 0.9, 0.8, 0.8, 0.79]),
                   guard=DivergenceGuard(baseline_val_rmse=1.1, action="restore"), model=Toy())


def test_rounding_noise_on_a_loss_near_zero_is_not_a_divergence():
    """A loss that falls to ~1e-11 and wobbles by 3x (an interpolating ALS fit) is healthy; the same
    relative jump above the floor is a divergence."""
    quiet = iter([1e-3, 1e-11, 3e-11, 2e-11])
    hist = run_epochs(4, lambda e: next(quiet), guard=DivergenceGuard(min_loss=1e-6))
    assert len(hist) == 4 and not hist.diverged
    loud = iter([1.0, 0.5, 6.0])
    with pytest.raises(DivergenceError, match="grew to 6"):
        run_epochs(3, lambda e: next(loud), guard=DivergenceGuard(min_loss=1e-6))
