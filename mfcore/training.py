"""The epoch loop shared by every iterative model: history, callbacks, divergence check.

A callback is any callable ``cb(epoch, logs, model) -> bool | None``; returning
True stops training. Two are built in: :class:`EarlyStopping` and
:class:`PrintProgress` (``verbose=1`` simply adds the latter).

Epochs are numbered from 1, as Keras prints them.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .exceptions import DivergenceError


@dataclass
class History:
    """Per-epoch metrics, Keras-shaped: ``epoch`` plus ``metrics[name] -> list``.

    Standard keys: ``train_loss``, ``val_rmse``, ``val_rmse_clipped``, ``seconds``
    (the training time of that epoch alone: no validation, no compilation).
    ``compile_seconds`` holds Numba compilation time, measured apart.
    """

    epoch: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    compile_seconds: float = 0.0
    stopped_epoch: int | None = None
    best_epoch: int | None = None

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
                "best_epoch": self.best_epoch}


class EarlyStopping:
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    With ``restore_best=True`` the model's parameters are set back to those of
    the best epoch when training ends (Keras' ``restore_best_weights`` plus a
    ModelCheckpoint of the best weights).
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
            raise ValueError(f"EarlyStopping monitors {self.monitor!r} but the epoch logs only have "
                             f"{sorted(logs)}; pass validation ratings to fit or monitor 'train_loss'")
        value = logs[self.monitor]
        if self._better(value):
            self.best_value, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = {k: np.array(v, copy=True) for k, v in model._get_state().items()}
            return False
        self.wait += 1
        return self.wait >= self.patience

    def on_train_end(self, model):
        if self.restore_best and self.best_state is not None:
            model._set_state(self.best_state)
        if model.history_ is not None:
            model.history_.best_epoch = self.best_epoch


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
            if key == "seconds":
                continue
            parts.append(f"{key} {value:.4f}")
        if "seconds" in logs:
            parts.append(f"{logs['seconds']:.3f}s")
        print("  ".join(parts), file=self.stream or sys.stdout, flush=True)
        return False


def run_epochs(model, n_epochs, train_epoch, validate=None, callbacks=(), verbose=0):
    """Run ``train_epoch(epoch) -> train_loss`` ``n_epochs`` times; return a History.

    ``validate()`` returns a dict of validation metrics, computed after the epoch
    and outside its timing. The loss is checked after every epoch: a NaN or
    infinite loss raises :class:`DivergenceError` naming the epoch and the
    learning rate (Keras' TerminateOnNaN, but loud).
    """
    history = History(compile_seconds=getattr(model, "_compile_seconds", 0.0))
    model.history_ = history
    callbacks = list(callbacks or ())
    if verbose and not any(isinstance(c, PrintProgress) for c in callbacks):
        callbacks.append(PrintProgress(every=verbose if isinstance(verbose, int) and verbose > 1 else 1))
    try:
        for epoch in range(1, n_epochs + 1):
            t0 = time.perf_counter()
            loss = train_epoch(epoch)
            seconds = time.perf_counter() - t0
            if not np.isfinite(loss):
                lr = getattr(model, "lr", None)
                hint = f"; lower lr (now {lr})" if lr is not None else "; lower the learning rate"
                raise DivergenceError(
                    f"{type(model).__name__}: the training loss became {loss} at epoch {epoch}{hint} "
                    f"or raise reg")
            logs = {"train_loss": float(loss)}
            if validate is not None:
                logs.update(validate())
            logs["seconds"] = seconds
            history.append(epoch, logs)
            stop = False
            for cb in callbacks:
                stop = bool(cb(epoch, logs, model)) or stop
            if stop:
                history.stopped_epoch = epoch
                break
    finally:
        for cb in callbacks:
            if hasattr(cb, "on_train_end"):
                cb.on_train_end(model)
    return history
