# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 09 · Restricted Boltzmann machines for collaborative filtering
#
# An RBM is not trained to predict anything. It is a probability distribution
# over binary vectors, with hidden units that explain the correlations between
# visible ones, and it is trained to make the data likely. Salakhutdinov, Mnih
# and Hinton (ICML 2007) turned it into a recommender for the Netflix Prize:
# one softmax unit per rated film, five states for five stars, and a rating
# predicted as an expectation. This tutorial checks the machinery on a model
# small enough to enumerate, runs one step of contrastive divergence by hand,
# trains the softmax RBM on ML-100k, and then takes apart the RBM of the toy
# notebook.
#
# **You will learn**
#
# - the energy of an RBM, its two conditionals and its free energy, each
#   checked by brute-force enumeration;
# - contrastive divergence (CD-k), computed by hand on a tiny example with the
#   same random draws that mfcore's kernels use;
# - the collaborative-filtering RBM: rating levels as softmax states, missing
#   ratings as absent units, prediction by expected rating, and why mfcore
#   defaults to the item-based orientation with weights shared across units;
# - what the toy notebook's RBM got wrong, and how `BernoulliRBM` fixes it.
#
# **Prerequisites**: tutorial 00 (notation, the observed-mask) and tutorial 05
# (gradients, momentum). Probability: Bayes' rule, expectations.

# %% [markdown]
# ## Constants

# %%
import inspect
import itertools
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mfcore import Biases, GlobalMean, plots
from mfcore.data import load_dataset, random_split
from mfcore.engines import rbm_jit
from mfcore.engines.optim_numpy import sgd_step
from mfcore.tutorial.toy import TOY_R
from mfcore.engines.rbm_numpy import cd_batch_numpy, free_energy, momentum_step_numpy, visible_probs
from mfcore.models import rbm
from mfcore.models.rbm import BernoulliRBM, SoftmaxRBM
from mfcore.tutorial import (Figures, FullRun, find_results, plot_full_run, show_doc, show_source,
                             tutorial_dataset)

SEED = 42
FAST = os.environ.get("MFCORE_FAST") == "1"
N_EPOCHS = 80 if not FAST else 3            # the softmax RBM's default is 80
N_EPOCHS_BERN = 50 if not FAST else 3       # the Bernoulli RBM's default is 50
N_CD_DRAWS = 4000 if not FAST else 500      # draws averaged in the CD-vs-exact comparison
N_TOY_STEPS = 60                            # updates of the toy notebook's flawed RBM
N_VIS, N_HID = 4, 3                         # the tiny Bernoulli RBM: 2^7 = 128 joint states
RUN = FullRun(9, FAST)                      # fast mode prints the full run's results beside its own

ML100K, DATASET = tutorial_dataset(
    'It has half stars: 10 rating levels. The reference figures below were measured '
    'on ML-100k and do not apply to it.')


RESULTS = find_results(Path(__file__).parent if "__file__" in globals() else None)
FIGURES = Figures(9)
FIG_DIR = FIGURES.dir
show = FIGURES.show
np.set_printoptions(precision=4, suppress=True)

rng = np.random.default_rng(SEED)
print(f"dataset: {DATASET}   fast mode: {FAST}")

# %% [markdown]
# ## 1. Energy, conditionals, free energy
#
# A Bernoulli RBM has visible units v ∈ {0, 1}ⁿ, hidden units h ∈ {0, 1}^F,
# weights W (n × F) and biases b (visible) and b_h (hidden). It gives every
# joint state an energy and a probability:
#
# $$ E(v, h) = -v^T W h - b^T v - b_h^T h, \qquad p(v, h) = \frac{e^{-E(v, h)}}{Z},\quad Z = \sum_{v, h} e^{-E(v, h)} $$
#
# "Restricted" means no visible–visible and no hidden–hidden weights. That
# makes the units of one layer independent given the other, and each
# conditional a sigmoid:
#
# $$ p(h_f = 1 \mid v) = \sigma(b_{h,f} + v^T W_{\cdot f}), \qquad p(v_i = 1 \mid h) = \sigma(b_i + W_{i \cdot} h) $$
#
# Summing h out in closed form gives the free energy, with p(v) ∝ e^{−F(v)}:
#
# $$ F(v) = -b^T v - \sum_f \log\left(1 + e^{b_{h,f} + v^T W_{\cdot f}}\right) $$
#
# mfcore stores W as (items, K, F) so that the same code serves softmax units
# with K levels; a Bernoulli unit is K = 1. The module docstring has the
# general forms (R1)–(R3):

