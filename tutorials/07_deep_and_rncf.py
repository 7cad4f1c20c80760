# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 07 · A deep model, and RNCF: when more network is not more accuracy
#
# Two more models from the seed notebooks. The Netflix notebook drops the dot
# product altogether: it concatenates the user and item vectors and lets a
# multilayer perceptron with batch normalisation and dropout work out the
# rating. The residual notebook's last model, RNCF ("reliability-based neural
# collaborative filtering", after Bobadilla, Alonso and Hernando, 2020), chains
# three networks: biased MF, a network that predicts how wrong biased MF is,
# and a network that uses that prediction to predict the rating again. Both
# are trained here on ML-100k's 80/20 split and put next to their Keras
# reference runs. Neither beats the humble models of tutorials 04 and 06, and
# the second half of the tutorial measures why RNCF cannot.
#
# **You will learn**
#
# - the deep model's architecture, layer by layer, and what batch
#   normalisation and dropout do differently in training and inference mode;
# - why the deep model's first epochs look so bad in inference mode (the
#   moving statistics lag behind), measured epoch by epoch;
# - RNCF's three stages, and the notebook's error-target bug: what stage 2
#   learns with and without it;
# - four measured reasons why RNCF's last stage ends worse than its first
#   stage alone.
#
# **Prerequisites**: tutorials 04 (the Keras regime), 05 (layers and their
# backward passes) and 06 (the residual model).

# %% [markdown]
# ## Constants
#
# As in tutorial 06 we ask OpenBLAS for one thread before NumPy is imported:
# the matrix products are small and a busy machine punishes threads that
# wait for each other. Fast mode (`MFCORE_FAST=1`, used by the tests) trains
# two epochs of everything and shrinks RNCF's dense layers; its numbers show
# the mechanics, not the accuracy.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import copy                                      # noqa: E402
import inspect                                   # noqa: E402
from pathlib import Path                         # noqa: E402

import matplotlib.pyplot as plt                  # noqa: E402
import numpy as np                               # noqa: E402
import pandas as pd                              # noqa: E402

from mfcore import Biases, GlobalMean, plots     # noqa: E402
from mfcore.data import load_dataset, random_split  # noqa: E402
from mfcore.models._neural import predict_net                     # noqa: E402
from mfcore.models.deep import DeepMF, DeepNet                    # noqa: E402
from mfcore.models.rncf import RNCF                               # noqa: E402
from mfcore.nn import BatchNormalization, Dropout                 # noqa: E402
from mfcore.reference import keras_curve                          # noqa: E402
from mfcore.tutorial import Figures, FullRun, find_results, plot_full_run, tutorial_dataset  # noqa: E402

SEED = 42                                      # the 80/20 split of the Keras reference
SPLIT = "random:0.2"
FAST = os.environ.get("MFCORE_FAST") == "1"
DEEP_EPOCHS = 25 if not FAST else 2            # the Netflix notebook's model: 25 epochs
RNCF_EPOCHS = 15 if not FAST else 2            # per stage, as in the residual notebook
RNCF_UNITS = (512, 256, 256) if not FAST else (64, 32, 32)   # stages 2 and 3
DEEP_BATCH = DeepMF().batch_size               # 1024
RUN = FullRun(7, FAST)                         # fast mode prints the full run's results beside its own

ML100K, DATASET = tutorial_dataset(
    'The Keras curves below are then the ones measured on ml-latest-small.')

RESULTS = find_results(Path(__file__).parent if "__file__" in globals() else None)
FIGURES = Figures(7)
FIG_DIR = FIGURES.dir
show = FIGURES.show

ratings = load_dataset(DATASET)
train, test = random_split(ratings, test_size=0.2, rng=SEED)
mu = float(train.values.mean())
LOW, HIGH = train.scale.low, train.scale.high  # predictions are clipped to the rating scale
u_tr, i_tr, r_tr = train.users.astype(np.int64), train.items.astype(np.int64), train.values
print(f"{DATASET}: train {len(train):,}, test {len(test):,} (random 80/20, rng={SEED}); "
      f"mu = {mu:.4f}; fast mode: {FAST}")

res_mean = GlobalMean().fit(train).evaluate(test)
biases = Biases().fit(train)
res_biases = biases.evaluate(test)
known_test = biases.known_mask(test.users, test.items)   # pairs whose user and item are in train
u_te, i_te, r_te = (test.users[known_test].astype(np.int64), test.items[known_test].astype(np.int64),
                    test.values[known_test])
print(f"baselines on this split: global mean {res_mean['rmse']:.4f}, biases {res_biases['rmse']:.4f}")

# %% [markdown]
# ## 1. The deep model
#
# The Netflix notebook's network, with K = 10:
#
# $$ h_0 = [p_u ; q_i], \quad
#    h_1 = \mathrm{Dropout}_{0.5}(\mathrm{ReLU}(\mathrm{BN}(h_0 W_1 + c_1))), \quad
#    h_2 = \mathrm{ReLU}(\mathrm{BN}(h_1 W_2 + c_2)), \quad
#    \hat r_{ui} = \mu + h_2 w_3 + c_3 $$
#
# with 512 and 128 hidden units. There is no dot product and no bias term:
# everything, including "this film is liked by everybody", has to be learned
# by the perceptron from the concatenated vectors. Training is tutorial 04's
# Keras regime (target r − μ, SGD 0.08 with momentum 0.9) with batches of
# 1024 ratings. Here are the layers of the readable NumPy graph (the default
# `engine="jit"` runs the same maths as one hand-fused epoch, each
# BN → ReLU → Dropout a single Numba pass, with the same numbers: its steps
# are listed in `mfcore/engines/deep_epoch.py`):

