# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 01 · Baselines, and how to evaluate a recommender
#
# Before training anything clever, find out what simple models achieve. Every
# later model must beat these numbers; if it does not, something is wrong with
# the model, the code or the evaluation.
#
# **You will learn**
#
# - the global mean, and user and item biases fitted by alternating closed forms
#   (read straight from mfcore's source);
# - the truncated SVD of the centred rating matrix, and why its K stays small;
# - the Netflix notebook's user-user cosine k-NN, and a puzzle: it is *worse than
#   the global mean* in RMSE yet the *best* of the four at ranking. We take it
#   apart until the puzzle is solved;
# - evaluation: RMSE and MAE with and without clipping, unknown users and items,
#   and the ranking metrics precision, recall, NDCG, hit rate and MAP at k;
# - top-N recommendations with titles.
#
# **Prerequisites**: tutorial 00 (the `Ratings` container, the 80/20 split,
# the notation). A first course in linear algebra helps for the SVD.

# %% [markdown]
# ## Constants

# %%
import inspect
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import mfcore
from mfcore import Biases, GlobalMean, TruncatedSVD, UserKNN
from mfcore.data import load_dataset, random_split
from mfcore.ranking import ranking_report
from mfcore.reference import SURPRISE_RMSE
from mfcore.tutorial import Figures, find_results, show_doc, show_source, tutorial_dataset

SEED = 42                                        # the reference 80/20 split
FAST = os.environ.get("MFCORE_FAST") == "1"
N_EPOCHS = 10                                    # ALS sweeps of Biases: so cheap that FAST keeps all 10
SVD_K_GRID = (2, 6, 15, 50) if not FAST else (2, 6)
K_TOP = 10                                       # length of the top-N lists
THRESHOLD = 4.0                                  # a test rating >= 4 makes an item relevant

ML100K, DATASET = tutorial_dataset(
    'The numbers differ from the text and the reference columns do not apply.')


RESULTS = find_results(Path(__file__).parent if "__file__" in globals() else None)
FIGURES = Figures(1)
FIG_DIR = FIGURES.dir
show = FIGURES.show


ratings = load_dataset(DATASET)
train, test = random_split(ratings, test_size=0.2, rng=SEED)
print(f"{DATASET}: train {len(train):,}, test {len(test):,} ratings (random 80/20, rng={SEED})")

# %% [markdown]
# ## 1. The global mean
#
# The simplest prediction ignores who asks and what is asked about:
# r̂_ui = μ, the mean training rating. Its test RMSE is, up to the difference
# between train and test, the standard deviation of the ratings.

# %%
mean_model = GlobalMean().fit(train)
res_mean = mean_model.evaluate(test)
print(f"mu = {mean_model.global_mean_:.4f}   test RMSE {res_mean['rmse']:.4f}   "
      f"std of the test ratings {test.values.std():.4f}")

# %% [markdown]
# ## 2. User and item biases
#
# Tutorial 00 showed users who rate everything high and others who rate
# everything low; films differ even more. The bias model adds one number per
# user and one per item:
#
# r̂_ui = μ + b_u + b_i,
#
# fitted by minimising the squared error plus a penalty that pulls each bias
# towards 0:
#
# Σ_(u,i) (r_ui − μ − b_u − b_i)² + λ_u Σ_u b_u² + λ_i Σ_i b_i².
#
# Holding the user biases fixed, the best b_i has a closed form: the mean
# residual of item i, except that the count in the denominator gets λ_i added.
# The same holds for b_u with the item biases fixed. Alternating the two is
# alternating least squares (ALS), and each step can only lower the loss:
#
# - (B1) b_i ← Σ_{u∈R(i)} (r_ui − μ − b_u) / (λ_i + |R(i)|)
# - (B2) b_u ← Σ_{i∈R(u)} (r_ui − μ − b_i) / (λ_u + |R(u)|)
#
# Here is the code that does it, from the package itself. Each update is one
# `np.bincount`: a sum of residuals per item (or per user) in a single call.

# %%
show_source(Biases._fit)

