"""The epoch loop shared by every iterative model: history, callbacks, monitor, divergence guard.

:func:`run_epochs` runs ``train_epoch(epoch) -> train_loss`` for ``n_epochs``
epochs. After each epoch it

1. checks the loss with a :class:`DivergenceGuard` (NaN/inf, a loss that grew
   far beyond its best value or beyond a bound from the target's variance);
2. asks ``validate()`` for validation metrics (``val_rmse``, ...), which the
   callbacks may act on (early stopping, best-epoch restore) and which the guard
   also checks (a validation RMSE far above the global mean's and rising);
3. asks ``monitor()`` for the *monitor* metrics (``test_rmse``, ...): the
   per-epoch test curve that the tutorials compare with Keras. They go to the
   history only; no callback and no check ever sees them, so a run with and
   without the monitor trains exactly the same parameters.

A callback is any callable ``cb(epoch, logs, model) -> bool | None``; returning
True stops training. Two are built in: :class:`EarlyStopping` and
:class:`PrintProgress` (``verbose=1`` adds the latter, and prints the monitor
too). Epochs are numbered from 1, as Keras prints them.

The loop takes no model: what it needs (a name and learning rate for error
messages, the object whose state a callback may save) is passed in, so a
model's sub-network (RNCF's stages) runs through the same loop.
"""
from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .exceptions import DivergenceError, DivergenceWarning

MONITOR_PREFIX = "test_"


@dataclass
class History:
    """Per-epoch metrics, Keras-shaped: ``epoch`` plus ``metrics[name] -> list``.

    Standard keys: ``train_loss``; ``val_rmse``, ``val_rmse_clipped``,
    ``val_mae`` (validation ratings: the ``valid`` argument of ``fit`` or the
    slice carved from the training ratings); ``test_rmse``, ``test_rmse_clipped``,
    ``test_mae`` (the ``monitor`` ratings, recorded only); ``seconds`` (the
    training time of that epoch alone: no validation, no monitor, no
    compilation). ``compile_seconds`` holds Numba compilation time, measured
    apart. ``diverged`` describes a divergence that was handled by restoring
    the best epoch (None otherwise).
    """

    epoch: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    compile_seconds: float = 0.0
    stopped_epoch: int | None = None
    best_epoch: int | None = None
    diverged: dict | None = None

    def append(self, epoch, logs):
        self.epoch.append(int(epoch))
        known = set(self.metrics)
        for key, value in logs.items():
            if key not in self.metrics:
                self.metrics[key] = [float("nan")] * (len(self.epoch) - 1)
            self.metrics[key].append(float(value))
        for key in known - set(logs):
            self.metrics[key].append(float("nan"))

    def __getitem__(self, key):
        return np.asarray(self.metrics[key], dtype=np.float64)

    def __contains__(self, key):
        return key in self.metrics

    def __len__(self):
        return len(self.epoch)

    def best(self, key="val_rmse", mode="min"):
        """``(epoch, value)`` of the best entry of ``key``."""
        if key not in self.metrics:
            raise ValueError(f"history has no {key!r}; it has {sorted(self.metrics)}")
        values = self[key]
        if values.size == 0 or np.all(np.isnan(values)):
            raise ValueError(f"history has no values of {key!r}")
        pos = int(np.nanargmin(values) if mode == "min" else np.nanargmax(values))
        return self.epoch[pos], float(values[pos])

    def to_records(self):
        """A list of ``{"epoch": e, **metrics}`` dicts (the CLI's JSON ``history``)."""
        out = []
        for k, e in enumerate(self.epoch):
            row = {"epoch": e}
            for key, values in self.metrics.items():
                v = values[k]
                row[key] = None if v != v else v  # NaN -> null in JSON
            out.append(row)
        return out

    def to_dict(self):
        return {"epoch": list(self.epoch), "metrics": {k: list(v) for k, v in self.metrics.items()},
                "compile_seconds": self.compile_seconds, "stopped_epoch": self.stopped_epoch,
                "best_epoch": self.best_epoch, "diverged": self.diverged}

    @classmethod
    def from_dict(cls, d):
        return cls(epoch=list(d["epoch"]), metrics={k: list(v) for k, v in d["metrics"].items()},
                   compile_seconds=d["compile_seconds"], stopped_epoch=d["stopped_epoch"],
                   best_epoch=d["best_epoch"], diverged=d.get("diverged"))


def _snapshot(model):
    return {k: np.array(v, copy=True) for k, v in model._get_state().items()}


