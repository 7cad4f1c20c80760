r"""What the neural rating models share: the network protocol and the Keras-regime fit loop.

A *network* (:class:`Net`) maps a batch of user and item indices (and, for
RNCF's last stage, one extra float column) to a prediction (B,). It owns
mfcore layers in ``self.layers`` and implements ``forward`` and ``backward``;
the rest (parameter and gradient dicts, the Keras L2 term, the batch loss as
terms for the exact gradient check) lives here.

A *model* (:class:`NeuralRecommender`) trains one network the way Keras'
``model.fit`` does in the reference script ``benchmarks/keras_reference.py``:

* target :math:`y = r - \mu` (``_centered = True``) or the raw rating;
* per minibatch :math:`\mathcal B` the loss
  :math:`L_{\mathcal B} = \frac1{|\mathcal B|}\sum_{\mathcal B} (\hat y - y)^2
  + \lambda (\lVert P\rVert_F^2 + \lVert Q\rVert_F^2)` (Keras ``l2`` on the
  embedding tables, whole tables, every batch; ``reg = 0`` by default);
* one Keras optimizer step on EVERY weight after each batch (dense rule:
  embedding rows outside the batch get g = 0 and still move with their momentum);
* the rows reshuffled every epoch by ``order_rng.permutation(n)``; dropout
  masks drawn from a third stream ``noise_rng`` (adding dropout does not change
  the order), the three streams spawned from ``rng`` (two for a network without
  dropout, ``_noise_stream = False``: the Keras-regime MF models).

The model's ``_epoch_fn`` is the engine: by default :func:`train_epoch_numpy`
(the layer graph and an :mod:`mfcore.nn.optim` optimizer); a model with a
compiled epoch returns that instead (ResidualMF's
:class:`~mfcore.engines.residual_epoch.ResidualJitEpoch`, DeepMF's
:class:`~mfcore.engines.deep_epoch.DeepJitEpoch`, the MF models'
:mod:`~mfcore.engines.mfkeras_jit` kernels). Everything around the epoch
(streams, validation carving, callbacks, early stopping, history, divergence
guard, progress) is this one fit path and :meth:`Recommender._run_epochs`.

The time of each epoch is split into forward, backward and update seconds
(History keys ``forward_seconds``, ``backward_seconds``, ``update_seconds``).
"""
import time

import numpy as np

from .._random import spawn
from .._validation import check_choice
from ..nn import RowGrad, collect, mse
from ..nn.optim import OPTIMIZERS
from ..ranking import fill_unknown
from .base import Recommender
from .baseline import Biases
from .params import check_params

PREDICT_CHUNK = 16384
# The docstring lines of the Keras-regime models' L2 and early stopping (one wording for all).
KERAS_REG_DOC = """    reg : float, default 0.0
        lambda of Keras' ``l2`` on P and Q (whole tables, every batch).
    early_stopping : bool, default False
        With validation ratings: stop when ``val_rmse`` has not improved for
        ``patience`` epochs and restore the best epoch's weights.
    patience : int, default 2
"""


class Net:
    """Base network: ``layers`` (name -> Layer); subclasses write forward/backward."""

    embedding_names = ("user_embedding", "item_embedding")  # the tables ``reg`` penalises

    def forward(self, u, i, extra=None, training=True):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def params(self):
        return collect(self.layers)[0]

    def grads(self):
        return collect(self.layers)[1]

    def buffers(self):
        """Non-trained state (BatchNormalization's moving statistics)."""
        out = {}
        for name, layer in self.layers.items():
            if hasattr(layer, "moving_mean"):
                out[f"{name}/moving_mean"] = layer.moving_mean
                out[f"{name}/moving_variance"] = layer.moving_variance
        return out

    def _get_state(self):
        """Trained weights and buffers as copies-on-restore views (what a best-epoch restore saves)."""
        return {**self.params, **self.buffers()}

    def _set_state(self, state):
        arrays = {**self.params, **self.buffers()}
        for key, value in state.items():
            arrays[key][...] = value

    def _penalised(self):
        return [f"{n}/embeddings" for n in self.embedding_names if n in self.layers]

    def loss_and_grads(self, u, i, y, extra=None, reg=0.0):
        """Batch loss (MSE + Keras L2 on the embeddings) and every gradient (a penalised
        table's gradient is dense: the L2 term touches every row)."""
        loss, dy = mse(self.forward(u, i, extra), y)  # float, (B,)
        self.backward(dy)
        grads = self.grads()
        if reg:
            params = self.params
            for name in self._penalised():
                w = params[name]
                loss += float(reg * np.sum(w * w))
                grads[name] = _dense(grads[name]) + (2.0 * reg) * w  # (n, k)
        return loss, grads

    def loss_terms(self, u, i, y, extra=None, reg=0.0):
        """:meth:`loss_and_grads`' loss as an array of terms summing to it (for
        :func:`mfcore.nn.gradcheck.check_gradients`' exact summation)."""
        e = self.forward(u, i, extra) - np.asarray(y, dtype=np.float64)  # (B,)
        terms = [e * e / e.size]
        if reg:
            terms += [reg * self.params[n].ravel() ** 2 for n in self._penalised()]
        return np.concatenate(terms)