# %% [markdown]
# The `+ λ` in the denominator is what makes the model trustworthy: a film with
# a single rating of 5 would otherwise get b_i ≈ 1.5. With λ_i = 10 that one
# rating counts as 1/11 of the evidence, and the other 10/11 say "average".

# %%
biases = Biases(n_epochs=N_EPOCHS).fit(train)
res_biases = biases.evaluate(test)
print(f"test RMSE {res_biases['rmse']:.4f} (global mean: {res_mean['rmse']:.4f})")
print("training MSE after each ALS sweep:", np.round(biases.history_["train_loss"], 5))

# %%
ic = biases.item_counts_
popular = np.flatnonzero(ic >= 50)
order = popular[np.argsort(biases.item_bias_[popular])]
table = pd.DataFrame({
    "title": [train.item_title(i) for i in np.r_[order[-5:][::-1], order[:5]]],
    "b_i": biases.item_bias_[np.r_[order[-5:][::-1], order[:5]]],
    "ratings": ic[np.r_[order[-5:][::-1], order[:5]]],
})
print("largest and smallest item biases among items with >= 50 training ratings:")
print(table.round(3).to_string(index=False))

# %% [markdown]
# ### Unknown items
#
# 34 test ratings are for films with no training rating (tutorial 00). Their
# b_i was never fitted, so mfcore predicts the *known part* of the formula,
# μ + b_u, and `evaluate` counts these fallbacks in `n_unknown`.

# %%
unknown = ~biases.known_mask(test.users, test.items)
k = int(np.flatnonzero(unknown)[0])
u_k, i_k = test.users[k], test.items[k]
print(f"n_unknown = {res_biases['n_unknown']}; e.g. '{test.item_title(i_k)}' for user index {u_k}: "
      f"predicted {biases.predict([u_k], [i_k])[0]:.4f} = mu + b_u = "
      f"{biases.global_mean_ + biases.user_bias_[u_k]:.4f}")

# %% [markdown]
# ## 3. Truncated SVD of the centred matrix
#
# The biases say how generous a user is and how good a film is. They say nothing
# about *taste*: that this user likes thrillers and that film is one. The ML-1M
# notebook's "SVD" baseline finds such directions in one step:
#
# - (S1) centre: c_ui = μ + b_u + b_i (the biases above);
# - (S2) Z = the sparse matrix of residuals r_ui − c_ui on observed cells, 0 elsewhere;
# - (S3) Z ≈ U S Vᵀ, keeping the K largest singular values;
# - (S4) p_u = (U S)_u, q_i = V_i, and r̂_ui = c_ui + p_u · q_i.

# %%
show_source(TruncatedSVD._fit)

# %% [markdown]
# Step (S2) hides a modelling decision: every *unrated* cell is treated as if the
# user had rated it exactly at the baseline. With 94% of the matrix empty, the
# factors mostly learn to reproduce zeros, which pulls p_u · q_i towards 0. A
# small K limits the damage. mfcore's default K = 6 was chosen on validation
# slices of `u1.base`; here is the same kind of check on a 10% slice of *our
# training part* (the test set stays untouched):

# %%
fit_part, valid_part = random_split(train, test_size=0.1, rng=0)
for K in SVD_K_GRID:
    rmse = TruncatedSVD(n_factors=K).fit(fit_part).evaluate(valid_part)["rmse"]
    print(f"K = {K:>2}: validation RMSE {rmse:.4f}")

svd = TruncatedSVD().fit(train)
res_svd = svd.evaluate(test)
print(f"TruncatedSVD(K={svd.n_factors}) test RMSE {res_svd['rmse']:.4f}")

# %% [markdown]
# ## 4. User-user cosine k-NN, and a puzzle
#
# The Netflix notebook's collaborative filter, as written there:
#
# - (K1) fill every missing cell of user u's row with u's mean m_u;
# - (K2) compare users by the cosine of these filled rows;
# - (K3) keep the k = 100 most similar users N(u);
# - (K4) predict the similarity-weighted mean of their (filled) values:
#   r̂_ui = Σ_{v∈N(u)} s_uv x_vi / Σ_{v∈N(u)} s_uv.
#
# `UserKNN` implements it literally (`algorithm="dense"`) and with a sparse
# identity that never builds the filled matrix (`"sparse"`); both give the same
# numbers (benchmarks/results/baselines.md: 3.6e-15 apart). The literal version:

