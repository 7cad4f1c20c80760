r"""Deep rating models on concatenated embeddings: the Netflix notebook's MLP and the
toy notebook's ResNet-style model, trained in the Keras regime of :mod:`mfcore.models._neural`.

* :class:`DeepMF` (``"deep"``): concat(p_u, q_i) -> Dense 512 -> BatchNorm -> ReLU
  -> Dropout 0.5 -> Dense 128 -> BatchNorm -> ReLU -> Dense 1 (notebook 001), or
  with ``plain=True`` concat -> Dense -> ReLU -> Dense 1. Its default engine
  trains with the hand-fused epoch
  :class:`mfcore.engines.deep_epoch.DeepJitEpoch`; the layer graph
  :class:`DeepNet` is the readable reference (``engine="vectorized"``).
* :class:`ResNetMF` (``"resnet-mf"``): a residual block over the embeddings
  concat, joined with the dot product, then Dense 1 (notebook 003).
"""

import time

import numpy as np

from ..engines.deep_epoch import DeepJitEpoch
from ..engines.nn_jit import concat_rows, scatter_add_concat
from ..nn import Add, BatchNormalization, Concatenate, Dense, Dot, Dropout, Embedding, ReLU
from ..nn.fused import BNReLUDropout
from ._neural import KERAS_REG_DOC, Net, NeuralRecommender
from .registry import register
from .params import check_hidden_units, check_params, store_params