# %%
print(DeepMF())
demo_net = DeepNet(train.n_users, train.n_items, 10, (512, 128), True, 0.5,
                   np.random.default_rng(SEED), np.random.default_rng(SEED))
layer_rows = []
for name, layer in demo_net.layers.items():
    shapes = {k: v.shape for k, v in layer.params.items()}
    layer_rows.append({"layer": name, "type": type(layer).__name__,
                       "parameters": ", ".join(f"{k} {s}" for k, s in shapes.items()) or "-",
                       "count": sum(int(np.prod(s)) for s in shapes.values())})
layers = pd.DataFrame(layer_rows)
print(layers.to_string(index=False))
print(f"total {layers['count'].sum():,} weights, of which "
      f"{layers['count'][~layers['layer'].str.endswith('embedding')].sum():,} in the perceptron")

# %% [markdown]
# ## 2. Two layers that behave differently at training and at inference
#
# **Batch normalisation.** In training mode the layer standardises each unit
# over the *current batch* (mean μ_B, variance σ²_B), then scales and shifts
# by learned γ and β. The next layer therefore always sees inputs of a
# familiar scale, which lets SGD use a large step. But a prediction for one
# user and one film has no batch, so in inference mode the layer uses
# *moving* statistics instead, updated during training as
# m ← 0.99 m + 0.01 μ_B (likewise for the variance), starting at m = 0 and
# v = 1. A small layer fed with data far from (0, 1) shows the difference:

# %%
rng = np.random.default_rng(SEED)
center, spread = np.array([3.0, -1.0, 0.0, 10.0]), np.array([2.0, 0.5, 1.0, 4.0])
bn = BatchNormalization(4)
x = rng.normal(center, spread, size=(DEEP_BATCH, 4))
out_train = bn.forward(x, training=True)
out_infer = bn.forward(x, training=False)
print(pd.DataFrame({"input mean": x.mean(0), "input std": x.std(0),
                    "training mode: mean": out_train.mean(0), "training mode: std": out_train.std(0),
                    "inference mode: mean": out_infer.mean(0), "inference mode: std": out_infer.std(0),
                    "moving mean": bn.moving_mean}).round(3).to_string())

# %% [markdown]
# After one batch, inference mode barely normalises at all: its moving mean
# has covered 1% of the way. After n batches it has covered 1 − 0.99ⁿ of it.
# With 80,000 training ratings in batches of 1024 an epoch has 79 batches:

# %%
batches_per_epoch = int(np.ceil(len(train) / DEEP_BATCH))
for _ in range(batches_per_epoch - 1):                       # the rest of one epoch
    bn.forward(rng.normal(center, spread, size=(DEEP_BATCH, 4)), training=True)
lag = pd.DataFrame({"epochs": [1, 2, 3, 5, 10]})
lag["batches"] = lag["epochs"] * batches_per_epoch
lag["share of the way covered, 1 - 0.99^n"] = 1 - 0.99 ** lag["batches"]
print(f"{batches_per_epoch} batches per epoch; after one epoch the toy layer's moving mean is "
      f"{np.round(bn.moving_mean, 3).tolist()} for true means {center.tolist()} "
      f"(formula: {np.round((1 - 0.99 ** batches_per_epoch) * center, 3).tolist()})")
print(lag.round(3).to_string(index=False))

# %% [markdown]
# So for the first couple of epochs the deep model is evaluated with
# statistics that are still mostly their initial (0, 1). Section 3 measures
# what that costs.
#
# **Dropout.** In training mode each unit is zeroed with probability 0.5 and
# the survivors are multiplied by 2, so that the expected value of each unit
# is unchanged ("inverted" dropout, Keras' kind); in inference mode the layer
# does nothing. Every batch therefore trains a different random half of the
# first hidden layer, which discourages units from relying on each other.

# %%
drop = Dropout(0.5, np.random.default_rng(SEED))
ones = np.ones((DEEP_BATCH, 512))
dropped = drop.forward(ones, training=True)
print(f"training mode: {np.mean(dropped == 0):.3f} of the units zeroed, the rest "
      f"{np.unique(dropped[dropped > 0])}, mean {dropped.mean():.3f}; "
      f"inference mode returns its input unchanged: {np.array_equal(drop.forward(ones, training=False), ones)}")

# %% [markdown]
# ## 3. The deep model against its Keras curve
#
# We train `DeepMF` with the notebook's settings. A callback, run after every
# epoch, evaluates the test ratings twice: in inference mode (what `predict`
# does, and what the curve shows), and with *batch statistics*: a copy of the
# network in training mode with dropout switched off, fed the test ratings in
# batches of 1024. The gap between the two is what the lagging moving
# statistics cost at that epoch.

