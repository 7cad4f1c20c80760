r"""Blending: a linear combination of other mfcore models, learned on held-out training ratings."""
import json

import numpy as np

from .._random import as_generator
from .._validation import check_number
from ..exceptions import DataError
from .base import Recommender
from .registry import get_model_class, register
from .params import store_params

# The default base models: different families, so their errors differ (chosen with
# training ratings only; see the class docstring).
DEFAULT_MODELS = ("biases", "biased-mf", "svd", "i-autorec", "rbm")
DEFAULT_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


def model_specs(models):
    """``models`` as a list of ``(name, params)``.

    Accepts a comma-separated string (``"biases,biased-mf"``), or a list whose entries are
    names, ``{"model": name, "params": {...}}`` dicts, or unfitted Recommender instances.
    """
    if models is None:
        models = DEFAULT_MODELS
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if not isinstance(models, (list, tuple)) or len(models) == 0:
        raise ValueError("The 'models' parameter of Blend must be a non-empty list of model names, "
                         "{'model': NAME, 'params': {...}} dicts or models (or a comma-separated "
                         f"string of names). Got {models!r} instead.")
    specs = []
    for m in models:
        if isinstance(m, Recommender):
            name, params = m.name, dict(m.get_params())
        elif isinstance(m, str):
            name, params = m, {}
        elif isinstance(m, dict) and set(m) <= {"model", "params"} and isinstance(m.get("model"), str):
            name, params = m["model"], dict(m.get("params") or {})
        else:
            raise ValueError(f"Blend: a base model must be a name, a {{'model': NAME, 'params': {{...}}}} "
                             f"dict or a model; got {m!r}")
        if name == "blend":
            raise ValueError("Blend: a blend cannot contain another blend")
        try:
            cls = get_model_class(name)
        except KeyError as exc:
            raise ValueError(f"Blend: {exc.args[0]}") from None
        if cls.implicit:
            raise ValueError(f"Blend: {name!r} is an implicit-feedback model (it ranks items, its scores "
                             "are not ratings); blend rating models only")
        unknown = set(params) - set(cls._param_names())
        if unknown:
            raise ValueError(f"Blend: model {name!r} has no parameter {sorted(unknown)[0]!r}; its "
                             f"parameters are: {', '.join(cls._param_names()) or 'none'}")
        specs.append((name, params))
    return specs


def _meta_features(user_counts, item_counts, u, i, scale):
    """(n, 2) log(1 + count) of each pair's user and item, counts multiplied by ``scale``
    (so counts over all training ratings read like those the blender was fitted with)."""
    cu = np.where(u >= 0, user_counts[np.maximum(u, 0)], 0) * scale
    ci = np.where(i >= 0, item_counts[np.maximum(i, 0)], 0) * scale
    return np.log1p(np.stack([cu, ci], axis=1))


def design(base_preds, meta):
    """The blender's inputs, (n, (M + 1) * (F + 1)): [1, f, p_m, p_m * f] for M base
    predictions p and F standardised meta-features f (feature-weighted linear stacking)."""
    n = base_preds.shape[0]
    one = np.ones((n, 1))
    f = np.hstack([one, meta])  # (n, F + 1)
    cols = [f] + [base_preds[:, [m]] * f for m in range(base_preds.shape[1])]
    return np.hstack(cols)


def ridge(X, y, alpha, free=1):
    """Ridge weights: argmin |X w - y|^2 + alpha |w[free:]|^2 (the first ``free`` columns unpenalised)."""
    A = X.T @ X
    d = np.full(X.shape[1], float(alpha))
    d[:free] = 0.0
    A[np.diag_indices_from(A)] += d
    return np.linalg.solve(A, X.T @ y)


def choose_alpha(X, y, alphas, n_folds, rng):
    """The alpha of ``alphas`` with the lowest k-fold mean squared error on (X, y), and the
    errors of every alpha (k-fold over the rows, seeded)."""
    fold = as_generator(rng).permutation(len(y)) % n_folds  # (n,)
    errors = []
    for alpha in alphas:
        sse = 0.0
        for k in range(n_folds):
            tr, te = fold != k, fold == k
            w = ridge(X[tr], y[tr], alpha)
            sse += float(np.sum((X[te] @ w - y[te]) ** 2))
        errors.append(sse / len(y))
    return float(alphas[int(np.argmin(errors))]), errors


