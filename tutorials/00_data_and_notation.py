# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 00 · Data and notation
#
# Every model in mfcore reads the same object: a `Ratings`. Before any maths,
# this tutorial takes one apart, loads MovieLens 100k with it, looks at the data
# the way you should look at any new rating set, and cuts it into the train and
# test parts that the later tutorials use.
#
# **You will learn**
#
# - what a `Ratings` holds: dense int32 indices for users and items, the raw ids
#   behind them (an `IdMap`), the rating scale;
# - why the sparse matrix export comes with an *observed-mask*, and why a rating
#   of 0 must never be mistaken for "missing";
# - the first numbers and plots to look at: counts, density, long tails;
# - the two splits used throughout: the random 80/20 split with seed 42 (the one
#   the Keras reference numbers were measured on) and ML-100k's canonical `u1`;
# - what an *unknown* user or item is, and where a split reports them;
# - the notation table that every docstring, engine and tutorial shares.
#
# **Prerequisites**: NumPy arrays and fancy indexing; a little pandas. No
# machine learning yet.

# %% [markdown]
# ## Constants
#
# Everything you might want to change sits in this cell. `MFCORE_FAST=1` makes
# the whole script a quick smoke run (the test suite uses it). The data comes
# from `$MFCORE_DATA_DIR/ml-100k`; without it, the tutorial falls back to the
# small MovieLens set bundled with mfcore and says so.

# %%
import inspect
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import mfcore
from mfcore import Ratings
from mfcore.data import load_dataset, load_ml100k_split, random_split
from mfcore.data.split import TrainTest
from mfcore import plots
from mfcore.tutorial import Figures, show_doc, tutorial_dataset

SEED = 42                                        # the seed of the reference 80/20 split
FAST = os.environ.get("MFCORE_FAST") == "1"      # quick pass (tests); nothing here is slow anyway
TEST_SIZE = 0.2

ML100K, DATASET = tutorial_dataset(
    'The numbers below will differ from the ones quoted in the text.')

FIGURES = Figures(0)
FIG_DIR = FIGURES.dir
show = FIGURES.show


print(f"dataset: {DATASET}   fast mode: {FAST}")

# %% [markdown]
# ## 1. A `Ratings` made by hand
#
# Raw data names users and items however it likes: integers with gaps, strings,
# anything. Models want something else: consecutive indices `0 .. n-1`, so that
# user `u` is simply row `u` of a parameter matrix. A `Ratings` keeps both.
#
# Below, three people rate three films on a scale from -2 to 2. Note the rating
# of **0**: on this scale it means "neutral", and it is every bit as much a
# rating as the 2.

# %%
tiny = Ratings.from_arrays(
    users=["cleo", "ada", "ada", "bo", "cleo"],
    items=["m42", "m7", "m42", "m7", "m99"],
    values=[2.0, 0.0, -1.0, 1.0, -2.0],
    name="tiny",
)
print(tiny)
print("users  (int32 indices):", tiny.users)
print("items  (int32 indices):", tiny.items)
print("values (float64)      :", tiny.values)
print("user map:", tiny.user_map, "  item map:", tiny.item_map)
print("scale   :", tiny.scale, "(inferred from the values)")

# %% [markdown]
# An `IdMap` is a sorted list of raw ids: the index of an id is its rank. It
# translates both ways, and it refuses ids it has never seen (or returns -1 if
# you ask it to), which is how mfcore spots unknown users later on.

# %%
print("index of 'cleo' :", tiny.user_map.to_index("cleo"))
print("raw id of item 2:", tiny.item_map.to_raw(2))
print("unknown id, missing='ignore' ->", tiny.user_map.to_index("zed", missing="ignore"))
try:
    tiny.user_map.to_index("zed")
except KeyError as err:
    print("unknown id, default ->", "KeyError:", err)

# %% [markdown]
# ### One rating per (user, item) pair
#
# A log of events can hold the same pair twice: a user who rated a film, then
# changed her mind. Kept as two rows, the pair would count twice in training and
# in every error measure. `from_arrays` says so when it sees a repeat, and its
# `duplicates=` argument decides: `"first"`, `"last"` or `"mean"` keep one
# rating per pair (`"keep"` keeps both without a word; `"raise"` refuses them).

