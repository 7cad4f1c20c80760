"""What every mfcore model shares: fit/predict/evaluate, the unknown-id policy, save/load.

A model subclasses :class:`Recommender` and provides

* ``name``: the CLI name (``"biases"``, ``"biased-mf"``, ...),
* ``_fit(train, valid, callbacks)``: learn the parameters. A model that trains
  in epochs writes ``train_epoch(epoch) -> loss`` and hands it to
  :meth:`Recommender._run_epochs`, the one fit skeleton (early stopping on
  validation ratings, the test monitor, the divergence guard, progress, the
  history),
* ``_predict_known(u, i)``: predictions for index arrays of users and items
  that both had training ratings,
* ``_get_state()`` / ``_set_state(state)``: its learned arrays as a dict (used by
  early stopping's best-weights restore and by save/load).

The base class handles the rest: it records the training maps, scale, mean and
counts; maps raw ids; applies the unknown-user/item policy; clips; evaluates;
recommends; saves to ``.npz`` and loads without pickle.

Unknown users and items
-----------------------
A user (item) is *unknown* when it had no rating in the training data: either its
raw id was never seen, or it is in the maps (a split shares them) with no
training rating. Such pairs get :meth:`Recommender._predict_fallback`, by
default the known part of ``mu + b_u + b_i`` (the global mean for models without
biases; see each model). ``strict=True`` raises instead. ``n_unknown`` in
:meth:`evaluate` counts the fallbacks.
"""
from __future__ import annotations

import inspect
import json
import os
import tempfile

import numpy as np

from .._validation import check_is_fitted
from ..data.ratings import IdMap, Ratings, RatingScale
from ..exceptions import DataError, ModelFileError
from ..metrics import error_report

FORMAT_VERSION = 1