def _dense(g):
    """A :class:`~mfcore.nn.RowGrad` as its full table; any other gradient as it is."""
    return g.to_dense() if isinstance(g, RowGrad) else g


def train_epoch_numpy(net, opt, inputs, y, order, batch, reg, timing):
    """One epoch of minibatches on ``net`` (layer graph + optimizer); returns the mean
    batch loss (Keras' epoch loss) and adds forward/backward/update seconds to ``timing``."""
    params = net.params
    total, n_batches = 0.0, 0
    t_fwd = t_bwd = t_upd = 0.0
    clock = time.perf_counter
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, order.size, batch):
            rows = order[start:start + batch]  # (B,)
            t0 = clock()
            u, i = inputs[0][rows], inputs[1][rows]  # (B,), (B,)
            extra = inputs[2][rows] if len(inputs) > 2 else None  # (B,) or None
            loss, dy = mse(net.forward(u, i, extra), y[rows])  # float, (B,)
            t1 = clock()
            net.backward(dy)
            grads = net.grads()
            if reg:
                for name in net._penalised():
                    w = params[name]
                    loss += float(reg * np.sum(w * w))
                    grads[name] = _dense(grads[name]) + (2.0 * reg) * w  # (n, k)
            t2 = clock()
            opt.step(params, grads)
            t3 = clock()
            t_fwd, t_bwd, t_upd = t_fwd + t1 - t0, t_bwd + t2 - t1, t_upd + t3 - t2
            total, n_batches = total + loss, n_batches + 1
    timing.update(forward_seconds=t_fwd, backward_seconds=t_bwd, update_seconds=t_upd)
    return total / n_batches


def predict_net(net, u, i, extra=None):
    """Inference-mode predictions in chunks, as float64 (n,)."""
    out = np.empty(len(u), dtype=np.float64)
    for s in range(0, len(u), PREDICT_CHUNK):
        e = None if extra is None else extra[s:s + PREDICT_CHUNK]
        out[s:s + PREDICT_CHUNK] = net.forward(u[s:s + PREDICT_CHUNK], i[s:s + PREDICT_CHUNK], e,
                                               training=False)
    return out


def make_optimizer(name, lr, momentum=0.0, nesterov=False):
    """A :mod:`mfcore.nn.optim` optimizer with Keras' defaults for everything but lr."""
    if name == "sgd":
        return OPTIMIZERS["sgd"](lr=lr, momentum=momentum, nesterov=nesterov)
    return OPTIMIZERS[name](lr=lr)