# %%
doc = inspect.getdoc(rbm)
show_doc(doc[:doc.index("(R4)")].rstrip())
print()
show_source(free_energy)

# %% [markdown]
# With 4 visible and 3 hidden units there are only 2⁷ = 128 joint states. We
# enumerate them all, compute Z by brute force, and compare every quantity
# above with the formulas.

# %%
W = rng.normal(scale=1.0, size=(N_VIS, 1, N_HID))       # (items, K=1, F)
bv = rng.normal(scale=0.5, size=(N_VIS, 1))             # (items, 1)
bh = rng.normal(scale=0.5, size=N_HID)                  # (F,)
Wm = W[:, 0, :]                                         # the plain (n, F) matrix
vs = np.array(list(itertools.product([0, 1], repeat=N_VIS)), dtype=float)   # (16, 4)
hs = np.array(list(itertools.product([0, 1], repeat=N_HID)), dtype=float)   # (8, 3)
E = -(vs @ Wm @ hs.T) - (vs @ bv[:, 0])[:, None] - (hs @ bh)[None, :]      # (16, 8) energies
joint = np.exp(-E) / np.exp(-E).sum()                   # p(v, h)
p_v = joint.sum(axis=1)                                 # (16,) marginal of v, by brute force

items = np.arange(N_VIS)
F_formula = np.array([free_energy(items, v[:, None], W, bv, bh) for v in vs])   # (R3)
F_brute = -np.log(np.exp(-E).sum(axis=1))               # -log sum_h e^{-E(v, h)}
p_v_formula = np.exp(-F_formula) / np.exp(-F_formula).sum()

# p(h_f = 1 | v): brute force = sum of p(v, h) over h with h_f = 1, divided by p(v)
ph_brute = (joint @ hs) / p_v[:, None]                  # (16, 3)
ph_formula = 1 / (1 + np.exp(-(bh + vs @ Wm)))
# p(v_i = 1 | h) likewise, against the package's (R1)
pv_brute = (joint.T @ vs) / joint.sum(axis=0)[:, None]  # (8, 4)
pv_formula = visible_probs((bv[:, 0] + hs @ Wm.T)[..., None])[..., 0]

checks = {
    "free energy F(v)": np.abs(F_formula - F_brute).max(),
    "p(v) from e^-F": np.abs(p_v_formula - p_v).max(),
    "p(h=1|v)": np.abs(ph_formula - ph_brute).max(),
    "p(v=1|h)": np.abs(pv_formula - pv_brute).max(),
}
for name, err in checks.items():
    print(f"{name:>18}: max |formula - enumeration| = {err:.1e}")
fe_max_diff = checks["free energy F(v)"]

# %% [markdown]
# ### Softmax units
#
# The collaborative-filtering RBM replaces each binary visible unit by a
# softmax unit with K states (one per rating level): v_i is one-hot, and
# p(v_i = c | h) is a softmax over c of b_ic + Σ_f W_icf h_f. The same
# enumeration check, with 2 items × 3 levels (3² visible states) and the same
# 3 hidden units:

# %%
K3 = 3
Ws = rng.normal(size=(2, K3, N_HID))
bvs = rng.normal(scale=0.5, size=(2, K3))
onehots = np.array([np.eye(K3)[[a, b]] for a in range(K3) for b in range(K3)])   # (9, 2, 3)
Es = -(np.einsum("sic,icf,hf->sh", onehots, Ws, hs) + np.einsum("sic,ic->s", onehots, bvs)[:, None]
       + (hs @ bh)[None, :])                            # (9, 8)