# %%
def deep_rmse(net, batch_statistics):
    """Test RMSE (clipped, known pairs) of a deep net, in inference mode or with batch statistics."""
    u, i, r = u_te, i_te, r_te
    if batch_statistics:
        twin = copy.deepcopy(net)                      # the real net's moving statistics stay untouched
        for layer in twin.layers.values():
            if hasattr(layer, "rate"):
                layer.rate = 0.0                       # no dropout: only the statistics differ
        y = np.concatenate([twin.forward(u[s:s + DEEP_BATCH], i[s:s + DEEP_BATCH], training=True)
                            for s in range(0, len(u), DEEP_BATCH)])
    else:
        y = predict_net(net, u, i)
    return float(np.sqrt(np.mean((np.clip(mu + y, LOW, HIGH) - r) ** 2)))


modes = []


def record_modes(epoch, logs, model):
    modes.append({"epoch": epoch, "inference mode": deep_rmse(model.net_, False),
                  "batch statistics": deep_rmse(model.net_, True)})
    return False                                       # never stop training


deep = DeepMF(n_epochs=DEEP_EPOCHS, rng=SEED).fit(train, monitor=test, callbacks=[record_modes])
ours_deep = np.asarray(deep.history_["test_rmse_clipped"])
RUN.show("deep", f"deep: final test RMSE {ours_deep[-1]:.4f} after {DEEP_EPOCHS} epochs, "
                 f"{np.sum(deep.history_['seconds']):.1f} s of training")

# %%
modes = pd.DataFrame(modes).set_index("epoch")
modes["cost of the moving statistics"] = modes["inference mode"] - modes["batch statistics"]
RUN.show("modes", modes.round(4).to_string())

# %% [markdown]
# Now the Keras reference run of the same network on the same split (after
# checking that it is the same setting), epoch by epoch:

# %%
keras_deep = keras_curve("deep", DATASET, SPLIT)
if keras_deep is None:
    raise SystemExit(f"no Keras reference for the deep model on {DATASET} (mfcore/data/keras_reference.json)")
same_setting = (keras_deep["dataset"] == DATASET and keras_deep["split"] == SPLIT and keras_deep["seed"] == SEED
                and keras_deep["settings"]["K"] == deep.n_factors
                and keras_deep["settings"]["batch_size"] == deep.batch_size
                and keras_deep["settings"]["optimizer"] == f"SGD(learning_rate={deep.lr}, momentum={deep.momentum})")
print(f"Keras reference: {keras_deep['settings']['model']}, {keras_deep['settings']['optimizer']}, "
      f"batch {keras_deep['settings']['batch_size']}, {keras_deep['settings']['epochs']} epochs, "
      f"{keras_deep['dataset']} {keras_deep['split']} seed {keras_deep['seed']}: same setting -> {same_setting}")
assert same_setting
keras_deep_curve = np.asarray(keras_deep["val_rmse_clipped"])
n = len(ours_deep)
deep_per_epoch = pd.DataFrame({"mfcore": ours_deep, "Keras": keras_deep_curve[:n],
                               "difference": ours_deep - keras_deep_curve[:n]},
                              index=pd.RangeIndex(1, n + 1, name="epoch"))
RUN.show("deep per_epoch", deep_per_epoch.round(4).to_string())

# %% [markdown]
# And the plain variant (`plain=True`: concat → Dense 512 → ReLU → Dense 1,
# no batch normalisation, no dropout), same regime, as a control:

# %%
plain = DeepMF(plain=True, hidden_units=512, n_epochs=DEEP_EPOCHS, rng=SEED).fit(train, monitor=test)
ours_plain = np.asarray(plain.history_["test_rmse_clipped"])
RUN.show("plain", f"plain: final test RMSE {ours_plain[-1]:.4f} after {DEEP_EPOCHS} epochs, "
                  f"{np.sum(plain.history_['seconds']):.1f} s of training")

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
plots.plot_learning_curves({"mfcore DeepMF": ours_deep, "Keras (reference run)": keras_deep_curve,
                            "mfcore DeepMF plain": ours_plain},
                           ax=axes[0], ylabel="test RMSE (clipped to 1-5)")
plot_full_run(axes[0], RUN.curves("deep curves", {"mfcore DeepMF": ours_deep, "mfcore DeepMF plain": ours_plain}))
axes[0].axhline(res_biases["rmse"], linestyle=":", color="grey", linewidth=1)
axes[0].annotate("biases only", (1, res_biases["rmse"]), fontsize=8, color="grey", va="bottom")
axes[0].set_title(f"Deep model (Netflix notebook), {DATASET} 80/20")
plots.plot_learning_curves({"inference mode (moving statistics)": modes["inference mode"],
                            "batch statistics (training mode, no dropout)": modes["batch statistics"]},
                           ax=axes[1], ylabel="test RMSE, known pairs")
plot_full_run(axes[1], RUN.curves("mode curves", {"inference mode": modes["inference mode"],
                                                  "batch statistics": modes["batch statistics"]}))
axes[1].set_title("The same mfcore network, evaluated two ways")
show(fig, "deep_vs_keras")


# %%
def best_final(curve):
    curve = np.asarray(curve)
    e = int(np.nanargmin(curve))
    return f"{curve[e]:.4f} @ {e + 1}", float(curve[-1])


deep_table = pd.DataFrame(
    [{"model": label, "implementation": impl, "epochs": len(c), "best @ epoch": best_final(c)[0],
      "final": best_final(c)[1]}
     for label, impl, c in [("deep (BN + dropout)", "mfcore", ours_deep),
                            ("deep (BN + dropout)", "Keras", keras_deep_curve),
                            ("deep plain (512)", "mfcore", ours_plain)]]
    + [{"model": "biases (ALS)", "implementation": "mfcore", "epochs": "-", "best @ epoch": "-",
        "final": res_biases["rmse"]}])
