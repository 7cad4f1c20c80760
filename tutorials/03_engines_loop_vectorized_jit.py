# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 03 · One algorithm, three engines: loop, vectorized, JIT
#
# Biased matrix factorization trained by stochastic gradient descent is a few
# lines of arithmetic per rating. mfcore writes those lines three ways: a plain
# Python loop you can read and step through, a NumPy version that processes a
# minibatch at once, and the loop compiled by Numba. This tutorial puts them
# side by side, proves that they compute the same thing, shows the one bug every
# vectorized SGD is tempted into, and measures what each costs.
#
# **You will learn**
#
# - the engine contract: the model, the per-rating loss and the updates
#   (U1)–(U4), written once in the docstring and followed by every engine;
# - how to read the loop and the vectorized engines as the same numbered steps
#   (a diff of the two files), and why the JIT engine adds no code at all;
# - that loop and JIT give bit-identical results in float64, and that the
#   vectorized engine at batch size 1 agrees to rounding;
# - the scatter-add lesson: what `P[u] += g` silently loses and why
#   `np.add.at` is needed;
# - how fast each engine is (live, on this machine, and from the committed
#   benchmark), and what a larger batch costs in accuracy.
#
# **Prerequisites**: tutorials 00–02; NumPy fancy indexing.

# %% [markdown]
# ## Constants

# %%
import difflib
import inspect
import json
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mfcore import BiasedMF, engines
from mfcore import plots
from mfcore.data import load_dataset, random_split
from mfcore.engines import mf_jit, mf_loop, mf_vectorized
from mfcore.tutorial import (Figures, FullRun, display, find_results,
                             plot_full_run, show_doc, source, tutorial_dataset)

SEED = 42
FAST = os.environ.get("MFCORE_FAST") == "1"
N_EPOCHS = 20 if not FAST else 2          # epochs of the batch-size comparison (section 6)
K = 15                                    # factors, as in the engine benchmark
N_EQUIV = 5_000 if not FAST else 1_000    # ratings in the engine-equivalence check
N_LOOP = 20_000 if not FAST else 2_000    # ratings timed with the slow loop engine
TIMING_REPEATS = 5 if not FAST else 2
BATCH_SIZES = (256, 4096)                 # minibatches of the vectorized engine
RUN = FullRun(3, FAST)                    # fast mode prints the full run's results beside its own

ML100K, DATASET = tutorial_dataset()


RESULTS = find_results(Path(__file__).parent if "__file__" in globals() else None)
FIGURES = Figures(3)
FIG_DIR = FIGURES.dir
show = FIGURES.show


ratings = load_dataset(DATASET)
train, test = random_split(ratings, test_size=0.2, rng=SEED)
print(f"{DATASET}: train {len(train):,}, test {len(test):,}")

# %% [markdown]
# ## 1. The contract
#
# The model is r̂_ui = μ + b_u + b_i + p_u · q_i. Each rating contributes the loss
# ½ e_ui² + ½ λ (b_u² + b_i² + |p_u|² + |q_i|²) with e_ui = r_ui − r̂_ui, and
# one SGD step on that loss is the four updates (U1)–(U4), all computed from the
# values *before* the step. They live in one place, `BiasedMF`'s docstring:

# %%
doc = inspect.getdoc(BiasedMF)
show_doc(doc[doc.index("SGD updates"):doc.index("Parameters")].rstrip())

# %% [markdown]
# and the engine package states what every engine must honour:

# %%
show_doc(inspect.getdoc(engines).split("Every kernel")[0].rstrip())

# %% [markdown]
# ## 2. The three engines, read from the package
#
# ### The loop engine
#
# One rating at a time: compute the error (1), update the biases (2), update the
# factors (3). It is deliberately written in the subset of Python that Numba
# compiles: no helper functions, no globals.

# %%
loop_src = source(mf_loop.biased_epoch)
print(loop_src)

# %% [markdown]
# ### The vectorized engine
#
# The same three steps for a whole minibatch of B ratings: *gather* the rows the
# batch touches, *compute* every per-rating update at the batch-start values, and
# *scatter-add* them back. Every array line carries its shape.

# %%
vec_src = source(mf_vectorized.biased_epoch)
print(vec_src)