Fs_brute = -np.log(np.exp(-Es).sum(axis=1))
Fs_formula = np.array([free_energy(np.arange(2), V, Ws, bvs, bh) for V in onehots])
joint_s = np.exp(-Es) / np.exp(-Es).sum()
h_pick = 5                                              # one hidden state: p(item 0 = c | h)
p_item0_brute = np.array([joint_s[[s for s in range(9) if onehots[s, 0, c] == 1], h_pick].sum()
                          for c in range(K3)]) / joint_s[:, h_pick].sum()
p_item0_formula = visible_probs(bvs[0] + Ws[0] @ hs[h_pick])
fe_softmax_diff = np.abs(Fs_formula - Fs_brute).max()
print(f"softmax free energy: max diff {fe_softmax_diff:.1e}")
print(f"p(item 0 = level c | h={hs[h_pick]}): enumeration {p_item0_brute}, (R1) {p_item0_formula}")

# %% [markdown]
# ## 2. Contrastive divergence by hand
#
# Training maximises the log-likelihood of the data. Its gradient for one
# data vector v⁰ is a difference of two expectations,
#
# $$ \frac{\partial \log p(v^0)}{\partial W_{if}} = v^0_i\, p(h_f = 1 \mid v^0) - \mathbb{E}_{p(v)}\left[v_i\, p(h_f = 1 \mid v)\right] $$
#
# The first is cheap. The second needs the model's whole distribution: we
# could enumerate it above, never on real data. CD-k replaces it by one sample
# v^k from a short Gibbs chain started at the data: h ~ p(h | v⁰), v¹ ~
# p(v | h), ... k times. mfcore's statistics (R4), and the update (R5):

# %%
show_doc(doc[doc.index("(R4)"):doc.index("Prediction for")].rstrip())

# %% [markdown]
# Now one CD-1 step on a batch of two "users" of our tiny model: the first
# rated all four items, the second only items 0 and 2 (its other units are
# absent, not zero). mfcore never draws random numbers inside a kernel: the
# uniforms are drawn here, from a seeded generator, and passed in. A hidden
# unit is on when its uniform is below its probability. So we can do the
# same arithmetic by hand, with the same draws, and compare.

# %%
indptr = np.array([0, 4, 6])                            # CSR: user 0 -> entries 0..3, user 1 -> 4..5
rated = np.array([0, 1, 2, 3, 0, 2])                    # item of each entry
vdata = np.array([[1.], [0.], [1.], [1.], [0.], [1.]])  # the data v0, one value per entry (K = 1)
users = np.array([0, 1])
k = 1
draws = np.random.default_rng(SEED)
Uh = draws.random((k, users.size, N_HID))               # (k, B, F) hidden uniforms
Uv = draws.random((k, rated.size))                      # (k, nnz_B) visible uniforms


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


gW_hand, gbv_hand, gbh_hand = np.zeros_like(W), np.zeros_like(bv), np.zeros_like(bh)
for b, u in enumerate(users):
    its, v0 = rated[indptr[u]:indptr[u + 1]], vdata[indptr[u]:indptr[u + 1], 0]
    p0 = sigmoid(bh + v0 @ Wm[its])                     # positive phase, (R2)
    h = (Uh[0, b] < p0).astype(float)                   # sample the hidden units
    pv = sigmoid(bv[its, 0] + Wm[its] @ h)              # reconstruction probabilities, (R1)
    v1 = (Uv[0, indptr[u]:indptr[u + 1]] < pv).astype(float)   # sample the visible units
    p1 = sigmoid(bh + v1 @ Wm[its])                     # negative phase
    print(f"user {u}: v0 {v0}  h {h}  v1 {v1}")
    gW_hand[its, 0, :] += np.outer(v0, p0) - np.outer(v1, p1)
    gbv_hand[its, 0] += v0 - v1
    gbh_hand += p0 - p1