class DeepNet(Net):
    r"""concat(p_u, q_i) -> [Dense -> BatchNorm -> ReLU (-> Dropout after the first)]* -> Dense 1.

    With ``batchnorm=False`` and ``dropout=0`` the blocks are Dense -> ReLU.
    Dropout masks are drawn with ``Dropout(draw="splitmix")`` (one 64-bit seed per
    batch from ``noise_rng``). Initial draws in Keras' layer order: P, Q ~ U(-0.05, 0.05),
    then each kernel glorot-uniform (biases 0; BN gamma 1, beta 0, moving mean 0, variance 1).

    ``fused=True`` (with batchnorm; DeepMF's "jit" engine) runs the same maths with
    fewer passes and no temporaries: each BatchNorm -> ReLU (-> Dropout) is one
    :class:`~mfcore.nn.fused.BNReLUDropout` that also adds the Dense bias before it
    (so that Dense is a bare BLAS product into a reused buffer); the input is
    gathered straight into one (B, 2K) buffer and the embedding gradients are
    scattered straight from it (:mod:`mfcore.engines.nn_jit`). Parameter names, and
    the numbers (tested to 1e-10), are those of the layer graph. With SGD, DeepMF
    trains this network with :class:`~mfcore.engines.deep_epoch.DeepJitEpoch`
    (the same kernels called from one loop, bit-identical); the fused forward
    here serves predictions and the other optimizers.
    """

    def __init__(self, n_users, n_items, n_factors, units, batchnorm, dropout, rng, noise_rng,
                 dtype=np.float64, fused=False):
        self.dtype = np.dtype(dtype)
        self.fused = bool(batchnorm and fused)
        self.layers = {"user_embedding": Embedding(n_users, n_factors, rng, dtype=dtype, dense_grad=True),
                       "item_embedding": Embedding(n_items, n_factors, rng, dtype=dtype, dense_grad=True)}
        self.blocks = []  # per hidden block: the layer names in order
        width = 2 * n_factors
        for j, n in enumerate(units, start=1):
            names = [f"dense_{j}"]
            self.layers[f"dense_{j}"] = Dense(width, n, rng, dtype=dtype)
            if self.fused:  # one layer, same maths, same parameter names
                rate = dropout if j == 1 else 0.0
                self.layers[f"batch_norm_{j}"] = BNReLUDropout(n, rate, noise_rng, dtype=dtype)
                self.blocks.append(names + [f"batch_norm_{j}"])
                width = n
                continue
            if batchnorm:
                self.layers[f"batch_norm_{j}"] = BatchNormalization(n, dtype=dtype)
                names.append(f"batch_norm_{j}")
            self.layers[f"relu_{j}"] = ReLU()
            names.append(f"relu_{j}")
            if dropout and j == 1:
                self.layers["dropout"] = Dropout(dropout, noise_rng, draw="splitmix")
                names.append("dropout")
            self.blocks.append(names)
            width = n
        self.layers["output"] = Dense(width, 1, rng, dtype=dtype)
        self.concat = Concatenate()
        self._buffers = {}

    def forward(self, u, i, extra=None, training=True):
        if self.fused:
            return self._forward_fused(u, i, training)
        L = self.layers
        x = self.concat.forward([L["user_embedding"].forward(u), L["item_embedding"].forward(i)])  # (B, 2K)
        for names in self.blocks:
            for name in names:
                x = L[name].forward(x, training=training)  # (B, n_j)
        return L["output"].forward(x)[:, 0]  # (B,)

    def backward(self, dy):
        if self.fused:
            return self._backward_fused(dy)
        L = self.layers
        dx = L["output"].backward(dy[:, None])  # (B, n_last)
        for names in reversed(self.blocks):
            for name in reversed(names):
                dx = L[name].backward(dx)
        dp, dq = self.concat.backward(dx)  # (B, K) each
        L["user_embedding"].backward(dp)
        L["item_embedding"].backward(dq)

    # ------------------------------------------------------------ fused engine
    def _buffer(self, name, shape):
        """A work array reused from batch to batch (one per name and shape)."""
        buf = self._buffers.get((name, shape))
        if buf is None:
            buf = self._buffers[(name, shape)] = np.empty(shape, dtype=self.dtype)
        return buf

    def _forward_fused(self, u, i, training):
        L = self.layers
        u, i = np.ascontiguousarray(u, dtype=np.int64), np.ascontiguousarray(i, dtype=np.int64)  # (B,)
        P, Q = L["user_embedding"].params["embeddings"], L["item_embedding"].params["embeddings"]
        B = u.shape[0]
        # training batches reuse buffers; inference (large predict chunks) allocates and lets go
        buf = self._buffer if training else (lambda name, shape: np.empty(shape, dtype=self.dtype))
        x = concat_rows(P, Q, u, i, buf("input", (B, P.shape[1] + Q.shape[1])))  # (B, 2K)
        self._ids, self._inputs = (u, i), [x]
        for dense_name, bn_name in self.blocks:
            dense, bn = L[dense_name], L[bn_name]
            W = dense.params["kernel"]  # (n_in, n)
            z = np.matmul(x, W, out=buf(dense_name, (B, W.shape[1])))  # (B, n): bias added by bn
            x = bn.forward(z, training, bias=dense.params["bias"], out=buf(bn_name, z.shape))  # (B, n)
            self._inputs.append(x)
        out = L["output"].params
        return x @ out["kernel"][:, 0] + out["bias"][0]  # (B,)

    def _backward_fused(self, dy):
        L = self.layers
        dy = np.ascontiguousarray(dy, dtype=self.dtype)  # (B,)
        B = dy.shape[0]
        out = L["output"]
        x = self._inputs[-1]  # (B, n_last)
        out.grads["kernel"] = (dy @ x)[:, None]  # (n_last, 1)
        out.grads["bias"] = np.atleast_1d(dy.sum())  # (1,)
        dx = np.multiply(dy[:, None], out.params["kernel"][:, 0], out=self._buffer("d_output", x.shape))
        for j in range(len(self.blocks) - 1, -1, -1):
            dense_name, bn_name = self.blocks[j]
            dense, bn = L[dense_name], L[bn_name]
            dz = bn.backward(dx, out=self._buffer("d_" + bn_name, dx.shape))  # (B, n)
            dense.grads["bias"] = bn.bias_grad
            x_in = self._inputs[j]  # (B, n_in)
            dense.grads["kernel"] = x_in.T @ dz  # (n_in, n)
            W = dense.params["kernel"]
            dx = np.matmul(dz, W.T, out=self._buffer("d_" + dense_name, (B, W.shape[0])))  # (B, n_in)
        P, Q = L["user_embedding"], L["item_embedding"]
        GP = np.zeros_like(P.params["embeddings"])  # (n_users, K)
        GQ = np.zeros_like(Q.params["embeddings"])  # (n_items, K)
        scatter_add_concat(GP, GQ, self._ids[0], self._ids[1], dx)
        P.grads["embeddings"], Q.grads["embeddings"] = GP, GQ