# %%
show_source(UserKNN._dense_similarity)

# %%
knn = UserKNN(n_neighbors=100).fit(train)
res_knn = knn.evaluate(test)
print(f"UserKNN test RMSE {res_knn['rmse']:.4f}   vs the global mean {res_mean['rmse']:.4f}")

# %% [markdown]
# Worse than predicting 3.53 for everything. Let's find out why, one
# measurement at a time.
#
# **The similarities are all nearly 1.** Write a filled row as
# x_u = m_u·**1** + d_u, where d_u holds u's deviations from their own mean on
# the films they rated and 0 elsewhere. The constant part has length
# m_u·√n_J over the n_J ≈ 1,650 rated films; the deviations live on a few dozen
# cells. So every filled row points almost exactly along **1**, and every pair of
# users has a cosine close to 1.

# %%
n_J = int((knn.item_counts_ > 0).sum())
m = knn.user_mean_
row_of = np.repeat(np.arange(train.n_users), np.diff(knn.rated_indptr_))
dev_norm = np.sqrt(np.bincount(row_of, weights=knn.deviations_ ** 2, minlength=train.n_users))
print(f"median |m_u 1| = {np.median(m * np.sqrt(n_J)):.1f}  vs  median |d_u| = {np.median(dev_norm):.1f}")
print("percentiles 0/1/50/99/100 of the kept similarities:",
      np.round(np.percentile(knn.neighbor_sims_, [0, 1, 50, 99, 100]), 4))

# %% [markdown]
# **So everybody gets the same neighbours.** Among near-identical cosines the
# winners are decided by tiny differences, and they favour rows that are *even
# more* constant: users with few ratings and a high mean (a high m_u makes the
# constant part longer still). Count how often each user appears in someone's
# top 100:

# %%
nb = knn.neighbors_[knn.neighbors_ >= 0]
appearances = np.bincount(nb, minlength=train.n_users)
stars = np.argsort(-appearances)[:8]
print(f"only {np.count_nonzero(appearances)} of {train.n_users} users are ever anyone's neighbour")
print(pd.DataFrame({"neighbour of (users)": appearances[stars], "own ratings": train.user_counts()[stars],
                    "own mean m_v": m[stars].round(2)}).to_string(index=False))
print(f"mean m_v over all neighbour slots {m[nb].mean():.3f}  vs  mean m_u over users {m.mean():.3f}")

# %% [markdown]
# **And the prediction is nearly a constant.** Splitting (K4) into the filled
# part and the deviations,
#
# r̂_ui = Σ_v s_uv m_v / Σ_v s_uv  +  Σ_{v∈N(u) who rated i} s_uv d_vi / Σ_v s_uv,
#
# the first term is the mean of the neighbours' means (≈ 3.97, the "quiet
# enthusiasts" above, for almost everyone), and the second is small because few
# of the 100 neighbours rated any given film. The prediction ignores the user's
# own level m_u and sits about 0.4 too high:

# %%
p_knn = knn.predict(test.users, test.items)
p_biases = biases.predict(test.users, test.items)
spread = knn.score_users(np.arange(50)).std(axis=1).mean()
print(f"mean error (prediction - rating): UserKNN {np.mean(p_knn - test.values):+.3f}, "
      f"biases {np.mean(p_biases - test.values):+.3f}")
print(f"spread of one user's predictions over all items: UserKNN {spread:.3f}  "
      f"(spread of the ratings themselves: {train.values.std():.3f})")

# %% [markdown]
# **Why it still ranks well.** A top-N list compares items *for one user*, so the
# first term, a constant per user, drops out. What is left orders films by
# Σ s_uv d_vi: how far above their own average the neighbours rated the film,
# summed over the neighbours who rated it. That rewards films that many people
# rated and liked: a sensible popularity-with-quality score. RMSE punishes the
# level; ranking never sees it. Section 5 measures this.
#
# (The fixes are classics: subtract each user's mean before comparing (Pearson
# correlation), compute similarities on co-rated items only, and predict
# m_u + the weighted deviations. They are left as exercises.)

