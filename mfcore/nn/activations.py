r"""Elementwise activations: ELU, ReLU, Sigmoid, Tanh.

Each maps x to y = f(x) elementwise and backpropagates
:math:`\partial L/\partial x = \delta \odot f'(x)`, with
:math:`\delta = \partial L/\partial y`. No parameters.
"""
import numpy as np

from .layers import Layer


class ELU(Layer):
    r"""Exponential linear unit.

    Forward: :math:`y = x` for x > 0, :math:`\alpha (e^x - 1)` otherwise.
    Backward: :math:`f'(x) = 1` for x > 0, :math:`\alpha e^x = y + \alpha` otherwise.
    Keras: ``Activation("elu")`` / ``ELU(alpha=1.0)``.
    """

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x, training=True):
        self.pos = x > 0  # (B, n) bool
        self.neg_exp = self.alpha * np.exp(np.minimum(x, 0))  # (B, n): alpha e^x where x <= 0
        return np.where(self.pos, x, self.neg_exp - self.alpha)  # (B, n)

    def backward(self, dout):
        return dout * np.where(self.pos, 1.0, self.neg_exp)  # (B, n)


class ReLU(Layer):
    r"""Rectified linear unit.

    Forward: :math:`y = \max(x, 0)`. Backward: :math:`f'(x) = [x > 0]` (0 at the kink).
    Keras: ``Activation("relu")`` / ``ReLU()``.
    """

    def forward(self, x, training=True):
        self.pos = x > 0  # (B, n) bool
        return np.where(self.pos, x, 0).astype(x.dtype, copy=False)  # (B, n)

    def backward(self, dout):
        return dout * self.pos  # (B, n)


class Sigmoid(Layer):
    r"""Logistic function.

    Forward: :math:`y = 1 / (1 + e^{-x})`. Backward: :math:`f'(x) = y (1 - y)`.
    Keras: ``Activation("sigmoid")``.
    """

    def forward(self, x, training=True):
        # the two branches avoid overflow of exp(-x) for very negative x
        ex = np.exp(-np.abs(x))  # (B, n)
        self.y = np.where(x >= 0, 1.0 / (1.0 + ex), ex / (1.0 + ex)).astype(x.dtype, copy=False)
        return self.y  # (B, n)

    def backward(self, dout):
        return dout * self.y * (1 - self.y)  # (B, n)


class Tanh(Layer):
    r"""Hyperbolic tangent.

    Forward: :math:`y = \tanh x`. Backward: :math:`f'(x) = 1 - y^2`.
    Keras: ``Activation("tanh")``.
    """

    def forward(self, x, training=True):
        self.y = np.tanh(x)  # (B, n)
        return self.y

    def backward(self, dout):
        return dout * (1 - self.y * self.y)  # (B, n)