class NeuralRecommender(Recommender):
    """Shared fit/predict/state of the neural models (module docstring).

    Subclasses set ``name``, ``_centered``, ``_own_biases`` and implement
    ``_build_net(n_users, n_items, init_rng, noise_rng)`` and ``_check_extra()``;
    they may override ``_make_optimizer`` (the NumPy engine's optimizer) and
    ``_epoch_fn`` to plug in a compiled engine.
    """

    iterative = True
    _centered = True  # learn r - mu and predict output + mu
    _own_biases = False  # True: fallback uses the net's bias tables
    _noise_stream = True  # False: no dropout, so no noise stream (noise_rng is None)

    # ------------------------------------------------------------ checking
    def _check_common(self):
        p = check_params(self)
        self._k, self._n_epochs, self._lr, self._batch = p["n_factors"], p["n_epochs"], p["lr"], p["batch_size"]
        self._reg, self._dtype, self._momentum = p["reg"], p["dtype"], p.get("momentum", 0.0)
        self._optimizer = (check_choice(self.optimizer, "optimizer", self, tuple(OPTIMIZERS))
                           if hasattr(self, "optimizer") else None)  # else _make_optimizer names it
        check_choice(self.engine, "engine", self, self._engines)
        self._check_extra()

    _engines = ("vectorized",)

    def _check_extra(self):
        pass

    def _build_net(self, n_users, n_items, init_rng, noise_rng):  # pragma: no cover - abstract
        raise NotImplementedError

    # ----------------------------------------------------------------- fit
    def _fit(self, train, valid, callbacks):
        self._check_common()
        streams = spawn(self.rng, 3 if self._noise_stream else 2)  # init, order(, noise)
        init_rng, order_rng = streams[:2]
        noise_rng = streams[2] if self._noise_stream else None
        self.net_ = self._build_net(train.n_users, train.n_items, init_rng, noise_rng)
        if not self._own_biases:
            fb = Biases(method="closed").fit(train)
            self.fallback_user_bias_, self.fallback_item_bias_ = fb.user_bias_, fb.item_bias_
        offset = self.global_mean_ if self._centered else 0.0
        u = np.ascontiguousarray(train.users, dtype=np.int64)  # (n,)
        i = np.ascontiguousarray(train.items, dtype=np.int64)  # (n,)
        y = np.ascontiguousarray(train.values - offset, dtype=self._dtype)  # (n,)
        self._compile_seconds = 0.0
        epoch_fn = self._epoch_fn((u, i), y)
        timing = {}

        def train_epoch(epoch):
            return epoch_fn(order_rng.permutation(len(u)), timing)  # reshuffled every epoch

        self._run_epochs(self._n_epochs, train_epoch, callbacks, lr=self._lr, extra_logs=timing)

    def _make_optimizer(self):
        """The NumPy engine's optimizer: ``optimizer`` with Keras' defaults but lr (and momentum)."""
        return make_optimizer(self._optimizer, self._lr, self._momentum, bool(self.nesterov))

    def _epoch_fn(self, inputs, y):
        """``epoch_fn(order, timing) -> loss``: the readable NumPy engine."""
        opt = self._make_optimizer()
        return lambda order, timing: train_epoch_numpy(self.net_, opt, inputs, y, order,
                                                       self._batch, self._reg, timing)

    # ------------------------------------------------------------- predict
    def _predict_known(self, u, i):
        out = predict_net(self.net_, np.asarray(u, np.int64), np.asarray(i, np.int64))
        return out + (self.global_mean_ if self._centered else 0.0)

    def _predict_fallback(self, u, i):
        if self._own_biases:
            p = self.net_.params
            return self._bias_fallback(u, i, p["user_bias/embeddings"][:, 0], p["item_bias/embeddings"][:, 0])
        return self._bias_fallback(u, i, self.fallback_user_bias_, self.fallback_item_bias_)

    def score_users(self, users):
        """Predictions (unclipped, inference mode) of every item for each user index:
        (len(users), n_items); unknown pairs get the fallback, as in ``predict``."""
        users = np.asarray(users, dtype=np.int64)
        n_items = self.item_counts_.size
        uu = np.repeat(users, n_items)  # (U * n_items,)
        ii = np.tile(np.arange(n_items), users.size)  # (U * n_items,)
        scores = self._predict_known(uu, ii).reshape(users.size, n_items)  # (U, n_items)
        return fill_unknown(self, users, scores)

    # --------------------------------------------------------------- state
    def _get_state(self):
        state = {"net." + k.replace("/", "."): v for k, v in self.net_.params.items()}
        state.update({"buf." + k.replace("/", "."): v for k, v in self.net_.buffers().items()})
        if not self._own_biases:
            state["fallback_user_bias_"] = self.fallback_user_bias_
            state["fallback_item_bias_"] = self.fallback_item_bias_
        if hasattr(self, "_units"):  # a tuple parameter: the model file's JSON header drops it
            state["arch.units"] = np.asarray(self._units, dtype=np.int64)
        return state

    def _set_state(self, state):
        if "arch.units" in state:
            self.hidden_units = tuple(int(n) for n in state["arch.units"])
        if getattr(self, "net_", None) is None:  # a loaded model: rebuild the graph, then fill it
            self._check_common()
            self.net_ = self._build_net(self.user_counts_.size, self.item_counts_.size,
                                        np.random.default_rng(0), np.random.default_rng(0))
        arrays = dict(self.net_.params)
        arrays.update(self.net_.buffers())
        for key, value in state.items():
            if key.startswith("arch."):
                continue
            if key.startswith(("net.", "buf.")):
                target = arrays[key[4:].replace(".", "/")]
                if value.shape != target.shape and value.size == target.size:
                    value = value.reshape(target.shape)  # an older file's (n,) bias as the (n, 1) table
                target[...] = value
            else:
                setattr(self, key, value)