# %% [markdown]
# ## 5. Evaluation
#
# ### Clipped and unclipped errors
#
# The scale is 1–5, but μ + b_u + b_i + p_u·q_i can leave it. Clipping to the
# scale is part of the prediction rule and can only help (every true rating is
# inside), so mfcore reports the clipped RMSE and MAE as the headline and the
# unclipped ones next to them. Errors are computed over *all* test ratings at
# once, never averaged over batches.

# %%
for name, model in (("biases", biases), ("svd", svd)):
    p = model.predict(test.users, test.items)
    outside = int(((p < train.scale.low) | (p > train.scale.high)).sum())
    rep = model.evaluate(test)
    print(f"{name:>6}: {outside} of {len(test):,} predictions outside {train.scale}; "
          f"RMSE clipped {rep['rmse']:.5f}, unclipped {rep['rmse_unclipped']:.5f}")

# %% [markdown]
# ### Ranking metrics
#
# For each test user, the model scores every film the user did *not* rate in
# training and keeps the best k = 10. A test film is *relevant* if the user gave
# it ≥ 4. The definitions, from `mfcore.ranking`:

# %%
doc = inspect.getdoc(mfcore.ranking)
show_doc(doc[doc.index("(1)"):doc.index("Each is computed")].rstrip())

# %%
models = {"mean": mean_model, "biases": biases, "svd": svd, "user-knn": knn}
rows = {}
for name, model in models.items():
    rep = model.evaluate(test)
    rank = ranking_report(model, test, k=K_TOP, threshold=THRESHOLD)
    rows[name] = {"RMSE": rep["rmse"], "MAE": rep["mae"], "RMSE unclipped": rep["rmse_unclipped"],
                  **{key: rank[key] for key in rank if "@" in key}}
results = pd.DataFrame(rows).T
print(results.round(4).to_string())

# %% [markdown]
# The global mean scores every film alike, so its lists follow the item index,
# an arbitrary order: its row is the floor. The k-NN has the worst RMSE and the best
# list on every ranking metric. **Pick the metric that matches the job**: RMSE
# for "how many stars will she give?", ranking metrics for "what should we show
# her?".

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax1.bar(results.index, results["RMSE"], color="tab:blue")
ax1.set_ylim(0.8, results["RMSE"].max() + 0.05)
ax1.set_ylabel("test RMSE (lower is better)")
ax2.bar(results.index, results[f"ndcg@{K_TOP}"], color="tab:green")
ax2.set_ylabel(f"NDCG@{K_TOP} (higher is better)")
fig.suptitle(f"Baselines on {DATASET}, random 80/20 split (rng={SEED})")
fig.tight_layout()
show(fig, "rmse_vs_ndcg")

# %% [markdown]
# ### Against the committed benchmark and the Surprise references
#
# `benchmarks/bench_baselines.py` measured the same models on the same split;
# its JSON is committed. The reference column is the Surprise library's
# BaselineOnly (0.9514) and its SGD-trained SVD with k = 100 (0.9468), both with
# their defaults, on this split; mfcore ships these figures in
# `mfcore.reference.SURPRISE_RMSE`. Our biases match BaselineOnly (the same
# ALS with the same defaults); the truncated SVD is a different model from
# Surprise's SVD and happens to beat it here.

# %%
surprise = SURPRISE_RMSE[("ml-100k", "random:0.2")]
SURPRISE_8020 = {"biases": surprise["BaselineOnly"], "svd": surprise["SVD"]}
committed = {}
if RESULTS is not None and (RESULTS / "baselines.json").is_file():
    committed = json.loads((RESULTS / "baselines.json").read_text())["results"].get("80/20", {})