# %% [markdown]
# A unified diff of the two functions (the students' `diff -y mf_loop.py
# mf_vectorized.py`, in Python) shows the shared skeleton: the signature, the
# three numbered step comments and the returned SSE; what changes is the
# `for` over ratings becoming a `for` over batches, and scalar updates becoming
# gathers and `np.add.at`.

# %%
diff = difflib.unified_diff(loop_src.splitlines(), vec_src.splitlines(),
                            "mf_loop.biased_epoch", "mf_vectorized.biased_epoch", lineterm="", n=1)
print("\n".join(diff))

# %%
def steps(src):
    return [line.strip() for line in src.splitlines() if line.strip().startswith("# (")]


for a, b in zip(steps(loop_src), steps(vec_src)):
    print(f"loop       {a}\nvectorized {b}\n")

# %% [markdown]
# ### The JIT engine
#
# There is nothing to read: `mf_jit` passes the loop engine's *own function
# objects* through Numba. The maths exists once.

# %%
print("\n".join(line for line in inspect.getsource(mf_jit).splitlines()
                if line.startswith(("from", "biased_epoch", "plain_epoch"))))
print("the compiled function wraps mf_loop.biased_epoch itself:",
      mf_jit.biased_epoch.py_func is mf_loop.biased_epoch)

# %% [markdown]
# ## 3. Same numbers from every engine
#
# Train the same model on the same ratings with the same seed, changing only
# the engine. The seed fixes the initial P and Q and the shuffled order of every
# epoch, so the engines see identical inputs. (The loop engine is slow, so we
# use the first few thousand training ratings.)

# %%
small = train.subset(np.arange(N_EQUIV))
fits = {engine: BiasedMF(n_factors=K, n_epochs=3, engine=engine, rng=SEED).fit(small)
        for engine in ("loop", "jit", "vectorized")}
arrays = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
loop_fit, jit_fit, vec_fit = fits["loop"], fits["jit"], fits["vectorized"]
loop_jit_identical = all(np.array_equal(getattr(loop_fit, a), getattr(jit_fit, a)) for a in arrays) \
    and np.array_equal(loop_fit.history_["train_loss"], jit_fit.history_["train_loss"])
loop_vec_max_diff = max(np.abs(getattr(loop_fit, a) - getattr(vec_fit, a)).max() for a in arrays)
print(f"loop vs jit, float64, 3 epochs: bit-identical = {loop_jit_identical}")
print(f"loop vs vectorized (batch_size=1): largest difference {loop_vec_max_diff:.1e}")

# %% [markdown]
# Why is the vectorized engine not *bit*-identical at batch size 1? It computes
# p_u · q_i with `np.einsum`, which adds the K products in a different order than
# the loop's `e -= P[u, f] * Q[i, f]`. Floating-point addition is not
# associative, so the last bits differ; mathematically it is the same step.
# (The test suite pins both facts: `tests/test_engines_mf.py`.)

# %% [markdown]
# ## 4. The scatter-add lesson
#
# In a minibatch the same user can appear several times. Each occurrence brings
# its own update, and all of them must be added. The natural NumPy line does not
# do that:

# %%
P = np.zeros((4, 2))
u = np.array([0, 2, 0, 0])                       # user 0 appears three times in this batch
g = np.array([[1.0, 1.0], [5.0, 5.0], [2.0, 2.0], [3.0, 3.0]])   # one update per rating

P_fancy = P.copy()
P_fancy[u] += g                                  # buffered: each row is written ONCE
P_addat = P.copy()
np.add.at(P_addat, u, g)                         # unbuffered: every update is added
P_loop = P.copy()
for row, upd in zip(u, g):                       # what the loop engine would do
    P_loop[row] += upd
print("P[u] += g      ->", P_fancy[0], " (user 0 kept only its last update)")
print("np.add.at      ->", P_addat[0])
print("one at a time  ->", P_loop[0])

# %% [markdown]
# `P[u] += g` is `P[u] = P[u] + g`: NumPy gathers, adds, and then *assigns*, and
# when an index repeats the last assignment wins. No error, no warning, just
# lost gradient. How much would be lost on real data?

# %%
order = np.random.default_rng(SEED).permutation(len(train))
for B in (128, 1024, 4096):
    batches = [order[s:s + B] for s in range(0, len(order), B)]
    lost_u = np.mean([1 - np.unique(train.users[b]).size / b.size for b in batches])
    lost_i = np.mean([1 - np.unique(train.items[b]).size / b.size for b in batches])
    print(f"batch {B:>4}: P[u] += g would drop {lost_u:.0%} of the user updates and "
          f"{lost_i:.0%} of the item updates")

