r"""Batch normalization with Keras' training and inference behaviour."""
import numpy as np

from .layers import Layer


class BatchNormalization(Layer):
    r"""Normalize each feature over the batch, then scale and shift.

    Training (x (B, n); statistics per feature over the B rows):

    .. math::

        \mu_B = \tfrac1B \sum_b x_b, \quad
        \sigma_B^2 = \tfrac1B \sum_b (x_b - \mu_B)^2 \ \text{(biased)}, \quad
        \hat x = (x - \mu_B) / \sqrt{\sigma_B^2 + \epsilon}, \quad
        y = \gamma \hat x + \beta

    and the moving statistics move as Keras moves them:
    ``moving = moving * momentum + batch * (1 - momentum)`` for the mean and
    for the (biased) variance. Inference uses them instead:
    :math:`y = \gamma (x - m) / \sqrt{v + \epsilon} + \beta`.

    Backward in training mode (s = 1/sqrt(sigma_B^2 + eps), :math:`\delta = \partial L/\partial y`):

    .. math::

        \partial L/\partial\gamma = \sum_b \delta_b \hat x_b, \quad
        \partial L/\partial\beta = \sum_b \delta_b, \quad
        \partial L/\partial x = \tfrac{s}{B}\big(B\,g - \textstyle\sum_b g_b
            - \hat x \sum_b g_b \hat x_b\big),\ g = \gamma\,\delta

    In inference mode :math:`\partial L/\partial x = \gamma\,\delta / \sqrt{v + \epsilon}`.

    Keras: ``BatchNormalization()`` (momentum 0.99, epsilon 1e-3, gamma ones,
    beta zeros, moving mean zeros, moving variance ones).
    """

    def __init__(self, n, momentum=0.99, epsilon=1e-3, dtype=np.float64):
        super().__init__()
        self.momentum = momentum
        self.epsilon = epsilon
        self.params["gamma"] = np.ones(n, dtype=dtype)  # (n,)
        self.params["beta"] = np.zeros(n, dtype=dtype)  # (n,)
        self.moving_mean = np.zeros(n, dtype=dtype)  # (n,)
        self.moving_variance = np.ones(n, dtype=dtype)  # (n,)

    def forward(self, x, training=True):
        gamma, beta = self.params["gamma"], self.params["beta"]
        self.training = training
        if training:
            mean = x.mean(axis=0)  # (n,)
            var = np.mean((x - mean) ** 2, axis=0)  # (n,)
            m = self.momentum
            self.moving_mean[:] = self.moving_mean * m + mean * (1 - m)
            self.moving_variance[:] = self.moving_variance * m + var * (1 - m)
        else:
            mean, var = self.moving_mean, self.moving_variance
        self.inv_std = 1.0 / np.sqrt(var + self.epsilon)  # (n,)
        self.xhat = (x - mean) * self.inv_std  # (B, n)
        return gamma * self.xhat + beta  # (B, n)

    def backward(self, dout):
        gamma = self.params["gamma"]
        self.grads["gamma"] = np.sum(dout * self.xhat, axis=0)  # (n,)
        self.grads["beta"] = dout.sum(axis=0)  # (n,)
        g = dout * gamma  # (B, n)
        if not self.training:
            return g * self.inv_std  # (B, n)
        B = dout.shape[0]
        return (self.inv_std / B) * (B * g - g.sum(axis=0)
                                     - self.xhat * np.sum(g * self.xhat, axis=0))  # (B, n)
