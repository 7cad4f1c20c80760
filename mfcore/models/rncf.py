r"""RNCF: the three-stage "reliability" network of the residual notebook (000).

Stage 1 is biased MF; stage 2 learns how wrong stage 1 is on each training
rating; stage 3 predicts the rating from fresh embeddings and stage 2's
predicted error (Bobadilla, Alonso, Hernando 2020). See :class:`RNCF`.
"""
import numpy as np

from .._random import spawn
from .._validation import check_choice, check_number
from ..exceptions import DivergenceError
from ..nn import ELU, Concatenate, Dense, Embedding
from ._neural import Net, NeuralRecommender, make_optimizer, predict_net, train_epoch_numpy
from .baseline import Biases
from .keras_mf import BiasedMFKeras
from .registry import register
from .params import check_hidden_units, check_params, store_params


class RNCFNet(Net):
    r"""Stages 2 and 3: fresh embeddings -> Dense 512 -> Dense 256 -> Dense 256 -> ELU -> Dense 1.

    .. math:: x = [p_u, q_i(, \hat e_{ui})], \quad
              \hat y = \mathrm{ELU}(((x W_1 + c_1) W_2 + c_2) W_3 + c_3)\, w_4 + c_4

    The first three dense layers have no activation (as in the notebook): they
    compose to one linear map, which is part of why training with Adam(0.01) is
    erratic. ``extra=True`` adds the stage-2 prediction as a last input column.
    """

    def __init__(self, n_users, n_items, n_factors, units, extra, rng, dtype=np.float64):
        self.extra = extra
        self.layers = {"user_embedding": Embedding(n_users, n_factors, rng, dtype=dtype, dense_grad=True),
                       "item_embedding": Embedding(n_items, n_factors, rng, dtype=dtype, dense_grad=True)}
        width = 2 * n_factors + int(extra)
        self.chain = []
        for j, n in enumerate(units, start=1):
            self.layers[f"dense_{j}"] = Dense(width, n, rng, dtype=dtype)
            self.chain.append(f"dense_{j}")
            width = n
        self.layers["elu"] = ELU()
        self.layers["output"] = Dense(width, 1, rng, dtype=dtype)
        self.chain += ["elu", "output"]
        self.concat = Concatenate()

    def forward(self, u, i, extra=None, training=True):
        L = self.layers
        parts = [L["user_embedding"].forward(u), L["item_embedding"].forward(i)]  # (B, K) each
        if self.extra:
            parts.append(np.asarray(extra, dtype=parts[0].dtype).reshape(-1, 1))  # (B, 1)
        x = self.concat.forward(parts)  # (B, 2K (+1))
        for name in self.chain:
            x = L[name].forward(x)
        return x[:, 0]  # (B,)

    def backward(self, dy):
        L = self.layers
        dx = dy[:, None]  # (B, 1)
        for name in reversed(self.chain):
            dx = L[name].backward(dx)
        d = self.concat.backward(dx)  # [(B, K), (B, K)(, (B, 1))]
        L["user_embedding"].backward(d[0])
        L["item_embedding"].backward(d[1])


