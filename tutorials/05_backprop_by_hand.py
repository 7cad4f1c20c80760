# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 05 · Backprop by hand: one Dense layer, one Embedding, one optimizer step
#
# Every neural model in mfcore (the Keras-regime MF of tutorial 04, the
# residual and deep models, AutoRec) is built from a handful of layers in
# `mfcore.nn`, each with a `forward` and a hand-written `backward`. No
# automatic differentiation: if a backward formula is wrong, nothing warns you,
# the model simply learns less well. This tutorial derives the two layers that
# matter most for recommenders, checks them against finite differences, and
# then takes one optimizer step by hand.
#
# **You will learn**
#
# - the backward pass of a Dense layer y = xW + b, derived with the chain rule
#   and checked shape by shape;
# - how a gradient check works (central differences), why it is done in
#   float64, and why its inputs must stay away from kinks such as ReLU's 0;
# - the Embedding layer's backward: a scatter-add, and the bug you get when an
#   id appears twice in a batch;
# - one step of SGD with momentum (Keras' rule), by hand and with
#   `mfcore.nn.optim.SGD`, including why rows outside the batch still move.
#
# **Prerequisites**: tutorial 03 (the `np.add.at` lesson), tutorial 04 (the
# Keras regime). Calculus: the chain rule, partial derivatives.

# %% [markdown]
# ## Constants
#
# Everything is small on purpose: you can print every array and check it by
# eye. No data set is needed; nothing here is slow, so `MFCORE_FAST=1` only
# thins the sweep of step sizes in section 3.

# %%
import inspect
import os

import matplotlib.pyplot as plt
import numpy as np

from mfcore.engines.nn_numpy import scatter_add_rows
from mfcore.nn import SGD, Dense, Embedding, ReLU, collect, mse
from mfcore.nn import gradcheck
from mfcore.nn.gradcheck import check_gradients, check_layer, numerical_gradient
from mfcore.nn.layers import RowGrad
from mfcore.tutorial import Figures, show_doc, show_source

SEED = 42
FAST = os.environ.get("MFCORE_FAST") == "1"
B, N_IN, N_OUT = 5, 4, 3        # batch size, Dense input and output widths
N_ROWS, K = 6, 3                # Embedding table: 6 ids, K = 3 columns
IDS = np.array([1, 4, 1, 0, 1])  # a batch in which id 1 appears three times
EPS_GRID = np.logspace(-12, -1, 23 if not FAST else 12)  # step sizes of the finite-difference sweep
LR, MOMENTUM = 0.08, 0.9        # the Keras regime of tutorial 04
FIGURES = Figures(5)
FIG_DIR = FIGURES.dir
show = FIGURES.show
np.set_printoptions(precision=4, suppress=True)

rng = np.random.default_rng(SEED)
print(f"fast mode: {FAST}")

# %% [markdown]
# ## 1. The Dense layer: forward
#
# A batch of B input rows x (B × n_in) goes through
#
# $$ y = x W + b, \qquad W \in \mathbb{R}^{n_{in} \times n_{out}},\ b \in \mathbb{R}^{n_{out}},\ y \in \mathbb{R}^{B \times n_{out}} $$
#
# (b is added to every row). Here is the package's code; `forward` keeps `x`
# because the backward pass will need it.

# %%
show_source(Dense.forward)

dense = Dense(N_IN, N_OUT, rng=SEED)            # glorot-uniform kernel, zero bias, as Keras
dense.params["bias"][:] = rng.normal(size=N_OUT)  # a non-zero bias, so that it shows up
x = rng.normal(size=(B, N_IN))
y = dense.forward(x)
print("x", x.shape, " W", dense.params["kernel"].shape, " b", dense.params["bias"].shape, " y", y.shape)

