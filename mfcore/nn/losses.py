r"""Losses and penalties. Each returns ``(value, gradient)``.

``value`` is a Python float; ``gradient`` has the shape of the prediction (or
of the weight, for a penalty) and is what the last layer's ``backward`` takes.
"""
import numpy as np


def mse(y_pred, y_true):
    r"""Mean squared error over every entry, as Keras' ``loss="mse"`` reports it per batch.

    .. math:: L = \frac{1}{N} \sum_j (\hat y_j - y_j)^2, \qquad
              \partial L / \partial \hat y_j = \frac{2}{N} (\hat y_j - y_j)

    N is the number of entries (B for a (B,) or (B, 1) prediction; Keras takes
    the mean over the last axis, then over the batch, which is the same).
    ``y_true`` is reshaped to ``y_pred``'s shape.
    """
    y_true = np.reshape(y_true, y_pred.shape)
    e = y_pred - y_true  # (B, ...)
    return float(np.mean(e * e)), (2.0 / e.size) * e  # scalar, (B, ...)


def masked_mse(y_pred, y_true, mask=None):
    r"""Squared error averaged over the OBSERVED entries only (AutoRec's loss).

    .. math:: L = \frac{\sum_j m_j (\hat y_j - y_j)^2}{\sum_j m_j}, \qquad
              \partial L / \partial \hat y_j = \frac{2\, m_j (\hat y_j - y_j)}{\sum_j m_j}

    The normalisation is the number of observed entries in the whole batch
    (not per row, and not B times the row width): this is the loss of the
    Netflix notebook's AutoRec, where ``mask = (y_true != 0)``, which is also the
    default here. Unobserved entries get gradient 0 whatever the prediction.
    A batch with no observed entry has loss 0 and gradient 0.
    """
    if mask is None:
        mask = y_true != 0
    m = mask.astype(y_pred.dtype)  # (B, n)
    count = m.sum()
    if count == 0:
        return 0.0, np.zeros_like(y_pred)
    e = (y_pred - y_true) * m  # (B, n)
    return float(np.sum(e * e) / count), (2.0 / count) * e  # scalar, (B, n)


def masked_sse(y_pred, y_true, mask=None):
    r"""Sum of squared errors over the observed entries (I-AutoRec's data term).

    .. math:: L = \sum_j m_j (\hat y_j - y_j)^2, \qquad
              \partial L / \partial \hat y_j = 2\, m_j (\hat y_j - y_j)

    Not normalised at all (the AutoRec paper's objective); ``mask`` defaults to
    ``y_true != 0``.
    """
    if mask is None:
        mask = y_true != 0
    e = (y_pred - y_true) * mask.astype(y_pred.dtype)  # (B, n)
    return float(np.sum(e * e)), 2.0 * e  # scalar, (B, n)


def l2_penalty(w, l2):
    r"""Keras' ``regularizers.L2(l2)``: :math:`l_2 \sum w^2` added to the loss of EVERY
    batch, over the whole weight (every row of an embedding table, whether or not
    it is in the batch); gradient :math:`2 l_2 w`. Note: no 1/2 and no division by
    the batch size, unlike the per-rating Funk/Surprise regularisation. (In the
    update rules' convention (L2) of :mod:`mfcore.engines.optim_numpy`: c = 2 l2.)
    """
    return float(l2 * np.sum(w * w)), (2.0 * l2) * w  # scalar, w.shape