RUN.show("deep table", deep_table.round(4).to_string(index=False))

# %% [markdown]
# What the full run (25 epochs) shows on this machine:
#
# - The first epochs are poor in inference mode, and the two-way evaluation
#   says why: with batch statistics the same network is already about 0.1
#   better during the first three epochs. The cost fades by epochs 7–9,
#   later than 1 − 0.99ⁿ alone suggests, because the statistics being
#   tracked move too while the network learns. From then on the moving
#   statistics are as good or slightly better (a negative cost): an average
#   over many batches is a steadier estimate than one batch of 1024. Keras'
#   curve starts just as high, presumably for the same reason.
# - The mfcore and the Keras curve both reach their best around epochs
#   10–11 and then climb back slowly: the network overfits. mfcore's run is
#   a little lower than Keras' at both ends (the table above); both end
#   worse than the biases baseline.
# - The plain variant, with no batch normalisation and no dropout, is the
#   best model of this tutorial: still improving at epoch 25 and better than
#   the biases baseline and than the deep model's best epoch. Batch
#   normalisation and dropout are tools for deep networks on large data; on
#   80,000 ratings with ten factors per user they mostly add noise and a
#   lag.
#
# ## 4. RNCF in three stages
#
# RNCF wants to tell the final network how *reliable* a first prediction is.
# Its stages, as the residual notebook builds them (each 15 epochs):
#
# 1. **Stage 1**, biased MF in the Keras regime (K = 15, SGD 0.08, momentum
#    0.9, batches of 128): f₁(u, i) ≈ r_ui − μ.
# 2. **Stage 2**, a "reliability" network with fresh embeddings: concat →
#    Dense 512 → Dense 256 → Dense 256 → ELU → Dense 1, trained with Adam
#    (0.01) on the *training* ratings to predict stage 1's squared error
#    e_ui = (r_ui − (μ + f₁(u, i)))². Call its prediction g(u, i).
# 3. **Stage 3**, an inference network of the same shape on
#    [p_u ; q_i ; g(u, i)] (fresh embeddings again) trained with Adam (0.01)
#    on the raw rating. Its output is RNCF's prediction.
#
# (The three dense layers of stages 2 and 3 have no activation between them,
# as in the notebook, so together they are one linear map.)
#
# **The notebook's bug.** Stage 1 predicts r − μ, but the notebook computed
# the error as (r − f₁)²: a raw rating minus a *centred* prediction. mfcore's
# `RNCF` corrects it and keeps the original as `error_target="notebook"`;
# the whole difference is one offset:

# %%
src = inspect.getsource(RNCF._fit)
print(src[src.index("        offset = mu if"):src.index("        self.error_target_mean_")].rstrip())

# %% [markdown]
# We train both versions with the same seed. Stage 1 does not depend on the
# error target, so the two runs share it exactly (checked below). A callback
# keeps a copy of stage 3's network at its best epoch on the test set, for a
# look inside in section 6 (an optimistic choice, like every "best @ epoch").

# %%
best_stage3 = {}


def keep_best(target):
    def callback(epoch, logs, model):
        rmse = model.evaluate(test)["rmse"]  # scored for this look only; it decides nothing
        if target not in best_stage3 or rmse < best_stage3[target]["rmse"]:
            best_stage3[target] = {"epoch": epoch, "rmse": rmse,
                                   "net": copy.deepcopy(model.net_)}
        return False
    return callback


rncf = {}
for target in ("corrected", "notebook"):
    model = RNCF(n_epochs=RNCF_EPOCHS, hidden_units=RNCF_UNITS, error_target=target, rng=SEED,
                 **RNCF.NOTEBOOK_SETTINGS)             # Adam(0.01), no early stopping
    model.fit(train, monitor=test, callbacks=[keep_best(target)])
    rncf[target] = model
    h = model.stage_histories_
    seconds = sum(np.sum(x["seconds"]) for x in (h["stage1"], h["stage2"], model.history_))
    RUN.show(f"rncf {target}", f"RNCF, {target} error target: stage 1 final "
                               f"{h['stage1']['test_rmse_clipped'][-1]:.4f}, stage 3 final "
                               f"{model.history_['test_rmse_clipped'][-1]:.4f}; {seconds:.1f} s of training")
stage1 = rncf["corrected"].stage1_
same_stage1 = (np.array_equal(rncf["corrected"].stage_histories_["stage1"]["test_rmse_clipped"],
                              rncf["notebook"].stage_histories_["stage1"]["test_rmse_clipped"])
               and np.array_equal(stage1.predict(u_tr, i_tr), rncf["notebook"].stage1_.predict(u_tr, i_tr)))
print(f"both runs share stage 1: {same_stage1}")

# %% [markdown]
# ## 5. What stage 2 learns, with and without the bug
#
# Rebuild both targets from stage 1's predictions on the training ratings.
# Write e = r − μ − f₁ for stage 1's residual. The corrected target is e²; the
# notebook's is (r − f₁)² = (μ + e)² = μ² + 2μe + e². Since stage 1 is fitted
# to these very ratings, e averages about 0, and the bug's target is about
# μ² ≈ 12.5 *whatever the quality of stage 1*:

# %%
def corr(a, b):
    """Pearson correlation, or NaN when either side is constant (a collapsed network)."""
    if np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return np.nan
    return float(np.corrcoef(a, b)[0, 1])


