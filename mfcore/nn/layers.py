r"""Layers with hand-written backprop: Embedding, Dense, Dot, Add, Concatenate, Dropout.

Every layer has the same small interface (micrograd / numpy-ml style):

* ``params``: dict name -> array (Keras' weight names: ``embeddings``,
  ``kernel``, ``bias``, ``gamma``, ``beta``), updated in place by an optimizer;
* ``forward(x, training=True)``: the output; caches what backward needs;
* ``backward(dout)``: fills ``grads`` (same keys as ``params``) with
  dLoss/dparam and returns dLoss/dx (a list for layers with several inputs).

Activations live in :mod:`mfcore.nn.activations`, BatchNormalization in
:mod:`mfcore.nn.normalization`. B is the batch size throughout.
"""
import numpy as np

from .._random import as_generator
from ..engines import nn_jit, nn_numpy
from . import init as initializers


class RowGrad:
    """A gradient that is zero outside some rows: ``values[j]`` is row ``rows[j]``.

    ``rows`` are unique and sorted (repeated ids in a batch are already summed),
    like TensorFlow's IndexedSlices after deduplication. :meth:`to_dense` gives
    the full table, which is what Keras' optimizers apply.
    """

    def __init__(self, rows, values, shape):
        self.rows = rows  # (R,)
        self.values = values  # (R, k)
        self.shape = tuple(shape)

    def to_dense(self):
        G = np.zeros(self.shape, dtype=self.values.dtype)  # (n, k)
        G[self.rows] = self.values
        return G


class Layer:
    """Base class: no parameters, identity shape bookkeeping."""

    def __init__(self):
        self.params = {}
        self.grads = {}

    def __call__(self, x, training=True):
        return self.forward(x, training=training)

    def forward(self, x, training=True):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover - abstract
        raise NotImplementedError


class Embedding(Layer):
    r"""Row lookup in a table W (n, k).

    Forward: :math:`y_b = W_{x_b}` for integer ids x (B,), y (B, k).
    Backward: :math:`\partial L/\partial W_r = \sum_{b: x_b = r} \partial L/\partial y_b`
    (a scatter-add: an id repeated in the batch gets the sum of its rows); other
    rows get 0. There is no gradient with respect to the ids (returns None).

    ``grads["embeddings"]`` is a :class:`RowGrad` (only the touched rows), or
    the dense table with ``dense_grad=True``. ``use_jit`` picks the Numba
    gather/scatter kernels or their NumPy twins (same numbers).

    Keras: ``Embedding(n, k)`` (initializer ``"uniform"`` = U(-0.05, 0.05))
    followed by ``Flatten()``.
    """

    def __init__(self, n, k, rng=None, initializer="uniform", dtype=np.float64,
                 dense_grad=False, use_jit=True):
        super().__init__()
        self.params["embeddings"] = initializers.get(initializer)((n, k), rng, dtype=dtype)  # (n, k)
        self.dense_grad = dense_grad
        self.use_jit = use_jit

    def forward(self, x, training=True):
        self.ids = np.ascontiguousarray(x, dtype=np.int64)  # (B,)
        W = self.params["embeddings"]
        return (nn_jit if self.use_jit else nn_numpy).gather_rows(W, self.ids)  # (B, k)

    def backward(self, dout):
        W = self.params["embeddings"]
        dout = np.ascontiguousarray(dout, dtype=W.dtype)  # (B, k)
        scatter = (nn_jit if self.use_jit else nn_numpy).scatter_add_rows
        if self.dense_grad:
            G = np.zeros_like(W)  # (n, k)
            scatter(G, self.ids, dout)
            self.grads["embeddings"] = G
            return None
        rows, inv = np.unique(self.ids, return_inverse=True)  # (R,), (B,)
        values = np.zeros((rows.size, W.shape[1]), dtype=W.dtype)  # (R, k)
        scatter(values, inv.astype(np.int64), dout)
        self.grads["embeddings"] = RowGrad(rows, values, W.shape)
        return None


class Dense(Layer):
    r"""Affine map :math:`y = x W + b`, x (B, n_in), W (n_in, n_out), b (n_out,).

    Backward: :math:`\partial L/\partial W = x^T\,\delta`,
    :math:`\partial L/\partial b = \sum_b \delta_b`,
    :math:`\partial L/\partial x = \delta\,W^T` with :math:`\delta = \partial L/\partial y`.

    Keras: ``Dense(n_out)`` (kernel ``glorot_uniform``, bias ``zeros``, no activation).
    """

    def __init__(self, n_in, n_out, rng=None, kernel_initializer="glorot_uniform",
                 dtype=np.float64, use_bias=True):
        super().__init__()
        self.params["kernel"] = initializers.get(kernel_initializer)((n_in, n_out), rng, dtype=dtype)
        if use_bias:
            self.params["bias"] = np.zeros(n_out, dtype=dtype)  # (n_out,)

    def forward(self, x, training=True):
        self.x = x  # (B, n_in)
        y = x @ self.params["kernel"]  # (B, n_out)
        if "bias" in self.params:
            y = y + self.params["bias"]  # (B, n_out)
        return y

    def backward(self, dout):
        self.grads["kernel"] = self.x.T @ dout  # (n_in, n_out)
        if "bias" in self.params:
            self.grads["bias"] = dout.sum(axis=0)  # (n_out,)
        return dout @ self.params["kernel"].T  # (B, n_in)


