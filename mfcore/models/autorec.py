r"""AutoRec (Sedhain et al. 2015): an autoencoder that reconstructs sparse rating vectors.

:class:`IAutoRec` (``"i-autorec"``) encodes each ITEM as its vector of ratings
over the users, :class:`UAutoRec` (``"u-autorec"``) each USER as its vector over
the items; :class:`~mfcore.models.deep_autorec.DeepAutoRec` (``"deep-autorec"``)
is the Netflix notebook's deep variant. The paper found the item-based one
better on ML-1M and Netflix, where an item has many more ratings than a user (on
ML-100k it is the reverse, 59 ratings per item against 106 per user, and I- still wins).

Notation: a row x in R^d (d = n_users for I-AutoRec) holds the training
ratings, 0 where missing, with observed-mask m (a rating of 0 is observed:
the mask comes from the data, never from ``x != 0``); k hidden units; the
encoder V (d, k) (the paper's V transposed), hidden bias c (k,), decoder W
(d, k), output bias b (d,).

.. math::

    (A1)\ z = V^T x + c, \quad h = g(z) \qquad
    (A2)\ o_j = W_j \cdot h + b_j, \quad \hat x_j = f(o_j)

    J(\theta) = \sum_{\text{rows}} \sum_{j:\,m_j = 1} (\hat x_j - x_j)^2
              + \frac{\lambda}{2} \left(\lVert W \rVert_F^2 + \lVert V \rVert_F^2\right)

(the paper's objective: squared error summed over the observed entries only,
weight decay lambda/2 on the two weight matrices, biases not penalised). With
:math:`\delta_j = 2 (\hat x_j - x_j) f'(o_j)` for observed j (0 otherwise):

(A3) :math:`\partial J/\partial b_j = \delta_j`, (A4) :math:`\partial J/\partial W_j = \delta_j h`,
:math:`\partial J/\partial h = \sum_j \delta_j W_j`, (A5) :math:`\partial J/\partial z =
\partial J/\partial h \odot g'(z)`, :math:`\partial J/\partial V_j = x_j\, \partial J/\partial z`,
:math:`\partial J/\partial c = \partial J/\partial z`, plus :math:`\lambda W`, :math:`\lambda V`.

Only observed outputs enter the loss, so (A2)-(A4) run over the nnz entries of a
row and a batch costs O(nnz k): the rating matrix is never densified
(:mod:`mfcore.engines.autorec_jit`). L-BFGS's full batch of a wide matrix
(U-AutoRec: 9,066 item columns, 671 user rows) visits the entries column by column
instead (the same sums in the same order, to the last bit). Prediction for (u, i) in I-AutoRec is
:math:`\hat x_u` of item i's TRAINING row (for U-AutoRec entry i of u's row).

Unknown users and items (fallback): a pair whose user or item had no training
rating gets the known part of mu + b_u + b_i, with the damped-mean biases of
``Biases(method="closed")`` fitted on the same training ratings.
"""
import inspect
import time
import warnings

import numpy as np

from .._random import spawn
from .._validation import check_choice, check_number
from ..engines import autorec_jit as K
from ..engines import lbfgs_jit, lbfgs_numpy
from ..engines.autorec_numpy import _act_np, csc_of, csr_rows, encode, grads_numpy  # noqa: F401
from ..nn import Adam, init
from ..nn.lbfgs import minimize_lbfgs
from ..ranking import fill_unknown
from .base import Recommender
from .baseline import Biases
from .registry import register
from .params import check_hidden_units, check_params, store_params

ACTIVATIONS = {"identity": 0, "sigmoid": 1, "relu": 2, "tanh": 3}


def objective(params, csr, rows, lam_share, g_code, f_code, engine="jit"):
    """J restricted to ``rows`` with the penalty scaled by ``lam_share`` (= lambda * |rows| / n_rows
    for a minibatch, lambda for the full batch); returns (J, grads dict)."""
    V, c, W, b = (params[n] for n in ("V", "c", "W", "b"))
    rows = np.asarray(rows, dtype=np.int64)  # (B,)
    G = {n: np.zeros_like(p) for n, p in params.items()}
    if engine == "jit":
        sse = K.autorec_grads(*csr, np.asarray(rows, np.int64), V, c, W, b, g_code, f_code,
                              G["V"], G["c"], G["W"], G["b"])
    else:  # in chunks of 64 rows: the twin's temporaries are (nnz, k)
        sse = sum(grads_numpy(csr, rows[s:s + 64], V, c, W, b, g_code, f_code, G["V"], G["c"], G["W"], G["b"])
                  for s in range(0, len(rows), 64))
    pen = 0.5 * lam_share * (np.sum(V * V) + np.sum(W * W))
    G["V"] += lam_share * V
    G["W"] += lam_share * W
    return sse + pen, G