f1_tr = stage1.predict(u_tr, i_tr) - mu                       # stage 1's output: a prediction of r - mu
e_tr = r_tr - mu - f1_tr                                      # stage 1's residual on its training rows
target_corrected = e_tr ** 2
target_notebook = (r_tr - f1_tr) ** 2
targets_match = (np.isclose(target_corrected.mean(), rncf["corrected"].error_target_mean_, rtol=1e-10)
                 and np.isclose(target_notebook.mean(), rncf["notebook"].error_target_mean_, rtol=1e-10))
decomposition = pd.Series({"mu^2": mu ** 2, "2 mu mean(e)": 2 * mu * e_tr.mean(), "mean(e^2)": np.mean(e_tr ** 2)})
RUN.show("targets", f"mean stage-2 target: corrected {target_corrected.mean():.4f}, notebook "
                    f"{target_notebook.mean():.4f} (equal to the models' error_target_mean_: {targets_match})")
RUN.show("decomposition", f"the notebook's mean target, term by term:\n{decomposition.round(4).to_string()}\n"
                          f"sum {decomposition.sum():.4f}")
RUN.show("target corr", f"correlation with stage 1's signed error e: corrected target "
                        f"{corr(target_corrected, e_tr):+.3f}, notebook target {corr(target_notebook, e_tr):+.3f}")
RUN.show("target spread", f"spread (std) of the notebook target {target_notebook.std():.3f}: its term 2 mu e "
                          f"alone {np.std(2 * mu * e_tr):.3f}, its term e^2 alone {np.std(e_tr ** 2):.3f}")

# %% [markdown]
# So the bug's target is "about μ²" only on average. Its *variation* is
# almost all in the middle term 2μe: seven times stage 1's **signed** error.
# Ironically, the buggy target keeps the direction of stage 1's error, which
# the corrected target e² throws away (we come back to this in section 6 (b)).
# The corrected target is what RNCF's authors meant, stage 1's squared error;
# its mean is stage 1's *training* MSE.
#
# Now look at what stage 2 predicts on the **test** ratings, next to what it
# should predict there (stage 1's actual squared errors on the test ratings):

# %%
f1_te = stage1.predict(u_te, i_te) - mu
e_te = r_te - mu - f1_te                                      # stage 1's residual on unseen ratings
g_te = {t: predict_net(rncf[t].error_net_, u_te, i_te) for t in rncf}
g_tr = {t: predict_net(rncf[t].error_net_, u_tr, i_tr) for t in rncf}
stage2 = pd.DataFrame({
    "target mean (train)": [target_corrected.mean(), target_notebook.mean()],
    "g mean (train)": [g_tr["corrected"].mean(), g_tr["notebook"].mean()],
    "g std (train)": [g_tr["corrected"].std(), g_tr["notebook"].std()],
    "g mean (test)": [g_te["corrected"].mean(), g_te["notebook"].mean()],
    "g std (test)": [g_te["corrected"].std(), g_te["notebook"].std()],
    "corr(g, e^2) test": [corr(g_te[t], e_te ** 2) for t in rncf],
    "corr(g, r) test": [corr(g_te[t], r_te) for t in rncf],
}, index=["corrected", "notebook"])
RUN.show("stage2", stage2.round(3).to_string())
RUN.show("stage1 mse", f"stage 1's mean squared error: {np.mean(e_tr ** 2):.4f} on its training ratings, "
                       f"{np.mean(e_te ** 2):.4f} on the test ratings")

# %% [markdown]
# In the full run neither stage 2 ends up computing anything useful about a
# pair. With the corrected target its output is one and the same number for
# every pair (std 0: the network collapsed after a loss spike, see section 6
# (d)); with the bug it outputs about 12.9 for everybody, with a small
# spread that correlates with neither the test errors nor the ratings. The
# notebook's own Keras stage 2 collapsed the same way (it printed one
# constant, 12.04, for every pair). In fast mode the small networks have
# not had time to collapse and g still varies a little.
#
# ## 6. Why RNCF underperforms
#
# First the result. Stage 3's test RMSE after each epoch, for both versions,
# next to stage 1 alone (the first 15 epochs of the same run), Keras' stage 3
# on the same split, and the biases baseline:

# %%
keras_rncf = {t: keras_curve("rncf", DATASET, SPLIT, v)
              for t, v in (("corrected", "default"), ("notebook", "notebook-error-target"))}
curves3 = {t: np.asarray(rncf[t].history_["test_rmse_clipped"]) for t in rncf}
curve1 = np.asarray(rncf["corrected"].stage_histories_["stage1"]["test_rmse_clipped"])
rows = [("stage 1 alone (biased MF)", "mfcore", curve1)]
for t in rncf:
    rows.append((f"RNCF stage 3, {t} target", "mfcore", curves3[t]))
    if keras_rncf[t] is not None:
        rows.append((f"RNCF stage 3, {t} target", "Keras", np.asarray(keras_rncf[t]["val_rmse_clipped"])))
rncf_table = pd.DataFrame([{"model": m, "implementation": impl, "epochs": len(c), "best @ epoch": best_final(c)[0],
                            "final": best_final(c)[1]} for m, impl, c in rows]
                          + [{"model": "biases (ALS)", "implementation": "mfcore", "epochs": "-",
                              "best @ epoch": "-", "final": res_biases["rmse"]},
                             {"model": "global mean", "implementation": "mfcore", "epochs": "-",
                              "best @ epoch": "-", "final": res_mean["rmse"]}])
