r"""The Netflix notebook's deep AutoRec, rebuilt from :mod:`mfcore.nn` layers."""
import warnings

import numpy as np

from .._random import spawn
from .._validation import check_choice
from ..engines import autorec_jit as K_jit
from ..engines import autorec_numpy as K_numpy
from ..engines import optim_jit, optim_numpy
from ..engines.autorec_numpy import csr_rows
from ..nn import SGD, BatchNormalization, Dense, Dropout, ReLU, collect
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
    inference. Batches of ``batch_size`` user rows are taken from the CSR
    matrix; rows are reshuffled every epoch.

    A batch is never densified: only its observed entries (about 120 of the
    9,066 items of a user on ml-latest-small) enter the two wide layers, so
    their cost is O(nnz k) instead of O(B n_items k) (the products are
    :mod:`mfcore.engines.autorec_jit`'s sparse kernels):

    (D1) input dropout: the keep mask Dropout draws for the dense (B, n_items)
    batch, read at the observed entries (an unobserved input is 0 either way);
    (D2) :math:`Z_1 = \tilde X K_1 + b_1` over the kept entries;
    (D3) the dense 700- and 128-unit middle, as the layers compute it;
    (D4) the outputs :math:`\hat x_{ui}` at the observed entries only (the
    loss reads nothing else);
    (D5) back through the output layer: :math:`\partial L/\partial K_3 = H^T \delta`,
    :math:`\partial L/\partial H = \delta K_3^T` with the sparse
    :math:`\delta = \partial L / \partial \hat x`;
    (D6) :math:`\partial L/\partial K_1 = \tilde X^T \partial L/\partial Z_1`
    (non-zero only in the rows of the batch's items). The L2 gradient
    :math:`2\,\mathrm{reg}\,K_l` is added in the SGD pass itself (the rule's
    (L2) of :mod:`mfcore.engines.optim_numpy`), to every row, as Keras does.

    The same numbers as the dense layer graph up to rounding (tested: the
    products sum in another order).

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
    engine : {"jit", "vectorized"}
        Numba kernels for (D2)-(D6) and the SGD rule, or their NumPy twins
        (same numbers to rounding).
    """

    name = "deep-autorec"
    notebook = "Netflix"
    note = ("the Netflix notebook's deep AutoRec with its settings: worse than the biases baseline on "
            'MovieLens; i-autorec is the accurate autoencoder')
    _item_rows = False

    def __init__(self, hidden_units=(700, 128), dropout=0.2, reg=0.01, lr=0.08, momentum=0.9,
                 batch_size=128, n_epochs=50, early_stopping=False, patience=3, validation_fraction=0.1,
                 engine="jit", rng=None, verbose=0, n_hidden1=None, n_hidden2=None):
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

    def _entries(self, rows):
        """The observed entries of the training rows ``rows`` (B,), in row order: the local row
        (nnz,), the item (nnz,) and the centred rating (nnz,)."""
        indptr, idx, val = self._csr
        starts, lens = indptr[rows], indptr[rows + 1] - indptr[rows]  # (B,)
        owner = np.repeat(np.arange(len(rows)), lens)  # (nnz,)
        first = np.cumsum(lens) - lens  # (B,) where each row's entries start in the output
        pos = np.arange(int(lens.sum())) + np.repeat(starts - first, lens)  # (nnz,) positions in the CSR
        return owner, idx[pos], val[pos]

    def _first_layer(self, owner, cols, xs, B):
        """(D2) Z1 = X W1 + b1 for the sparse (B, d) input X given by its entries."""
        dense1 = self.layers_["dense1"]
        Z1 = np.zeros((B, dense1.params["kernel"].shape[1]))  # (B, h1)
        self._K.sparse_times(owner, cols, xs, dense1.params["kernel"], Z1)
        return Z1 + dense1.params["bias"]

    def _middle(self, A, training):
        """(D3) ReLU -> BatchNorm -> Dense(h2) -> ReLU -> Dropout: the 128-unit code (B, h2)."""
        for name in ("relu1", "bn", "dense2", "relu2", "drop_h"):
            A = self.layers_[name].forward(A, training=training)
        return A

    def _batch(self, rows):
        """One training batch of user rows (B,): (D1)-(D6). Returns the masked MSE (without the
        penalty) and leaves the gradients of the data term in the layers' ``grads``."""
        L, K = self.layers_, self._K
        B, d = len(rows), self._G1.shape[0]
        owner, cols, x = self._entries(rows)  # (nnz,) x3
        drop = L["drop_in"]  # (D1) input dropout: the draw Dropout makes for the dense (B, d) rows,
        xs = x  # read at the observed entries (the others are 0 whether dropped or not)
        if drop.rate > 0:
            keep = drop.draw_mask((B, d))[owner, cols]  # (nnz,) bool
            xs = x * (keep.astype(x.dtype) / x.dtype.type(1.0 - drop.rate))  # (nnz,)
        H = self._middle(self._first_layer(owner, cols, xs, B), True)  # (D2), (D3): (B, h2)
        out, Wt, Gt = L["out"], self._out_t, self._G3t  # (d, h2): the output kernel stored transposed
        o = np.empty(len(x))  # (nnz,) (D4) the outputs at the observed entries only
        K.sampled_dots(owner, cols, H, Wt, out.params["bias"], o)
        if len(x) == 0:  # masked_mse of a batch with no observed entry
            loss, D = 0.0, o
        else:
            e = o - x  # (nnz,)
            loss, D = float(np.sum(e * e) / len(x)), (2.0 / len(x)) * e  # masked_mse, dL/do (nnz,)
        # (D5) back through the output layer: dL/dW_out = H^T D (kept transposed), dL/db_out, dL/dH = D W_out^T
        K.sparse_t_times(owner, cols, D, H, Gt)
        out.grads["kernel"] = Gt.T  # (h2, d) view
        out.grads["bias"] = np.bincount(cols, weights=D, minlength=d)  # (d,)
        dA = np.zeros_like(H)  # (B, h2)
        K.sparse_times(owner, cols, D, Wt, dA)
        for name in ("drop_h", "relu2", "dense2", "bn", "relu1"):
            dA = L[name].backward(dA)  # ends as dL/dZ1 (B, h1)
        dense1 = L["dense1"]  # (D6) dL/dW1 = X^T dL/dZ1: only the rows of the batch's items are not 0
        K.sparse_t_times(owner, cols, xs, dA, self._G1)
        dense1.grads["kernel"], dense1.grads["bias"] = self._G1, dA.sum(axis=0)
        return loss

    def _setup(self, train, init_rng, noise_rng):
        """The training rows (CSR, centred), the layers and the gradient buffers of the wide kernels."""
        check_choice(self.engine, "engine", self, ("jit", "vectorized"))
        self._K = K_jit if self.engine == "jit" else K_numpy
        self._csr = csr_rows(train.users.astype(np.int64), train.items.astype(np.int64),
                             train.values - self.global_mean_, train.n_users)
        self._build(train.n_items, init_rng, noise_rng)
        self._G1 = np.zeros_like(self.layers_["dense1"].params["kernel"])  # (d, h1), zeroed by each step
        # the output kernel (h2, d) lives transposed, (d, h2), so that an item's weights are one row;
        # the layer sees a view. Its gradient too; the SGD rule works entry by entry in any layout.
        out = self.layers_["out"]
        self._out_t = np.ascontiguousarray(out.params["kernel"].T)  # (d, h2)
        out.params["kernel"] = self._out_t.T  # (h2, d) view
        self._G3t = np.zeros_like(self._out_t)  # (d, h2), zeroed by each step

    def _fit(self, train, valid, callbacks):
        self._start(train)
        p = check_params(self, "reg", "lr", "momentum", "batch_size", "n_epochs", "patience")
        reg, lr, mom, batch, n_epochs = p["reg"], p["lr"], p["momentum"], p["batch_size"], p["n_epochs"]
        init_rng, order_rng, noise_rng = spawn(self.rng, 3)
        self._setup(train, init_rng, noise_rng)
        rule = optim_jit if self.engine == "jit" else optim_numpy
        opt = SGD(lr=lr, momentum=mom, use_jit=self.engine == "jit")
        n_users = train.n_users
        kernels = ("dense1", "dense2", "out")
        c = np.float64  # the rule's scalars in the weights' dtype, as SGD passes them

        def train_epoch(epoch):
            order = order_rng.permutation(n_users)  # reshuffled every epoch
            total, n_batches = 0.0, 0
            with np.errstate(over="ignore", invalid="ignore"):
                for start in range(0, n_users, batch):
                    loss = self._batch(order[start:start + batch])
                    params, grads = collect(self.layers_)
                    for name in kernels:  # Keras' L2(reg) on the kernels, folded into the SGD pass
                        key = f"{name}/kernel"
                        w, g = params.pop(key), grads.pop(key)
                        if name == "out":  # the contiguous (d, h2) arrays behind the views
                            w, g = self._out_t, self._G3t
                        loss += float(reg * np.vdot(w, w))  # the penalty, before the step
                        v = opt.state.setdefault(key, {"momentum": np.zeros_like(w)})["momentum"]
                        rule.sgd_step(w, v, g, c(lr), c(mom), False, c(2.0 * reg), c(1), True)
                    opt.step(params, grads)  # the biases, BatchNorm's gamma and beta
                    total, n_batches = total + loss, n_batches + 1
            return total / n_batches

        self._run_epochs(n_epochs, train_epoch, callbacks, loss_var=None, lr=lr)
        self.layers_["out"].params["kernel"] = self.layers_["out"].params["kernel"].copy()  # (h2, d)
        del self._csr, self._G1, self._G3t, self._out_t

    def _refresh_codes(self):
        n = len(self._csr[0]) - 1
        owner, cols, x = self._entries(np.arange(n))  # every training row, inference mode
        self.codes_ = self._middle(self._first_layer(owner, cols, x, n), False)  # (n_users, h2)
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

    def _state_shapes(self):
        rows, cols = ("items", "users") if self._item_rows else ("users", "items")
        return {"codes_": (rows, "code"), "out_kernel_": ("code", cols), "out_bias_": (cols,)}

    def _get_state(self):
        return {"codes_": self.codes_, "out_kernel_": self.out_kernel_, "out_bias_": self.out_bias_,
                "fallback_user_bias_": self.fallback_user_bias_,
                "fallback_item_bias_": self.fallback_item_bias_}