grads_np = [np.zeros_like(W), np.zeros_like(bv), np.zeros_like(bh)]
grads_jit = [np.zeros_like(W), np.zeros_like(bv), np.zeros_like(bh)]
levels = np.ones(1)
cd_batch_numpy(indptr, rated, vdata, users, W, bv, bh, k, Uh, Uv, levels, *grads_np)
rbm_jit.cd_batch(indptr, rated, vdata, users, W, bv, bh, k, Uh, Uv, levels, *grads_jit)
cd_hand_diff = max(np.abs(a - b).max() for a, b in zip((gW_hand, gbv_hand, gbh_hand), grads_np))
cd_jit_diff = max(np.abs(a - b).max() for a, b in zip(grads_np, grads_jit))
print(f"by hand vs NumPy kernel: {cd_hand_diff:.1e};  NumPy vs Numba kernel: {cd_jit_diff:.1e}")

# %% [markdown]
# The statistics are summed over the batch; the update (R5) divides by the
# batch size and adds momentum and weight decay (on W only):

# %%
show_source(momentum_step_numpy)
show_source(sgd_step)   # the one SGD rule every model in mfcore uses

# %% [markdown]
# ### How good is the CD estimate?
#
# CD-1 is biased: its chain has barely left the data. On the tiny model we can
# compute the exact gradient of the average log-likelihood of our two users
# (enumerating the model expectation), and compare it with CD-1 and CD-5
# averaged over many draws. Only user 0, who rated every item, enters this
# comparison: the exact expectation for a user with absent units would need
# the model restricted to its items. A correct implementation points in the
# same direction as the true gradient.

# %%
v0_full = vdata[:4, 0]
p0_full = sigmoid(bh + v0_full @ Wm)
model_term = np.einsum("s,si,sf->if", p_v, vs, ph_formula)      # E_p(v)[v p(h|v)^T]
exact_gW = np.outer(v0_full, p0_full) - model_term


def mean_cd(k_steps, n_draws, gen):
    gW, gbv_, gbh_ = np.zeros_like(W), np.zeros_like(bv), np.zeros_like(bh)
    one = np.array([0])
    for _ in range(n_draws):
        rbm_jit.cd_batch(indptr, rated, vdata, one, W, bv, bh, k_steps,
                         gen.random((k_steps, 1, N_HID)), gen.random((k_steps, 4)), levels, gW, gbv_, gbh_)
    return gW[:, 0, :] / n_draws


def cosine(a, b):
    return float(np.sum(a * b) / np.linalg.norm(a) / np.linalg.norm(b))


cd1_gW = mean_cd(1, N_CD_DRAWS, np.random.default_rng(SEED))
cd5_gW = mean_cd(5, N_CD_DRAWS, np.random.default_rng(SEED + 1))
cd_cosine = {"CD-1": cosine(cd1_gW, exact_gW), "CD-5": cosine(cd5_gW, exact_gW)}
print("exact dlogp/dW:\n", exact_gW)
print("mean CD-1 statistic:\n", cd1_gW)
RUN.show("cd cosine", f"{ {name: round(c, 3) for name, c in cd_cosine.items()} } (cosine similarity with the "
                      f"exact gradient, {N_CD_DRAWS} draws)")

# %% [markdown]
# Both estimates point in the direction of the true gradient; the longer
# chain, whose sample is closer to a draw from the model, agrees better. This
# is why mfcore, like the paper, lets k grow during training
# (`cd_k`, `cd_k_max`, `cd_k_every`).
#
# ## 3. The softmax RBM on MovieLens
#
# For ratings, Salakhutdinov et al. give each user one RBM whose visible
# units are the films *that user rated*, each a softmax over the K rating
# levels; all users share W, b and b_h. A missing rating is not a unit at all,
# so it costs nothing and says nothing, the same lesson as AutoRec's masked
# loss. The levels come from the data's rating scale, so half-star data gets
# 10 states with no change of code:

# %%
ratings = load_dataset(DATASET)
train, test = random_split(ratings, test_size=0.2, rng=SEED)
print(f"{DATASET}: train {len(train):,}, test {len(test):,} (random 80/20, rng={SEED})")
print(f"scale {train.scale}: levels {train.scale.levels}")
show_source(SoftmaxRBM._encode)

