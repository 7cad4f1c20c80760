"""Accuracy metrics.

Error metrics (MSE, RMSE, MAE) come raw and clipped to the rating scale: a model
may predict 5.3 on a 1-5 scale, and clipping it to 5 is part of the prediction
rule, so both numbers are reported. They are computed over all test ratings at
once (never as an average of per-batch RMSEs).

Ranking metrics (precision@k, recall@k, NDCG@k, hit rate, MAP) are in
:mod:`mfcore.ranking`.
"""
import numpy as np


def _pair(y_true, y_pred):
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have one shape; got {y_true.shape} and {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("cannot compute an error over no ratings; the test set is empty")
    return y_true, y_pred


def _clip(y_pred, scale):
    if scale is None:
        return y_pred
    low, high = (scale.low, scale.high) if hasattr(scale, "low") else scale
    return np.clip(y_pred, low, high)


def mse(y_true, y_pred, scale=None):
    """Mean squared error; with ``scale`` (RatingScale or (low, high)) predictions are clipped first."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean((y_true - _clip(y_pred, scale)) ** 2))


def rmse(y_true, y_pred, scale=None):
    """Root mean squared error over all ratings; clipped to ``scale`` when given."""
    return float(np.sqrt(mse(y_true, y_pred, scale)))


def mae(y_true, y_pred, scale=None):
    """Mean absolute error; clipped to ``scale`` when given."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - _clip(y_pred, scale))))


def error_report(y_true, y_pred, scale):
    """All error metrics at once, raw and clipped: the dict the CLI prints and saves."""
    return {
        "rmse": rmse(y_true, y_pred, scale),
        "mae": mae(y_true, y_pred, scale),
        "mse": mse(y_true, y_pred, scale),
        "rmse_unclipped": rmse(y_true, y_pred),
        "mae_unclipped": mae(y_true, y_pred),
        "mse_unclipped": mse(y_true, y_pred),
    }
