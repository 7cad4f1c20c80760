r"""The Netflix notebook's deep AutoRec, rebuilt from :mod:`mfcore.nn` layers."""
import warnings

import numpy as np

from .._random import spawn
from ..engines.autorec_numpy import csr_rows
from ..nn import SGD, BatchNormalization, Dense, Dropout, ReLU, collect, l2_penalty, masked_mse
from .autorec import _AutoRecBase
from .params import check_hidden_units, check_params, store_params
from .registry import register


@register
class DeepAutoRec(_AutoRecBase):
    r"""User-based deep autoencoder of the Netflix notebook ("deep-autorec").

    Input = target = user u's training row centred by mu ONLY where observed:
    :math:`x_{ui} = r_{ui} - \mu` if (u, i) is rated, 0 otherwise, with mask m.
    The network, in Keras terms (every Dense: glorot-uniform kernel, zero bias)::

        Dropout(0.2) -> Dense(700) -> ReLU -> BatchNorm -> Dense(128) -> ReLU
        -> Dropout(0.2) -> Dense(n_items)                        # identity output

    Loss of a batch B of user rows (the Keras reference's ``masked_mse`` plus
    Keras' ``L2(reg)`` on the three kernels, added to EVERY batch):

    .. math::

        L_B = \frac{\sum_{u \in B} \sum_i m_{ui} (\hat x_{ui} - x_{ui})^2}{\sum_{u \in B}\sum_i m_{ui}}
              + \mathrm{reg} \sum_{l=1}^{3} \lVert K_l \rVert_F^2

    (normalised by the number of observed entries in the batch, not per row;
    the penalty has no 1/2 and no batch scaling: Keras' semantics, not the
    paper's). Keras SGD with momentum on every weight after each batch:
    :math:`v \leftarrow m v - \eta g,\ w \leftarrow w + v`. BatchNorm uses batch
    statistics in training and its moving averages (momentum 0.99) at
    inference. Batches of ``batch_size`` user rows are densified one at a time
    from the CSR matrix; rows are reshuffled every epoch.

    Prediction: :math:`\hat r_{ui} = \mu + \hat x_{ui}` of the inference-mode
    reconstruction of u's training row (stored as the 128-unit codes
    ``codes_`` and the last layer). Unknown users/items: the known part of
    mu + b_u + b_i (module :mod:`mfcore.models.autorec`).

    Keras' loss finds the observed entries by ``y_true != 0``; mfcore uses the
    data's mask (identical unless a rating equals mu exactly).

    Parameters
    ----------
    hidden_units : (int, int), default (700, 128)
        The widths of the two hidden layers (formerly ``n_hidden1, n_hidden2``).
        Widths of the two hidden layers.
    dropout : float, default 0.2
    reg : float, default 0.01
    lr, momentum : float, default 0.08, 0.9
    batch_size : int, default 128
    n_epochs : int, default 50
    early_stopping, patience, rng, verbose
        As in :class:`~mfcore.models.autorec.IAutoRec`; rng is split into
        init, order and dropout-noise streams.
    """

    name = "deep-autorec"
    notebook = "Netflix"
    note = ("the Netflix notebook's deep AutoRec with its settings: worse than the biases baseline on "
            'MovieLens; i-autorec is the accurate autoencoder')
    _item_rows = False

    def __init__(self, hidden_units=(700, 128), dropout=0.2, reg=0.01, lr=0.08, momentum=0.9,
                 batch_size=128, n_epochs=50, early_stopping=False, patience=3, validation_fraction=0.1,
                 rng=None, verbose=0, n_hidden1=None, n_hidden2=None):
        if n_hidden1 is not None or n_hidden2 is not None:  # the names before December 2026
            warnings.warn("DeepAutoRec: n_hidden1 and n_hidden2 are now hidden_units=(n_hidden1, "
                          "n_hidden2); the old names will stop working in a later version",
                          FutureWarning, stacklevel=2)
            hidden_units = (hidden_units[0] if n_hidden1 is None else n_hidden1,
                            hidden_units[1] if n_hidden2 is None else n_hidden2)
        del n_hidden1, n_hidden2
        store_params(self, locals())

    @classmethod
    def _param_names(cls):
        return [n for n in super()._param_names() if n not in ("n_hidden1", "n_hidden2")]

    def _build(self, d, init_rng, noise_rng):
        h1, h2 = check_hidden_units(self, 2)
        p = check_params(self, "dropout")["dropout"]
        self.layers_ = {"drop_in": Dropout(p, noise_rng), "dense1": Dense(d, h1, init_rng), "relu1": ReLU(),
                        "bn": BatchNormalization(h1), "dense2": Dense(h1, h2, init_rng), "relu2": ReLU(),
                        "drop_h": Dropout(p, noise_rng), "out": Dense(h2, d, init_rng)}

    def _forward(self, X, training):
        for name, layer in self.layers_.items():
            if name == "out":
                self._code = X  # (B, h2)
            X = layer.forward(X, training=training)
        return X  # (B, d)

    def _dense_rows(self, rows):
        indptr, idx, val = self._csr
        X = np.zeros((len(rows), len(self.item_counts_)))  # (B, d)
        Mk = np.zeros_like(X, dtype=bool)  # (B, d) observed mask
        lens = indptr[rows + 1] - indptr[rows]
        owner = np.repeat(np.arange(len(rows)), lens)
        pos = np.concatenate([np.arange(indptr[r], indptr[r + 1]) for r in rows])
        X[owner, idx[pos]] = val[pos]
        Mk[owner, idx[pos]] = True
        return X, Mk

    def _fit(self, train, valid, callbacks):
        self._start(train)
        p = check_params(self, "reg", "lr", "momentum", "batch_size", "n_epochs", "patience")
        reg, lr, mom, batch, n_epochs = p["reg"], p["lr"], p["momentum"], p["batch_size"], p["n_epochs"]
        init_rng, order_rng, noise_rng = spawn(self.rng, 3)
        mu = self.global_mean_
        self._csr = csr_rows(train.users.astype(np.int64), train.items.astype(np.int64),
                             train.values - mu, train.n_users)
        self._build(train.n_items, init_rng, noise_rng)
        opt = SGD(lr=lr, momentum=mom)
        n_users = train.n_users
        kernels = ("dense1", "dense2", "out")

        def train_epoch(epoch):
            order = order_rng.permutation(n_users)  # reshuffled every epoch
            total, n_batches = 0.0, 0
            with np.errstate(over="ignore", invalid="ignore"):
                for start in range(0, n_users, batch):
                    X, Mk = self._dense_rows(order[start:start + batch])  # (B, d) x2
                    loss, dY = masked_mse(self._forward(X, True), X, Mk)
                    for name in reversed(self.layers_):
                        dY = self.layers_[name].backward(dY)
                    for name in kernels:
                        pen, g = l2_penalty(self.layers_[name].params["kernel"], reg)
                        self.layers_[name].grads["kernel"] += g
                        loss += pen
                    opt.step(*collect(self.layers_))
                    total, n_batches = total + loss, n_batches + 1
            return total / n_batches

        self._run_epochs(n_epochs, train_epoch, callbacks, loss_var=None, lr=lr)
        del self._csr

    def _refresh_codes(self):
        codes = []
        n = len(self._csr[0]) - 1
        for start in range(0, n, 512):  # inference mode, block by block
            X, _ = self._dense_rows(np.arange(start, min(n, start + 512)))
            self._forward(X, False)
            codes.append(self._code)
        self.codes_ = np.concatenate(codes)  # (n_users, h2)
        self.out_kernel_ = self.layers_["out"].params["kernel"].copy()  # (h2, d)
        self.out_bias_ = self.layers_["out"].params["bias"].copy()  # (d,)

    def _decode_pairs(self, u, i):
        return self.global_mean_ + np.einsum("nk,nk->n", self.codes_[u], self.out_kernel_.T[i]) \
            + self.out_bias_[i]

    def score_users(self, users):
        users = np.asarray(users, dtype=np.int64)
        from ..ranking import fill_unknown
        return fill_unknown(self, users, self.global_mean_ + self.codes_[users] @ self.out_kernel_
                            + self.out_bias_)

    def _get_state(self):
        return {"codes_": self.codes_, "out_kernel_": self.out_kernel_, "out_bias_": self.out_bias_,
                "fallback_user_bias_": self.fallback_user_bias_,
                "fallback_item_bias_": self.fallback_item_bias_}
