r"""A fused BatchNormalization -> ReLU (-> Dropout) layer, with Numba kernels.

The Netflix notebook's hidden block normalises, rectifies and drops out a
(B, n) array. As three NumPy layers that is about twenty passes over the
array per batch (each op allocates a temporary), which at B = 1024 and n = 512
costs more than the matrix products. :class:`BNReLUDropout` does the same
maths in three passes forward and two backward. Its readable twin is the chain
``BatchNormalization(n)``, ``ReLU()``, ``Dropout(rate)`` of
:mod:`mfcore.nn`; the two give the same numbers (tested to 1e-10), including
the dropout masks (drawn the same way from the same Generator).

Forward (training; inference uses the moving statistics):
:math:`\hat x = (z - \mu_B)/\sqrt{\sigma_B^2 + \epsilon}`, :math:`y = \gamma \hat x + \beta`,
:math:`a = \max(y, 0)\, m / (1 - p)`. Backward, with the gate
:math:`s = [y > 0]\, m / (1 - p)` and :math:`g = \delta \odot s`:
:math:`\partial L/\partial\beta = \sum_b g_b`, :math:`\partial L/\partial\gamma = \sum_b g_b \hat x_b`,
:math:`\partial L/\partial z = \frac{\gamma}{B \sqrt{\sigma_B^2+\epsilon}}
(B g - \partial L/\partial\beta - \hat x\, \partial L/\partial\gamma)`.
"""
import numpy as np

from .._jit import jit
from .._random import as_generator
from .layers import Layer


@jit
def bn_relu_forward(z, gamma, beta, mean, var, eps, mask, keep_scale, xhat, gate):
    """Fill xhat, gate (B, n) and return a = relu(gamma xhat + beta) * mask * keep_scale;
    mask (B, n) bool, or (B, 0) for no dropout. Branch-free selects, so the loops vectorize."""
    B, n = z.shape
    inv = 1.0 / np.sqrt(var + eps)  # (n,)
    a = np.empty_like(z)  # (B, n)
    for b in range(B):
        for j in range(n):
            xh = (z[b, j] - mean[j]) * inv[j]
            xhat[b, j] = xh
            y = gamma[j] * xh + beta[j]
            a[b, j] = y if y > 0 else 0.0
            gate[b, j] = 1.0 if y > 0 else 0.0
        if mask.shape[1] > 0:
            for j in range(n):
                s = keep_scale if mask[b, j] else 0.0
                a[b, j] *= s
                gate[b, j] *= s
    return a


@jit
def batch_moments(z):
    """Per-column mean and biased variance of z (B, n), two passes."""
    B, n = z.shape
    mean = np.zeros(n, dtype=z.dtype)  # (n,)
    var = np.zeros(n, dtype=z.dtype)  # (n,)
    for b in range(B):
        for j in range(n):
            mean[j] += z[b, j]
    mean /= B
    for b in range(B):
        for j in range(n):
            t = z[b, j] - mean[j]
            var[j] += t * t
    var /= B
    return mean, var


@jit
def bn_relu_backward(da, gate, xhat, gamma, inv, training, Ggamma, Gbeta):
    """Fill Ggamma, Gbeta (n,) and return dL/dz (B, n) from dL/da (B, n)."""
    B, n = da.shape
    Ggamma[:] = 0.0
    Gbeta[:] = 0.0
    dz = np.empty_like(da)  # (B, n): first g = dL/dy, then dL/dz
    for b in range(B):
        for j in range(n):
            g = da[b, j] * gate[b, j]
            dz[b, j] = g
            Gbeta[j] += g
            Ggamma[j] += g * xhat[b, j]
    if training:
        for b in range(B):
            for j in range(n):
                dz[b, j] = (inv[j] / B) * (B * (dz[b, j] * gamma[j]) - gamma[j] * Gbeta[j]
                                           - xhat[b, j] * (gamma[j] * Ggamma[j]))
    else:
        for b in range(B):
            for j in range(n):
                dz[b, j] = dz[b, j] * gamma[j] * inv[j]
    return dz


class BNReLUDropout(Layer):
    """BatchNormalization(n) -> ReLU -> Dropout(rate) in one layer (module docstring).

    Same parameters (``gamma``, ``beta``), moving statistics and Keras defaults
    (momentum 0.99, epsilon 1e-3) as :class:`~mfcore.nn.BatchNormalization`; the
    dropout mask is ``rng.random((B, n)) >= rate``, drawn as :class:`~mfcore.nn.Dropout`
    draws it, so the two graphs drop the same units.
    """

    def __init__(self, n, rate=0.0, rng=None, momentum=0.99, epsilon=1e-3, dtype=np.float64):
        super().__init__()
        self.rate, self.momentum, self.epsilon = rate, momentum, epsilon
        self.rng = as_generator(rng)
        self.params["gamma"] = np.ones(n, dtype=dtype)  # (n,)
        self.params["beta"] = np.zeros(n, dtype=dtype)  # (n,)
        self.moving_mean = np.zeros(n, dtype=dtype)  # (n,)
        self.moving_variance = np.ones(n, dtype=dtype)  # (n,)

    def forward(self, x, training=True):
        x = np.ascontiguousarray(x)  # (B, n)
        self.training = training
        if training:
            mean, var = batch_moments(x)  # (n,), (n,)
            m = self.momentum
            self.moving_mean[:] = self.moving_mean * m + mean * (1 - m)
            self.moving_variance[:] = self.moving_variance * m + var * (1 - m)
        else:
            mean, var = self.moving_mean, self.moving_variance
        self.inv_std = 1.0 / np.sqrt(var + self.epsilon)  # (n,)
        mask = np.zeros((x.shape[0], 0), dtype=np.bool_)
        if training and self.rate > 0:
            mask = self.rng.random(x.shape) >= self.rate  # (B, n) bool, as Dropout draws it
        keep_scale = x.dtype.type(1.0) / x.dtype.type(1.0 - self.rate)  # Dropout's 1 / (1 - p)
        self.xhat, self.gate = np.empty_like(x), np.empty_like(x)  # (B, n) each
        return bn_relu_forward(x, self.params["gamma"], self.params["beta"], mean, var,
                               x.dtype.type(self.epsilon), mask, keep_scale, self.xhat, self.gate)  # (B, n)

    def backward(self, dout):
        gamma = self.params["gamma"]
        self.grads["gamma"], self.grads["beta"] = np.empty_like(gamma), np.empty_like(gamma)
        return bn_relu_backward(np.ascontiguousarray(dout), self.gate, self.xhat, gamma, self.inv_std,
                                self.training, self.grads["gamma"], self.grads["beta"])  # (B, n)