# %% [markdown]
# A prediction for (u, q) runs the data up once and the expectation down: the
# mean-field hidden probabilities p̂ = p(h = 1 | v_u) from u's training
# ratings, then the softmax of item q given p̂, then its mean:
#
# $$ \hat r_{uq} = \sum_c \text{level}_c\; p(v_{qc} = 1 \mid \hat p) $$
#
# An expected rating, not a sample and not the most likely level: it is what
# minimises squared error.
#
# **Orientation.** The paper's "cases" are users; each user is one training
# example. ML-100k has only 943 users for 1,682 items, so a user-based RBM has
# 943 examples to fit W (1,682 × 5 × F weights), and an item rated by a few
# dozen users cannot learn from them how lenient a user is. Tuned on a holdout
# of the training part (never on test), the paper's model as published never
# beat the biases baseline: weak weight decay overfits, strong decay leaves
# only the item means. Two changes fix that, and mfcore uses both by default:
#
# - **shared weights** (R6, an addition to the paper): W = A + S, with one
#   (K × F) block S shared by every visible unit and the weight decay on A
#   only, so a rarely rated unit's weights shrink towards S, not towards 0.
#   This lets the user-based RBM beat the biases baseline;
# - **the item-based orientation**: the same model on the transposed matrix,
#   one RBM per *item* over the users who rated it, as I-AutoRec does: more
#   cases (1,638 items) and more ratings per visible unit (a user). It is the
#   better of the two, so it is the default.
#
# The docstring records the settings tried and the measured numbers:

# %%
doc_s = inspect.getdoc(SoftmaxRBM)
show_doc(doc_s[doc_s.index("item_based : bool"):doc_s.index("early_stopping,")].rstrip())

# %%
soft = SoftmaxRBM(n_epochs=N_EPOCHS, rng=SEED)
print(soft)
soft.fit(train, monitor=test)
res_soft = soft.evaluate(test)
RUN.show("softmax", f"softmax RBM (item-based): test RMSE {res_soft['rmse']:.4f} after {N_EPOCHS} epochs, "
                    f"{np.sum(soft.history_['seconds']):.1f} s")

# %% [markdown]
# The expected rating by hand, for the first test pair, from the fitted
# arrays. With `item_based=True` the case is the item: its hidden code is
# `hidden_[i]`, and the user is a visible unit with weights `W_[u]`.

# %%
u0, i0 = int(test.users[0]), int(test.items[0])
act = soft.bv_[u0] + soft.W_[u0] @ soft.hidden_[i0]     # (K,) activation of user u0's unit
probs = visible_probs(act)
r_hand = float(probs @ soft.levels_)
r_model = float(soft.predict(np.array([u0]), np.array([i0]))[0])
expected_matches = abs(r_hand - r_model) < 1e-12
print(f"p(level | item code) = {probs}; expected rating {r_hand:.4f}; model.predict {r_model:.4f}; "
      f"real rating {test.values[0]:.0f}")

# %% [markdown]
# ## 4. What the toy notebook's RBM got wrong
#
# The toy notebook trains a Bernoulli RBM directly on the 1–5 rating matrix,
# with missing ratings as zeros, samples units with a sign trick
# (relu(sign(p − U)), U from TensorFlow's unseeded global generator) and calls
# the sampled binary reconstruction its prediction. The sign trick as such is
# a correct sampler (it is 1 exactly when U < p); the harm is that the draws
# are unseeded and that a *sample* is used as a prediction, so two runs
# print different answers. The worse flaw is feeding ratings up to 5 into
# units whose mean is at most 1. mfcore's own kernels can show what happens:
# give them raw ratings as if they were binary data and run CD-1 updates.