class Dot(Layer):
    r"""Row-wise dot product of two inputs a, b (B, k): :math:`y_b = a_b \cdot b_b`, y (B, 1).

    Backward: :math:`\partial L/\partial a_b = \delta_b\, b_b`,
    :math:`\partial L/\partial b_b = \delta_b\, a_b`.

    Keras: ``Dot(axes=1)`` on flattened embeddings (``Dot(axes=2)`` on (B, 1, k)).
    """

    def forward(self, x, training=True):
        self.a, self.b = x
        return np.sum(self.a * self.b, axis=1, keepdims=True)  # (B, 1)

    def backward(self, dout):
        return [dout * self.b, dout * self.a]  # (B, k), (B, k)


class Add(Layer):
    r"""Sum of same-shaped inputs: :math:`y = \sum_j x_j`; backward passes
    :math:`\delta` to every input unchanged. Keras: ``Add()``."""

    def forward(self, x, training=True):
        self.n = len(x)
        out = x[0].copy()  # same shape as the inputs
        for xj in x[1:]:
            out += xj
        return out

    def backward(self, dout):
        return [dout] * self.n


class Concatenate(Layer):
    r"""Join inputs along the last axis: :math:`y = [x_1, x_2, \dots]`.

    Backward: :math:`\delta` split back into the inputs' column blocks.
    Keras: ``Concatenate()`` (axis -1).
    """

    def forward(self, x, training=True):
        self.widths = [xj.shape[-1] for xj in x]
        return np.concatenate(x, axis=-1)  # (B, sum of widths)

    def backward(self, dout):
        cuts = np.cumsum(self.widths)[:-1]
        return np.split(dout, cuts, axis=-1)  # list of (B, width_j)


class Dropout(Layer):
    r"""Inverted dropout with rate p.

    Training: :math:`y = x \odot m / (1 - p)` with a keep mask m drawn from
    ``rng`` (a Generator; never the global RNG), or a given ``mask``.
    Inference: :math:`y = x`. Backward: :math:`\partial L/\partial x = \delta
    \odot m / (1 - p)` (the cached mask). Keras: ``Dropout(p)``.

    ``draw`` says how the mask is drawn:

    * ``"uniform"`` (default): :math:`m_j = [U_j \ge p]`, one
      ``rng.random`` float64 per unit;
    * ``"splitmix"``: one 64-bit seed per batch from ``rng``; unit k (row-major)
      is kept iff the top 32 bits of SplitMix64's k-th output are
      :math:`\ge \mathrm{round}(p\, 2^{32})` (keep probability 1 - p to within
      :math:`2^{-32}`). Several times cheaper, and the rule
      :class:`~mfcore.nn.fused.BNReLUDropout` uses without storing a mask
      (:mod:`mfcore.engines.nn_numpy`), so the two graphs drop the same units.
    """

    DRAWS = ("uniform", "splitmix")

    def __init__(self, rate, rng=None, draw="uniform"):
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"The 'rate' parameter of Dropout must be a float in [0, 1). Got {rate!r} instead.")
        if draw not in self.DRAWS:
            raise ValueError(f"The 'draw' parameter of Dropout must be one of {self.DRAWS}. Got {draw!r} instead.")
        self.rate = rate
        self.rng = as_generator(rng)
        self.draw = draw

    def forward(self, x, training=True, mask=None):
        if not training or self.rate == 0.0:
            self.scale = None
            return x
        if mask is None:
            mask = self.draw_mask(x.shape)  # (B, n) bool
        self.mask = mask
        self.scale = mask.astype(x.dtype) / x.dtype.type(1.0 - self.rate)  # (B, n)
        return x * self.scale  # (B, n)

    def backward(self, dout):
        return dout if self.scale is None else dout * self.scale  # (B, n)

    def draw_mask(self, shape):
        """The keep mask (bool, ``shape``) that ``forward`` draws for an input of that shape, drawn
        from ``rng`` as ``forward`` draws it (a caller that needs only some units of a wide input
        takes them from it, and the stream stays the same)."""
        if self.draw == "splitmix":
            seed = self.rng.integers(0, 2 ** 64, dtype=np.uint64)
            return nn_numpy.splitmix_keep_mask(seed, nn_numpy.dropout_threshold(self.rate), shape)
        return self.rng.random(shape) >= self.rate


def collect(layers):
    """Flatten ``{layer_name: layer}`` into ``(params, grads)`` dicts keyed
    ``"layer_name/param_name"`` (the shape an optimizer's ``step`` takes)."""
    params, grads = {}, {}
    for lname, layer in layers.items():
        for pname, value in layer.params.items():
            params[f"{lname}/{pname}"] = value
            if pname in layer.grads:
                grads[f"{lname}/{pname}"] = layer.grads[pname]
    return params, grads
