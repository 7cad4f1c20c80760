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
import re
import threading
import warnings

import numpy as np

from .._validation import check_is_fitted, plain_repr
from ..data.ratings import IdMap, Ratings, RatingScale
from ..exceptions import DataError, ModelFileError
from ..metrics import error_report

FORMAT_VERSION = 1


_NESTING = threading.local()  # .fits: how many Recommender.fit calls are running in this thread


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
        self._check_memory(train)
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
        self._target_mean_square = float(np.mean(np.square(train.values, dtype=np.float64)))
        _NESTING.fits = getattr(_NESTING, "fits", 0) + 1  # fits inside this one (fallbacks, bases) are deeper
        try:
            self._fit(train, self._valid_data, callbacks)
        finally:
            _NESTING.fits -= 1
            self._train_ref = self._valid_data = self._monitor_data = None
        return self

    def _fit(self, train, valid, callbacks):  # pragma: no cover - abstract
        raise NotImplementedError

    #: Parameters that give a number of columns of a table with a row per user and per item
    #: (factors, AutoRec codes, RBM hidden units): what _check_memory counts.
    _row_width_params = ("n_factors",)

    def _check_memory(self, train):
        """MemoryError, before anything is allocated, when the tables with a row per user and per
        item alone (``_row_width_params`` columns, in the model's dtype) exceed the memory this
        machine has available: the system would otherwise end the process without a message."""
        widths = [getattr(self, n, None) for n in self._row_width_params]
        width = max((int(w) for w in widths if isinstance(w, (int, np.integer)) and not isinstance(w, bool)),
                    default=0)
        try:
            itemsize = np.dtype(getattr(self, "dtype", None) or np.float64).itemsize
        except TypeError:  # an invalid dtype: the model's own checks say so
            return
        need = (train.n_users + train.n_items) * width * itemsize
        available = _available_memory()
        if available is not None and need > available:
            names = " or ".join(self._row_width_params)

            def size(n_bytes):
                return f"{n_bytes / 2 ** 30:,.1f} GiB" if n_bytes >= 2 ** 30 else f"{n_bytes / 2 ** 20:,.1f} MiB"
            raise MemoryError(f"{type(self).__name__} with {names} = {width} needs {size(need)} for its tables "
                              f"of {train.n_users:,} users and {train.n_items:,} items alone; this machine has "
                              f"{size(available)} available")

    def _check_training_params(self):
        """Check the parameters every epoch-trained model shares (where it has them)."""
        from .params import check_params

        check_params(self, *(n for n in ("early_stopping", "patience", "validation_fraction", "verbose")
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
        try:
            parts = random_split(train, frac, rng=as_generator(self.rng))
        except ValueError:  # the slice would be empty (or everything): say it in the model's terms
            raise DataError(f"{type(self).__name__}: early_stopping=True carves validation_fraction={frac:g} of "
                            f"the {len(train)} training ratings for validation, and that leaves one part "
                            "empty; raise validation_fraction, pass valid= to fit, or set "
                            "early_stopping=False") from None
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
                    error_var=None, action="raise", fix=None, extra_logs=None, label=None, state=None,
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
        ``DivergenceGuard.BOUND_FACTOR`` times it; ``error_var`` (same forms) bounds the
        ``train_mse`` log of a model whose loss carries a large penalty (AutoRec).
        A variance is never taken below (range of the rating scale / 10)^2 (at
        least 1 / 100), nor a loss that grows counted as diverged below (range /
        100)^2: ratings that barely vary (or one rating) do not make a near-zero
        loss look like a divergence. ``action="restore"`` handles
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
            baseline = self._mean_rmse(valid[2])
        if own and self._target_var == 0.0 and not self.implicit and _NESTING.fits == 1:
            warnings.warn(f"every training rating is {self.global_mean_:g}: a rating model can learn nothing "
                          "beyond that value (for clicks or other implicit feedback, use an "
                          "implicit-feedback model: popularity, implicit-als, bpr)", UserWarning, stacklevel=3)
        span = max(self.scale_.high - self.scale_.low, 1.0)  # the rating scale's range (see the docstring)
        # a model that predicts the ratings from 0 (mf, the neural models) starts at their mean square,
        # which on near-constant ratings is far above 100 x their variance: the bound stays 10x above it
        ratings = max(self._target_var, self._target_mean_square / (DivergenceGuard.BOUND_FACTOR / 10))
        loss_var, error_var = (None if v is None else max(ratings if v == "ratings" else v, (span / 10) ** 2)
                               for v in (loss_var, error_var))
        bound = None if loss_var is None else DivergenceGuard.BOUND_FACTOR * loss_var
        fix = fix or (f"lower lr (now {lr:g})" if isinstance(lr, (int, float)) else "lower the learning rate")
        guard = DivergenceGuard(loss_bound=bound, baseline_val_rmse=baseline, action=action, fix=fix,
                                min_loss=0.0 if loss_var is None else max(1e-6 * loss_var, (span / 100) ** 2),
                                error_bound=None if error_var is None else DivergenceGuard.BOUND_FACTOR * error_var)
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
            if baseline is None and _NESTING.fits == 1:
                self._warn_if_fits_worse_than_mean(fix)
        return history

    def _warn_if_worse_than_mean(self, baseline):
        """Warn (TrainingWarning) when the final validation RMSE is above the global mean's."""
        if baseline is None or self._valid_data is None:
            return
        val = self._error_logs(self._valid_data, "val_")["val_rmse"]
        if np.isfinite(val) and val > baseline:
            self._warn_learned_less(f"the validation RMSE after training ({val:.4f}) is above the global "
                                    f"mean's ({baseline:.4f}): the model learned less than the mean rating; "
                                    "train longer, change lr, or see the model's docstring")

    CHECK_RATINGS = 10_000  # training ratings the end-of-fit check predicts, evenly spaced

    def _warn_if_fits_worse_than_mean(self, fix):
        """Warn (TrainingWarning) when the trained model fits its own training ratings worse
        than their mean does: its RMSE on at most ``CHECK_RATINGS`` of them, evenly spaced (no
        random draw, so no number of the fit changes), against the global mean's on the same
        ratings. A run that learned nothing, e.g. at a learning rate so large that a loss
        which cannot explode (the RBMs' bounded reconstruction error) just stays high, ends
        without an error otherwise. Used when there are no validation ratings (with them,
        ``_warn_if_worse_than_mean`` speaks)."""
        train = self._train_ref
        if train is None or self.implicit or self._target_var == 0.0:
            return  # constant ratings have their own warning
        rows = np.linspace(0, len(train) - 1, min(len(train), self.CHECK_RATINGS)).astype(np.int64)
        sample = (train.users[rows], train.items[rows], train.values[rows])  # (n,) x 3, the model's indices
        rmse, base = self._error_logs(sample, "")["rmse"], self._mean_rmse(sample[2])
        if np.isfinite(rmse) and rmse <= base * (1 + 1e-6):
            return
        self._warn_learned_less(f"after training it fits its own training ratings worse than their mean does "
                                f"(RMSE {rmse:.4f} against the global mean's {base:.4f}, on {rows.size} training "
                                f"ratings): it learned nothing useful; {fix}, train longer, or see the model's "
                                "docstring")

    def _mean_rmse(self, values):
        """The global mean's RMSE on ``values``: what a model that learned nothing scores."""
        return float(np.sqrt(np.mean((np.asarray(values, np.float64) - self.global_mean_) ** 2)))

    def _warn_learned_less(self, why):
        """A TrainingWarning naming this model, at the user's line."""
        import warnings

        from ..exceptions import TrainingWarning
        from ..training import user_stacklevel
        warnings.warn(f"{type(self).__name__}: {why}", TrainingWarning, stacklevel=user_stacklevel())

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

        ``users`` and ``items`` hold integer indices (ints, or floats with integer
        values) and have one shape; the result is a float64 array of that shape, or
        a float when both are scalars. An index of -1 (or one that had no training
        rating) is unknown and gets the fallback; ``strict=True`` raises KeyError
        instead. ``clip=True`` clips to the training rating scale. ValueError for a
        non-integer index (1.7, NaN, a raw id string) or shapes that differ.
        """
        check_is_fitted(self, "global_mean_")
        users = _as_indices(users, "user")
        items = _as_indices(items, "item")
        if users.shape != items.shape:
            raise ValueError(f"users and items must have one shape (one item per user); got {users.shape} "
                             f"and {items.shape}")
        scalar = users.ndim == 0
        users, items = np.atleast_1d(users), np.atleast_1d(items)
        for arr, n, what in ((users, self.user_counts_.size, "user"), (items, self.item_counts_.size, "item")):
            if arr.size and (arr.max() >= n or arr.min() < -1):
                bad = arr[(arr >= n) | (arr < -1)][0]
                raise IndexError(f"{what} index {bad} is out of range for this model's {n} {what}s; "
                                 f"use -1 for an unknown {what}, or predict_ratings() with raw ids")
        known = self.known_mask(users, items)
        if strict and not known.all():
            k = int(np.flatnonzero(~known)[0])
            raise KeyError(f"pair {k} (user index {users.flat[k]}, item index {items.flat[k]}) has a user "
                           "or item with no training rating; pass strict=False to use the fallback")
        out = np.empty(users.shape, dtype=np.float64)
        if known.any():
            out[known] = self._predict_known(users[known], items[known])
        if (~known).any():
            out[~known] = self._predict_fallback(users[~known], items[~known])
        if clip:
            out = self.scale_.clip(out)
        return float(out[0]) if scalar else out

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
        """Predictions for raw ids (as in the data files): two arrays (or lists) of one
        shape give an array of that shape, two scalars a float. An id the model never
        saw gets the fallback (``strict=True``: KeyError naming it)."""
        check_is_fitted(self, "global_mean_")
        u = self.user_map_.to_index(user_ids, missing="raise" if strict else "ignore", what="user")
        i = self.item_map_.to_index(item_ids, missing="raise" if strict else "ignore", what="item")
        return self.predict(u, i, clip=clip, strict=strict)

    def evaluate(self, ratings):
        """Error metrics on ``ratings``: RMSE/MAE/MSE clipped (headline) and unclipped,
        plus ``n`` and ``n_unknown`` (pairs that got the fallback)."""
        check_is_fitted(self, "global_mean_")
        if not isinstance(ratings, Ratings):
            raise TypeError(f"{type(self).__name__}.evaluate takes mfcore Ratings (e.g. the test part of "
                            f"random_split, or read_ratings(path)); got {type(ratings).__name__}")
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

    def _state_shapes(self):
        """The shapes that :meth:`load` checks state arrays against, ``{key: dims}``, after
        ``_set_state``. A dim is an int or a word: ``"users"`` or ``"items"`` (the sizes of the
        id maps), ``"ratings"`` (the training ratings, ``rated_indices_.size``), or any other
        word, one length that every array naming it shares. Arrays with a row per user or item
        and factor tables are checked by their names already; a model lists the others, so that
        an edited file cannot make a prediction read past the end of an array."""
        return {}

    def save(self, path):
        """Write the fitted model to ``path`` (.npz, no pickle), atomically; returns the path.

        Nothing half-written is left on disk: the file appears complete or not at all.
        A missing parent folder is created (as :func:`mfcore._json.write_json` does for
        the JSON records), and the file gets the permissions ``open(path, "w")`` would
        give it (0o666 less the umask; a file it replaces keeps its own). ValueError for
        an empty path; an OSError naming ``path`` and the fix when it cannot be written
        (a folder, or a folder that cannot be created or written to).
        """
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
        arrays["user_raw"] = self.user_map_.raw
        arrays["item_raw"] = self.item_map_.raw
        arrays["user_counts"] = self.user_counts_
        arrays["item_counts"] = self.item_counts_
        arrays["rated_indptr"] = self.rated_indptr_
        arrays["rated_indices"] = self.rated_indices_
        if self.item_titles_ is not None:
            arrays["item_titles"] = self.item_titles_
        header["dtypes"] = {k: np.asarray(v).dtype.str for k, v in arrays.items()}  # checked by load
        arrays["__header__"] = np.array(json.dumps(header))
        from .._json import write_atomically

        return write_atomically(path, lambda fh: np.savez_compressed(fh, **arrays), binary=True,
                                what="model", suffix=".npz", example="model.npz")

    @classmethod
    def load(cls, path):
        """Load a model saved by :meth:`save`. Called on a subclass, the file must hold that model.

        Before the model is returned, the file is checked against the model it names:
        every header field and array is there; the state arrays are the ones that model
        sets (no more, no fewer) with the shapes of its parameters and id maps, and every
        array has the dtype save wrote; floats are finite; the parameters pass the model's
        checks; and a few predictions run.
        A file that fails (edited, or damaged in a way the archive's checksums missed)
        raises ModelFileError naming the file, what is wrong and what to do.
        """
        from ..training import History

        path = os.fspath(path)
        header, npz = _read_model_file(path)
        if header.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"{path} was written in model-file format {header.get('format_version')}, and this "
                f"mfcore reads format {FORMAT_VERSION}; retrain the model and save it again")
        _check_header(path, header)
        _check_dtypes(path, header, npz)
        from . import registry

        try:
            target = registry.get_model_class(header["model"])
        except KeyError:
            raise ModelFileError(f"{path} holds a model named {header['model']!r}, which this version "
                                 "of mfcore does not have") from None
        if cls is not Recommender and target is not cls:
            raise ModelFileError(f"{path} holds a {header['model']!r} model ({header['class']}), not "
                                 f"{cls.__name__}; load it with {header['class']}.load or mfcore.load_model")
        name = header["model"]
        try:
            model = target(**_tuples_back(target, header["params"]))
        except TypeError as exc:
            raise _damaged(path, name, f"the parameters in its header do not fit {target.__name__} "
                                       f"({exc})") from None
        _check_params_of(path, name, model)
        n_users, n_items = _check_maps(path, name, npz)
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
        _check_state_arrays(path, name, model, state, n_users, n_items)
        try:
            model._set_state(state)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise _damaged(path, name, f"its state arrays do not fit a {name!r} model with the parameters "
                                       f"in its header ({type(exc).__name__}: {exc})") from None
        _check_state_keys(path, name, model, state)
        _check_declared_shapes(path, name, model, state)
        hist = header.get("history")
        model.history_ = None
        if hist is not None:
            try:
                model.history_ = History.from_dict(hist)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise _damaged(path, name, f"the training history in its header is incomplete "
                                           f"({type(exc).__name__}: {exc})") from None
        _check_predicts(path, name, model)
        return model


def _available_memory():
    """Bytes of memory available to a new allocation (Linux's MemAvailable), or None elsewhere."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _damaged(path, name, what):
    """The ModelFileError of a model file whose contents do not make the model it names."""
    model = f"{name!r} model file" if isinstance(name, str) else "model file"
    return ModelFileError(f"{path} is a damaged {model}: {what}. A file changed after model.save wrote "
                          "it cannot be used: save the model again (model.save(path), or `mfcore train "
                          "... --save FILE`)")


def _check_header(path, header):
    """The header fields load reads: present and of the right kind (ModelFileError otherwise)."""
    name = header.get("model")
    kinds = {"model": (str, "a model name"), "class": (str, "a class name"), "params": (dict, "a dict"),
             "scale": (list, "[low, high, step]"), "global_mean": ((int, float), "a finite number")}
    for field, (kind, desc) in kinds.items():
        if field not in header:
            raise _damaged(path, name, f"its header has no {field!r} field")
        value = header[field]
        if not isinstance(value, kind) or isinstance(value, bool) or (
                field == "global_mean" and not np.isfinite(value)):
            raise _damaged(path, name, f"the {field!r} field of its header is {value!r}, not {desc}")
    try:
        RatingScale(*header["scale"])
    except (TypeError, ValueError) as exc:
        raise _damaged(path, name, f"the 'scale' field of its header, {header['scale']!r}, is not a "
                                   f"rating scale ({exc})") from None
    if not isinstance(header.get("history"), (dict, type(None))):
        raise _damaged(path, name, f"the 'history' field of its header is {header['history']!r}, not a dict")


#: The dtypes model.save writes for numbers (any length of string).
_SAVED_DTYPES = ("float64", "float32", "int64", "int32")


def _check_dtypes(path, header, npz):
    """Every array with the dtype save wrote: the header's ``dtypes`` (files from before it
    was kept: one of the dtypes save writes). ModelFileError naming the array otherwise."""
    name = header["model"]
    wrote = header.get("dtypes")
    if wrote is not None and not (isinstance(wrote, dict) and all(isinstance(v, str) for v in wrote.values())):
        raise _damaged(path, name, f"the 'dtypes' field of its header is {wrote!r}, not a dict of dtype names")
    for key, value in npz.items():
        have = value.dtype
        if wrote is not None and key in wrote:
            try:
                want = np.dtype(wrote[key])
            except TypeError:
                raise _damaged(path, name, f"the 'dtypes' field of its header names {wrote[key]!r} for "
                                           f"{key}, which is not a dtype") from None
            same = have.kind == want.kind if want.kind in "US" else have == want
        else:
            want, same = None, have.kind in "US" or have.name in _SAVED_DTYPES
        if not same:
            wrote_as = f"model.save wrote it as {want.name}" if want is not None else (
                f"model.save writes {', '.join(_SAVED_DTYPES)} or strings")
            raise _damaged(path, name, f"the array {key} has dtype {have.name}; {wrote_as}")


def _check_params_of(path, name, model):
    """The parameters read from the header, through the checks fit runs on the shared ones."""
    from .params import check_hidden_units, check_params

    try:
        check_params(model)
        if getattr(model, "hidden_units", None) is not None:
            check_hidden_units(model)
    except (TypeError, ValueError) as exc:
        raise _damaged(path, name, f"a parameter in its header is invalid: {str(exc).rstrip('.')}") from None


def _check_maps(path, name, npz):
    """The id maps, counts and rated-items structure: present, and of sizes that agree.
    Returns ``(n_users, n_items)``."""
    missing = [k for k in ("user_raw", "item_raw", "user_counts", "item_counts", "rated_indptr",
                           "rated_indices") if k not in npz]
    if missing:
        raise _damaged(path, name, f"the array{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                   f"{'are' if len(missing) > 1 else 'is'} missing")
    for key in ("user_raw", "item_raw"):
        raw = npz[key]
        if raw.ndim != 1:
            raise _damaged(path, name, f"{key} has shape {raw.shape}; the ids of a map are one row")
        if raw.dtype.kind in "iuUS" and raw.size > 1 and not np.all(raw[1:] > raw[:-1]):
            raise _damaged(path, name, f"the ids in {key} are not sorted and distinct, as an id map keeps them")
    n_users, n_items = npz["user_raw"].size, npz["item_raw"].size

    def integers(key, shape, why):
        a = npz[key]
        if a.dtype.kind not in "iu" or (a.shape != shape if shape else a.ndim != 1):
            raise _damaged(path, name, f"{key} has dtype {a.dtype} and shape {a.shape}, not {why}")
        return a

    counts = integers("user_counts", (n_users,), f"{n_users} integers (one per id in user_raw)")
    item_counts = integers("item_counts", (n_items,), f"{n_items} integers (one per id in item_raw)")
    indptr = integers("rated_indptr", (n_users + 1,), f"{n_users + 1} integers (the number of users "
                                                      "in user_raw, plus one)")
    indices = integers("rated_indices", None, "a row of integer item indices")
    if indptr[0] != 0 or indptr[-1] != indices.size or np.any(indptr[1:] < indptr[:-1]):
        raise _damaged(path, name, "rated_indptr is not the row pointer of rated_indices: it must start "
                                   f"at 0, never decrease and end at {indices.size} (the length of "
                                   f"rated_indices); it runs from {indptr[0]} to {indptr[-1]}")
    if indices.size and (indices.min() < 0 or indices.max() >= n_items):
        bad = indices.min() if indices.min() < 0 else indices.max()
        raise _damaged(path, name, f"rated_indices holds the item index {bad}, outside 0..{n_items - 1} "
                                   "(the items in item_raw)")
    if not np.array_equal(np.diff(indptr), counts):
        raise _damaged(path, name, "user_counts does not match rated_indptr (each user's number of "
                                   "training ratings)")
    if not np.array_equal(np.bincount(indices, minlength=n_items), item_counts):
        raise _damaged(path, name, "item_counts does not match rated_indices (each item's number of "
                                   "training ratings)")
    titles = npz.get("item_titles")
    if titles is not None and titles.shape != (n_items,):
        raise _damaged(path, name, f"item_titles has shape {titles.shape}, not ({n_items},) (one title "
                                   "per id in item_raw)")
    return n_users, n_items


#: State arrays with one row per user (item) whatever the model: ``user_bias_``,
#: ``fallback_item_bias_``, ``net.user_embedding.embeddings``, a blend's ``base0__item_counts_``...
_PER_ROW = re.compile(r"(?:^|[._])(user|item)_(?:factors_|bias_|mean_|counts_|embedding\.embeddings"
                      r"|bias\.embeddings)$")
#: State arrays of n_factors columns (in a model that has ``n_factors``).
_FACTORS = re.compile(r"(?:^|[._])(?:user|item|implicit)_factors_$|(?:^|\.)(?:user|item)_embedding"
                      r"\.embeddings$")


def _check_state_arrays(path, name, model, state, n_users, n_items):
    """Before the state is set: per-user and per-item arrays with a row per id, factor tables
    ``n_factors`` wide, and no NaN or infinity in a float array."""
    k = getattr(model, "n_factors", None)
    k = k if isinstance(k, (int, np.integer)) and not isinstance(k, bool) else None
    for key, value in state.items():
        row = _PER_ROW.search(key)
        if row:
            n, raw = (n_users, "user_raw") if row.group(1) == "user" else (n_items, "item_raw")
            if value.ndim == 0 or value.shape[0] != n:
                raise _damaged(path, name, f"the state array state__{key} has shape {value.shape}; it "
                                           f"needs one row per id in {raw} ({n} rows)")
        if k is not None and _FACTORS.search(key) and (value.ndim != 2 or value.shape[1] != k):
            raise _damaged(path, name, f"the state array state__{key} has shape {value.shape}; it needs "
                                       f"n_factors = {k} columns, the n_factors of its header")
        if key.endswith("indptr_"):
            _check_indptr(path, name, key, value, state, n_users, n_items)
        if value.dtype.kind in "fc" and not np.isfinite(np.sum(value, dtype=np.complex128
                                                              if value.dtype.kind == "c" else np.float64)):
            bad = ~np.isfinite(value)
            if bad.any():
                where = np.unravel_index(int(np.flatnonzero(bad)[0]), value.shape)
                raise _damaged(path, name, f"the state array state__{key} holds {int(bad.sum())} NaN or "
                                           f"infinite value{'s' if bad.sum() > 1 else ''} (the first at "
                                           f"{tuple(int(w) for w in where)}: {value[where]})")


def _check_indptr(path, name, key, indptr, state, n_users, n_items):
    """A CSR row pointer of the state (``neighbor_indptr_``): a row per user or per item, from
    0, never decreasing, ending at the length of the arrays it points into (``neighbor_*``)."""
    prefix = key[:-len("indptr_")]
    partners = [k for k, v in state.items() if k.startswith(prefix) and k != key and v.ndim == 1]
    ok = (indptr.ndim == 1 and indptr.dtype.kind in "iu" and indptr.size - 1 in (n_users, n_items)
          and indptr[0] == 0 and not np.any(indptr[1:] < indptr[:-1])
          and all(state[k].size == indptr[-1] for k in partners))
    if not ok:
        into = f" ({', '.join(f'state__{k}' for k in partners)})" if partners else ""
        raise _damaged(path, name, f"the state array state__{key} is not the row pointer of the arrays it "
                                   f"indexes{into}: it must hold a row per user ({n_users}) or item "
                                   f"({n_items}) plus one, start at 0, never decrease and end at their length")


def _check_state_keys(path, name, model, state):
    """After the state is set: the file held exactly the arrays the model keeps, in its shapes."""
    held = ", ".join(f"state__{k}" for k in sorted(state)) or "none"
    try:
        kept = model._get_state()
    except AttributeError as exc:
        attr = exc.name if getattr(exc, "obj", None) is model else None
        what = (f"the state array state__{attr} is missing" if attr else
                f"a state array is missing ({exc})")
        raise _damaged(path, name, f"{what} (the file holds: {held})") from None
    missing = sorted(k for k in set(kept) - set(state) if not k.startswith("arch."))  # arch.: from params
    extra = sorted(set(state) - set(kept))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{_listed(missing)} {'are' if len(missing) > 1 else 'is'} missing")
        if extra:
            parts.append(f"{_listed(extra)} {'are' if len(extra) > 1 else 'is'} not state of a {name!r} model")
        raise _damaged(path, name, "; ".join(parts))
    for key, value in state.items():
        have = np.shape(kept[key])
        if have != value.shape and int(np.prod(have)) != value.size:  # (n,) for (n, 1): older files
            raise _damaged(path, name, f"the state array state__{key} has shape {value.shape}; a {name!r} "
                                       f"model with the parameters in its header has shape {have}")


def _check_declared_shapes(path, name, model, state):
    """After the state is set: the arrays of ``model._state_shapes()`` in those shapes."""
    sizes = {"users": model.user_counts_.size, "items": model.item_counts_.size,
             "ratings": model.rated_indices_.size}
    fixed_by = {}  # a free word -> the array that fixed its length
    for key, dims in model._state_shapes().items():
        value = np.asarray(state[key])  # present: _check_state_keys ran first
        for axis, dim in enumerate(dims):
            if isinstance(dim, str) and dim not in sizes and axis < value.ndim:
                sizes[dim], fixed_by[dim] = value.shape[axis], key
        want = tuple(sizes.get(d, "?") if isinstance(d, str) else int(d) for d in dims)
        if value.shape != want:
            words = [d for d in dims if isinstance(d, str)]
            named = ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "")
            where = "; ".join(f"{d} = {sizes[d]} as in state__{fixed_by[d]}" for d in words
                              if fixed_by.get(d, key) != key)
            need = f"({named}) = {want}" if words else f"shape {want}"
            raise _damaged(path, name, f"the state array state__{key} has shape {value.shape}; a {name!r} "
                                       f"model with the parameters in its header and its id maps needs "
                                       f"{need}" + (f" ({where})" if where else ""))


def _listed(keys):
    """'the state array state__a' / 'the state arrays state__a, state__b'."""
    return f"the state array{'s' if len(keys) > 1 else ''} {', '.join(f'state__{k}' for k in keys)}"


def _check_predicts(path, name, model):
    """A last check that the arrays fit together: predictions for the first and last known
    user and item and the last index of each map (a known pair, or the fallback's), and every
    item's score for the first known and the last user (what recommend computes)."""
    from ..ranking import score_users

    users, items = np.flatnonzero(model.user_counts_ > 0), np.flatnonzero(model.item_counts_ > 0)
    if not (users.size and items.size):
        raise _damaged(path, name, "user_counts or item_counts holds no training rating")
    last_u, last_i = model.user_counts_.size - 1, model.item_counts_.size - 1
    u = np.array([users[0], users[-1], users[0], users[-1], last_u, last_u, -1], dtype=np.int64)
    i = np.array([items[0], items[-1], items[-1], items[0], last_i, -1, last_i], dtype=np.int64)
    try:
        with np.errstate(all="ignore"):
            model.predict(u, i)
            score_users(model, np.unique([users[0], last_u]))
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise _damaged(path, name, f"its arrays do not fit together: a prediction fails "
                                   f"({type(exc).__name__}: {exc})") from None


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


def _as_indices(values, what):
    """``values`` as an int64 array of indices (0-d for a scalar); ValueError naming the first
    value that is not an integer (1.7, NaN, True, a string) and what to pass instead."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu" or arr.size == 0:
        return arr.astype(np.int64, copy=False)
    flat = np.atleast_1d(arr).ravel()
    bad = np.ones(flat.shape, dtype=bool)
    if arr.dtype.kind in "fO":  # floats with integer values (1.0) are indices; NaN, 1.7 are not
        try:
            num = flat.astype(np.float64)
        except (TypeError, ValueError):
            num = None
        if num is not None:
            bad = ~np.isfinite(num)
            bad[~bad] = num[~bad] != np.round(num[~bad])
            if not bad.any():
                return num.astype(np.int64).reshape(arr.shape)
    first = flat[np.flatnonzero(bad)[0]]
    raise ValueError(f"{what} index {plain_repr(first)} is not an integer: predict takes the integer "
                     f"{what} indices of the training maps (-1 for an unknown {what}); use predict_raw "
                     "or predict_ratings for raw ids")


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