class EarlyStopping:
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    With ``restore_best=True`` the model's parameters are set back to those of
    the best epoch when training ends (Keras' ``restore_best_weights`` plus a
    ModelCheckpoint of the best weights). It can watch validation metrics or
    ``train_loss``, never the monitor's ``test_*`` metrics (they are not in the
    logs a callback receives).
    """

    def __init__(self, monitor="val_rmse", patience=3, min_delta=0.0, restore_best=True, mode="min"):
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.restore_best = restore_best
        self.mode = mode
        self.best_value = None
        self.best_epoch = None
        self.best_state = None
        self.wait = 0

    def _better(self, value):
        if self.best_value is None:
            return True
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def __call__(self, epoch, logs, model):
        if self.monitor not in logs:
            hint = (" (test metrics are recorded for monitoring only; early stopping uses "
                    "validation ratings)" if self.monitor.startswith(MONITOR_PREFIX) else "")
            raise ValueError(f"EarlyStopping monitors {self.monitor!r} but the epoch logs only have "
                             f"{sorted(logs)}; pass validation ratings to fit or monitor "
                             f"'train_loss'{hint}")
        value = logs[self.monitor]
        if self._better(value):
            self.best_value, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = _snapshot(model)
            return False
        self.wait += 1
        return self.wait >= self.patience

    def on_train_end(self, model, history):
        if self.restore_best and self.best_state is not None:
            model._set_state(self.best_state)
        history.best_epoch = self.best_epoch


class PrintProgress:
    """Print one line per ``every`` epochs: epoch, each log value and the epoch's seconds."""

    def __init__(self, every=1, stream=None):
        self.every = max(1, int(every))
        self.stream = stream

    def __call__(self, epoch, logs, model):
        if epoch % self.every:
            return False
        parts = [f"epoch {epoch:3d}"]
        for key, value in logs.items():
            if key == "seconds" or key.endswith("_seconds"):
                continue
            parts.append(f"{key} {value:.4f}")
        if "seconds" in logs:
            parts.append(f"{logs['seconds']:.3f}s")
        print("  ".join(parts), file=self.stream or sys.stdout, flush=True)
        return False


@dataclass
class DivergenceGuard:
    """When a run counts as diverged, and what happens then.

    After epoch ``e`` the run has diverged when

    * the training loss is NaN or infinite;
    * ``loss_bound`` is set and the loss exceeds it (models whose loss is a mean
      squared error of ratings set it to ``BOUND_FACTOR`` times the variance of
      their target, which the global mean already reaches, and at least 10 times
      its mean square, where a model that predicts from 0 starts);
    * ``error_bound`` is set and the epoch's ``train_mse`` log (the mean squared
      error part of a loss that also carries a large penalty, as AutoRec's
      does) exceeds it (``BOUND_FACTOR`` times the variance of the ratings);
    * ``e >= 2`` and the loss exceeds ``growth`` times the lowest loss of the
      earlier epochs (a healthy run's loss falls or wobbles by a few percent)
      and ``min_loss`` (rounding noise on a loss near zero, as when ALS
      interpolates a small training set, is not a divergence);
    * ``e >= 2``, ``baseline_val_rmse`` is set (the global mean's RMSE on the
      validation ratings; models set it when they have at least
      ``MIN_VALID`` validation ratings) and the validation RMSE is above
      ``val_factor`` times it and above ``val_rise`` times its own best so far
      (far worse than predicting the mean, and getting worse: a slow start is
      not a divergence).

    ``action="raise"`` raises :class:`DivergenceError` naming the epoch, the
    loss, the learning rate and the fix. ``action="restore"`` (for models whose
    own design makes spikes expected, like RNCF's last stages) stops, restores
    the best epoch (by ``val_rmse`` when there is validation, else by
    ``train_loss``), records it in ``History.diverged`` and warns with
    :class:`DivergenceWarning`. A NaN or infinite loss before any finite epoch
    raises in both modes.
    """

    BOUND_FACTOR = 100.0
    MIN_VALID = 20

    growth: float = 10.0
    min_loss: float = 0.0
    loss_bound: float | None = None
    error_bound: float | None = None
    val_factor: float = 2.0
    val_rise: float = 1.25
    baseline_val_rmse: float | None = None
    action: str = "raise"
    fix: str = "lower lr"

    def check(self, epoch, loss, logs, history):
        """A sentence saying why the run diverged at ``epoch``, or None."""
        if not np.isfinite(loss):
            return f"the training loss became {loss}"
        if self.loss_bound is not None and loss > self.loss_bound:
            return (f"the training loss {loss:.4g} exceeds {self.loss_bound:.4g} ({self.BOUND_FACTOR:g} x "
                    "the variance of the training target, or more: see DivergenceGuard)")
        mse = logs.get("train_mse")
        if self.error_bound is not None and mse is not None and not mse <= self.error_bound:
            return (f"the training error (mean squared) {mse:.4g} exceeds {self.error_bound:.4g} "
                    f"({self.BOUND_FACTOR:g} x the variance of the training ratings)")
        if epoch >= 2 and len(history):
            prev = np.nanmin(history["train_loss"])
            if loss > self.growth * prev and loss > self.min_loss:
                return (f"the training loss grew to {loss:.4g}, more than {self.growth:g} x its "
                        f"lowest value {prev:.4g}")
            val = logs.get("val_rmse")
            if (val is not None and self.baseline_val_rmse and "val_rmse" in history
                    and val > self.val_factor * self.baseline_val_rmse
                    and val > self.val_rise * np.nanmin(history["val_rmse"])):
                return (f"the validation RMSE rose to {val:.4g}, above {self.val_factor:g} x the "
                        f"global mean's {self.baseline_val_rmse:.4g} and {self.val_rise:g} x its "
                        f"best {np.nanmin(history['val_rmse']):.4g}")
        return None