# %% [markdown]
# ## 2. The Dense layer: backward, derived
#
# A layer never sees the loss L. It receives δ = ∂L/∂y, one number per entry
# of y (so δ is B × n_out), and must return ∂L/∂x and fill ∂L/∂W, ∂L/∂b. The
# chain rule, entry by entry: y_bk = Σ_j x_bj W_jk + b_k, so
#
# - ∂y_bk/∂W_jk = x_bj, hence ∂L/∂W_jk = Σ_b δ_bk x_bj, i.e.
#   **∂L/∂W = xᵀ δ** — shapes (n_in × B)(B × n_out) = n_in × n_out, the shape of W;
# - ∂y_bk/∂b_k = 1 for every row b, hence **∂L/∂b = Σ_b δ_b** (a sum over the
#   batch: the bias is shared by all rows), shape n_out;
# - ∂y_bk/∂x_bj = W_jk, hence ∂L/∂x_bj = Σ_k δ_bk W_jk, i.e. **∂L/∂x = δ Wᵀ** —
#   (B × n_out)(n_out × n_in) = B × n_in, the shape of x.
#
# A useful habit: if you forget a formula, write the only product of the
# available arrays that has the right shape. It is almost always the answer.
#
# To have a concrete L, take the one mfcore's `check_layer` uses: a fixed
# random array R of y's shape and L = Σ_bk y_bk R_bk. Then δ = R exactly,
# and every entry of y matters.

# %%
show_source(Dense.backward)

R = rng.normal(size=y.shape)                    # δ = ∂L/∂y for L = sum(y * R)
dx = dense.backward(R)
by_hand = {"kernel": x.T @ R, "bias": R.sum(axis=0), "x": R @ dense.params["kernel"].T}
for name, mine in by_hand.items():
    theirs = dx if name == "x" else dense.grads[name]
    print(f"dL/d{name:<6} shape {str(mine.shape):8}  by hand == layer: {np.array_equal(mine, theirs)}")

# %% [markdown]
# Equal to the last bit, but that only shows the package and this notebook
# agree with each other. Both could be wrong. The independent check is
# numerical.
#
# ## 3. Checking numerically: central differences
#
# For any single entry θ_j of any array, the derivative can be estimated from
# two evaluations of L alone:
#
# $$ \hat g_j = \frac{L(\theta + \epsilon e_j) - L(\theta - \epsilon e_j)}{2\epsilon} $$
#
# Taylor expansion gives an error of order ε² for this *central* difference,
# against order ε for the one-sided (L(θ + εe_j) − L(θ))/ε. But ε cannot be
# made arbitrarily small: L itself carries a rounding error of about
# 10⁻¹⁶·|L| in float64 (about 10⁻⁷·|L| in float32), and dividing by 2ε
# magnifies it. The total error is roughly ε² (truncation) + 10⁻¹⁶/ε
# (rounding), smallest near ε = 10⁻⁵...10⁻⁶. In float32 the rounding term is
# a billion times larger: at ε = 10⁻⁶ the estimate is mostly noise, and even
# the best ε (a large one, found by trial) leaves errors far above the 10⁻⁶
# that separates a correct gradient from a slightly wrong one. That is why
# gradient checks run in float64 (`numerical_gradient` refuses anything else).
#
# The sweep below uses a loss with curvature (tanh of the layer's output, so
# that truncation error is visible) and measures the error of both formulas
# on one kernel entry, in float64 and in float32.

# %%
W = dense.params["kernel"]
j0 = (1, 2)                                   # the entry we differentiate


def curved_loss(Wm, xm, Rm):
    return np.sum(np.tanh(xm @ Wm + dense.params["bias"].astype(Wm.dtype)) * Rm)


t = np.tanh(x @ W + dense.params["bias"])
exact = (x.T @ (R * (1 - t * t)))[j0]         # chain rule through tanh: dtanh = 1 - tanh²
sweep = {"central, float64": [], "one-sided, float64": [], "central, float32": []}
for eps in EPS_GRID:
    for label in sweep:
        dt = np.float32 if "32" in label else np.float64
        Wp, Wm_ = W.astype(dt), W.astype(dt)
        Wp[j0] += dt(eps)
        if label.startswith("central"):
            Wm_[j0] -= dt(eps)
            step = (Wp[j0] - Wm_[j0])          # the step actually taken, after rounding
        else:
            step = Wp[j0] - W.astype(dt)[j0]
        args = (x.astype(dt), R.astype(dt))
        diff = curved_loss(Wp, *args) - curved_loss(Wm_, *args)
        est = diff / step if step != 0 else np.nan
        sweep[label].append(abs(float(est) - exact) / abs(exact))