class _AutoRecBase(Recommender):
    """Fallback biases, validation/early-stopping wiring and prediction from stored codes."""

    iterative = True
    _item_rows = True  # rows are items (I-AutoRec)

    def _start(self, train):
        fb = Biases(method="closed").fit(train)
        self.fallback_user_bias_, self.fallback_item_bias_ = fb.user_bias_, fb.item_bias_

    def _sync(self):
        self._refresh_codes()  # predictions read the codes of the training rows

    def _rc(self, u, i):
        return (i, u) if self._item_rows else (u, i)

    def _predict_fallback(self, u, i):
        return self._bias_fallback(u, i, self.fallback_user_bias_, self.fallback_item_bias_)

    def _predict_known(self, u, i):
        r, col = self._rc(u, i)
        return self._decode_pairs(r, col)

    def score_users(self, users):
        """Predictions (unclipped) of every item for each user index: (len(users), n_items)."""
        users = np.asarray(users, dtype=np.int64)
        n_items = self.item_counts_.size
        uu, ii = np.repeat(users, n_items), np.tile(np.arange(n_items), users.size)
        scores = self._decode_pairs(*self._rc(uu, ii)).reshape(users.size, n_items)
        return fill_unknown(self, users, scores)


class _ShallowAutoRec(_AutoRecBase):
    _row_width_params = ("hidden_units",)  # encoder and decoder rows per user, codes per item (or swapped)

    def __init__(self, hidden_units=500, activation="sigmoid", output_activation="identity", reg=300.0,
                 optimizer="lbfgs", n_epochs=12, lr=1e-3, batch_size=32, lbfgs_iter=25, lbfgs_memory=20,
                 early_stopping=False, patience=3, validation_fraction=0.1, engine="jit", rng=None, verbose=0,
                 **renamed):
        store_params(self, locals())

    def _check(self):
        (k,) = check_hidden_units(self, 1)
        p = check_params(self, "n_epochs", "lr", "reg", "batch_size", "patience")
        self._g = ACTIVATIONS[check_choice(self.activation, "activation", self, tuple(ACTIVATIONS))]
        self._f = ACTIVATIONS[check_choice(self.output_activation, "output_activation", self,
                                           tuple(ACTIVATIONS))]
        self._lam, self._n_epochs, self._lr, self._batch = p["reg"], p["n_epochs"], p["lr"], p["batch_size"]
        check_choice(self.optimizer, "optimizer", self, ("adam", "lbfgs"))
        unused = ("lr", "batch_size") if self.optimizer == "lbfgs" else ("lbfgs_iter", "lbfgs_memory")
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [name for name in unused if getattr(self, name) != defaults[name].default]
        if changed:
            warnings.warn(f"{type(self).__name__}: {', '.join(changed)} {'has' if len(changed) == 1 else 'have'} "
                          f"no effect with optimizer={self.optimizer!r} (lr and batch_size serve 'adam', "
                          "lbfgs_iter and lbfgs_memory 'lbfgs')", UserWarning, stacklevel=3)
        self._iters = check_number(self.lbfgs_iter, "lbfgs_iter", self, kind="int", low=1, low_inclusive=True)
        check_number(self.lbfgs_memory, "lbfgs_memory", self, kind="int", low=1, low_inclusive=True)
        check_choice(self.engine, "engine", self, ("jit", "vectorized"))
        return k

    def _fit(self, train, valid, callbacks):
        k = self._check()
        self._start(train)
        init_rng, order_rng = spawn(self.rng, 2)
        if self._item_rows:
            n_rows, d, rows, cols = train.n_items, train.n_users, train.items, train.users
        else:
            n_rows, d, rows, cols = train.n_users, train.n_items, train.users, train.items
        self._csr = csr_rows(rows.astype(np.int64), cols.astype(np.int64), train.values, n_rows)
        self.params_ = {"V": init.glorot_uniform((d, k), init_rng),  # (d, k) encoder
                        "c": np.zeros(k),  # (k,)
                        "W": init.glorot_uniform((d, k), init_rng),  # (d, k) decoder
                        "b": np.zeros(d)}  # (d,)
        n = len(train)
        logs = {}  # train_mse: the error part of J / n, for the divergence guard (and the history)
        all_rows = np.arange(n_rows)
        args = (self._g, self._f, self.engine)
        if self.optimizer == "lbfgs":
            L = lbfgs_jit if self.engine == "jit" else lbfgs_numpy
            csc = csc_of(self._csr, d) if self.engine == "jit" and d > n_rows else None
            names = ("V", "c", "W", "b")
            shapes = [self.params_[m].shape for m in names]
            cuts = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]

            def unpack(theta):
                return {m: a.reshape(s) for m, a, s in zip(names, np.split(theta, cuts), shapes)}

            def fun(theta, grad):  # J, and its gradient written into the flat array grad
                P, G = unpack(theta), unpack(grad)  # views
                grad[...] = 0.0
                if csc is not None:  # a wide matrix (U-AutoRec): the same sums, column by column
                    sse = K.autorec_grads_by_column(*csc, n_rows, *(P[m] for m in names), self._g, self._f,
                                                    *(G[m] for m in names))
                elif self.engine == "jit":
                    sse = K.autorec_grads(*self._csr, all_rows, *(P[m] for m in names), self._g, self._f,
                                          *(G[m] for m in names))
                else:
                    sse = sum(grads_numpy(self._csr, all_rows[s:s + 64], *(P[m] for m in names), self._g,
                                          self._f, *(G[m] for m in names)) for s in range(0, n_rows, 64))
                L.add_scaled(G["V"], P["V"], self._lam)
                L.add_scaled(G["W"], P["W"], self._lam)
                return sse + 0.5 * self._lam * (np.vdot(P["V"], P["V"]) + np.vdot(P["W"], P["W"]))

            def train_epoch(epoch):
                theta = np.concatenate([self.params_[m].ravel() for m in names])
                res = minimize_lbfgs(fun, theta, self._iters, self.lbfgs_memory,
                                     engine="jit" if self.engine == "jit" else "numpy")
                for m, a in unpack(res.x).items():
                    self.params_[m][...] = a
                V, W = self.params_["V"], self.params_["W"]
                logs["train_mse"] = (float(res.fun) - 0.5 * self._lam * (np.vdot(V, V) + np.vdot(W, W))) / n
                return float(res.fun) / n
        else:
            opt = Adam(lr=self._lr)
            slots = {m: (np.zeros_like(p), np.zeros_like(p)) for m, p in self.params_.items()}
            G = {m: np.zeros_like(p) for m, p in self.params_.items()}  # zeroed by adam_dense
            if self.engine == "jit":  # compile on a dummy so that epoch 1 is timed fairly
                t0 = time.perf_counter()
                K.autorec_grads(*self._csr, np.zeros(1, np.int64), *self.params_.values(), self._g,
                                self._f, *(np.zeros_like(p) for p in self.params_.values()))
                K.adam_dense(*(np.zeros((1, 1)) for _ in range(4)), 0.1, 0.9, 0.9, 1e-7, 1, 0.0)
                self._compile_seconds = time.perf_counter() - t0

            def train_epoch(epoch):
                order = order_rng.permutation(n_rows)  # reshuffled every epoch
                total = sse = 0.0
                for start in range(0, n_rows, self._batch):
                    batch = order[start:start + self._batch]  # (B,)
                    share = self._lam * len(batch) / n_rows  # this batch's part of lambda
                    if self.engine == "jit":
                        sse_b = K.autorec_grads(*self._csr, batch, *self.params_.values(), self._g, self._f,
                                                *G.values())
                        total, sse = total + sse_b, sse + sse_b
                        t = opt.iterations = opt.iterations + 1
                        for m, p in self.params_.items():
                            pen = K.adam_dense(p, *slots[m], G[m], self._lr, opt.beta_1, opt.beta_2,
                                               opt.epsilon, t, share if m in "VW" else 0.0)
                            total += 0.5 * share * pen if m in "VW" else 0.0
                    else:
                        V, W = self.params_["V"], self.params_["W"]
                        pen = 0.5 * share * (np.sum(V * V) + np.sum(W * W))  # as objective adds it
                        J, grads = objective(self.params_, self._csr, batch, share, *args)
                        opt.step(self.params_, grads)
                        total, sse = total + J, sse + (J - pen)
                logs["train_mse"] = sse / n
                return total / n
        # J / n includes the weight decay, which dwarfs the error on small data: no absolute bound on
        # it; its error part (train_mse, logged) is bounded instead
        self._run_epochs(self._n_epochs, train_epoch, callbacks, loss_var=None, error_var="ratings",
                         extra_logs=logs, lr=self._lr if self.optimizer == "adam" else None,
                         fix="lower lr" if self.optimizer == "adam" else "raise reg")
        del self._csr

    def _refresh_codes(self):
        p = self.params_
        self.codes_ = encode(self._csr, np.arange(len(self._csr[0]) - 1), p["V"], p["c"], self._g)  # (n_rows, k)

    def _decode_pairs(self, r, col):
        p = self.params_
        o = np.einsum("nk,nk->n", p["W"][col], self.codes_[r]) + p["b"][col]  # (n,)
        return _act_np(o, ACTIVATIONS[self.output_activation])

    def _state_shapes(self):
        (k,) = check_hidden_units(self, 1)
        rows, cols = ("items", "users") if self._item_rows else ("users", "items")
        return {"param_V": (cols, k), "param_c": (k,), "param_W": (cols, k), "param_b": (cols,),
                "codes_": (rows, k)}

    def _get_state(self):
        state = {f"param_{m}": a for m, a in self.params_.items()}
        state.update(codes_=self.codes_, fallback_user_bias_=self.fallback_user_bias_,
                     fallback_item_bias_=self.fallback_item_bias_)
        return state

    def _set_state(self, state):
        state = dict(state)
        self.params_ = {m[6:]: np.array(state.pop(m)) for m in list(state) if m.startswith("param_")}
        super()._set_state(state)


