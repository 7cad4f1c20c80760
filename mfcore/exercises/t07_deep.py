"""Exercises of tutorial 07 (the deep model and RNCF): Adam's step and batch normalisation.

Checked against :class:`mfcore.nn.Adam` (RNCF's stages 2 and 3 train with it)
and :class:`mfcore.nn.BatchNormalization`.
"""
import numpy as np

from ..nn import Adam, BatchNormalization
from ._core import Case, Exercise, catalogue, seeded_cases

# ---------------------------------------------------------------- 1. Adam


def _ref_adam(w, m, v, g, t, lr, beta_1, beta_2, epsilon):
    opt = Adam(lr=lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, use_jit=False)
    opt.iterations = t - 1
    opt.state["w"] = {"momentum": m, "velocity": v}
    opt.step({"w": w}, {"w": g})
    return w, m, v


def _adam(w, m, v, g, t, lr, b1, b2, eps, *, correct=True, form="keras", t_shift=0, square=True,
          store_corrected=False):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * (g * g if square else g)
    s = t + t_shift
    if not correct:
        return w - lr * m / (np.sqrt(v) + eps), m, v
    m_hat, v_hat = m / (1 - b1 ** s), v / (1 - b2 ** s)
    if form == "paper":
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    elif form == "eps-inside":
        w = w - lr * np.sqrt(1 - b2 ** s) / (1 - b1 ** s) * m / np.sqrt(v + eps)
    else:
        w = w - lr * np.sqrt(1 - b2 ** s) / (1 - b1 ** s) * m / (np.sqrt(v) + eps)
    return (w, m_hat, v_hat) if store_corrected else (w, m, v)


def _adam_cases():
    g = np.random.default_rng(41)
    return [
        Case("first step t = 1, m = v = 0, lr 0.01", (g.normal(size=4), np.zeros(4), np.zeros(4),
                                                      g.normal(size=4),
                                                      1, 0.01, 0.9, 0.999, 1e-7)),
        Case("t = 3, running moments, epsilon 1e-3", (g.normal(size=(2, 3)), g.normal(0, 0.1, (2, 3)),
                                                      g.uniform(0, 0.02, (2, 3)), g.normal(size=(2, 3)),
                                                      3, 0.01, 0.9, 0.999, 1e-3)),
        Case("t = 50, beta_1 0.8, beta_2 0.99, epsilon 0.1", (g.normal(size=3), g.normal(0, 0.1, 3),
                                                               g.uniform(0, 0.05, 3), g.normal(0, 0.01, 3),
                                                               50, 0.001, 0.8, 0.99, 0.1)),
    ]


ADAM_STEP = Exercise("t07.adam_step", """
One Adam step with bias correction, as Keras (and mfcore) compute it.

t is the step number, 1 for the first step. Return the new (w, m, v):
  m <- beta_1 m + (1 - beta_1) g
  v <- beta_2 v + (1 - beta_2) g^2
  alpha_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)     (the bias correction)
  w <- w - alpha_t m / (sqrt(v) + epsilon)
m and v are stored UNcorrected. (Keras folds the correction into the step size,
so epsilon is added to sqrt(v), not to the corrected sqrt(v_hat).)""",
    signature="adam_step(w, m, v, g, t, lr, beta_1, beta_2, epsilon)",
    reference=_ref_adam, cases=_adam_cases, outputs=("w", "m", "v"),
    reference_name="mfcore.nn.Adam (Keras 3's rule)",
    mistakes=catalogue(_adam, [
        ("no-bias-correction", dict(correct=False), """
the bias correction is missing: m and v start at 0, so early steps are too small (at t = 1
by a factor about 0.1 sqrt(1000)); multiply lr by sqrt(1 - beta_2^t) / (1 - beta_1^t)."""),
        ("t-from-zero", dict(t_shift=-1), """
the correction used t - 1: at the first step 1 - beta^0 = 0 and the step divides by zero.
t is 1 for the first step."""),
        ("stored-corrected-moments", dict(form="paper", store_corrected=True), """
m and v were stored bias-corrected: the next step would correct them again. Keep the raw
moments in the state and correct only the step."""),
        ("paper-epsilon", dict(form="paper"), """
you used the paper's form w -= lr m_hat / (sqrt(v_hat) + eps): the same Adam except for
where epsilon sits. Keras and mfcore add epsilon to sqrt(v) and put the correction in
alpha_t ('epsilon hat'); write that form."""),
        ("epsilon-inside-sqrt", dict(form="eps-inside"), """
epsilon went inside the square root: the step divides by sqrt(v) + epsilon."""),
        ("g-not-squared", dict(square=False), """
v must average g^2, the squared gradient, not g."""),
    ]))
