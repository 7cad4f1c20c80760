"""Exercises of tutorial 11 (blending): the ridge blender, and the feature-weighted design.

Checked against :func:`mfcore.models.blend.ridge` and :func:`mfcore.models.blend.design`.
"""
import numpy as np

from ..models.blend import design, ridge
from ._core import Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. ridge with a free intercept


def _ridge(X, y, alpha, *, penalise_intercept=False, no_penalty=False, half=False):
    d = np.full(X.shape[1], 0.0 if no_penalty else float(alpha) * (0.5 if half else 1.0))
    if not penalise_intercept:
        d[0] = 0.0
    return np.linalg.solve(X.T @ X + np.diag(d), X.T @ y)


def _ridge_case(r, n, m, alpha):
    X = np.hstack([np.ones((n, 1)), 3 + r.normal(0, 1, (n, m))])
    y = X @ r.normal(0, 1, m + 1) + r.normal(0, 0.1, n)
    return X, y, alpha


_ridge_cases = seeded_cases(_ridge_case, 120, [("40 ratings, intercept + 3 models, alpha 1", 40, 3, 1.0),
                                               ("25 ratings, intercept + 2 models, alpha 10", 25, 2, 10.0),
                                               ("60 ratings, intercept + 5 models, alpha 0.3", 60, 5, 0.3)])


RIDGE = Exercise("t11.ridge", """
The blender's weights: ridge regression with an unpenalised intercept.

X (n, d): column 0 all ones (the intercept), the others the base models'
predictions; y (n,) the held-out ratings; alpha >= 0.
Return w (d,) minimising |X w - y|^2 + alpha * sum_{j >= 1} w_j^2, i.e. the
solution of (X^T X + alpha * D) w = X^T y with D = diag(0, 1, 1, ..., 1).""",
    signature="ridge(X, y, alpha)",
    reference=ridge, cases=_ridge_cases, outputs=("w",),
    reference_name="mfcore.models.blend.ridge",
    mistakes=catalogue(_ridge, [
        ("penalised-intercept", dict(penalise_intercept=True), """
the intercept was penalised too: it should be free (D[0, 0] = 0), or the blend is pulled
towards predicting 0."""),
        ("no-penalty", dict(no_penalty=True), """
alpha was ignored: this is ordinary least squares."""),
        ("half-alpha", dict(half=True), """
the penalty came out as alpha / 2 (the derivative of alpha |w|^2 is 2 alpha w, and of |Xw
- y|^2 it is 2 X^T (Xw - y): the 2s cancel)."""),
    ]))
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


def _design_case(r, n, m, F):
    return r.uniform(1, 5, (n, m)), r.normal(0, 1, (n, F))


_design_cases = seeded_cases(_design_case, 130, [("5 pairs, 2 models, 2 features", 5, 2, 2),
                                                 ("4 pairs, 3 models, 1 feature", 4, 3, 1),
                                                 ("6 pairs, 1 model, 3 features", 6, 1, 3)])


DESIGN = Exercise("t11.fwls_design", """
The design matrix of feature-weighted linear stacking.

preds (n, M): the base models' predictions; meta (n, F): meta-features of each
pair. With f = [1, meta] (n, F + 1), return the (n, (M + 1)(F + 1)) matrix
  [f, p_1 * f, p_2 * f, ..., p_M * f]
(p_m * f: column m of preds times every column of f), so that a linear
regression on it gives each model a weight that is a linear function of the
meta-features, plus an intercept that is one too.""",
    signature="fwls_design(preds, meta)",
    reference=design, cases=_design_cases, outputs=("X",),
    reference_name="mfcore.models.blend.design",
    mistakes=catalogue(_design, [
        ("no-intercepts", dict(no_intercepts=True), """
the block f itself (the intercept and the features alone) is missing: it comes first."""),
        ("no-plain-predictions", dict(no_plain=True), """
each model's block lost its plain prediction p_m * 1: multiply p_m by f = [1, meta], not
by meta alone."""),
        ("order", dict(products_first=True), """
the blocks are in the wrong order: f first, then model 1's block, model 2's, ..."""),
    ]))
check_fwls_design = DESIGN.checker()

EXERCISES = {e.name: e for e in (RIDGE, DESIGN)}