class ResNetNet(Net):
    r"""The toy notebook's ResNet-style graph (E = n_factors):

    .. math::

        h = [p_u, q_i] \in \mathbb R^{2E}, \quad
        s = \mathrm{ReLU}(\mathrm{ReLU}(\mathrm{ReLU}(h W_1 + c_1) W_2 + c_2) W_3 + c_3) + h, \quad
        \hat y = [p_u \cdot q_i,\ s]\, w_o + c_o

    W_1 (2E, 2E), W_2 (2E, H), W_3 (H, 2E), w_o (2E + 1, 1). The skip
    connection adds the block's input back, so gradients reach the embeddings
    through the block and directly.
    """

    def __init__(self, n_users, n_items, n_factors, hidden, rng, dtype=np.float64):
        w = 2 * n_factors
        self.layers = {"user_embedding": Embedding(n_users, n_factors, rng, dtype=dtype, dense_grad=True),
                       "item_embedding": Embedding(n_items, n_factors, rng, dtype=dtype, dense_grad=True),
                       "dense_1": Dense(w, w, rng, dtype=dtype), "relu_1": ReLU(),
                       "dense_2": Dense(w, hidden, rng, dtype=dtype), "relu_2": ReLU(),
                       "dense_3": Dense(hidden, w, rng, dtype=dtype), "relu_3": ReLU(),
                       "output": Dense(w + 1, 1, rng, dtype=dtype)}
        self.dot, self.concat, self.skip, self.join = Dot(), Concatenate(), Add(), Concatenate()
        self.chain = ("dense_1", "relu_1", "dense_2", "relu_2", "dense_3", "relu_3")

    def forward(self, u, i, extra=None, training=True):
        L = self.layers
        p, q = L["user_embedding"].forward(u), L["item_embedding"].forward(i)  # (B, E) each
        h = self.concat.forward([p, q])  # (B, 2E)
        x = h
        for name in self.chain:
            x = L[name].forward(x)  # (B, 2E) / (B, H)
        s = self.skip.forward([x, h])  # (B, 2E)
        return L["output"].forward(self.join.forward([self.dot.forward([p, q]), s]))[:, 0]  # (B,)

    def backward(self, dy):
        L = self.layers
        d_dot, ds = self.join.backward(L["output"].backward(dy[:, None]))  # (B, 1), (B, 2E)
        dx, dh = self.skip.backward(ds)
        for name in reversed(self.chain):
            dx = L[name].backward(dx)
        dp, dq = self.concat.backward(dx + dh)  # block path + skip path
        dp_dot, dq_dot = self.dot.backward(d_dot)
        L["user_embedding"].backward(dp + dp_dot)
        L["item_embedding"].backward(dq + dq_dot)


_SHARED_PARAMS_DOC = """
    n_epochs, lr, momentum, nesterov, optimizer, batch_size
        Training (Keras optimizer rules; ``momentum``/``nesterov`` for SGD only).
""" + KERAS_REG_DOC + """    engine : str
        ResNetMF: "vectorized" only (the NumPy layer graph; at batch 32 there is
        little to fuse). DeepMF: see above.
    rng : None, int or Generator
        Spawned into init, order and noise (dropout) streams; an int makes ``fit``
        repeatable, a Generator advances, so refitting differs.
    dtype : "float64" or "float32"
    verbose : int, default 0

    Attributes
    ----------
    net_ : the network; ``net_.params`` holds every weight.
    history_ : History   with ``forward_seconds``/``backward_seconds``/``update_seconds``.
    fallback_user_bias_, fallback_item_bias_ : ndarray
        ``Biases(method="closed")`` on the training ratings: unknown users or items
        get the known part of mu + b_u + b_i (the network has no bias terms).
"""