sweep = {k: np.array(v) for k, v in sweep.items()}
for label, errs in sweep.items():
    best = np.nanargmin(errs)
    print(f"{label:>20}: best relative error {errs[best]:.1e} at eps = {EPS_GRID[best]:.0e}")

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
for label, errs in sweep.items():
    ax.loglog(EPS_GRID, errs, marker="o", markersize=3, label=label)
ax.axvline(1e-6, color="grey", linestyle=":", linewidth=1)
ax.annotate("mfcore's eps", (1e-6, ax.get_ylim()[1]), fontsize=8, color="grey", ha="left", va="top")
ax.set_xlabel("step eps")
ax.set_ylabel("relative error of the estimate")
ax.set_title("Finite differences: truncation vs rounding")
ax.legend()
show(fig, "finite_difference_error")

# %% [markdown]
# The V shapes are the two error sources meeting: truncation on the right,
# rounding on the left. The central float64 curve bottoms out many orders of
# magnitude below the other two, and ε = 10⁻⁶ sits near its bottom. The
# float32 curve is useless at that ε, and its best point, far to the right, is
# luck as much as design (the truncation error there is already large).
#
# mfcore's checker does this for *every* entry of every array and compares
# entry by entry with a relative error (with a floor, so that entries whose
# true gradient is 0 are judged against the array's scale instead of dividing
# noise by zero). Its docstring explains one more trick: the loss may return
# its *terms*, summed exactly with `math.fsum`, so that terms that did not
# move cancel exactly.

# %%
show_doc(inspect.getdoc(gradcheck).split("\n\nThe floor")[0])
print()
show_source(numerical_gradient)

# %%
dense_check = check_layer(dense, x, rng=SEED)
print(dense_check)

# %% [markdown]
# Relative errors between 10⁻¹⁰ and 10⁻⁸ on x, W and b. To see what a *wrong* gradient
# looks like, forget that the bias is shared and use only the first row of δ:

# %%
wrong = dict(dense.grads, bias=R[0])
wrong_check = check_gradients(lambda: dense.forward(x) * R, {"bias": dense.params["bias"]},
                              {"bias": wrong["bias"]})
print("bias gradient taken from one row only:", wrong_check)

# %% [markdown]
# ### Kinks
#
# A central difference assumes the function is smooth on [θ − ε, θ + ε]. ReLU
# is not, at 0: if an input sits within ε of 0, one evaluation sees slope 1
# and the other slope 0, and the estimate is neither. The analytic backward is
# not wrong there; the check is. So the tests (and we) draw inputs and then
# push them away from 0.

# %%
relu = ReLU()
z = rng.normal(size=(B, N_OUT))
z_kink = z.copy()
z_kink[0, 0] = 3e-7                            # closer to the kink than eps = 1e-6
kink_check = check_layer(relu, z_kink, rng=SEED)
z_safe = z + 0.1 * np.sign(z)                 # every |z| >= 0.1
relu_check = check_layer(relu, z_safe, rng=SEED)
print("ReLU, one input at 3e-7: ", kink_check)
print("ReLU, inputs |z| >= 0.1: ", relu_check)

# %% [markdown]
# ## 4. The Embedding layer
#
# An embedding is a table W (n × K) and a batch of integer ids x (B,). Its
# forward pass is a lookup, y_b = W_{x_b} (B × K): in tutorial 04 these are
# the rows p_u and q_i. Backward: y_b depends only on row x_b, with
# ∂y_bk/∂W_rk = 1 if x_b = r, else 0. So
#
# $$ \frac{\partial L}{\partial W_r} = \sum_{b:\, x_b = r} \delta_b $$
#
# a **sum** over every position of the batch that holds id r, and 0 for rows
# not in the batch. There is no gradient with respect to the ids (they are
# not continuous). mfcore returns it as a `RowGrad`: the touched rows only,
# repeated ids already summed.

# %%
show_doc(inspect.getdoc(Embedding).split("\n\n")[1])
show_source(Embedding.forward)
show_source(Embedding.backward)

# %% [markdown]
# Our batch `IDS` holds id 1 three times. The tempting NumPy line
# `G[ids] += delta` is wrong for exactly that case: fancy-index assignment
# writes each repeated row once, the last write wins, so two of the three
# contributions vanish. `np.add.at` (or the Numba loop `scatter_add_rows`)
# accumulates every one.