RUN.show("rncf table", rncf_table.round(4).to_string(index=False))

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
curves_plot = {"stage 1 alone (biased MF)": curve1}
for t in rncf:
    curves_plot[f"mfcore stage 3, {t}"] = curves3[t]
    if keras_rncf[t] is not None:
        curves_plot[f"Keras stage 3, {t}"] = keras_rncf[t]["val_rmse_clipped"]
plots.plot_learning_curves(curves_plot, ax=axes[0], ylabel="test RMSE (clipped to 1-5)")
ours_rncf = {label: curve for label, curve in curves_plot.items() if not label.startswith("Keras")}
plot_full_run(axes[0], RUN.curves("rncf curves", ours_rncf))
for value, label in ((res_biases["rmse"], "biases only"), (res_mean["rmse"], "global mean")):
    axes[0].axhline(value, linestyle=":", color="grey", linewidth=1)
    axes[0].annotate(label, (1, value), fontsize=8, color="grey", va="bottom")
axes[0].set_ylim(top=min(axes[0].get_ylim()[1], 1.5))
axes[0].set_title(f"RNCF on {DATASET} 80/20 (y axis cut at 1.5)")
plots.plot_learning_curves({"train loss (MSE)": rncf["corrected"].history_["train_loss"],
                            "test MSE (unclipped)": rncf["corrected"].history_["test_rmse"] ** 2},
                           ax=axes[1], ylabel="MSE")
axes[1].set_yscale("log")
axes[1].set_title("Stage 3 (corrected target): training vs test (log scale)")
show(fig, "rncf_curves")

# %% [markdown]
# In the full run, each stage 3 is at its best after a few epochs at most
# (one with the corrected target, four with the bug) and even then is worse
# than stage 1 alone; the corrected version is also worse than the biases
# baseline. Then both curves jump up to the level of the global mean and
# stay there. Keras' runs tell the same story with different details (its
# bug version ends far worse still). The bug version's better best epoch is
# not the bug's merit: as we will see, its g is nearly constant too, and the
# two stage-3 runs differ mostly by where their instabilities strike.

# %% [markdown]
# Four measured reasons.
#
# **(a) Stage 2 learns the wrong errors.** It is fitted to stage 1's errors
# on stage 1's *own* training ratings, which stage 1 has partly memorised; on
# unseen ratings stage 1 errs more (section 5's last line). And what stage 2
# learned barely transfers to test ratings: compare its test error with that
# of a constant guess, the mean training target.

# %%
e2_te = e_te ** 2
const_guess = target_corrected.mean()
transfer = pd.Series({
    "stage 2 (corrected): test MSE of g against e^2": np.mean((g_te["corrected"] - e2_te) ** 2),
    "  the same at stage 2's best epoch": np.min(rncf["corrected"].stage_histories_["stage2"]["test_mse"]),
    "constant mean(e^2 on train): same MSE": np.mean((const_guess - e2_te) ** 2),
    "best constant, mean(e^2 on test): same MSE": np.var(e2_te),
    "corr(g, e^2) on test": corr(g_te["corrected"], e2_te),
})
RUN.show("transfer", transfer.round(4).to_string())

# %% [markdown]
# In the full run stage 1's mean squared error is about 0.61 on its
# training ratings and 0.86 on the test ratings: the errors stage 2 studies
# are not the errors it will be asked about. And on the test ratings the
# corrected stage 2 ends no better than always guessing the training mean;
# even at its best epoch it only matches the best constant, which is chosen
# with hindsight on the test ratings themselves.

# %% [markdown]
# **(b) A squared error has no sign.** Suppose stage 2 were perfect and told
# stage 3 the *true* squared error of every test rating. Stage 3 still would
# not know which way to correct: an over-prediction and an under-prediction
# by the same amount give the same e². The predicted error of the test
# ratings stage 1 over-predicted and of those it under-predicted:

# %%
over, under = e_te < 0, e_te > 0                              # r below / above stage 1's prediction
sign_table = pd.DataFrame({
    "ratings": [over.sum(), under.sum()],
    "mean e": [e_te[over].mean(), e_te[under].mean()],
    "mean true e^2": [e2_te[over].mean(), e2_te[under].mean()],
    "mean g (corrected)": [g_te["corrected"][over].mean(), g_te["corrected"][under].mean()],
}, index=["stage 1 too high (e < 0)", "stage 1 too low (e > 0)"])
RUN.show("sign table", sign_table.round(3).to_string())
RUN.show("sign corr", f"corr(g, e) on test: {corr(g_te['corrected'], e_te):+.3f}; "
                      f"corr(true e^2, e): {corr(e2_te, e_te):+.3f}")

# %% [markdown]
# An oracle makes the point with numbers. Hand stage 3 the *true* |e| of
# every test rating but not its sign. The best it can do with a magnitude
# alone is, for each size of error, move the prediction by the average signed
# error of that size (we use 20 bands of |e|, each with its own correction).
# Compare with handing it e itself. (This uses the test ratings, so it is a
# thought experiment, not a model.)