compare = pd.DataFrame({
    "this run": results["RMSE"],
    "committed benchmark": pd.Series({k: v["rmse"] for k, v in committed.items()}),
    "reference (Surprise)": pd.Series(SURPRISE_8020),
}).loc[list(models)]
print(compare.round(4).to_string())
if DATASET != "ml-100k":
    print("(the committed and reference columns are for ML-100k, not this dataset)")

# %% [markdown]
# ## 6. Top-N recommendations with titles
#
# `model.recommend(raw_user_id, n)` ranks the films the user has not rated by
# the unclipped prediction and returns a table with titles. We take the user in
# the first row of the file and first look at what they loved in training.

# %%
user_raw = ratings.user_map.to_raw(ratings.users[0])
u = train.user_map.to_index(user_raw)
mine = np.flatnonzero(train.users == u)
best = mine[np.argsort(-train.values[mine], kind="stable")][:5]
print(f"user {user_raw}: {mine.size} training ratings; some of the highest:")
for row in best:
    print(f"  {train.values[row]:.0f}  {train.item_title(train.items[row])}")

# %%
for name in ("biases", "svd", "user-knn"):
    print(f"--- {name}")
    print(models[name].recommend(user_raw, n=K_TOP).round(3).to_string(index=False))

# %% [markdown]
# Look at the biases list: μ + b_u is the same for every film of one user, so
# the order is simply the item biases. **Every user gets the same list** (minus
# what they have already rated). The SVD and the k-NN lists are personal.

# %% [markdown]
# ## Summary
#
# - Global mean ≈ 1.13 RMSE, biases ≈ 0.95, truncated SVD ≈ 0.93 on the 80/20
#   split: every later model has to beat 0.95 to be worth its parameters.
# - The biases come from alternating closed forms, (B1) and (B2); the λ in the
#   denominators protects rarely rated films and users.
# - The truncated SVD fills every missing cell with the baseline, so it works
#   only with a small K.
# - The notebook's cosine k-NN on mean-filled rows sees similarities that are all
#   ≈ 1, ends up with the same high-mean neighbours for everyone, and predicts
#   ≈ 0.4 too high: worse than the global mean in RMSE. Its *ranking* is the best
#   of the four because the per-user constant does not affect the order.
# - Report clipped and unclipped errors, count unknown users and items, and choose
#   between error and ranking metrics by what the system is for.
#
# ## Exercises
#
# 1. Fit `Biases(reg_user=0, reg_item=0)`. Which films now top the item-bias
#    table, and what happens to the test RMSE?
# 2. Compare `Biases(method="closed")` (one pass, damped means) with ALS. How much
#    do the extra sweeps buy?
# 3. Try `TruncatedSVD(center="user")` and `center="global"`. Explain the ranking
#    of the three in terms of what the zeros in Z mean.
# 4. Vary `n_neighbors` in {10, 50, 300}. Does any value beat the global mean in
#    RMSE? What happens to NDCG@10?
# 5. Without writing a model class: take `knn.score_users(users)`, subtract each
#    row's mean and add the user's own mean `knn.user_mean_[users]`. Compute the
#    RMSE of these corrected predictions on the test pairs. How much of the gap
#    to the biases closes?
# 6. Compute precision@10 with `threshold=5`. Which model gains most, and why?
#
# ### Checked exercises
#
# Two exercises check themselves (`mfcore.exercises.t01`). Write the
# function, then run its checker: it runs your function next to mfcore's own on
# small seeded cases and names the first wrong number (which output, which
# index, expected and got) and the likely mistake.
#
# - `als_biases(users, items, values, n_users, n_items, reg_user, reg_item, n_epochs)`:
#   the ALS sweeps (B1)-(B2) of section 2.
# - `ndcg(scores, relevant, k)`:
#   NDCG@k from one user's scores, ties broken by the lower item index, for users with fewer relevant items than k too (section 5).
#
# In a notebook: `from mfcore.exercises import t01; t01.check_als_biases(als_biases)`.
# From a console: `mfcore exercises template t01 -o my_t01.py` writes the stubs
# with their tasks, `mfcore exercises check t01 my_t01.py` checks them
# (`python -m mfcore.exercises` is the same command).
