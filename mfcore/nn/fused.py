r"""A fused BatchNormalization -> ReLU (-> Dropout) layer, with Numba kernels.

The Netflix notebook's hidden block normalises, rectifies and drops out a
(B, n) array. As three NumPy layers that is about twenty passes over the
array per batch (each op allocates a temporary), which at B = 1024 and n = 512
costs more than the matrix products. :class:`BNReLUDropout` does the same
maths in three passes forward (two for the batch moments, one for the output)
and two backward, and keeps nothing but its input and output for backward:
:math:`\hat x` is recomputed, and the gate comes from the output itself
(:math:`a > 0` exactly where the unit passed both ReLU and dropout). It can also
fold in the preceding Dense layer's bias (``forward(z, bias=c)`` normalises
:math:`z + c`), which saves that layer a pass forward and one backward. Its
readable twin is the chain ``BatchNormalization(n)``, ``ReLU()``,
``Dropout(rate, draw="splitmix")`` of :mod:`mfcore.nn`; the two give the same
numbers (tested to 1e-10), including the dropout masks (the same SplitMix64
bits from the same Generator, see :mod:`mfcore.engines.nn_numpy`). DeepMF's
fused epoch (:mod:`mfcore.engines.deep_epoch`) calls the same kernels in the
same order without the layer object, for the same numbers.

Forward (training; inference uses the moving statistics):
:math:`\hat x = (z - \mu_B)/\sqrt{\sigma_B^2 + \epsilon}`, :math:`y = \gamma \hat x + \beta`,
:math:`a = \max(y, 0)\, m / (1 - p)`. Backward, with the gate
:math:`s = [y > 0]\, m / (1 - p)` and :math:`g = \delta \odot s`:
:math:`\partial L/\partial\beta = \sum_b g_b`, :math:`\partial L/\partial\gamma = \sum_b g_b \hat x_b`,
:math:`\partial L/\partial z = \frac{\gamma}{B \sqrt{\sigma_B^2+\epsilon}}
(B g - \partial L/\partial\beta - \hat x\, \partial L/\partial\gamma)`, and the
folded bias gets :math:`\sum_b \partial L/\partial z_b` (0 up to rounding in training mode).
"""
import numpy as np

from .._random import as_generator
from ..engines.nn_jit import bn_moments, bn_relu_dropout_backward, bn_relu_dropout_forward
from ..engines.nn_numpy import dropout_threshold
from .layers import Layer


class BNReLUDropout(Layer):
    """BatchNormalization(n) -> ReLU -> Dropout(rate) in one layer (module docstring).

    Same parameters (``gamma``, ``beta``), moving statistics and Keras defaults
    (momentum 0.99, epsilon 1e-3) as :class:`~mfcore.nn.BatchNormalization`; the
    dropout mask is drawn as ``Dropout(rate, rng, draw="splitmix")`` draws it (one
    64-bit seed per training batch), so the two graphs drop the same units.

    ``forward(x, training, bias=None, out=None)``: with ``bias`` (n,) the layer
    normalises ``x + bias`` and ``backward`` puts that bias' gradient in
    ``self.bias_grad``; ``out`` (B, n) receives the output. ``backward(dout,
    out=None)``: ``out`` receives dL/dx; pass a separate array (``dout`` itself
    works, but the kernel's loops then no longer vectorize: several times slower).
    ``x`` and the output must not change between forward and backward (backward
    reads both).
    """

    def __init__(self, n, rate=0.0, rng=None, momentum=0.99, epsilon=1e-3, dtype=np.float64):
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"The 'rate' parameter of BNReLUDropout must be a float in [0, 1). "
                             f"Got {rate!r} instead.")
        self.rate, self.momentum, self.epsilon = rate, momentum, epsilon
        self.rng = as_generator(rng)
        self.params["gamma"] = np.ones(n, dtype=dtype)  # (n,)
        self.params["beta"] = np.zeros(n, dtype=dtype)  # (n,)
        self.moving_mean = np.zeros(n, dtype=dtype)  # (n,)
        self.moving_variance = np.ones(n, dtype=dtype)  # (n,)

    def forward(self, x, training=True, bias=None, out=None):
        gamma = self.params["gamma"]
        c = gamma.dtype.type
        x = np.ascontiguousarray(x, dtype=gamma.dtype)  # (B, n)
        B, n = x.shape
        self.training = training
        self.folded = bias is not None
        bias = np.zeros(n, dtype=gamma.dtype) if bias is None else bias  # (n,)
        if training:
            mean, var = np.empty(n, dtype=gamma.dtype), np.empty(n, dtype=gamma.dtype)  # (n,) each
            bn_moments(x, bias, c(B), mean, var)
            m, m1 = c(self.momentum), c(1 - self.momentum)  # rounded as BatchNormalization rounds them
            self.moving_mean[:] = self.moving_mean * m + mean * m1
            self.moving_variance[:] = self.moving_variance * m + var * m1
        else:
            mean, var = self.moving_mean.copy(), self.moving_variance
        self.inv_std = c(1) / np.sqrt(var + c(self.epsilon))  # (n,)
        drop = training and self.rate > 0
        seed = self.rng.integers(0, 2 ** 64, dtype=np.uint64) if drop else np.uint64(0)
        self.keep_scale = c(1) / c(1.0 - self.rate) if drop else c(1)  # Dropout's 1 / (1 - p)
        a = np.empty_like(x) if out is None else out  # (B, n)
        bn_relu_dropout_forward(x, bias, gamma, self.params["beta"], mean, self.inv_std, seed,
                                dropout_threshold(self.rate), drop, self.keep_scale, a)
        self.x, self.bias, self.mean, self.a = x, bias, mean, a
        return a

    def backward(self, dout, out=None):
        gamma = self.params["gamma"]
        dout = np.ascontiguousarray(dout, dtype=gamma.dtype)  # (B, n)
        dz = np.empty_like(dout) if out is None else out  # (B, n)
        Ggamma, Gbeta, Gbias = np.empty_like(gamma), np.empty_like(gamma), np.empty_like(gamma)
        bn_relu_dropout_backward(dout, self.a, self.x, self.bias, gamma, self.mean, self.inv_std,
                                 self.keep_scale, self.training, gamma.dtype.type(dout.shape[0]), dz,
                                 Ggamma, Gbeta, Gbias)
        self.grads["gamma"], self.grads["beta"] = Ggamma, Gbeta
        self.bias_grad = Gbias if self.folded else None
        return dz