# %%
N_BANDS = 20
size = np.abs(e_te)
edges = np.quantile(size, np.linspace(0, 1, N_BANDS + 1))
band = np.clip(np.searchsorted(edges, size, side="right") - 1, 0, N_BANDS - 1)
band_shift = np.bincount(band, e_te, N_BANDS) / np.maximum(np.bincount(band, minlength=N_BANDS), 1)
rmse = lambda pred: float(np.sqrt(np.mean((np.clip(pred, LOW, HIGH) - r_te) ** 2)))  # noqa: E731
oracle = pd.Series({"stage 1 alone": rmse(mu + f1_te),
                    "+ best correction knowing only |e| (20 bands)": rmse(mu + f1_te + band_shift[band]),
                    "+ the true e, sign included": rmse(mu + f1_te + e_te)})
RUN.show("oracle", oracle.round(4).to_string())
RUN.show("bands", f"mean signed error per band of |e| (smallest to largest): {np.round(band_shift, 2)}")

# %% [markdown]
# The sign table first: the true errors of the two groups point in opposite
# directions by construction, but a squared error, true or predicted, is
# positive for both. (In the full run the corrected g is even the same
# number for both groups, being constant.) Then the oracle: the *true*
# squared error of every test rating, used as well as it can be without its
# sign, recovers only part of stage 1's error; the same information with its
# sign makes the prediction exact. The direction is where the information
# is, and squaring throws it away. What the sign-blind oracle does recover
# comes from an asymmetry of stage 1's errors: the largest ones are mostly
# over-predictions (the last bands' mean signed errors are clearly
# negative: low ratings predicted near the mean), so a very large |e|
# hints at "too high". A real stage 2 has only a poor estimate of |e| (a),
# and cannot even exploit that.

# %% [markdown]
# **(c) g is no new information.** g(u, i) is computed from the same two
# ids that stage 3 already embeds, by a network of stage 3's own shape,
# trained on the same training ratings. Whatever it knows about a pair,
# stage 3 could have learned from its own p_u and q_i; it adds a derived
# feature, not data. Does stage 3 even use it? Take its network at its best
# epoch, replace g by its mean over the training pairs, and predict again:

# %%
use_of_g = {}
for t in rncf:
    net3 = best_stage3[t]["net"]
    p_real = np.clip(predict_net(net3, u_te, i_te, g_te[t]), LOW, HIGH)
    p_flat = np.clip(predict_net(net3, u_te, i_te, np.full(len(u_te), g_tr[t].mean())), LOW, HIGH)
    use_of_g[t] = {"best epoch": best_stage3[t]["epoch"], "test RMSE with g": rmse(p_real),
                   "with g replaced by its mean": rmse(p_flat),
                   "largest change of a prediction": np.abs(p_real - p_flat).max()}
use_of_g = pd.DataFrame(use_of_g).T
RUN.show("use of g", use_of_g.to_string(float_format=lambda v: f"{v:.4g}"))

# %% [markdown]
# In the full run the corrected stage 3 *cannot* use g: g was already one
# constant for every pair while stage 3 trained, so flattening it changes
# nothing at all. The notebook version's stage 3 does react to g (some
# predictions move by more than half a star when g is flattened), yet its
# test RMSE is unchanged to four decimals: what g feeds it is variation, not
# information about the rating.

# %% [markdown]
# **(d) Stages 2 and 3 do not train stably.** Both are a stack of three
# dense layers with no activation between them, then one ELU, trained with
# Adam at a learning rate of 0.01. Their training loss per epoch (the mean
# over the epoch's batches):

# %%
losses = pd.DataFrame({(t, stage): np.asarray(hist["train_loss"])
                       for t in rncf
                       for stage, hist in (("stage 2", rncf[t].stage_histories_["stage2"]),
                                           ("stage 3", rncf[t].history_))},
                      index=pd.RangeIndex(1, RNCF_EPOCHS + 1, name="epoch"))
for t in rncf:
    losses[(t, "stage 3 test MSE")] = rncf[t].history_["test_rmse"] ** 2
losses = losses[[(t, c) for t in rncf for c in ("stage 2", "stage 3", "stage 3 test MSE")]]
RUN.show("losses", losses.to_string(float_format=lambda v: f"{v:.4g}"))

# %% [markdown]
# What do the networks compute? For each stage-2 network and for stage 3 at
# its best and at its last epoch: the spread of its outputs over the test
# pairs, and the share of its ELU units that are "dead", whose input is
# below −14 for *every* test pair, so that they output −1 and pass back a
# gradient below e^−14 ≈ 10⁻⁶ whatever the pair.

# %%
def elu_inputs(net, u, i, extra=None):
    """The ELU layer's input z (pairs x units) of an RNCF network, by hand from its parameters."""
    prm = net.params
    parts = [prm["user_embedding/embeddings"][u], prm["item_embedding/embeddings"][i]]
    if extra is not None:
        parts.append(extra[:, None])
    x = np.hstack(parts)
    for j in range(1, len(RNCF_UNITS) + 1):
        x = x @ prm[f"dense_{j}/kernel"] + prm[f"dense_{j}/bias"]
    return x


collapse_rows = []
for t in rncf:
    for stage, net, extra in (("stage 2", rncf[t].error_net_, None),
                              (f"stage 3, best epoch ({best_stage3[t]['epoch']})", best_stage3[t]["net"], g_te[t]),
                              (f"stage 3, last epoch ({RNCF_EPOCHS})", rncf[t].net_, g_te[t])):
        out = predict_net(net, u_te, i_te, extra)
        z = elu_inputs(net, u_te, i_te, extra)
        collapse_rows.append({"target": t, "network": stage, "output mean": out.mean(), "output std": out.std(),
                              "dead ELU units": f"{np.mean(z.max(axis=0) < -14):.0%}"})