# %%
toy_R = np.asarray(TOY_R, dtype=float)                  # the toy notebook's 5 x 4 matrix (tutorial 02)
t_users, t_items = np.nonzero(toy_R)
t_indptr = np.concatenate([[0], np.cumsum(np.bincount(t_users, minlength=toy_R.shape[0]))])
t_vdata = toy_R[t_users, t_items][:, None]              # raw ratings, 1..5, into binary units
n_toy_users, n_toy_items = toy_R.shape
tW = np.random.default_rng(SEED).normal(scale=0.01, size=(n_toy_items, 1, 2))
tbv, tbh = np.zeros((n_toy_items, 1)), np.zeros(2)
params = (tW, tbv, tbh)
vel = [np.zeros_like(p) for p in params]
grads = [np.zeros_like(p) for p in params]
toy_gen = np.random.default_rng(SEED)
bias_path = []
for step in range(N_TOY_STEPS):
    cd_batch_numpy(t_indptr, t_items, t_vdata, np.arange(n_toy_users), *params, 1,
                   toy_gen.random((1, n_toy_users, 2)),
                   toy_gen.random((1, t_items.size)), levels, *grads)
    for p, v, g in zip(params, vel, grads):
        momentum_step_numpy(p, v, g, 0.1, 0.5, 0.0, n_toy_users)
    bias_path.append(tbv[:, 0].copy())
bias_path = np.array(bias_path)                          # (steps, items)
recon = visible_probs(tbv)[:, 0]                         # sigmoid of each item's bias
print("visible biases after each 20 updates:\n", bias_path[19::20])
print("p(v_i = 1) from the biases alone:", recon)
bias_grows = bool(np.all(np.diff(bias_path[-20:], axis=0) > 0))

# %% [markdown]
# Every visible bias climbs without stopping: the positive statistic is the
# rating (up to 5), the negative one a sample of at most 1, so their
# difference never changes sign. The reconstruction saturates at "all ones",
# which is what the notebook printed, and a 0/1 matrix is not a rating in any
# case. `BernoulliRBM` lists the fixes in its docstring:

# %%
doc_b = inspect.getdoc(BernoulliRBM)
show_doc(doc_b[doc_b.index("What the toy"):doc_b.index("Parameters and")].rstrip())

# %%
bern = BernoulliRBM(n_epochs=N_EPOCHS_BERN, rng=SEED)
bern.fit(train, monitor=test)
res_bern = bern.evaluate(test)
p_bern = bern.predict(test.users, test.items)
RUN.show("bernoulli", f"Bernoulli RBM (fixed): test RMSE {res_bern['rmse']:.4f} after {N_EPOCHS_BERN} epochs; "
                      f"predictions span {p_bern.min():.2f}..{p_bern.max():.2f}, a rating, deterministic")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
rbm_curves = {"softmax RBM": soft.history_["test_rmse_clipped"],
              "Bernoulli RBM (fixed)": bern.history_["test_rmse_clipped"]}
plots.plot_learning_curves(rbm_curves, ax=ax, ylabel="test RMSE (clipped to 1-5)")
plot_full_run(ax, RUN.curves("rbm curves", rbm_curves))
res_biases = Biases().fit(train).evaluate(test)
ax.axhline(res_biases["rmse"], color="grey", linestyle=":", linewidth=1)
ax.annotate("biases baseline", (1, res_biases["rmse"]), fontsize=8, color="grey", va="bottom")
ax.set_title(f"RBMs on {DATASET} 80/20")
show(fig, "rbm_curves")

# %% [markdown]
# ## 5. One table
#
# The committed full runs (`benchmarks/results/autorec_rbm.json`, default
# settings; the user-based row uses `rbm.USER_BASED`, the "plain W" rows
# `shared_weights=False`) next to this run. There is no Keras reference for the
# RBMs: Keras has no RBM layer, and the toy notebook's TensorFlow RBM produced
# no ratings to compare with.

# %%
bench = {}
if RESULTS is not None and (RESULTS / "autorec_rbm.json").is_file():
    bench = json.loads((RESULTS / "autorec_rbm.json").read_text())["accuracy_80_20"]
this_run = {"mean": GlobalMean().fit(train).evaluate(test)["rmse"], "biases": res_biases["rmse"],
            "rbm": res_soft["rmse"], "bernoulli-rbm": res_bern["rmse"]}