# %%
with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter("always")
    twice = Ratings.from_arrays(["ada", "ada"], ["m7", "m7"], [1.0, 2.0], name="twice")
print(f"kept {len(twice)} rows; the warning: {said[0].message}")
once = Ratings.from_arrays(["ada", "ada"], ["m7", "m7"], [1.0, 2.0], duplicates="last")
print(f"duplicates='last': {len(once)} row, rating {once.values[0]:g}")

# %% [markdown]
# ### The sparse matrix and its observed-mask
#
# Many algorithms want the users × items matrix. Most of it is empty, so mfcore
# exports it as a SciPy CSR matrix. The trap: a sparse matrix shows an absent
# entry as 0, and our data contains a *real* 0. `to_csr()` therefore returns
# two matrices with the same sparsity pattern: `R` with the ratings (an explicit
# 0 stays stored), and `mask`, which is 1 wherever a rating exists.

# %%
R, mask = tiny.to_csr()
print("R as a dense array (rows = users ada, bo, cleo; columns = m42, m7, m99):")
print(R.toarray())
print("observed-mask:")
print(mask.toarray().astype(int))
print(f"ratings stored in R: {R.nnz}, observed entries in mask: {mask.nnz}, "
      f"but R != 0 finds only {int((R.toarray() != 0).sum())}")

# %% [markdown]
# `R != 0` loses ada's neutral rating of m7: a model trained from it would treat
# "ada watched it and felt neutral" as "ada never saw it". Always ask the mask.
#
# The same holds on the usual 1–5 scale in the other direction: the toy matrix
# in tutorial 02 uses 0 to *mean* missing, which only works because 0 is not a
# possible rating there.

# %% [markdown]
# ## 2. Loading MovieLens
#
# `load_dataset(name)` finds a local copy (here through `$MFCORE_DATA_DIR`) and
# returns a `Ratings` with the rows in file order, the titles, release years and
# genres in `item_info`, and for ML-100k the user table in `meta["users"]`.
# Nothing is ever downloaded by a tutorial.

# %%
ratings = load_dataset(DATASET)
print(ratings)
summary = ratings.summary()
for key in ("n_ratings", "n_users", "n_items", "density"):
    print(f"{key:>10}: {summary[key]:,.4f}" if key == "density" else f"{key:>10}: {summary[key]:,}")
print(f"     scale: {ratings.scale}, levels {ratings.scale.levels}")
print(f"  mean r_ui (mu over all rows): {ratings.global_mean:.4f}")

# %%
print(ratings.item_info.head())
if ratings.meta.get("users") is not None:
    print(ratings.meta["users"].head())

# %% [markdown]
# One row of the arrays is one rating. Here is the first line of the file,
# read back through the maps:

# %%
u0, i0, r0 = ratings.users[0], ratings.items[0], ratings.values[0]
print(f"row 0: user index u={u0} (raw id {ratings.user_map.to_raw(u0)}), "
      f"item index i={i0} (raw id {ratings.item_map.to_raw(i0)}, '{ratings.item_title(i0)}'), "
      f"r_ui = {r0:g}")

# %% [markdown]
# ### Counts: who rates how much
#
# About 6% of the ML-100k matrix is filled. More telling is how unevenly: a few
# users and items have hundreds of ratings, most have a handful. Every model has
# to cope with both ends, and an error averaged over all test ratings is
# dominated by the busy users.

# %%
uc, ic = ratings.user_counts(), ratings.item_counts()
counts = pd.DataFrame({
    "per user": [uc.min(), np.median(uc), uc.mean(), uc.max()],
    "per item": [ic.min(), np.median(ic), ic.mean(), ic.max()],
}, index=["min", "median", "mean", "max"])
print(counts.round(1))
print(f"items with a single rating: {(ic == 1).sum()} of {ratings.n_items}; "
      f"the 10% busiest users give {np.sort(uc)[::-1][:len(uc) // 10].sum() / uc.sum():.0%} "
      "of all ratings")