@register
class DeepMF(NeuralRecommender):
    __doc__ = r"""The Netflix notebook's deep model: an MLP on the concatenated factors.

    .. math::

        h_0 = [p_u; q_i], \quad
        h_1 = \mathrm{Drop}_{0.5}(\mathrm{ReLU}(\mathrm{BN}(h_0 W_1 + c_1))), \quad
        h_2 = \mathrm{ReLU}(\mathrm{BN}(h_1 W_2 + c_2)), \quad
        \hat r_{ui} = \mu + h_2 w_3 + c_3

    BN as Keras (training: batch statistics, moving averages with momentum 0.99;
    inference: moving statistics; epsilon 1e-3); inverted dropout, masks from the
    noise stream (``Dropout(draw="splitmix")``: one 64-bit seed per batch).
    ``plain=True``: :math:`\hat r = \mu + \mathrm{ReLU}(h_0 W_1 + c_1) w_2 + c_2`.
    Loss per batch: MSE on :math:`r - \mu` (+ optional Keras ``l2`` on P, Q);
    Keras SGD with momentum on every weight (rows outside the batch move too).
    The forward, backward and update steps, numbered (F1)-(F5), (B1)-(B4), (U1),
    are in :mod:`mfcore.engines.deep_epoch`; the readable reference is the layer
    graph :class:`DeepNet` (:mod:`mfcore.nn` layers, backprop chained in reverse).

    One training step (a batch) at the default settings, in four files:
    this one (``DeepMF._epoch_fn`` builds the epoch),
    ``mfcore/engines/deep_epoch.py`` (:class:`~mfcore.engines.deep_epoch.DeepJitEpoch`:
    forward, backward, update), ``mfcore/engines/nn_jit.py`` (its gather,
    BatchNorm -> ReLU -> Dropout and scatter kernels) and
    ``mfcore/engines/optim_jit.py`` (``sgd_step``). The fit loop around the
    epochs is :mod:`mfcore.models._neural`'s, shared by every neural model.

    Parameters
    ----------
    n_factors : int, default 10
    units : int or tuple of int, default (512, 128)
        Hidden widths (``plain=True`` uses the first only).
    dropout : float, default 0.5
        Rate of the dropout after the first hidden block (0 = none).
    plain : bool, default False
        The plain variant: one Dense -> ReLU block, no BatchNorm, no dropout.
    engine : {"jit", "vectorized"}, default "jit"
        Same numbers (tested to 1e-10): "vectorized" chains the NumPy layers
        Dense, BatchNormalization, ReLU, Dropout; "jit" runs each block as a bare
        BLAS product into a reused buffer followed by one fused Numba pass for
        BatchNorm -> ReLU -> Dropout (which adds the Dense bias): with
        ``optimizer="sgd"`` the whole epoch is
        :class:`~mfcore.engines.deep_epoch.DeepJitEpoch`, with another optimizer
        the fused network ``DeepNet(fused=True)`` and an :mod:`mfcore.nn.optim`
        optimizer. ``plain=True`` always runs the layer graph.
    n_epochs=25, lr=0.08, momentum=0.9, batch_size=1024 (the notebook's settings)
        Precision: ``dtype`` (below) stays "float64" by default, the library's
        default and what the accuracy tables and the exact engine checks use;
        ``dtype="float32"`` is Keras' precision and about twice as fast (the
        matrix products dominate): the like-for-like setting for speed
        comparisons (``benchmarks/results/neural.md``).
""" + _SHARED_PARAMS_DOC + """
    Examples
    --------
    >>> from mfcore.data.synthetic import make_ratings
    >>> train = make_ratings(200, 100, 4000, rng=0)
    >>> DeepMF(hidden_units=(32, 8), n_epochs=3, batch_size=256, rng=0).fit(train).history_.epoch
    [1, 2, 3]
    """

    name = "deep"
    notebook = "Netflix"
    note = ("the Netflix notebook's deep model with its settings: about level with the biases baseline on"
            ' ML-100k and worse on ml-latest-small (benchmarks/results/cv_ml100k.md, default_settings.md)')
    _engines = ("jit", "vectorized")

    def __init__(self, n_factors=10, hidden_units=(512, 128), dropout=0.5, plain=False, n_epochs=25, lr=0.08,
                 momentum=0.9, nesterov=False, optimizer="sgd", batch_size=1024, reg=0.0,
                 early_stopping=False, patience=2, validation_fraction=0.1, engine="jit", rng=None,
                 dtype="float64", verbose=0, **renamed):
        store_params(self, locals())

    def _check_extra(self):
        self._units = check_hidden_units(self)
        self._dropout = check_params(self, "dropout")["dropout"]

    def _build_net(self, n_users, n_items, init_rng, noise_rng):
        if self.plain:
            return DeepNet(n_users, n_items, self._k, self._units[:1], False, 0.0, init_rng, noise_rng,
                           self._dtype)
        return DeepNet(n_users, n_items, self._k, self._units, True, self._dropout, init_rng, noise_rng,
                       self._dtype, fused=self.engine == "jit")

    def _epoch_fn(self, inputs, y):
        if not self.net_.fused or self._optimizer != "sgd":  # the layer graph and an nn.optim optimizer
            return super()._epoch_fn(inputs, y)
        t0 = time.perf_counter()
        fast_epoch = DeepJitEpoch(self.net_, self._batch, self._lr, self._momentum, self.nesterov, self._reg)
        one, rng = np.zeros(1, np.int64), np.random.default_rng(0)
        dummy = DeepNet(1, 1, 1, (2,), True, 0.5, rng, rng, y.dtype, fused=True)
        DeepJitEpoch(dummy, 1, 0.0, 0.0, False, 0.0)(one, one, np.zeros(1, y.dtype), one, {})  # compile
        self._compile_seconds = time.perf_counter() - t0
        u, i = inputs
        return lambda order, timing: fast_epoch(u, i, y, order, timing)