table = pd.DataFrame([{"model": name, "mfcore (full run)": bench.get(name, {}).get("rmse", np.nan),
                       "this run": this_run.get(name, np.nan)}
                      for name in ("mean", "biases", "biased-mf", "i-autorec", "rbm", "rbm user-based",
                                   "rbm item-based, no shared W", "rbm user-based, no shared W",
                                   "bernoulli-rbm")])
print(table.round(4).to_string(index=False))
if FAST:
    print(f"(fast mode: the RBMs ran {N_EPOCHS} epochs only)")

# %% [markdown]
# The default softmax RBM (item-based, shared weights) beats the biases
# baseline clearly (0.916 against 0.951) and nearly matches the tuned biased MF
# (0.910), but not I-AutoRec (0.898). The paper's user-based orientation also
# beats the baseline with shared weights and its own tuned settings (0.937),
# but not without them (0.963 for the best plain setting found on the
# holdout); the plain item-based RBM sits in between (0.932). The Bernoulli
# RBM, with one number per rating instead of five states, is worse than the
# baseline: a rating squeezed into a single probability loses the shape of the
# distribution (a film people either love or hate looks like a film everyone
# finds average).
#
# ## Summary
#
# - An RBM defines p(v, h) ∝ e^{−E(v, h)}; without intra-layer connections the
#   conditionals are sigmoids (or softmaxes) and h sums out into the free
#   energy F(v). On a tiny model, all of it matches brute-force enumeration.
# - CD-k estimates the log-likelihood gradient with a k-step Gibbs chain from
#   the data. mfcore draws the chain's uniforms in Python from a seeded
#   generator, so a CD step can be reproduced by hand, and the NumPy and Numba
#   kernels agree exactly.
# - The CF-RBM has one softmax unit per rated item, K = number of rating
#   levels; missing ratings are absent units; the prediction is the expected
#   rating under mean-field hidden activations.
# - On ML-100k (943 users) the paper's user-based RBM overfits or learns only
#   the item means, whatever the settings (0.963 at best, biases 0.951).
#   Sharing one block of weights across all visible units, with the decay
#   pulling each unit towards it, lifts it to 0.937; the item-based
#   orientation (cases = items) with shared weights, the default, reaches 0.916.
# - The toy notebook's RBM pushed 1–5 ratings into binary units (biases grow
#   without bound, the output is all ones) and predicted by unseeded sampling;
#   `BernoulliRBM` scales ratings to [0, 1], leaves missing ratings out and
#   predicts a deterministic expectation in rating units.
#
# ## Exercises
#
# 1. Extend the enumeration of section 1 to check ∂F(v)/∂b_h against the
#    formula −p(h = 1 | v).
# 2. In section 2, repeat the CD comparison with k = 1, 3, 10, 25. How fast
#    does the cosine approach 1?
# 3. Train `SoftmaxRBM(item_based=False, shared_weights=False, n_epochs=100)`
#    (the paper's model as published) with `reg` 0.001 and 0.1, passing
#    a validation split. Compare its train and validation curves: which one
#    overfits, and which one learns nothing beyond the item means?
# 4. Change the visible-bias update of section 4 to use ratings scaled to
#    [0, 1]. Do the biases settle?
# 5. Fit `BernoulliRBM(n_epochs=3, rng=0)` twice and check that the
#    predictions are identical; then change only `rng`. How much do they move?
#
# ### Checked exercises
#
# Two exercises check themselves (`mfcore.exercises.t09`). Write the
# function, then run its checker: it runs your function next to mfcore's own on
# small seeded cases and names the first wrong number (which output, which
# index, expected and got) and the likely mistake.
#
# - `cd1(V0, W, bv, bh, Uh, Uv)`:
#   section 2's CD-1 statistics for a batch of full binary vectors.
# - `free_energy(V, W, bv, bh)`:
#   (R3) for Bernoulli units, safe for large activations.
#
# In a notebook: `from mfcore.exercises import t09; t09.check_cd1(cd1)`.
# From a console: `mfcore exercises template t09 -o my_t09.py` writes the stubs
# with their tasks, `mfcore exercises check t09 my_t09.py` checks them
# (`python -m mfcore.exercises` is the same command).