# %%
emb = Embedding(N_ROWS, K, rng=SEED)
y_emb = emb.forward(IDS)
delta = rng.normal(size=y_emb.shape)           # some ∂L/∂y, (B, K)
emb.backward(delta)

G_fancy = np.zeros((N_ROWS, K))
G_fancy[IDS] += delta                         # buggy: repeated ids overwrite each other
G_addat = np.zeros((N_ROWS, K))
scatter_add_rows(G_addat, IDS, delta)          # np.add.at
G_sum = delta[IDS == 1].sum(axis=0)            # row 1 by the formula: sum over its 3 positions
print("row 1 by the formula:  ", G_sum)
print("row 1 with np.add.at:  ", G_addat[1])
print("row 1 with G[ids] += d:", G_fancy[1], "(only the last occurrence)")
print("layer's RowGrad rows:", emb.grads["embeddings"].rows)
scatter_ok = np.allclose(emb.grads["embeddings"].to_dense(), G_addat) and np.allclose(G_addat[1], G_sum)
fancy_wrong = not np.allclose(G_fancy[1], G_sum)
print(f"layer == add.at == formula: {scatter_ok};  fancy indexing wrong: {fancy_wrong}")

# %%
emb_check = check_layer(emb, IDS, rng=SEED)
print(emb_check)

# %% [markdown]
# Rows 2, 3 and 5 are not in the batch: their analytic gradient is 0, and the
# finite differences agree (perturbing an unused row changes nothing).
#
# ## 5. The two together, end to end
#
# A tiny network: look up an embedding row for each id, pass it through the
# Dense layer (K → n_out), compare with targets under the batch-mean squared
# error of `mfcore.nn.losses.mse`. Backward runs the layers in reverse, each
# feeding its ∂L/∂input to the layer before. One check covers the table, the
# kernel and the bias at once.

# %%
dense2 = Dense(K, N_OUT, rng=SEED)
dense2.params["bias"][:] = rng.normal(size=N_OUT)
layers = {"emb": emb, "dense": dense2}
target = rng.normal(size=(B, N_OUT))


def forward_loss():
    return mse(dense2.forward(emb.forward(IDS)), target)   # (value, dL/dy)


value, dy = forward_loss()
emb.backward(dense2.backward(dy))
params, grads = collect(layers)
print(f"loss {value:.4f}; parameters: {[f'{k} {v.shape}' for k, v in params.items()]}")
chain_check = check_gradients(lambda: forward_loss()[0], params, grads)
print(chain_check)

max_rel_errors = {"dense": dense_check.max_rel, "embedding": emb_check.max_rel,
                  "relu (away from 0)": relu_check.max_rel, "embedding -> dense": chain_check.max_rel}
for name, err in max_rel_errors.items():
    print(f"{name:>20}: max relative error {err:.1e}")

# %% [markdown]
# ## 6. One optimizer step, by hand
#
# Keras' SGD with momentum m keeps a velocity v per weight (zero at the
# start) and, after each batch with gradient g,
#
# $$ v \leftarrow m\, v - \eta\, g, \qquad w \leftarrow w + v $$
#
# For an embedding, Keras applies this to the *whole* table: g is the dense
# gradient (0 outside the batch). A row that was in an earlier batch has a
# velocity, so it keeps moving even when its gradient is 0. We take two steps
# with different batches and follow row 4: in the first batch, not in the
# second.

# %%
show_source(SGD._update)

ids_2 = np.array([0, 1, 3, 3, 5])             # the second batch: no id 4
snap = {k: v.copy() for k, v in params.items()}


def batch_grads(ids):
    """Forward and backward of one batch; dense gradients by name."""
    _, dy = mse(dense2.forward(emb.forward(ids)), target)
    emb.backward(dense2.backward(dy))
    _, g = collect(layers)
    return {k: (v.to_dense() if isinstance(v, RowGrad) else v.copy()) for k, v in g.items()}