@register
class Blend(Recommender):
    r"""A linear blend of other mfcore models (feature-weighted linear stacking).

    Model:

    .. math:: \hat r_{ui} = \sum_{j=0}^{F} f_j(u, i) \Big( v_j + \sum_{m=1}^{M} w_{mj}\, \hat r^{(m)}_{ui} \Big)

    with f_0 = 1 and f_1, f_2 the standardised log(1 + number of training ratings)
    of the user and of the item (``features="counts"``; ``features=None``
    keeps f_0 only: a plain linear blend). The weights let a model count for
    more where it is strong: neighbours and factors for well-known users, the
    biases for newcomers (Sill et al. 2009).

    Fit, in order (the test set plays no part):

    (B1) Hold out ``holdout_fraction`` of the training ratings at random
         (seeded from ``rng``).
    (B2) Fit every base model on the rest, each with its own defaults (its
         own early stopping carves its validation ratings from that rest).
    (B3) Predict the held-out ratings with every base model (clipped to the
         rating scale).
    (B4) Ridge regression of the held-out ratings on the design of the
         formula above; its regularisation alpha is chosen from ``alphas`` by
         ``n_folds``-fold cross-validation on the held-out ratings. The
         intercept v_0 is not penalised.
    (B5) ``refit=True``: fit every base model again on all the training
         ratings, and predict with the weights of (B4). ``refit=False``
         keeps the models of (B2) (no second fit; their bases saw less data).

    Parameters
    ----------
    models : list or str, default None
        The base models: names (``["biases", "biased-mf"]`` or
        ``"biases,biased-mf"``), ``{"model": name, "params": {...}}`` dicts,
        or unfitted models. None: biases, biased-mf, svd, i-autorec and rbm
        with their defaults: one model of each family (baseline, factors,
        spectral, autoencoder, energy-based), kept because each gets a
        substantial weight from the blender on the held-out slice of the
        training ratings (``holdout_rmse_`` and ``weights()``; recorded for
        ML-100k u1, 80/20 and the bundled data in benchmarks/results/blend.json).
        No test rating took part in the choice.
    holdout_fraction : float, default 0.2
        The share of the training ratings of (B1).
    features : {"counts", None}, default "counts"
    alphas : list of float, default None
        The ridge regularisations tried in (B4); None: 0.01, 0.1, 1, 10, 100 and 1000.
    n_folds : int, default 5
        Folds of (B4).
    refit : bool, default True
    rng : None, int or Generator, default 0
        Seeds the hold-out slice, the folds of (B4), and every base model
        that has an ``rng`` and was not given one.
    verbose : int, default 0
        1 prints one line per base model fitted.

    Attributes
    ----------
    models_ : list of fitted Recommender
    weights_ : ndarray (M,)
        Each base model's weight w_{m0} at the average user and item
        (standardised features 0).
    coef_ : ndarray ((M + 1) * (F + 1),)
        Every blend weight, in the column order of :func:`design`.
    alpha_ : float
        The regularisation (B4) chose.
    holdout_rmse_ : dict
        Held-out RMSE (clipped) of each base model and of the blend's
        in-sample fit on the held-out ratings.

    Unknown users and items: each base model predicts them with its own
    fallback (see each model), and the blend combines those predictions.

    References
    ----------
    J. Sill, G. Takacs, L. Mackey, D. Lin, "Feature-weighted linear stacking",
    arXiv:0911.0460, 2009. Y. Koren, "The BellKor solution to the Netflix grand
    prize", 2009.
    """

    name = "blend"

    def __init__(self, models=None, holdout_fraction=0.2, features="counts", alphas=None,
                 n_folds=5, refit=True, rng=0, verbose=0):
        store_params(self, locals())

    # ------------------------------------------------------------------ fit
    def _check(self):
        specs = model_specs(self.models)
        check_number(self.holdout_fraction, "holdout_fraction", self, low=0, high=1, high_inclusive=False)
        if self.features not in ("counts", None):
            raise ValueError(f"The 'features' parameter of Blend must be 'counts' or None. "
                             f"Got {self.features!r} instead.")
        given = DEFAULT_ALPHAS if self.alphas is None else self.alphas
        alphas = np.asarray(given, dtype=float) if np.ndim(given) == 1 else None
        if alphas is None or alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas < 0):
            raise ValueError("The 'alphas' parameter of Blend must be a non-empty list of finite numbers "
                             f">= 0. Got {self.alphas!r} instead.")
        check_number(self.n_folds, "n_folds", self, kind="int", low=2, low_inclusive=True)
        if not isinstance(self.refit, (bool, np.bool_)):
            raise TypeError(f"The 'refit' parameter of Blend must be True or False. Got {self.refit!r} instead.")
        return specs, alphas

    def _make(self, name, params, k):
        cls = get_model_class(name)
        params = dict(params)
        accepted = cls._param_names()
        if "rng" in accepted and "rng" not in params and isinstance(self.rng, (int, np.integer)):
            params["rng"] = int(self.rng) + k  # a different, reproducible stream per base model
        if "verbose" in accepted and "verbose" not in params:
            params["verbose"] = 0
        return cls(**params)

    def _fit_bases(self, specs, ratings, what):
        models = []
        for k, (name, params) in enumerate(specs):
            model = self._make(name, params, k)
            try:
                model.fit(ratings)
            except (ValueError, DataError, FloatingPointError) as exc:
                raise type(exc)(f"Blend: base model {name!r} failed on {what}: {exc}") from exc
            if self.verbose:
                print(f"blend: fitted {name} on {what} ({len(ratings):,} ratings)", flush=True)
            models.append(model)
        return models

    def _fit(self, train, valid, callbacks):
        from ..data.split import random_split

        specs, alphas = self._check()
        rng = as_generator(self.rng)
        parts = random_split(train, self.holdout_fraction, rng=rng)  # (B1)
        fit_part, hold = parts.train, parts.test
        if len(hold) < 10 * self.n_folds:
            raise DataError(f"Blend: {len(hold)} held-out ratings are too few to learn the weights; "
                            "raise holdout_fraction or give more training ratings")
        models = self._fit_bases(specs, fit_part, "the training ratings minus the hold-out slice")  # (B2)
        preds = np.stack([m.predict_ratings(hold, clip=True) for m in models], axis=1)  # (B3) (n_hold, M)
        self.n_fit_part_ = len(fit_part)
        hu, hi, y = hold.users, hold.items, np.asarray(hold.values, np.float64)
        fp_users, fp_items = fit_part.user_counts(), fit_part.item_counts()
        meta = self._standardise(_meta_features(fp_users, fp_items, hu, hi, 1.0), fit=True)
        X = design(preds, meta)  # (n_hold, (M + 1) * (F + 1))
        self.alpha_, self.alpha_errors_ = choose_alpha(X, y, alphas, int(self.n_folds), rng)  # (B4)
        self.coef_ = ridge(X, y, self.alpha_)
        F1 = meta.shape[1] + 1
        self.weights_ = self.coef_[F1::F1].copy()  # w_{m0}: the weight at standardised features 0
        clip = train.scale.clip
        self.holdout_rmse_ = {name: float(np.sqrt(np.mean((clip(preds[:, k]) - y) ** 2)))
                              for k, (name, _) in enumerate(specs)}
        self.holdout_rmse_["blend (in-sample)"] = float(np.sqrt(np.mean((clip(X @ self.coef_) - y) ** 2)))
        if self.refit:  # (B5)
            models = self._fit_bases(specs, train, "all the training ratings")
            self.count_scale_ = self.n_fit_part_ / len(train)
        else:
            self.count_scale_ = 1.0
        self.models_, self.specs_ = models, specs

    def _standardise(self, raw, fit=False):
        if self.features is None:
            return np.zeros((raw.shape[0], 0))
        if fit:
            self.feature_mean_ = raw.mean(axis=0)
            self.feature_std_ = np.maximum(raw.std(axis=0), 1e-12)
        return (raw - self.feature_mean_) / self.feature_std_

    # -------------------------------------------------------------- predict
    def _blend(self, u, i):
        preds = np.stack([m.predict(u, i, clip=True) for m in self.models_], axis=1)  # (n, M)
        counts = (self.user_counts_, self.item_counts_) if self.refit else \
            (self.models_[0].user_counts_, self.models_[0].item_counts_)
        meta = self._standardise(_meta_features(*counts, u, i, self.count_scale_))
        return design(preds, meta) @ self.coef_

    def _predict_known(self, u, i):
        return self._blend(u, i)

    def _predict_fallback(self, u, i):
        return self._blend(u, i)

    def weights(self):
        """Each base model's weight at the average user and item, as a dict name -> weight."""
        from .._validation import check_is_fitted

        check_is_fitted(self, "coef_")
        return {f"{k}:{name}": float(w) for k, ((name, _), w) in enumerate(zip(self.specs_, self.weights_))}

    # ----------------------------------------------------------- save/load
    def _state_shapes(self):
        M, F = len(self.specs_), 0 if self.features is None else 2  # (B4): F meta-features
        shapes = {"weights": (M,), "coef": ((M + 1) * (F + 1),), "feature_mean": (F,), "feature_std": (F,)}
        for k, m in enumerate(self.models_):  # a base model's own words, apart from the others'; its
            own = {"ratings": m.rated_indices_.size}  # training ratings (fewer than the blend's if not refit)
            shapes.update({f"base{k}__{key}": tuple(own.get(d, d if d in ("users", "items") else f"base{k}:{d}")
                                                    if isinstance(d, str) else d for d in dims)
                           for key, dims in m._state_shapes().items()})
        return shapes

    def _get_state(self):
        state = {"specs": np.array(json.dumps([{"model": n, "params": _plain(p)} for n, p in self.specs_])),
                 "coef": self.coef_, "weights": self.weights_, "alpha": np.float64(self.alpha_),
                 "count_scale": np.float64(self.count_scale_),
                 "feature_mean": getattr(self, "feature_mean_", np.zeros(0)),
                 "feature_std": getattr(self, "feature_std_", np.zeros(0))}
        for k, m in enumerate(self.models_):
            for key, value in m._get_state().items():
                state[f"base{k}__{key}"] = value
            state[f"base{k}__user_counts_"] = m.user_counts_
            state[f"base{k}__item_counts_"] = m.item_counts_
            state[f"base{k}__global_mean_"] = np.float64(m.global_mean_)
            if not self.refit:  # trained on the fit part only: their own training ratings
                state[f"base{k}__rated_indptr_"] = m.rated_indptr_
                state[f"base{k}__rated_indices_"] = m.rated_indices_
        return state

    def _set_state(self, state):
        self.specs_ = [(s["model"], s["params"]) for s in json.loads(str(state["specs"]))]
        if self.models is None and [n for n, _ in self.specs_] != list(DEFAULT_MODELS):
            self.models = [{"model": n, "params": p} for n, p in self.specs_]  # given as objects
        self.coef_, self.weights_ = state["coef"], state["weights"]
        self.alpha_, self.count_scale_ = float(state["alpha"]), float(state["count_scale"])
        if state["feature_mean"].size:
            self.feature_mean_, self.feature_std_ = state["feature_mean"], state["feature_std"]
        self.models_ = []
        for k, (name, params) in enumerate(self.specs_):
            prefix = f"base{k}__"
            sub = {key[len(prefix):]: v for key, v in state.items() if key.startswith(prefix)}
            m = get_model_class(name)(**params)
            m.user_map_, m.item_map_, m.scale_ = self.user_map_, self.item_map_, self.scale_
            m.user_counts_ = sub.pop("user_counts_")
            m.item_counts_ = sub.pop("item_counts_")
            m.global_mean_ = float(sub.pop("global_mean_"))
            m.rated_indptr_ = sub.pop("rated_indptr_", self.rated_indptr_)  # its own when not refitted
            m.rated_indices_ = sub.pop("rated_indices_", self.rated_indices_)
            m.item_titles_, m.history_ = None, None
            m._set_state(sub)
            self.models_.append(m)


def _plain(params):
    """Base-model parameters as JSON values (a Generator or other object becomes None)."""
    from .base import _jsonable_param

    return {k: _jsonable_param(v) for k, v in params.items()}