# %% [markdown]
# ### The exploratory plots
#
# `mfcore.plots` draws the usual first look at a rating set. Each function
# takes an `ax=`, so they fit in one figure; the sixth panel is drawn by hand.
# Things to notice:
#
# - the rating distribution is lopsided (4 is the most common value, 1 the
#   rarest): the mean is about 3.5, not 3;
# - every user has at least 20 ratings (GroupLens kept only such users), yet the
#   busiest has 737; items go all the way down to a single rating, and on log
#   axes their counts spread over three orders of magnitude;
# - ML-100k was collected over seven months in 1997–98; the per-day curve shows
#   the bursts of a research site, not steady traffic;
# - the catalogue is mostly mid-1990s releases, with a thin tail of classics;
# - users differ in *level*: some rate everything around 4.5, others around 2.5.
#   That spread is what the user bias b_u of tutorial 01 captures.

# %%
fig, axes = plt.subplots(2, 3, figsize=(15, 8))
plots.plot_rating_distribution(ratings, ax=axes[0, 0])
plots.plot_ratings_per_user(ratings, log=True, ax=axes[0, 1])
plots.plot_ratings_per_item(ratings, log=True, ax=axes[0, 2])
plots.plot_ratings_per_day(ratings, ax=axes[1, 0])
plots.plot_items_per_release_year(ratings, ax=axes[1, 1])
user_means = np.bincount(ratings.users, weights=ratings.values) / np.maximum(uc, 1)
axes[1, 2].hist(user_means[uc > 0], bins=30)
axes[1, 2].set_xlabel("mean rating of a user")
axes[1, 2].set_ylabel("number of users")
axes[1, 2].set_title(f"users' mean ratings: spread (std) {user_means[uc > 0].std():.2f}")
for ax in axes.flat:
    ax.title.set_fontsize(9)
fig.tight_layout()
show(fig, "exploration")

# %% [markdown]
# ## 3. Splits
#
# A model is judged on ratings it did not see. mfcore's splits return a
# `TrainTest(train, test)` whose two parts **share one pair of id maps**: index
# `u` is the same person in both, so predictions line up with no translation.
#
# ### The random 80/20 split with seed 42
#
# This is the split of the Keras reference runs
# (`benchmarks/results/keras_reference.json`): shuffle the rows of `u.data` with
# `numpy.random.default_rng(42).permutation(n)` and keep the first 80% of
# positions for training. `random_split` does exactly that, and we can check it
# by hand:

# %%
train, test = random_split(ratings, test_size=TEST_SIZE, rng=SEED)
perm = np.random.default_rng(SEED).permutation(len(ratings))
n_train = len(ratings) - round(len(ratings) * TEST_SIZE)
same = (np.array_equal(train.users, ratings.users[perm[:n_train]])
        and np.array_equal(test.values, ratings.values[perm[n_train:]]))
print(f"train {len(train):,} / test {len(test):,} ratings; "
      f"equal to default_rng({SEED}).permutation by hand: {same}")
print("the two parts share their maps:", train.user_map is test.user_map is ratings.user_map)

# %% [markdown]
# ### Unknown users and items
#
# A random split can send *every* rating of a rarely rated film to test. The film
# is still in the maps (they are shared), but it has no training rating, so no
# model can have learned anything about it: it is **unknown**. mfcore never
# hides this. The split reports it, `model.evaluate` counts the pairs that
# needed a fallback (tutorial 01), and `predict(..., strict=True)` refuses them.

# %%
report = TrainTest(train, test).report()
print(report)
unknown_items = np.flatnonzero((train.item_counts() == 0) & (test.item_counts() > 0))
print(f"{unknown_items.size} test items have no training rating, e.g.:",
      [ratings.item_title(i) for i in unknown_items[:3]])

# %% [markdown]
# ### The canonical `u1` split
#
# ML-100k ships five fixed 80/20 splits (`u1` … `u5`, disjoint test sets) plus
# `ua`/`ub` (ten test ratings per user). `u1` is the split Surprise and many
# papers quote, so it is the second yardstick of this project.
# `load_ml100k_split` builds both parts over the maps of the full `u.data`.

# %%
if ML100K is not None:
    u1_train, u1_test = load_ml100k_split(ML100K, "u1")
    u1_report = TrainTest(u1_train, u1_test).report()
    print(u1_train, u1_test, sep="\n")
    print(u1_report)