# by hand, on copies
w_hand = {k: v.copy() for k, v in snap.items()}
vel = {k: np.zeros_like(v) for k, v in snap.items()}
opt = SGD(lr=LR, momentum=MOMENTUM)
moved = []
for step, ids in enumerate((IDS, ids_2), start=1):
    for k in snap:                             # the layers read the current weights
        params[k][...] = w_hand[k]
    g = batch_grads(ids)
    for k in w_hand:
        vel[k] = MOMENTUM * vel[k] - LR * g[k]
        w_hand[k] = w_hand[k] + vel[k]
    moved.append(np.abs(vel["emb/embeddings"][4]).max())

# with mfcore's optimizer, from the same start
for k, v in snap.items():
    params[k][...] = v
for ids in (IDS, ids_2):
    _, dy = mse(dense2.forward(emb.forward(ids)), target)
    emb.backward(dense2.backward(dy))
    opt.step(*collect(layers))
sgd_diff = max(np.abs(params[k] - w_hand[k]).max() for k in params)
sgd_match = sgd_diff < 1e-15
print(f"after two steps, max |mfcore - by hand| = {sgd_diff:.1e}")
print(f"row 4 moved by {moved[0]:.2e} at step 1 (in the batch) and {moved[1]:.2e} at step 2 "
      f"(not in the batch: momentum {MOMENTUM} x the previous step)")
ghost_row_moved = moved[1] > 0

# %% [markdown]
# The second figure is exactly 0.9 times the first: pure momentum. With
# `SGD(lazy=True)` (TensorFlow's sparse update) only the batch's rows and
# their velocities are touched, so row 4 would stay put at step 2. Neither is
# wrong, but they are different algorithms, and tutorial 04's model follows
# the Keras curve only with the dense rule.
#
# ## Summary
#
# - Dense y = xW + b: ∂L/∂W = xᵀδ, ∂L/∂b = Σ_b δ_b, ∂L/∂x = δWᵀ. The shapes
#   alone almost dictate the formulas.
# - Embedding y_b = W_{x_b}: ∂L/∂W_r = Σ_{b: x_b = r} δ_b, a scatter-add;
#   `G[ids] += δ` silently drops repeated ids, `np.add.at` does not.
# - Central differences in float64 with ε = 10⁻⁶ estimate a gradient to about
#   10⁻¹⁰; a correct backward gives relative errors far below 10⁻⁶, a wrong one
#   of order 1. Float32 is hopeless at that ε. Keep inputs away from kinks, or
#   the check (not the backward) fails.
# - Keras' momentum SGD, v ← mv − ηg, w ← w + v, on whole tables: rows outside
#   the batch keep moving along their velocity.
#
# ## Exercises
#
# 1. Derive and check the backward pass of `mfcore.nn.Dot` (row-wise dot
#    product of two (B, K) inputs), the layer behind p_u · q_i. Compare with
#    `inspect.getsource(mfcore.nn.Dot.backward)`.
# 2. Introduce a bug in a copy of the Dense backward (say, ∂L/∂x = δW instead
#    of δWᵀ with n_in = n_out so that the shapes still fit). How large is the
#    relative error the checker reports?
# 3. Re-run the sweep of section 3 with a loss that is linear in W (drop the
#    tanh). Why does the truncation side of the V disappear?
# 4. Replace `SGD(lr=LR, momentum=MOMENTUM)` by `SGD(..., lazy=True)` in
#    section 6. Does row 4 move at step 2? Do the two rules agree for the
#    Dense kernel?
# 5. Check `mfcore.nn.Sigmoid` at an input of 40. What goes wrong, and is it
#    the backward pass or the check?
#
# ### Checked exercises
#
# Three exercises check themselves (`mfcore.exercises.t05`). Write the
# function, then run its checker: it runs your function next to mfcore's own on
# small seeded cases and names the first wrong number (which output, which
# index, expected and got) and the likely mistake.
#
# - `dense_backward(x, W, b, delta)`: section 2's three formulas.
# - `embedding_backward(ids, delta, n_rows)`: section 4's scatter-add.
# - `dot_backward(a, b, delta)`: the backward pass of exercise 1 above.
#
# In a notebook: `from mfcore.exercises import t05; t05.check_dense_backward(dense_backward)`.
# From a console: `mfcore exercises template t05 -o my_t05.py` writes the stubs
# with their tasks, `mfcore exercises check t05 my_t05.py` checks them
# (`python -m mfcore.exercises` is the same command).