collapse = pd.DataFrame(collapse_rows)
RUN.show("collapse", collapse.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
RUN.show("collapse scale", f"for scale: the test ratings' std is {r_te.std():.3f}, stage 1's predictions' "
                           f"std {f1_te.std():.3f}")

# %% [markdown]
# This is how the full run ends. Each network in turn meets a loss spike
# (the jumps of the training loss in the table above: by factors of
# thousands for the corrected stage 2 at epoch 5 and the notebook's at epoch
# 8; for stage 3 at epochs 2–3 with the corrected target and 5 and 9–11 with
# the bug). After the spikes the ELU inputs are far below zero (the table's
# last column); from then on every unit outputs −1 whatever the pair, the network's output is one constant,
# and e^z ≈ 0 blocks the gradient that could bring the units back. The
# training loss then sits at the variance of the target (about 0.87 for the
# corrected errors, about 1.27 for the ratings), and stage 3's test MSE at
# the variance of the test ratings: a constant predictor, as bad as the
# global mean. At their best epochs both stage 3 networks were still alive
# (no dead units, outputs spread over half a star).
#
# So stage 3's short life is less a matter of overfitting than of
# instability. Before its collapse, the notebook version's training loss
# was only a little below its test error (see its best epoch, 4, in the
# table), a small overfitting gap; what ends the good epochs is a spike, not
# slow memorisation. Three linear layers in a row multiply one another's
# errors, and Adam's steps at a learning rate of 0.01 are large for such a
# stack; exercise 3 tries a smaller one.
#
# **Putting it together.** The final RNCF prediction is worse than its own
# stage 1 alone, and only the bug version's best epoch, picked on the test
# set, beats the biases baseline. Stage 3 receives one extra number that,
# by the time it trains, says nothing about the pair; its direction would be
# what matters, and a squared error has none; and it is a network that
# cannot train stably at these settings. Matrix factorization with a
# residual side branch (tutorial 06) keeps the working model and adds to
# it; RNCF throws the working model away after using it to make a feature.

# %% [markdown]
# ## Summary
#
# - The Netflix notebook's deep model (concat → Dense 512 → BN → ReLU →
#   Dropout → Dense 128 → BN → ReLU → Dense 1) follows its Keras curve, peaks
#   around epoch 10 and then overfits, ending worse than the biases baseline.
# - Batch normalisation evaluates with moving statistics that lag behind
#   training (1 − 0.99ⁿ of the way after n batches); measured here, that lag
#   costs about 0.1 RMSE in the first epochs. Dropout only acts in training.
# - Without batch normalisation and dropout, the plain one-layer variant does
#   better than the deep one on this data.
# - RNCF chains biased MF, a network predicting its squared error, and a
#   network fed that prediction. The notebook computed the error against a
#   centred prediction, making the target μ² + 2μe + e²; the fix makes it e².
# - RNCF's last stage is worse than its first stage alone, for measured
#   reasons: stage 2 learns training errors that do not transfer to test
#   ratings; a squared error has no sign; g is a function of the same ids,
#   not new information; and stages 2 and 3 (linear layers under Adam 0.01)
#   meet loss spikes after which all their ELU units are dead and their
#   output is a constant, as bad as the global mean.
#
# ## Exercises
#
# 1. Train `DeepMF(n_epochs=25, dropout=0.0)` and `DeepMF(n_epochs=25,
#    hidden_units=(512,))`. Which of batch normalisation, dropout and depth costs the
#    most accuracy here?
# 2. Give the deep model Keras' L2 penalty on the embeddings (`reg=1e-4`).
#    Does it still overfit after epoch 10?
# 3. Train RNCF with `mlp_lr=0.001`. Do stages 2 and 3 still collapse? Is
#    stage 3 now better than stage 1 alone?
# 4. Make stage 2 useful on unseen ratings: compute stage 1's errors on a
#    held-out slice of the training part (`random_split(train, 0.2, rng=0)`)
#    instead of its own training rows. How do the numbers of section 6 (a)
#    change? (You will have to assemble the stages by hand from
#    `BiasedMFKeras` and `mfcore.models.rncf.RNCFNet`.)
# 5. Feed stage 3 the *signed* predicted error instead of the squared one
#    (the notebook's bug nearly does, by accident: μ² + 2μe + e²). Can a
#    signed error beat stage 1 alone, and why might it still not?
#
# ### Checked exercises
#
# Two exercises check themselves (`mfcore.exercises.t07`). Write the
# function, then run its checker: it runs your function next to mfcore's own on
# small seeded cases and names the first wrong number (which output, which
# index, expected and got) and the likely mistake.
#
# - `adam_step(w, m, v, g, t, lr, beta_1, beta_2, epsilon)`:
#   one Adam step with Keras' bias correction (RNCF's optimizer).
# - `batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon)`:
#   section 2's layer in both modes.
#
# In a notebook: `from mfcore.exercises import t07; t07.check_adam_step(adam_step)`.
# From a console: `mfcore exercises template t07 -o my_t07.py` writes the stubs
# with their tasks, `mfcore exercises check t07 my_t07.py` checks them
# (`python -m mfcore.exercises` is the same command).