@register
class RNCF(NeuralRecommender):
    r"""Three-stage RNCF, with the notebook's error-target bug corrected (or kept).

    Stage 1, biased MF (:class:`BiasedMFKeras`, target :math:`r - \mu`, SGD 0.08
    with momentum 0.9): :math:`f_1(u, i) \approx r_{ui} - \mu`.

    Stage 2, reliability: a fresh :class:`RNCFNet` learns, on the TRAINING
    ratings, stage 1's squared error

    .. math:: e_{ui} = (r_{ui} - (\mu + f_1(u, i)))^2 \qquad \text{(error\_target="corrected")}

    with MSE and Adam(0.01): :math:`g(u, i) \approx e_{ui}`.

    Stage 3, inference: another fresh RNCFNet on :math:`[p_u, q_i, g(u, i)]`
    learns the raw rating with MSE and Adam(0.01); the prediction is
    :math:`\hat r_{ui} = \mathrm{net}_3(u, i, g(u, i))`.

    The notebook's bug (``error_target="notebook"``)
    ------------------------------------------------
    The notebook computed :math:`e_{ui} = (r_{ui} - f_1(u, i))^2`: it compared a raw
    rating (about 3.5 on average) with a prediction of :math:`r - \mu` (about 0),
    so every "error" is about :math:`\mu^2 \approx 12` whatever the quality of
    stage 1, and stage 2 learns mostly the rating's level, not reliability.

    Why RNCF underperforms (here and in Keras)
    ------------------------------------------
    Stage 2 is fitted to stage 1's errors on stage 1's OWN training rows, which
    understate its test errors, so its input to stage 3 carries little
    information about test pairs (on ML-100k its test MSE is no better than
    predicting the mean target); a squared error has no sign, so even a perfect
    one could not say which way to correct. Stage 3 is then an MLP on fresh
    embeddings with Adam at lr 0.01: it is best after one to seven epochs, then
    its loss spikes, most ELU units die and it ends near a constant prediction,
    worse than stage 1 alone and worse than the biases baseline (figures in
    benchmarks/results/neural.md and rncf_spread.md; tutorials/07_deep_and_rncf.py
    shows it step by step).

    Defaults and the notebook's settings
    ------------------------------------
    With the notebook's Adam(0.01) the last two stages blow up on the bundled
    ml-latest-small and on ML-100k: within a few epochs their training loss
    jumps far above its best, and only the divergence guard
    (which stops the stage and restores its best epoch) keeps the result
    usable. The defaults are therefore Adam's own ``mlp_lr=0.001`` and
    ``early_stopping=True`` (stage 3 stops on validation ratings carved from
    the training set), which train without a spike on the same splits and
    end better on both ML-100k splits, a little worse on ml-latest-small
    (every stage's loss curve and the test figures:
    benchmarks/results/default_settings.md, "Settings the defaults
    replaced"). The notebook's exact
    settings, used by tutorial 07 and the Keras comparison, are
    ``RNCF(**RNCF.NOTEBOOK_SETTINGS)`` (``--param mlp_lr=0.01 --param
    early_stopping=false`` on the command line). Either way a divergence
    restores the stage's best epoch and says so (``history_.diverged``).

    Parameters
    ----------
    n_factors : int, default 15
        K of every stage.
    units : tuple of int, default (512, 256, 256)
        The linear dense layers of stages 2 and 3.
    n_epochs : int, default 15
        Epochs of EACH stage.
    lr, momentum : float, default 0.08, 0.9
        Stage 1's SGD.
    mlp_lr : float, default 0.001
        Adam's learning rate in stages 2 and 3 (the notebook: 0.01).
    batch_size : int, default 128
    error_target : {"corrected", "notebook"}, default "corrected"
    reg : float, default 0.0
        Keras ``l2`` on the embeddings of stages 2 and 3.
    early_stopping : bool, default True
        Stop stage 3 on its ``val_rmse`` and restore its best epoch; validation
        ratings are ``valid`` or ``validation_fraction`` of the training
        ratings (then carved before stage 1, so every stage fits the rest).
    patience, validation_fraction : default 2, 0.1
    rng, dtype, verbose
        As the other neural models; stages get independent streams.

    Attributes
    ----------
    stage1_ : BiasedMFKeras   (after ``fit``; not saved with the model)
    error_net_, net_ : RNCFNet   stages 2 and 3
    stage_histories_ : dict   ``"stage1"``, ``"stage2"`` (with ``val_mse`` of the
        predicted errors when validation ratings are given); ``history_`` is stage 3's.
    error_target_mean_ : float   mean of stage 2's target on the training ratings (about
        stage 1's training MSE when corrected, about mu^2 with the notebook's bug).
    fallback_user_bias_, fallback_item_bias_ : ndarray   for unknown users or items.

    References
    ----------
    Bobadilla, Alonso, Hernando (2020), "Deep learning architecture for collaborative
    filtering recommender systems", Applied Sciences 10(7):2441.

    Examples
    --------
    >>> from mfcore.data.synthetic import make_ratings
    >>> train = make_ratings(200, 100, 4000, rng=0)
    >>> sorted(RNCF(hidden_units=(16, 8), n_epochs=2, rng=0).fit(train).stage_histories_)
    ['stage1', 'stage2']
    """

    name = "rncf"
    notebook = "residual"
    note = ("three stages that end worse than their own first stage (tutorial 07): behind the biases "
            "baseline on ml-latest-small; biased-mf is the accurate one")
    _centered = False
    NOTEBOOK_SETTINGS = {"mlp_lr": 0.01, "early_stopping": False}  # with the other defaults

    def __init__(self, n_factors=15, hidden_units=(512, 256, 256), n_epochs=15, lr=0.08, momentum=0.9,
                 mlp_lr=0.001, batch_size=128, error_target="corrected", reg=0.0, early_stopping=True,
                 patience=2, validation_fraction=0.1, rng=None, dtype="float64", verbose=0, **renamed):
        store_params(self, locals())

    def _check_common(self):
        p = check_params(self)
        self._k, self._n_epochs, self._lr, self._batch = p["n_factors"], p["n_epochs"], p["lr"], p["batch_size"]
        self._reg, self._dtype = p["reg"], p["dtype"]
        self._mlp_lr = check_number(self.mlp_lr, "mlp_lr", self, low=0)
        check_choice(self.error_target, "error_target", self, ("corrected", "notebook"))
        self._units = check_hidden_units(self)

    def _build_net(self, n_users, n_items, init_rng, noise_rng):
        """Stage 3's net (and, for a loaded model, stage 2's)."""
        if getattr(self, "error_net_", None) is None:
            self.error_net_ = RNCFNet(n_users, n_items, self._k, self._units, False, init_rng, self._dtype)
        return RNCFNet(n_users, n_items, self._k, self._units, True, init_rng, self._dtype)

    def _stage(self, net, inputs, y, order_rng, callbacks, label, valid_fn=None, monitor_fn=None):
        """Train ``net`` with Adam(mlp_lr) for n_epochs through the fit skeleton; return its History.

        Stages 2 and 3 spike and collapse by design (tutorial 07): a divergence
        restores the stage's best epoch (by validation RMSE when there is
        validation, else by training loss), records it in the history and warns.
        """
        opt = make_optimizer("adam", self._mlp_lr)
        timing = {}

        def train_epoch(epoch):
            order = order_rng.permutation(len(y))  # reshuffled every epoch
            return train_epoch_numpy(net, opt, inputs, y, order, self._batch, self._reg, timing)

        def extra_logs():
            return {**timing, **(valid_fn() if valid_fn is not None else {})}
        own = label == "stage3"
        return self._run_epochs(self._n_epochs, train_epoch, callbacks, lr=self._mlp_lr,
                                loss_var="ratings" if own else float(np.var(y)), action="restore",
                                fix="lower mlp_lr", extra_logs=extra_logs,
                                label=f"RNCF {label}", state=None if own else net,
                                monitor=monitor_fn)

    def _fit(self, train, valid, callbacks):
        self._check_common()
        rng1, rng2, rng3 = spawn(self.rng, 3)
        mu = self.global_mean_
        fb = Biases(method="closed").fit(train)
        self.fallback_user_bias_, self.fallback_item_bias_ = fb.user_bias_, fb.item_bias_
        self._compile_seconds = 0.0
        # ---- stage 1: biased MF on r - mu
        self.stage1_ = BiasedMFKeras(n_factors=self._k, n_epochs=self._n_epochs, lr=self._lr,
                                     momentum=self.momentum, batch_size=self._batch, rng=rng1,
                                     dtype=self._dtype, verbose=self.verbose)
        try:
            self.stage1_.fit(train, _as_ratings(train, valid), monitor=_as_ratings(train, self._monitor_data))
        except DivergenceError as exc:  # name the model the user trains, then its stage
            raise DivergenceError(f"RNCF stage 1: {exc}".replace("fit again", "fit RNCF again")) from None
        u = np.ascontiguousarray(train.users, dtype=np.int64)  # (n,)
        i = np.ascontiguousarray(train.items, dtype=np.int64)  # (n,)
        r = train.values  # (n,)
        offset = mu if self.error_target == "corrected" else 0.0  # the notebook forgot mu
        f1 = self.stage1_.predict(u, i) - mu  # (n,) stage-1 output, a prediction of r - mu
        e = np.ascontiguousarray((r - (offset + f1)) ** 2, dtype=self._dtype)  # (n,) error target
        self.error_target_mean_ = float(e.mean())
        # ---- stage 2: reliability net on the training rows' errors
        init2, order2 = spawn(rng2, 2)
        self.error_net_ = RNCFNet(train.n_users, train.n_items, self._k, self._units, False, init2,
                                  self._dtype)

        def error_logs(triple, key):
            """``{key: MSE}`` of stage 2 against stage 1's squared errors on the known pairs."""
            vu, vi, vr = triple
            vk = self.known_mask(vu, vi)
            ve = (vr[vk] - (offset + self.stage1_.predict(vu[vk], vi[vk]) - mu)) ** 2  # (m,)
            return lambda: {key: float(np.mean((predict_net(self.error_net_, vu[vk], vi[vk]) - ve) ** 2))}

        valid2 = None if valid is None else error_logs(valid, "val_mse")
        monitor2 = None if self._monitor_data is None else error_logs(self._monitor_data, "test_mse")
        h2 = self._stage(self.error_net_, (u, i), e, order2, (), "stage2", valid2, monitor2)
        self.stage_histories_ = {"stage1": self.stage1_.history_, "stage2": h2}
        # ---- stage 3: inference net on (p_u, q_i, predicted error) -> raw rating
        init3, order3 = spawn(rng3, 2)
        self.net_ = RNCFNet(train.n_users, train.n_items, self._k, self._units, True, init3, self._dtype)
        g = np.ascontiguousarray(predict_net(self.error_net_, u, i), dtype=self._dtype)  # (n,)
        y = np.ascontiguousarray(r, dtype=self._dtype)  # (n,)
        self._stage(self.net_, (u, i, g), y, order3, callbacks, "stage3")

    def _predict_known(self, u, i):
        u, i = np.asarray(u, np.int64), np.asarray(i, np.int64)
        return predict_net(self.net_, u, i, predict_net(self.error_net_, u, i))

    def _get_state(self):
        state = super()._get_state()
        state.update({"err." + k.replace("/", "."): v for k, v in self.error_net_.params.items()})
        return state

    def _set_state(self, state):
        super()._set_state({k: v for k, v in state.items() if not k.startswith("err.")})
        params = self.error_net_.params
        for key, value in state.items():
            if key.startswith("err."):
                params[key[4:].replace(".", "/")][...] = value


def _as_ratings(train, triple):
    """An aligned ``(u, i, r)`` triple (or None) as Ratings in the training maps, without the
    rows of unknown ids (for stage 1's validation and monitor)."""
    from ..data.ratings import Ratings

    if triple is None:
        return None
    vu, vi, vr = triple
    keep = (vu >= 0) & (vi >= 0)
    return Ratings(vu[keep].astype(np.int32), vi[keep].astype(np.int32), np.asarray(vr[keep], np.float64),
                   train.user_map, train.item_map, scale=train.scale, name="valid")