# %% [markdown]
# So the vectorized engine scatters with `np.add.at` (on the flattened index
# `row * K + f`, which NumPy ≥ 1.25 handles on a fast path). We can check it
# against the definition: run one batch in which a user repeats, and compare
# with the per-rating updates all computed at the batch-start values and summed
# by hand.

# %%
rng = np.random.default_rng(0)
n_u, n_i, k = 3, 4, 2
bu0, bi0 = rng.normal(0, 0.1, n_u), rng.normal(0, 0.1, n_i)
P0, Q0 = rng.normal(0, 0.1, (n_u, k)), rng.normal(0, 0.1, (n_i, k))
bu_users = np.array([1, 0, 1, 1, 2], dtype=np.int32)        # user 1 three times
bu_items = np.array([0, 1, 2, 3, 0], dtype=np.int32)
r = np.array([4.0, 3.0, 5.0, 2.0, 1.0])
mu, lr, reg = 3.0, 0.1, 0.05

state = [a.copy() for a in (bu0, bi0, P0, Q0)]
mf_vectorized.biased_epoch(bu_users, bu_items, r, np.arange(5), mu, *state, lr, reg, batch_size=5)

expected = [a.copy() for a in (bu0, bi0, P0, Q0)]
for uu, ii, rr in zip(bu_users, bu_items, r):               # (U1)-(U4) at the batch-start values
    e = rr - mu - bu0[uu] - bi0[ii] - P0[uu] @ Q0[ii]
    expected[0][uu] += lr * (e - reg * bu0[uu])
    expected[1][ii] += lr * (e - reg * bi0[ii])
    expected[2][uu] += lr * (e * Q0[ii] - reg * P0[uu])
    expected[3][ii] += lr * (e * P0[uu] - reg * Q0[ii])
scatter_ok = all(np.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(state, expected))
print("vectorized batch == sum of per-rating updates:", scatter_ok)

# %% [markdown]
# Note the *sum*, not the mean. The loss is a sum over ratings, and the loop
# engine adds one update per rating; summing keeps `lr` and `reg` meaning the
# same at every batch size. (Keras averages over the batch instead; tutorial 04
# shows what that changes.)

# %% [markdown]
# ## 5. What each engine costs
#
# Time one epoch of each kernel on this machine, in float32 with K = 15 as the
# committed benchmark does. The loop engine gets a subsample; the others the
# whole training part. The JIT kernel is compiled (or loaded from Numba's cache)
# before timing, so compile time is kept apart. Numbers on a shared machine
# wobble by tens of percent: compare engines *within* one run.

# %%
def time_engine(engine, n, batch_size=1, repeats=TIMING_REPEATS):
    """Median ratings/s of one epoch of the biased kernel on the first n training ratings."""
    epoch = engines.get_epoch_fn("biased", engine, batch_size=batch_size)
    dt = np.float32
    users = np.ascontiguousarray(train.users[:n])
    items = np.ascontiguousarray(train.items[:n])
    values = train.values[:n].astype(dt)
    init = np.random.default_rng(SEED)
    params = [np.zeros(train.n_users, dt), np.zeros(train.n_items, dt),
              init.normal(0, 0.1, (train.n_users, K)).astype(dt),
              init.normal(0, 0.1, (train.n_items, K)).astype(dt)]
    mu, lr, reg = dt(train.global_mean), dt(0.005), dt(0.02)
    order = np.random.default_rng(SEED).permutation(n)
    epoch(users[:1], items[:1], values[:1], order[:1] * 0, mu, *[p.copy() for p in params], lr, reg)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        epoch(users, items, values, order, mu, *params, lr, reg)
        seconds.append(time.perf_counter() - t0)
    return n / float(np.median(seconds))


live = {
    "loop": time_engine("loop", N_LOOP, repeats=1),
    "vectorized (B=1024)": time_engine("vectorized", len(train), batch_size=1024),
    "jit": time_engine("jit", len(train)),
}
for name, rate in live.items():
    print(f"{name:>20}: {rate / 1e6:8.3f} M ratings/s")