@register
class IAutoRec(_ShallowAutoRec):
    __doc__ = r"""Item-based AutoRec: each item's ratings over the users is reconstructed.

    See the module docstring for the model (A1)-(A2), the objective J and its
    gradients (A3)-(A5). Predicted r_ui = entry u of item i's reconstruction.

    Parameters
    ----------
    hidden_units : int, default 500
        k.
    activation, output_activation : {"sigmoid", "relu", "tanh", "identity"}
        g and f; default sigmoid and identity (the paper's choice).
    reg : float, default 300
        lambda of the paper's weight decay lambda/2 (|W|^2 + |V|^2) (summed-error scale).
    optimizer : {"adam", "lbfgs"}, default "lbfgs"
        "adam": Keras' Adam on minibatches of ``batch_size`` rows, each batch
        carrying the share |B|/n_rows of the penalty, so that one epoch sums to J
        (the Keras reference's training). "lbfgs": L-BFGS on the full J,
        ``lbfgs_iter`` iterations per epoch (memory reset each epoch; the paper
        used L-BFGS / Rprop): :func:`mfcore.nn.lbfgs.minimize_lbfgs`, the
        iterates of scipy's L-BFGS-B (to rounding) at a fraction of its cost.
    n_epochs, lr, batch_size, lbfgs_iter : default 12, 0.001, 32, 25
        lr and batch_size serve Adam only; lbfgs_iter serves L-BFGS only
        (the default runs 12 x 25 = 300 L-BFGS iterations).
    lbfgs_memory : int, default 20
        The number of (s, y) pairs L-BFGS keeps (scipy's ``maxcor``). They take
        2 x lbfgs_memory x n_params floats: for U-AutoRec on ml-latest-small
        (9.1 million weights) 2.9 GB at 20, 0.7 GB at 5.

    Defaults (tuning)
    -----------------
    Chosen WITHOUT the test set: trained on 90% of the ML-100k 80/20 training
    rows (``random_split(train, 0.1, rng=42)``), compared on the other 10%.
    Adam with lambda 100 (the Keras reference's setting) overfits after its best
    epoch, and so does L-BFGS with lambda 100; L-BFGS with lambda 300 scored best
    on the holdout and converges within 300 iterations without overfitting.
    Holdout figures: benchmarks/results/defaults.md.
    early_stopping, patience
        With validation ratings: stop on ``val_rmse`` and restore the best epoch.
    engine : {"jit", "vectorized"}
        Numba kernels or their NumPy twins (same numbers to rounding).
    rng : None, int or Generator
        Split into init and order streams; an int makes ``fit`` repeatable.
    verbose : int

    Attributes
    ----------
    params_ : dict  V (d, k), c (k,), W (d, k), b (d,)
    codes_ : ndarray (n_rows, k)   h of every training row (what predictions read)
    history_ : History  ``train_loss`` = J / number of training ratings

    References
    ----------
    Sedhain, Menon, Sanner, Xie, "AutoRec: Autoencoders Meet Collaborative
    Filtering", WWW 2015.

    Examples
    --------
    >>> from mfcore.data.synthetic import make_ratings
    >>> m = IAutoRec(hidden_units=20, n_epochs=2, rng=0).fit(make_ratings(100, 50, 1000, rng=0))
    >>> len(m.history_)
    2
    """
    name = "i-autorec"
    note = ("its default reg was tuned on ML-100k and does not travel: on the sparser ml-latest-small a "
            "validation search on training ratings prefers reg=1000 (benchmarks/results/defaults_travel.md); "
            "with the default it is worse than the biases there")
    _item_rows = True


@register
class UAutoRec(_ShallowAutoRec):
    """User-based AutoRec: each user's ratings over the items is reconstructed.

    Same parameters, maths and engines as :class:`IAutoRec` with rows = users
    (d = n_items); predicted r_ui = entry i of user u's reconstruction.
    """
    name = "u-autorec"
    note = ("the paper's user-based variant, kept for comparison: about level with the biases baseline "
            "on ML-100k and behind it on ml-latest-small (benchmarks/results/cv_ml100k.md, tour.md); "
            "i-autorec is the accurate AutoRec, as in the paper")
    _item_rows = False