class Recommender:
    """Base class of every mfcore model (see the module docstring for the contract)."""

    name = "recommender"
    iterative = False
    implicit = False  # True: scores rank items (implicit feedback); RMSE means nothing for them
    #: The seed notebook whose model the defaults reproduce as the notebook built it (its
    #: architecture and, where the notebook gives them, its training settings): "toy",
    #: "Netflix", "ML-1M" or "residual". None for the models with published or tuned defaults.
    #: ``mfcore tour`` marks these rows: their accuracy is the notebook's design, not tuned.
    notebook = None
    #: ``{old key: new key}`` of the state arrays renamed since older model files were
    #: written: :meth:`load` reads those files under the new keys.
    _renamed_state = {}

    # ----------------------------------------------------------- parameters
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    @classmethod
    def _aliases(cls):
        """``{old name: new name}`` of the renamed parameters this model still accepts
        (:data:`mfcore.models.params.RENAMED`, and keywords kept only for their old name)."""
        from .params import RENAMED

        sig = inspect.signature(cls.__init__).parameters
        names = cls._param_names()
        out = {}
        if any(p.kind == p.VAR_KEYWORD for p in sig.values()):
            out.update({old: new for old, new in RENAMED.items() if new in names})
        out.update({n: "hidden_units" for n in sig if n not in names and n != "self"
                    and sig[n].kind != sig[n].VAR_KEYWORD and "hidden_units" in names})
        return out

    def get_params(self):
        """The constructor arguments as a dict (scikit-learn style)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {key!r}; "
                                 f"valid parameters are {sorted(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ fit
    def fit(self, train, valid=None, callbacks=None, monitor=None):
        """Learn from ``train`` (a :class:`Ratings`); returns self.

        Parameters
        ----------
        train : Ratings
        valid : Ratings, optional
            Validation ratings: the per-epoch ``val_*`` history, and the only
            ratings that early stopping, best-epoch restore and the divergence
            guard look at. When a model has ``early_stopping=True`` and no
            ``valid`` is given, it carves ``validation_fraction`` of ``train``
            at random (seeded from ``rng``) and trains on the rest, as
            scikit-learn's estimators do.
        callbacks : list, optional
            ``cb(epoch, logs, model) -> bool | None`` (see :mod:`mfcore.training`).
        monitor : Ratings, optional
            Ratings scored after every epoch and recorded as ``test_rmse``,
            ``test_rmse_clipped`` and ``test_mae`` in ``history_``: the test
            curve that the tutorials draw beside Keras'. Nothing reads them
            during training, so a fit with and without ``monitor`` learns the
            same parameters (tested). Never pass test ratings as ``valid``.
        """
        if not isinstance(train, Ratings):
            raise TypeError(f"{type(self).__name__}.fit expects mfcore Ratings; got "
                            f"{type(train).__name__}. Build one with Ratings.from_arrays or a loader")
        if len(train) == 0:
            raise DataError(f"{type(self).__name__}.fit got no training ratings ({train.name} is empty)")
        for arg, what in ((valid, "valid"), (monitor, "monitor")):
            if arg is not None and not isinstance(arg, Ratings):
                raise TypeError(f"{type(self).__name__}.fit: {what} must be mfcore Ratings or None; "
                                f"got {type(arg).__name__}")
        self._check_training_params()
        if valid is None and self._wants_validation():
            train, valid = self._carve_validation(train)
        self.user_map_ = train.user_map
        self.item_map_ = train.item_map
        self.scale_ = train.scale
        self.global_mean_ = train.global_mean
        self.user_counts_ = train.user_counts()
        self.item_counts_ = train.item_counts()
        self.history_ = None
        self.n_valid_ = 0 if valid is None else len(valid)
        # the training items of each user (CSR structure), excluded by recommend(); no
        # values or mask (to_csr's would hold 0.6 GB during training on 25M ratings)
        self.rated_indptr_, self.rated_indices_ = train.csr_structure()
        self.item_titles_ = _titles(train)
        self._train_ref = train
        self._valid_data = None if valid is None else self._aligned(valid)
        self._monitor_data = None if monitor is None else self._aligned(monitor)
        self._target_var = float(np.var(train.values))
        try:
            self._fit(train, self._valid_data, callbacks)
        finally:
            self._train_ref = self._valid_data = self._monitor_data = None
        return self

    def _fit(self, train, valid, callbacks):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_training_params(self):
        """Check the parameters every epoch-trained model shares (where it has them)."""
        from .params import check_params

        check_params(self, *(n for n in ("early_stopping", "patience", "validation_fraction")
                             if hasattr(self, n)))

    def _wants_validation(self):
        """True for an iterative model asked to stop early (it then needs validation ratings)."""
        return bool(self.iterative and getattr(self, "early_stopping", False))

    def _carve_validation(self, train):
        """``(fit part, validation part)``: ``validation_fraction`` of ``train`` at random.

        The draw comes from a generator of its own (``rng`` itself, never one of
        the streams the model spawns for its initialisation and order), so an
        int ``rng`` gives the same slice on every fit.
        """
        from .._random import as_generator
        from ..data.split import random_split

        frac = getattr(self, "validation_fraction", 0.1)
        if len(train) < 2:
            raise DataError(f"{type(self).__name__}: early_stopping=True needs validation ratings, and "
                            f"{len(train)} training rating cannot be split; pass valid= to fit or set "
                            "early_stopping=False")
        parts = random_split(train, frac, rng=as_generator(self.rng))
        if len(parts.test) == 0:
            parts = random_split(train, 1, rng=as_generator(self.rng))
        return parts.train, parts.test

    def _error_logs(self, triple, prefix):
        """RMSE/MAE of the current predictions on an aligned ``(u, i, r)`` triple."""
        u, i, r = triple
        with np.errstate(over="ignore", invalid="ignore"):
            pred = self.predict(u, i)
        rep = error_report(r, pred, self.scale_)
        return {f"{prefix}rmse": rep["rmse_unclipped"], f"{prefix}rmse_clipped": rep["rmse"],
                f"{prefix}mae": rep["mae_unclipped"]}

    def _validation_logs(self, valid):
        """Per-epoch validation metrics (the History keys ``val_rmse`` etc.)."""
        return self._error_logs(valid, "val_")

    def _sync(self):
        """Bring whatever predictions read up to date with the trained parameters
        (AutoRec's codes, the RBM's hidden units); a no-op for most models."""

    def _run_epochs(self, n_epochs, train_epoch, callbacks=None, *, lr=None, loss_var="ratings",
                    action="raise", fix=None, extra_logs=None, label=None, state=None,
                    monitor=None):
        """The one fit skeleton of every model that trains in epochs.

        Wires, around ``train_epoch(epoch) -> loss``: early stopping on the
        validation ratings (``early_stopping``, ``patience``), the per-epoch
        validation and monitor metrics, the divergence guard, progress output
        (``verbose``) and the history. Returns the History (also ``history_``
        unless ``state`` names another object being trained, as RNCF's stages do).

        ``loss_var``: the variance of what the loss is a mean squared error of
        ("ratings": the training ratings; a float; None when the loss is not
        one, e.g. it includes a large penalty) bounds the loss at
        ``DivergenceGuard.BOUND_FACTOR`` times it. ``action="restore"`` handles
        a divergence by restoring the best epoch instead of raising.
        ``extra_logs``: a dict the epoch fills (timings), or a function returning
        one, logged every epoch (callbacks see it). ``monitor``: for a
        sub-network (``state`` given), a function returning its own monitor
        metrics (recorded only).
        """
        from ..training import DivergenceGuard, EarlyStopping, run_epochs

        own = state is None
        callbacks = list(callbacks or ())
        if own and self._wants_validation():
            callbacks.append(EarlyStopping(monitor="val_rmse", patience=int(self.patience), restore_best=True))

        sub_monitor = monitor
        valid, monitor = self._valid_data, self._monitor_data
        with_valid = valid is not None and own
        with_monitor = monitor is not None and own

        def validate():
            logs = dict((extra_logs() if callable(extra_logs) else extra_logs) or {})
            if with_valid:
                self._sync()
                logs.update(self._error_logs(valid, "val_"))
            return logs

        def monitor_fn():
            self._sync()
            return self._error_logs(monitor, "test_")

        baseline = None  # the global mean's RMSE on the validation ratings
        if with_valid and len(valid[2]) >= DivergenceGuard.MIN_VALID:
            baseline = float(np.sqrt(np.mean((np.asarray(valid[2], np.float64) - self.global_mean_) ** 2)))
        if loss_var == "ratings":
            loss_var = self._target_var
        bound = None if loss_var is None else DivergenceGuard.BOUND_FACTOR * max(loss_var, 1e-12)
        fix = fix or (f"lower lr (now {lr:g})" if isinstance(lr, (int, float)) else "lower the learning rate")
        guard = DivergenceGuard(loss_bound=bound, baseline_val_rmse=baseline, action=action, fix=fix,
                                min_loss=0.0 if loss_var is None else 1e-6 * max(loss_var, 1e-12))
        with np.errstate(over="ignore", invalid="ignore"):
            history = run_epochs(
                n_epochs, train_epoch,
                validate=validate if (with_valid or extra_logs is not None) else None,
                monitor=monitor_fn if with_monitor else sub_monitor,
                callbacks=callbacks, verbose=getattr(self, "verbose", 0),
                model=self if own else state, label=label or type(self).__name__, lr=lr,
                compile_seconds=getattr(self, "_compile_seconds", 0.0), guard=guard)
        if own:
            self.history_ = history
            if not (with_valid or with_monitor):  # else the last validation synced, and a
                self._sync()  # best-epoch restore brought back a synced snapshot
            self._warn_if_worse_than_mean(baseline)
        return history

    def _warn_if_worse_than_mean(self, baseline):
        """Warn (TrainingWarning) when the final validation RMSE is above the global mean's."""
        if baseline is None or self._valid_data is None:
            return
        val = self._error_logs(self._valid_data, "val_")["val_rmse"]
        if np.isfinite(val) and val > baseline:
            import warnings

            from ..exceptions import TrainingWarning
            from ..training import user_stacklevel
            warnings.warn(f"{type(self).__name__}: the validation RMSE after training ({val:.4f}) is above "
                          f"the global mean's ({baseline:.4f}): the model learned less than the mean "
                          "rating; train longer, change lr, or see the model's docstring",
                          TrainingWarning, stacklevel=user_stacklevel())

    # -------------------------------------------------------------- predict
    def _predict_known(self, u, i):  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_fallback(self, u, i):
        """Prediction for pairs with an unknown user or item: the global mean by default."""
        return np.full(u.shape, self.global_mean_, dtype=np.float64)

    def _bias_fallback(self, u, i, user_bias, item_bias):
        """The known part of mu + b_u + b_i: a bias counts only where its user/item had ratings."""
        out = np.full(u.shape, self.global_mean_, dtype=np.float64)
        ku = u >= 0
        ku[ku] = self.user_counts_[u[ku]] > 0
        ki = i >= 0
        ki[ki] = self.item_counts_[i[ki]] > 0
        out[ku] += user_bias[u[ku]]
        out[ki] += item_bias[i[ki]]
        return out

    def known_mask(self, users, items):
        """True where both the user and the item had training ratings."""
        check_is_fitted(self, "global_mean_")
        users = np.asarray(users)
        items = np.asarray(items)
        ku = (users >= 0) & (users < self.user_counts_.size)
        ki = (items >= 0) & (items < self.item_counts_.size)
        ku[ku] = self.user_counts_[users[ku]] > 0
        ki[ki] = self.item_counts_[items[ki]] > 0
        return ku & ki

    def predict(self, users, items, clip=False, strict=False):
        """Predicted ratings for user and item *indices* of the training maps.

        An index of -1 (or one that had no training rating) is unknown and gets
        the fallback; ``strict=True`` raises KeyError instead. ``clip=True``
        clips to the training rating scale.
        """
        check_is_fitted(self, "global_mean_")
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        if users.shape != items.shape:
            raise ValueError(f"users and items must have one shape; got {users.shape} and {items.shape}")
        for arr, n, what in ((users, self.user_counts_.size, "user"), (items, self.item_counts_.size, "item")):
            if arr.size and (arr.max() >= n or arr.min() < -1):
                bad = arr[(arr >= n) | (arr < -1)][0]
                raise IndexError(f"{what} index {bad} is out of range for this model's {n} {what}s; "
                                 f"use -1 for an unknown {what}, or predict_ratings() with raw ids")
        known = self.known_mask(users, items)
        if strict and not known.all():
            k = int(np.flatnonzero(~known)[0])
            raise KeyError(f"pair {k} (user index {users[k]}, item index {items[k]}) has a user or item "
                           "with no training rating; pass strict=False to use the fallback")
        out = np.empty(users.shape, dtype=np.float64)
        if known.any():
            out[known] = self._predict_known(users[known], items[known])
        if (~known).any():
            out[~known] = self._predict_fallback(users[~known], items[~known])
        if clip:
            out = self.scale_.clip(out)
        return out

    def _aligned(self, ratings):
        """``(users, items, values)`` of ``ratings`` in this model's index space
        (-1 for a raw id the model never saw)."""
        u = self.user_map_.reindex(ratings.users, ratings.user_map)
        i = self.item_map_.reindex(ratings.items, ratings.item_map)
        return u, i, ratings.values

    def predict_ratings(self, ratings, clip=False, strict=False):
        """Predictions for every row of a :class:`Ratings` (maps may differ from training)."""
        u, i, _ = self._aligned(ratings)
        return self.predict(u, i, clip=clip, strict=strict)

    def predict_raw(self, user_ids, item_ids, clip=False, strict=False):
        """Predictions for raw ids (as in the data files)."""
        check_is_fitted(self, "global_mean_")
        u = self.user_map_.to_index(user_ids, missing="raise" if strict else "ignore", what="user")
        i = self.item_map_.to_index(item_ids, missing="raise" if strict else "ignore", what="item")
        return self.predict(u, i, clip=clip, strict=strict)

    def evaluate(self, ratings):
        """Error metrics on ``ratings``: RMSE/MAE/MSE clipped (headline) and unclipped,
        plus ``n`` and ``n_unknown`` (pairs that got the fallback)."""
        check_is_fitted(self, "global_mean_")
        if len(ratings) == 0:
            raise DataError(f"cannot evaluate on {ratings.name}: it has no ratings")
        u, i, r = self._aligned(ratings)
        pred = self.predict(u, i)
        rep = error_report(r, pred, self.scale_)
        rep["n"] = int(len(r))
        rep["n_unknown"] = int((~self.known_mask(u, i)).sum())
        return rep

    def recommend(self, user, n=10, exclude_rated=True):
        """Top-``n`` items for a raw user id, as a DataFrame (rank, item, title, score);
        see :func:`mfcore.recommend.recommend`."""
        from ..recommend import recommend

        return recommend(self, user, n=n, exclude_rated=exclude_rated)

    # ----------------------------------------------------------- save/load
    def _get_state(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_state(self, state):
        for key, value in state.items():
            setattr(self, key, value)

    def save(self, path):
        """Write the fitted model to ``path`` (.npz, no pickle), atomically."""
        check_is_fitted(self, "global_mean_")
        arrays = {f"state__{k}": np.asarray(v) for k, v in self._get_state().items()}
        for k, v in arrays.items():
            if v.dtype == object:
                raise TypeError(f"state array {k} of {type(self).__name__} has dtype object; "
                                "model files hold numeric or string arrays only")
        params = {k: _jsonable_param(v) for k, v in self.get_params().items()}
        header = {"format": "mfcore-model", "format_version": FORMAT_VERSION, "model": self.name,
                  "class": type(self).__name__, "params": params,
                  "scale": [self.scale_.low, self.scale_.high, self.scale_.step],
                  "global_mean": self.global_mean_,
                  "history": self.history_.to_dict() if self.history_ is not None else None}
        arrays["__header__"] = np.array(json.dumps(header))
        arrays["user_raw"] = self.user_map_.raw
        arrays["item_raw"] = self.item_map_.raw
        arrays["user_counts"] = self.user_counts_
        arrays["item_counts"] = self.item_counts_
        arrays["rated_indptr"] = self.rated_indptr_
        arrays["rated_indices"] = self.rated_indices_
        if self.item_titles_ is not None:
            arrays["item_titles"] = self.item_titles_
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".mfcore-", suffix=".npz.part", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def load(cls, path):
        """Load a model saved by :meth:`save`. Called on a subclass, the file must hold that model."""
        from ..training import History

        path = os.fspath(path)
        header, npz = _read_model_file(path)
        if header.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"{path} was written in model-file format {header.get('format_version')}, and this "
                f"mfcore reads format {FORMAT_VERSION}; retrain the model and save it again")
        from . import registry

        try:
            target = registry.get_model_class(header["model"])
        except KeyError:
            raise ModelFileError(f"{path} holds a model named {header['model']!r}, which this version "
                                 "of mfcore does not have") from None
        if cls is not Recommender and target is not cls:
            raise ModelFileError(f"{path} holds a {header['model']!r} model ({header['class']}), not "
                                 f"{cls.__name__}; load it with {header['class']}.load or mfcore.load_model")
        model = target(**_tuples_back(target, header["params"]))
        model.user_map_ = IdMap.__new__(IdMap)
        model.user_map_.raw = npz["user_raw"]
        model.item_map_ = IdMap.__new__(IdMap)
        model.item_map_.raw = npz["item_raw"]
        model.user_counts_ = npz["user_counts"]
        model.item_counts_ = npz["item_counts"]
        model.rated_indptr_ = npz["rated_indptr"]
        model.rated_indices_ = npz["rated_indices"]
        model.item_titles_ = npz.get("item_titles")
        model.scale_ = RatingScale(*header["scale"])
        model.global_mean_ = header["global_mean"]
        state = {k[len("state__"):]: v for k, v in npz.items() if k.startswith("state__")}
        state = {target._renamed_state.get(k, k): v for k, v in state.items()}  # older files
        model._set_state(state)
        hist = header.get("history")
        model.history_ = None
        if hist is not None:
            model.history_ = History.from_dict(hist)
        return model


def _read_model_file(path):
    """``(header, arrays)`` of a model file, read in full; ModelFileError for anything else."""
    import zipfile
    import zlib

    make_one = "Make one by saving a fitted model: model.save(path), or `mfcore train MODEL ... --save FILE`"

    def fail(what, fix=make_one):
        return ModelFileError(f"{path} is not an mfcore model file: {what}. {fix}")

    with open(path, "rb") as fh:  # a missing file stays a FileNotFoundError
        magic = fh.read(4)
    if not magic:
        raise fail("it is empty")
    if magic != b"PK\x03\x04":
        raise fail("it is not an .npz archive, the format model.save writes")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError):
        raise fail("the .npz archive is truncated or damaged (an interrupted save, copy or download?)",
                   "Copy it again, or save the model again with model.save(path)") from None
    try:
        header = json.loads(str(arrays.pop("__header__")))
        if header.get("format") != "mfcore-model":
            raise ValueError
    except (KeyError, ValueError, AttributeError):
        raise fail("it is an .npz archive without mfcore's model header") from None
    return header, arrays


