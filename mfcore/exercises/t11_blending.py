"""Exercises of tutorial 11 (blending): the ridge blender, and the feature-weighted design.

Checked against :func:`mfcore.models.blend.ridge` and :func:`mfcore.models.blend.design`.
"""
import numpy as np

from ..models.blend import design, ridge
from ._core import Case, Exercise, Mistake

# ---------------------------------------------------------------- 1. ridge with a free intercept


def _ridge(X, y, alpha, *, penalise_intercept=False, no_penalty=False, half=False):
    d = np.full(X.shape[1], 0.0 if no_penalty else float(alpha) * (0.5 if half else 1.0))
    if not penalise_intercept:
        d[0] = 0.0
    return np.linalg.solve(X.T @ X + np.diag(d), X.T @ y)


def _ridge_cases():
    cases = []
    for label, n, m, alpha, seed in [("40 ratings, intercept + 3 models, alpha 1", 40, 3, 1.0, 0),
                                     ("25 ratings, intercept + 2 models, alpha 10", 25, 2, 10.0, 1),
                                     ("60 ratings, intercept + 5 models, alpha 0.3", 60, 5, 0.3, 2)]:
        r = np.random.default_rng(120 + seed)
        X = np.hstack([np.ones((n, 1)), 3 + r.normal(0, 1, (n, m))])
        y = X @ r.normal(0, 1, m + 1) + r.normal(0, 0.1, n)
        cases.append(Case(label, (X, y, alpha)))
    return cases


RIDGE = Exercise(
    key="t11.ridge",
    title="The blender's weights: ridge regression with an unpenalised intercept.",
    signature="ridge(X, y, alpha)",
    task="""
X (n, d): column 0 all ones (the intercept), the others the base models'
predictions; y (n,) the held-out ratings; alpha >= 0.
Return w (d,) minimising |X w - y|^2 + alpha * sum_{j >= 1} w_j^2, i.e. the
solution of (X^T X + alpha * D) w = X^T y with D = diag(0, 1, 1, ..., 1).""",
    reference=ridge, cases=_ridge_cases, outputs=("w",),
    reference_name="mfcore.models.blend.ridge",
    mistakes=[
        Mistake("penalised-intercept", "the intercept was penalised too: it should be free (D[0, 0] = 0), "
                "or the blend is pulled towards predicting 0.", lambda *a: _ridge(*a, penalise_intercept=True)),
        Mistake("no-penalty", "alpha was ignored: this is ordinary least squares.",
                lambda *a: _ridge(*a, no_penalty=True)),
        Mistake("half-alpha", "the penalty came out as alpha / 2 (the derivative of alpha |w|^2 is "
                "2 alpha w, and of |Xw - y|^2 it is 2 X^T (Xw - y): the 2s cancel).",
                lambda *a: _ridge(*a, half=True)),
    ])
check_ridge = RIDGE.checker()

# ---------------------------------------------------------------- 2. the FWLS design


def _design(preds, meta, *, no_intercepts=False, no_plain=False, products_first=False):
    n = preds.shape[0]
    f = np.hstack([np.ones((n, 1)), meta])
    blocks = [preds[:, [m]] * f for m in range(preds.shape[1])]
    if no_plain:
        blocks = [preds[:, [m]] * meta for m in range(preds.shape[1])]
    cols = blocks if no_intercepts else ([*blocks, f] if products_first else [f, *blocks])
    return np.hstack(cols)


def _design_cases():
    cases = []
    for label, n, m, F, seed in [("5 pairs, 2 models, 2 features", 5, 2, 2, 0),
                                 ("4 pairs, 3 models, 1 feature", 4, 3, 1, 1),
                                 ("6 pairs, 1 model, 3 features", 6, 1, 3, 2)]:
        r = np.random.default_rng(130 + seed)
        cases.append(Case(label, (r.uniform(1, 5, (n, m)), r.normal(0, 1, (n, F)))))
    return cases


DESIGN = Exercise(
    key="t11.fwls_design",
    title="The design matrix of feature-weighted linear stacking.",
    signature="fwls_design(preds, meta)",
    task="""
preds (n, M): the base models' predictions; meta (n, F): meta-features of each
pair. With f = [1, meta] (n, F + 1), return the (n, (M + 1)(F + 1)) matrix
  [f, p_1 * f, p_2 * f, ..., p_M * f]
(p_m * f: column m of preds times every column of f), so that a linear
regression on it gives each model a weight that is a linear function of the
meta-features, plus an intercept that is one too.""",
    reference=design, cases=_design_cases, outputs=("X",),
    reference_name="mfcore.models.blend.design",
    mistakes=[
        Mistake("no-intercepts", "the block f itself (the intercept and the features alone) is missing: "
                "it comes first.", lambda *a: _design(*a, no_intercepts=True)),
        Mistake("no-plain-predictions", "each model's block lost its plain prediction p_m * 1: multiply "
                "p_m by f = [1, meta], not by meta alone.", lambda *a: _design(*a, no_plain=True)),
        Mistake("order", "the blocks are in the wrong order: f first, then model 1's block, model 2's, ...",
                lambda *a: _design(*a, products_first=True)),
    ])
check_fwls_design = DESIGN.checker()

EXERCISES = {e.name: e for e in (RIDGE, DESIGN)}