@register
class ResNetMF(NeuralRecommender):
    __doc__ = r"""The toy notebook's ResNet-style model: a residual MLP block beside the dot product.

    .. math::

        h = [p_u; q_i], \quad
        s = \mathrm{ReLU}(\mathrm{ReLU}(\mathrm{ReLU}(h W_1 + c_1) W_2 + c_2) W_3 + c_3) + h, \quad
        \hat r_{ui} = [p_u \cdot q_i;\ s]^\top w_o + c_o

    (:class:`ResNetNet`). As in the notebook: raw ratings as target (no mu),
    Adam with Keras' defaults, batch 32, 10 epochs. MSE per batch (+ optional
    Keras ``l2`` on P, Q).

    Parameters
    ----------
    n_factors : int, default 20
        E (the block works at width 2E).
    hidden : int, default 64
        Width of the block's middle layer.
    n_epochs=10, lr=0.001, optimizer="adam", batch_size=32
""" + _SHARED_PARAMS_DOC + """
    Examples
    --------
    >>> from mfcore.data.synthetic import make_ratings
    >>> train = make_ratings(200, 100, 4000, rng=0)
    >>> len(ResNetMF(n_epochs=2, rng=0).fit(train).history_)
    2
    """

    name = "resnet-mf"
    notebook = "toy"
    note = ("the toy notebook's model with its settings: worse than the biases baseline on MovieLens (its"
            ' final epoch overfits; benchmarks/results/neural.md)')
    _centered = False

    def __init__(self, n_factors=20, hidden_units=64, n_epochs=10, lr=0.001, momentum=0.0, nesterov=False,
                 optimizer="adam", batch_size=32, reg=0.0, early_stopping=False, patience=2,
                 validation_fraction=0.1,
                 engine="vectorized", rng=None, dtype="float64", verbose=0, **renamed):
        store_params(self, locals())

    def _check_extra(self):
        (self._hidden,) = check_hidden_units(self, 1)

    def _build_net(self, n_users, n_items, init_rng, noise_rng):
        return ResNetNet(n_users, n_items, self._k, self._hidden, init_rng, self._dtype)