def _tuples_back(cls, params):
    """``params`` read from JSON, with renamed parameters under their new names and lists turned
    back into tuples where the constructor's default is a tuple (``hidden_units=(512, 128)``), so
    a loaded model's get_params() matches."""
    from .params import RENAMED

    defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()}
    renamed = {old: new for old, new in cls._aliases().items() if old in RENAMED}  # files saved before
    params = {renamed.get(k, k): v for k, v in params.items()}  # the renames load without a warning
    return {k: tuple(v) if isinstance(v, list) and isinstance(defaults.get(k), tuple) else v
            for k, v in params.items()}


def _titles(ratings):
    """Item titles aligned with the item map (a str array), or None when there are none."""
    info = ratings.item_info
    if info is None or "title" not in getattr(info, "columns", ()):
        return None
    titles = info["title"].reindex(ratings.item_map.raw)
    raw = ratings.item_map.raw.astype(str)
    return np.where(titles.isna().to_numpy(), raw, titles.astype(str).to_numpy()).astype(str)


def _jsonable_param(value):
    """A constructor argument as JSON that the constructor accepts back.

    A Generator cannot be stored: it becomes None (a loaded model refits with
    fresh entropy). Callbacks are not stored either. A dtype becomes its name.
    """
    if isinstance(value, (bool, int, float, str, type(None))):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [_jsonable_param(v) for v in value]
        return items if all(v is not None for v in items) else None
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        items = {k: _jsonable_param(v) for k, v in value.items()}
        return items if all(v is not None or value[k] is None for k, v in items.items()) else None
    if isinstance(value, (np.random.Generator, np.random.SeedSequence)):
        return None
    try:
        return np.dtype(value).name if isinstance(value, (type, np.dtype)) else None
    except TypeError:
        return None