print(f"jit / loop: {live['jit'] / live['loop']:.0f}x;  jit / vectorized: "
      f"{live['jit'] / live['vectorized (B=1024)']:.1f}x  (measured in this run)")

# %% [markdown]
# The committed benchmark (`python benchmarks/bench_engines.py`) measures more
# settings, with more repeats, on a quiet(er) machine:

# %%
bench = None
if RESULTS is not None and (RESULTS / "engines.json").is_file():
    bench = pd.DataFrame(json.loads((RESULTS / "engines.json").read_text())["rows"])
    cols = ["engine", "dtype", "batch_size", "n_ratings", "ratings_per_second", "compile_seconds"]
    print(bench[[c for c in cols if c in bench]].assign(
        ratings_per_second=lambda d: (d.ratings_per_second / 1e6).round(3)).rename(
        columns={"ratings_per_second": "M ratings/s"}).to_string(index=False))
else:
    print("benchmarks/results/engines.json not found next to this tutorial: skipped")

# %%
fig, ax = plt.subplots(figsize=(8, 4))
labels = list(live)
x = np.arange(len(labels))
ax.bar(x - 0.2, [live[k] for k in labels], width=0.4, label="this run (float32, K=15)")
if bench is not None:
    f32 = bench[bench["dtype"] == "float32"]
    pick = {"loop": f32[f32.engine == "loop"],
            "vectorized (B=1024)": f32[(f32.engine == "vectorized") & (f32.batch_size == 1024)],
            "jit": f32[f32.engine == "jit"]}
    ax.bar(x + 0.2, [pick[k].ratings_per_second.iloc[0] if len(pick[k]) else np.nan for k in labels],
           width=0.4, label="committed benchmark")
ax.set_xticks(x, labels)
ax.set_yscale("log")
ax.set_ylim(bottom=1e3)
ax.set_ylabel("ratings per second (log scale)")
ax.set_title("One epoch of biased MF SGD")
ax.legend()
show(fig, "engine_speed")

# %% [markdown]
# Read the bars on the log scale: the JIT engine is two to three orders of
# magnitude faster than the same source run by the Python interpreter, and
# faster than NumPy minibatches too, because the loop touches only 2K + 2 numbers
# per rating and keeps them in cache, while NumPy builds temporary (B, K) arrays
# and pays a call per operation.

# %% [markdown]
# ## 6. What a larger batch costs
#
# The vectorized engine is exact at B = 1 but slow there; speed comes from large
# batches. Inside a batch, though, every gradient is computed at the
# *batch-start* values, so a rating cannot benefit from the updates of the
# others in the same batch. How much does that staleness cost? Same model, same
# `lr`, same epochs, three batch sizes (B = 1 runs on the JIT engine, which is
# the same algorithm):

# %%
curves, final = {}, {}
for B in (1,) + BATCH_SIZES:
    engine = "jit" if B == 1 else "vectorized"
    model = BiasedMF(n_factors=K, n_epochs=N_EPOCHS, lr=0.01, reg=0.05, engine=engine,
                     batch_size=B, rng=SEED).fit(train, monitor=test)
    curves[f"B={B} ({engine})"] = model.history_["test_rmse_clipped"]
    final[B] = model.evaluate(test)["rmse"]
    RUN.show(f"batch_{B}", f"B = {B:>4} ({engine:>10}): test RMSE after {N_EPOCHS} epochs {final[B]:.4f}, "
                           f"{np.sum(model.history_['seconds']):.2f} s of training")

fig, ax = plt.subplots(figsize=(7, 4))
plots.plot_learning_curves(curves, ax=ax, ylabel="test RMSE (clipped)")
plot_full_run(ax, RUN.curves("batch_curves", curves))
ax.set_title("Same lr and epochs, different minibatch sizes")
show(fig, "batch_size_curves")

# %% [markdown]
# Almost nothing, here. Because the engine *sums* the updates, an epoch moves
# every row by the same total as the loop would; only the point where each
# gradient is evaluated is a little older. The difference is of order lr²
# times the number of times a row repeats inside one batch, and that stays
# small while lr × (largest repeat count) is well below 1, the rule of thumb in
# `mf_vectorized`'s docstring:

# %%
for B in BATCH_SIZES:
    worst = max(np.bincount(train.items[order[s:s + B]]).max() for s in range(0, len(order), B))
    print(f"B = {B:>4}: the most repeated item appears {worst} times in one batch; "
          f"lr x repeats = {0.01 * worst:.2f}")