else:
    u1_report = None
    print("u1 exists only in ML-100k: skipped")

# %% [markdown]
# Note the difference in spirit: `u1` was built by GroupLens so that every test
# user also has training ratings (`n_test_unknown_user` is 0), while some test
# *items* are still unknown. A random split promises nothing of the kind; for
# that there is `warm_split`, and for time-aware evaluation `temporal_split`.

# %% [markdown]
# ## 4. Notation
#
# The same symbols appear in the README, in every model's docstring, in the
# engine kernels and in these tutorials:
#
# | symbol | meaning | in code |
# |---|---|---|
# | u, i | user index, item index (int32, from the `IdMap`s) | `ratings.users`, `ratings.items` |
# | r_ui | rating of user u for item i | `ratings.values` |
# | r̂_ui | predicted rating | `model.predict(u, i)` |
# | μ (mu) | mean of the *training* ratings | `train.global_mean`, `model.global_mean_` |
# | b_u, b_i | user bias, item bias | `user_bias_`, `item_bias_` |
# | p_u, q_i | factor vectors, rows of P (n_users × K) and Q (n_items × K) | `user_factors_`, `item_factors_` |
# | K | number of latent factors | `n_factors` |
# | e_ui | error r_ui − r̂_ui | `e` in the kernels |
# | η (lr) | learning rate | `lr` |
# | λ (reg) | L2 regularization strength | `reg` |
#
# The package docstring holds the same table:

# %%
show_doc(inspect.getdoc(mfcore))

# %% [markdown]
# Two of the symbols, computed on the training part:

# %%
mu = train.global_mean
print(f"mu (train) = {mu:.4f};  mu (all rows) = {ratings.global_mean:.4f}: close, not equal. "
      "Models always use the training mean.")

# %% [markdown]
# ## Summary
#
# - A `Ratings` is three parallel arrays (`users`, `items`, `values`) plus the id
#   maps and the scale. Models see only the dense indices; the maps take you back
#   to raw ids and titles.
# - The CSR export comes with an observed-mask. A stored 0 can be a rating; use
#   the mask, never `R != 0`, to tell observed from missing.
# - ML-100k: 100,000 ratings, 943 users, 1,682 films, about 6% filled, long tails
#   on both sides and a mean near 3.5.
# - The 80/20 split with `rng=42` is the Keras reference split; `u1` is the
#   canonical one. Both parts of a split share their maps, and the split reports
#   the test ratings whose user or item is unknown.
#
# ## Exercises
#
# 1. Build a `Ratings` on a 1–10 scale with string ids, export it with
#    `to_csr()` and check that `mask.nnz == len(ratings)`.
# 2. How many ratings does the busiest ML-100k user have, and which film
#    is rated most often? (`user_counts`, `item_counts`, `item_title`.)
# 3. Repeat the 80/20 split with seeds 0 to 9 and plot
#    `report()["n_test_unknown_item"]` against the seed. How much does it move?
#    What does `warm_split` report instead?
# 4. Load `u2` … `u5` and check that their test sets are disjoint (hint: compare
#    `(user, item)` pairs).
# 5. `temporal_split(ratings, 0.2)` puts the latest ratings in test. How many
#    test *users* are unknown now, and why is that the realistic case?
#
# ### Checked exercises
#
# Two exercises check themselves (`mfcore.exercises.t00`). Write the
# function, then run its checker: it runs your function next to mfcore's own on
# small seeded cases and names the first wrong number (which output, which
# index, expected and got) and the likely mistake.
#
# - `matrix_and_mask(users, items, values, n_users, n_items)`:
#   the dense matrix and its observed-mask, as `to_csr()` builds them (section 1).
# - `warm_split(users, items, test_size, seed)`:
#   a random split with no cold user or item in test, as `mfcore.data.warm_split` makes it (section 3).
#
# In a notebook: `from mfcore.exercises import t00; t00.check_matrix_and_mask(matrix_and_mask)`.
# From a console: `mfcore exercises template t00 -o my_t00.py` writes the stubs
# with their tasks, `mfcore exercises check t00 my_t00.py` checks them
# (`python -m mfcore.exercises` is the same command).
