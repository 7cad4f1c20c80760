"""The Keras graph of the MF models (biased or plain dot product), from mfcore layers."""
import numpy as np

from .layers import Add, Dot, Embedding
from .losses import l2_penalty, mse


class MFNet:
    r"""The Keras graph :math:`y = p_u \cdot q_i\ (+\, b_u + b_i)` from mfcore layers.

    Keras equivalent: ``Dot(axes=2)([Embedding(n_users, K)(u), Embedding(n_items, K)(i)])``,
    plus ``Add()`` with ``Embedding(n_users, 1)(u)`` and ``Embedding(n_items, 1)(i)``
    when ``bias``. Tables are drawn from U(-0.05, 0.05) in the order P, Q, b_u, b_i.
    Bias tables have shape (n, 1), as Keras' ``Embedding(n, 1)``.
    """

    def __init__(self, n_users, n_items, n_factors, bias, rng, dtype):
        self.bias = bias
        self.layers = {"user_embedding": Embedding(n_users, n_factors, rng, dtype=dtype),
                       "item_embedding": Embedding(n_items, n_factors, rng, dtype=dtype)}
        if bias:
            self.layers["user_bias"] = Embedding(n_users, 1, rng, dtype=dtype)
            self.layers["item_bias"] = Embedding(n_items, 1, rng, dtype=dtype)
        self.dot, self.add = Dot(), Add()

    @property
    def params(self):
        return {name: layer.params["embeddings"] for name, layer in self.layers.items()}

    def forward(self, u, i):
        L = self.layers
        y = self.dot.forward([L["user_embedding"].forward(u), L["item_embedding"].forward(i)])  # (B, 1)
        if self.bias:
            y = self.add.forward([y, L["user_bias"].forward(u), L["item_bias"].forward(i)])  # (B, 1)
        return y[:, 0]  # (B,)

    def backward(self, dy):
        L = self.layers
        d_dot = dy[:, None]  # (B, 1)
        if self.bias:
            d_dot, d_bu, d_bi = self.add.backward(d_dot)
            L["user_bias"].backward(d_bu)
            L["item_bias"].backward(d_bi)
        d_p, d_q = self.dot.backward(d_dot)  # (B, K), (B, K)
        L["user_embedding"].backward(d_p)
        L["item_embedding"].backward(d_q)

    def loss_and_grads(self, u, i, y, reg=0.0):
        """Batch loss (MSE + Keras L2 on P and Q) and the gradient of every table.

        Penalised tables get a dense gradient (the L2 term touches every row);
        the others a :class:`~mfcore.nn.RowGrad`.
        """
        loss, dy = mse(self.forward(u, i), y)  # float, (B,)
        self.backward(dy)
        grads = {name: layer.grads["embeddings"] for name, layer in self.layers.items()}
        if reg:
            for name in ("user_embedding", "item_embedding"):
                pen, dpen = l2_penalty(self.params[name], reg)
                loss += pen
                grads[name] = grads[name].to_dense() + dpen  # (n, K)
        return loss, grads

    def loss_terms(self, u, i, y, reg=0.0):
        """The loss of :meth:`loss_and_grads` as an array of terms summing to it
        ((r_hat - y)^2 / B per rating, then reg * w^2 per penalised entry), for
        :func:`mfcore.nn.gradcheck.check_gradients`' exact summation."""
        e = self.forward(u, i) - np.asarray(y, dtype=np.float64)  # (B,)
        terms = [e * e / e.size]
        if reg:
            terms += [reg * self.params[n].ravel() ** 2 for n in ("user_embedding", "item_embedding")]
        return np.concatenate(terms)  # (B + penalised entries,)