# %% [markdown]
# Push `lr` up or the batch size further and the stale sums start to overshoot
# (exercise 4). A *mean* over the batch (Keras' convention, tutorial 04) has
# the opposite problem: it divides the effective learning rate by B, which is
# why Keras models need a much larger `lr` and momentum.
#
# (The validation curve here is measured on the test part, which is fine for
# *watching* training; choosing epochs or hyperparameters on it would not be.)

# %% [markdown]
# ## Summary
#
# - The maths is written once ((U1)–(U4) in `BiasedMF`); engines only decide
#   how an epoch runs.
# - The loop and vectorized engines share numbered steps; the diff shows loops
#   turning into gathers and scatter-adds. The JIT engine *is* the loop engine,
#   compiled.
# - Loop and JIT are bit-identical in float64; vectorized at batch size 1
#   matches to ~1e-16 (a different summation order inside the dot product).
# - `P[u] += g` keeps one update per repeated row; with batches of 1,024 on
#   ML-100k that would silently drop about half of the user and item
#   updates (most of them at 4,096). Use `np.add.at`.
# - JIT ≫ vectorized ≫ loop in speed. With summed updates and a small `lr`,
#   batches of a few thousand cost almost no accuracy per epoch on ML-100k.
#   `engine="jit-fast"` goes about 2x further by changing the memory layout and
#   letting LLVM sum the dot product in vector lanes
#   (`mfcore/engines/mf_jit_fast.py` explains each step); it agrees with `jit`
#   up to rounding, not bit for bit. The default engine of `mf` and `biased-mf`,
#   `engine="blocks"`, keeps these updates but visits the ratings in a cheaper,
#   cache-friendly random order that several threads can share without races
#   (`mfcore/engines/mf_blocks.py`); this tutorial names its engines so that
#   it compares the full-reshuffle ones.
#
# ## Exercises
#
# 1. Repeat the equivalence check with `dtype="float32"`. Are loop and JIT still
#    identical? How large is the vectorized difference now?
# 2. In the scatter example, replace `np.add.at(P_addat, u, g)` by
#    `np.bincount`, one column at a time. Check the result, then time both on a
#    batch of 4,096 ML-100k ratings.
# 3. Time the JIT engine with K = 50 and K = 100. Does the rate fall in
#    proportion to K? Why not quite?
# 4. In section 6, raise `lr` to 0.05 and then 0.2 for B = 1 and B = 4096. At
#    what point do the two curves part, and which one breaks first? Relate it to
#    the repeat counts printed above.
# 5. Set `NUMBA_DISABLE_JIT=1` in the environment and rerun section 5. What does
#    the `jit` row measure then?
#
# ### Checked exercises
#
# Two exercises check themselves (`mfcore.exercises.t03`). Write the
# function, then run its checker: it runs your function next to mfcore's own on
# small seeded cases and names the first wrong number (which output, which
# index, expected and got) and the likely mistake.
#
# - `sgd_step(r, mu, b_u, b_i, p_u, q_i, lr, reg)`:
#   one per-rating step (U1)-(U4).
# - `vectorized_epoch(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg, batch_size)`:
#   section 4's minibatch epoch, repeated rows included.
#
# In a notebook: `from mfcore.exercises import t03; t03.check_sgd_step(sgd_step)`.
# From a console: `mfcore exercises template t03 -o my_t03.py` writes the stubs
# with their tasks, `mfcore exercises check t03 my_t03.py` checks them
# (`python -m mfcore.exercises` is the same command).

# %% [markdown]
# What a check looks like, on a first attempt at `sgd_step` with a classic
# slip: it updates `p_u`, then uses the new value in `q_i`'s update.

# %%
from mfcore.exercises import t03  # noqa: E402


def sgd_step(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    e = r - (mu + b_u + b_i + p_u @ q_i)
    b_u, b_i = b_u + lr * (e - reg * b_u), b_i + lr * (e - reg * b_i)
    p_u = p_u + lr * (e * q_i - reg * p_u)
    q_i = q_i + lr * (e * p_u - reg * q_i)      # the slip: p_u is already the new one
    return b_u, b_i, p_u, q_i


first_attempt = t03.check_sgd_step(sgd_step)
display(first_attempt)