check_adam_step = ADAM_STEP.checker()

# ---------------------------------------------------------------- 2. batch normalisation


def _ref_bn(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon):
    layer = BatchNormalization(x.shape[1], momentum=momentum, epsilon=epsilon)
    layer.params["gamma"][...], layer.params["beta"][...] = gamma, beta
    layer.moving_mean[...], layer.moving_variance[...] = moving_mean, moving_var
    y = layer.forward(x, training=training)
    return y, layer.moving_mean, layer.moving_variance


def _bn(x, gamma, beta, mm, mv, training, momentum, eps, *, stats="auto", swap=False, ddof=0, eps_out=False):
    use_batch = training if stats == "auto" else stats == "batch"
    mean, var = (x.mean(0), x.var(0, ddof=ddof)) if use_batch else (mm, mv)
    if training:
        a = (1 - momentum) if swap else momentum
        mm, mv = mm * a + x.mean(0) * (1 - a), mv * a + x.var(0, ddof=ddof) * (1 - a)
    scale = 1 / (np.sqrt(var) + eps) if eps_out else 1 / np.sqrt(var + eps)
    return gamma * (x - mean) * scale + beta, mm, mv


def _bn_case(g, B, n, training, momentum, eps):
    x = g.normal([3.0, -1.0, 0.5][:n], [2.0, 0.5, 1.0][:n], size=(B, n))
    return (x, g.uniform(0.5, 2, n), g.normal(0, 0.5, n), g.normal(0, 1, n), g.uniform(0.5, 3, n),
            training, momentum, eps)


_bn_cases = seeded_cases(_bn_case, 42, [("training, B = 6, 3 units", 6, 3, True, 0.99, 1e-3),
                                        ("training, B = 4, 2 units, momentum 0.5", 4, 2, True, 0.5, 1e-3),
                                        ("inference, B = 5, 3 units", 5, 3, False, 0.99, 1e-3)],
                         one_generator=True)


BATCHNORM_FORWARD = Exercise("t07.batchnorm_forward", """
Batch normalisation's forward pass, in training and in inference mode.

x (B, n). Training mode: mu_B, var_B = the mean and the BIASED variance of each
column over the batch; y = gamma (x - mu_B) / sqrt(var_B + epsilon) + beta; and
the moving statistics move towards the batch's:
  moving_mean <- momentum * moving_mean + (1 - momentum) * mu_B   (same for var)
Inference mode (training False): the same y with moving_mean and moving_var in
place of mu_B and var_B, and the moving statistics unchanged.
Return (y, moving_mean, moving_var) (Keras: momentum 0.99, epsilon 1e-3).""",
    signature="batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon)",
    reference=_ref_bn, cases=_bn_cases, outputs=("y", "moving_mean", "moving_var"),
    reference_name="mfcore.nn.BatchNormalization",
    mistakes=catalogue(_bn, [
        ("moving-stats-in-training", dict(stats="moving"), """
training mode normalised with the moving statistics: it uses the batch's own mean and
variance (the moving ones are for inference)."""),
        ("batch-stats-in-inference", dict(stats="batch"), """
inference mode used the batch's statistics: a prediction for one pair has no batch, so
inference uses the moving statistics."""),
        ("momentum-swapped", dict(swap=True), """
the moving statistics moved the wrong way: momentum weighs the OLD value (0.99 * moving +
0.01 * batch)."""),
        ("unbiased-variance", dict(ddof=1), """
the variance divided by B - 1: batch normalisation uses the biased variance (np.var(x,
axis=0), ddof 0)."""),
        ("epsilon-outside-sqrt", dict(eps_out=True), """
epsilon belongs inside the square root: sqrt(var + epsilon)."""),
    ]))
check_batchnorm_forward = BATCHNORM_FORWARD.checker()

EXERCISES = {e.name: e for e in (ADAM_STEP, BATCHNORM_FORWARD)}