def run_epochs(n_epochs, train_epoch, validate=None, monitor=None, callbacks=(), verbose=0, *,
               model=None, label=None, lr=None, compile_seconds=0.0, guard=None):
    """Run ``train_epoch(epoch) -> train_loss`` ``n_epochs`` times; return a History.

    Parameters
    ----------
    validate : callable, optional
        ``validate() -> dict`` of validation metrics, after each epoch and
        outside its timing. Callbacks and the guard see them.
    monitor : callable, optional
        ``monitor() -> dict`` of monitor metrics (keys ``test_*``), recorded in
        the history only.
    callbacks : sequence
        ``cb(epoch, logs, model)``; an ``on_train_end(model, history)`` method
        is called at the end.
    verbose : int
        Print every ``verbose`` epochs (the monitor included).
    model : object with ``_get_state``/``_set_state``, optional
        What callbacks and a best-epoch restore act on.
    label, lr : str, float
        Name and learning rate for error messages.
    compile_seconds : float
        Recorded in ``History.compile_seconds``.
    guard : DivergenceGuard, optional
        Default: ``DivergenceGuard()`` (NaN/inf and a 10x loss growth raise).
    """
    history = History(compile_seconds=float(compile_seconds))
    guard = guard if guard is not None else DivergenceGuard()
    label = label or (type(model).__name__ if model is not None else "model")
    callbacks = list(callbacks or ())
    printer = PrintProgress(every=verbose if isinstance(verbose, int) and verbose > 1 else 1) \
        if verbose else None
    best = {"key": None, "value": None, "epoch": None, "state": None}
    try:
        for epoch in range(1, n_epochs + 1):
            t0 = time.perf_counter()
            loss = float(train_epoch(epoch))
            seconds = time.perf_counter() - t0
            logs = {"train_loss": loss}
            if np.isfinite(loss) and validate is not None:
                logs.update(validate())
            reason = guard.check(epoch, loss, logs, history)
            if reason is not None:
                if guard.action == "restore" and best["state"] is not None:
                    _restore_best(history, best, model, epoch, loss, reason, label)
                    break
                lr_txt = f" (lr {lr:g})" if isinstance(lr, (int, float)) else ""
                raise DivergenceError(
                    f"{label} diverged at epoch {epoch}: {reason}{lr_txt}. Training stopped; "
                    f"{guard.fix} and fit again")
            if monitor is not None:
                shown = {**logs, **monitor()}
            else:
                shown = logs
            shown["seconds"] = seconds
            logs["seconds"] = seconds
            history.append(epoch, shown)
            if guard.action == "restore" and model is not None:
                _track_best(best, logs, epoch, model)
            if printer is not None:
                printer(epoch, shown, model)
            stop = False
            for cb in callbacks:
                stop = bool(cb(epoch, dict(logs), model)) or stop
            if stop:
                history.stopped_epoch = epoch
                break
    finally:
        for cb in callbacks:
            if hasattr(cb, "on_train_end"):
                cb.on_train_end(model, history)
    return history


def user_stacklevel():
    """The ``stacklevel`` that points a warning at the first caller outside mfcore."""
    import os

    package = os.path.dirname(os.path.abspath(__file__))
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _track_best(best, logs, epoch, model):
    key = "val_rmse" if "val_rmse" in logs else "train_loss"
    value = logs[key]
    if best["value"] is None or value < best["value"]:
        best.update(key=key, value=value, epoch=epoch, state=_snapshot(model))


def _restore_best(history, best, model, epoch, loss, reason, label):
    model._set_state(best["state"])
    history.stopped_epoch = epoch - 1
    history.best_epoch = best["epoch"]
    history.diverged = {"epoch": epoch, "loss": loss, "reason": reason,
                        "restored_epoch": best["epoch"], "restored_by": best["key"]}
    warnings.warn(f"{label}: {reason} at epoch {epoch}; restored epoch {best['epoch']} "
                  f"(best {best['key']} {best['value']:.4f})", DivergenceWarning, stacklevel=user_stacklevel())
