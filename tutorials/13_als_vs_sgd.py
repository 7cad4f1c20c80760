# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 13 · One objective, two optimizers: ALS against SGD
#
# `biased-mf` and `als` are the same model, r̂_ui = μ + b_u + b_i + p_u · q_i,
# with the same objective J (squared errors plus a per-rating L2 penalty). They
# differ only in how they minimise it: stochastic gradient descent takes a small
# step after every rating; alternating least squares fixes one side and solves
# for the other exactly. This tutorial compares them where a practitioner
# would: cost per epoch, epochs to converge, and the error they end with.
#
# **You will learn**
#
# - why fixing Q turns J into one small ridge regression per user, and its
#   closed form;
# - the cost of an epoch: O(n K) for SGD, O(n K² + (users + items) K³) for ALS;
# - that "the same objective" does not mean "the same model": SGD stopped
#   early is regularised twice, ALS only by λ, so each needs its own λ.
#
# **Prerequisites**: tutorials 03 and 04 (SGD MF, its engines and epochs).

# %% [markdown]
# ## Constants

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from mfcore import ALS, BiasedMF
from mfcore.data import load_dataset, load_ml100k_split, random_split
from mfcore.tutorial import Figures, show_doc, tutorial_dataset

SEED = 0
FAST = os.environ.get("MFCORE_FAST") == "1"
K = 20 if FAST else 100
ALS_EPOCHS = 3 if FAST else 10
SGD_EPOCHS = 5 if FAST else 35
ML100K, DATASET = tutorial_dataset("The figures quoted in the text are for ML-100k u1.")
FIGURES = Figures(13)
FIG_DIR = FIGURES.dir
show = FIGURES.show

if ML100K is not None:
    train, test = load_ml100k_split(ML100K, "u1")
else:
    train, test = random_split(load_dataset(DATASET), 0.2, rng=42)
print(f"{DATASET}: train {len(train):,}, test {len(test):,} ratings")

# %% [markdown]
# ## 1. The half step: a ridge regression per row
#
# With every q_i and b_i fixed, the part of J that involves user u is a
# least-squares fit of the numbers r_ui − μ − b_i on the vectors [1, q_i], over
# the items u rated, plus λ n_u times the squared length of [b_u, p_u]. Its
# minimum solves a (K+1) × (K+1) linear system:

# %%
doc = ALS.__doc__
show_doc(doc[doc.index("With the item side fixed"):doc.index("Engines:")])

# %% [markdown]
# Each half step minimises J exactly over one side, so J can only go down: no
# learning rate, no shuffling, no divergence. The price is the solve: building
# the system costs O(n_u K²) per user and solving it O(K³), so an epoch costs
# O(n K² + (users + items) K³), against SGD's O(n K).

# %% [markdown]
# ## 2. The race: test RMSE against epochs and against seconds
#
# Both record the test curve as a monitor (never used for training).

# %%
runs = {}
for name, model in {"als": ALS(n_factors=K, n_epochs=ALS_EPOCHS, rng=SEED),
                    "biased-mf (SGD)": BiasedMF(n_factors=K, n_epochs=SGD_EPOCHS, rng=SEED)}.items():
    t0 = time.perf_counter()
    model.fit(train, monitor=test)
    wall = time.perf_counter() - t0
    h = model.history_
    runs[name] = {"rmse": np.asarray(h["test_rmse_clipped"]), "seconds": np.cumsum(h["seconds"]),
                  "wall": wall, "final": model.evaluate(test)["rmse"]}
    print(f"{name:<16} {len(h)} epochs, {np.mean(h['seconds']) * 1e3:7.1f} ms per epoch, "
          f"final test RMSE {runs[name]['final']:.4f} (fit {wall:.1f}s, compile included)")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
for name, r in runs.items():
    axes[0].plot(np.arange(1, len(r["rmse"]) + 1), r["rmse"], marker=".", label=name)
    axes[1].plot(r["seconds"], r["rmse"], marker=".", label=name)
axes[0].set_xlabel("epoch")
axes[1].set_xlabel("training seconds (compile excluded)")
axes[0].set_ylabel("test RMSE (monitor)")
axes[0].legend()
fig.suptitle(f"ALS and SGD on {DATASET}, K = {K}")
show(fig, "als_vs_sgd")

# %% [markdown]
# ALS gets close to its best in a handful of epochs; SGD needs tens. Per epoch
# ALS is far more expensive at K = 100 (the K² and K³ terms), so in seconds
# the compiled SGD engine (`blocks`) wins on a single machine. ALS's strengths
# lie elsewhere: every row's solve is independent (trivially parallel, which is
# why Spark's MLlib uses it), and it extends to implicit feedback, where every
# unobserved pair counts and SGD would have to sample (`implicit-als`).

# %% [markdown]
# ## 3. Same objective, different models
#
# Give both the same λ and they end at different errors. ALS reaches the
# minimum of J; SGD, started from small factors and stopped after a fixed number
# of epochs, does not, and stopping early is a regulariser of its own. Each
# therefore wants its own λ: chosen on validation ratings (never the test set),
# `als` ended at λ = 0.12 and `biased-mf` at 0.05 (benchmarks/results/als.md).

# %%
same = {}
for reg in (0.05, 0.12):
    same[reg] = {"als": ALS(n_factors=K, n_epochs=ALS_EPOCHS, reg=reg, rng=SEED).fit(train).evaluate(test)["rmse"],
                 "biased-mf": BiasedMF(n_factors=K, n_epochs=SGD_EPOCHS, reg=reg, rng=SEED)
                 .fit(train).evaluate(test)["rmse"]}
    print(f"reg {reg}: als {same[reg]['als']:.4f}, biased-mf {same[reg]['biased-mf']:.4f}")

# %% [markdown]
# ## Summary
#
# - With one side fixed, biased MF's objective is a ridge regression per row;
#   ALS alternates the two closed forms and J never rises.
# - An ALS epoch costs O(n K² + (users + items) K³), an SGD epoch O(n K): ALS
#   needs few epochs, SGD cheap ones.
# - The same λ is not the same model: SGD's early stop regularises too.
#   Choose λ per optimizer, on validation ratings.

# %% [markdown]
# ## Exercises
#
# 1. Time one ALS epoch for K = 10, 20, 50, 100 and fit the exponent of K.
#    Which term of the cost dominates at each K?
# 2. Run `ALS(engine="loop")` for one epoch at K = 10 and compare with
#    `engine="jit"` (same source, compiled). Then `engine="vectorized"`:
#    where does batching the solves land?
# 3. Track J itself: after each epoch compute Σ e² / 2 + λ/2 Σ n_u (b_u² +
#    |p_u|²) + ... from the fitted arrays. Does it fall monotonically for ALS?
#    For SGD?
# 4. Warm-start SGD from ALS's factors (`BiasedMF` with `n_epochs=1` after
#    copying `user_factors_` etc.). Does one SGD epoch help or hurt, and why?

#
# ### Checked exercises
#
# Two exercises check themselves (`mfcore.exercises.t13`): write the function,
# run its checker, and read the first wrong number and the likely mistake.
#
# - `als_user_solve(r, Q, b_item, mu, reg)`: section 1's closed form for one user.
# - `objective(u, i, r, mu, bu, bi, P, Q, reg)`: the J both optimizers minimise.
#
# In a notebook: `from mfcore.exercises import t13; t13.check_als_user_solve(als_user_solve)`.
# From a console: `mfcore exercises template t13 -o my_t13.py`, then
# `mfcore exercises check t13 my_t13.py`.
