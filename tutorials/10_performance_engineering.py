# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 10 · Performance engineering: from 0.05M to 100M ratings per second
#
# Tutorial 03 showed that compiling the loop makes SGD hundreds of times
# faster. This one asks how far that goes, and why. One epoch of biased MF is a
# few multiply-adds per rating; what limits it is almost never the arithmetic
# but *where the numbers are*: in a register, in a cache, or in main memory
# behind a hundred nanoseconds of latency. We build a small cost model from
# three measurements of this machine, then switch the engines' tricks on one
# at a time and watch each one move the rate: padding rows to cache lines,
# prefetching, a grid of blocks that keeps the working rows in cache, and
# strata of blocks that let threads work without ever sharing a row. The last
# section shows that the same strata are how SGD runs on a cluster.
#
# **You will learn**
#
# - why the Python loop runs below 0.1M ratings/s and the compiled kernel two
#   to three orders of magnitude faster (interpreter overhead, not arithmetic);
# - a cost model: ratings/s against the latency, random-access and bandwidth
#   bounds of the memory system, and the *memory floor* of an engine;
# - what padding, prefetching, fast-math, blocks and strata each buy, switched
#   on live in fast mode and read from the committed benchmark in full;
# - why the `blocks` engine gives bit-identical results on any number of
#   threads, and what its cheaper random order costs in accuracy;
# - how DSGD runs the same strata on a cluster (Spark) when the data outgrow
#   one machine.
#
# **Prerequisites**: tutorial 03 (the engines and the updates (U1)–(U4)).
# Numbers in this tutorial are measured live; on a shared machine they wobble
# by tens of percent, so compare rows *within* one run.

# %% [markdown]
# ## Constants

# %%
import dis
import json
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mfcore import BiasedMF, engines
from mfcore.data import make_like, make_ratings
from mfcore.engines import mf_blocks, mf_blocks_jit, mf_jit_fast, mf_loop
from mfcore.engines.mf_blocks import BlockEpoch
from mfcore.tutorial import Figures, find_results, show_source
from mfcore.tutorial import source as tutorial_source

SEED = 42
FAST = os.environ.get("MFCORE_FAST") == "1"
K = 15                                     # factors, as in the engine benchmark
DTYPE = np.float32
REPEATS = 5 if not FAST else 2             # timed epochs per row (after one warm-up)
N_LOOP = 20_000 if not FAST else 2_000     # ratings timed with the pure-Python loop
PROBE_MB = 512 if not FAST else 64         # size of the "main memory" table of section 2

RESULTS = find_results(Path(__file__).parent if "__file__" in globals() else None)
FIGURES = Figures(10)
FIG_DIR = FIGURES.dir
show = FIGURES.show

# A MovieLens-shaped synthetic set whose rows do not fit in a core's cache:
# 10M ratings in full mode, a smaller one with the same traits in fast mode.
if FAST:
    data = make_ratings(n_users=60_000, n_items=12_000, n_ratings=1_500_000, rng=SEED)
else:
    data = make_like("10m", rng=SEED)
users = np.ascontiguousarray(data.users, dtype=np.int32)
items = np.ascontiguousarray(data.items, dtype=np.int32)
values = data.values.astype(DTYPE)
n = len(values)
row_mb = (data.n_users + data.n_items) * 64 / 2**20  # K=15 float32 rows padded to 64 bytes
print(f"{data.name}: {n:,} ratings, {data.n_users:,} users, {data.n_items:,} items; "
      f"P and Q padded: {row_mb:.1f} MB")

# %% [markdown]
# ## 1. Why the loop is slow and the kernel is fast
#
# Here is the whole per-rating work of the loop engine, steps (1)–(3):

# %%
show_source(mf_loop.biased_epoch)

# %% [markdown]
# With K = 15 that is about 4K = 60 multiply-adds per rating. A core does
# several of those per nanosecond, so the arithmetic alone would allow
# hundreds of millions of ratings per second. The Python interpreter instead
# executes *bytecode*: every `P[u, f]` is a function call that checks types,
# boxes a float into a heap object and counts references. The function is this
# many bytecode instructions, and the two loops over f repeat theirs K times
# for every rating:

# %%
print(f"{len(list(dis.get_instructions(mf_loop.biased_epoch)))} bytecode instructions")


def fit_epoch_rate(fn, users, items, values, repeats=REPEATS, K=K):
    """Median ratings/s of a *fit epoch*: the engine's per-epoch order plus the epoch itself."""
    rng = np.random.default_rng(SEED)
    dt = values.dtype.type
    P = rng.normal(0, 0.1, (data.n_users, K)).astype(values.dtype)
    Q = rng.normal(0, 0.1, (data.n_items, K)).astype(values.dtype)
    bu, bi = np.zeros(data.n_users, values.dtype), np.zeros(data.n_items, values.dtype)
    mu, lr, reg = dt(values.mean()), dt(0.005), dt(0.02)
    order_rng, seconds = np.random.default_rng(SEED + 1), []
    for k in range(repeats + 1):  # the first epoch compiles, buckets (blocks) and warms up
        t0 = time.perf_counter()
        order = engines.epoch_order(fn, order_rng, len(values))
        fn(users, items, values, order, mu, bu, bi, P, Q, lr, reg)
        seconds.append(time.perf_counter() - t0)
    return len(values) / float(np.median(seconds[1:]))


loop_rate = fit_epoch_rate(mf_loop.biased_epoch, users[:N_LOOP], items[:N_LOOP], values[:N_LOOP],
                           repeats=1)
jit_rate = fit_epoch_rate(engines.get_epoch_fn("biased", "jit"), users, items, values)
print(f"loop {loop_rate / 1e6:.3f}M ratings/s ({1e9 / loop_rate:,.0f} ns per rating), jit "
      f"{jit_rate / 1e6:.1f}M ratings/s ({1e9 / jit_rate:,.0f} ns): {jit_rate / loop_rate:.0f}x, "
      "from compiling the same source")

# %% [markdown]
# Compiled, those instructions become a few dozen machine instructions per
# rating. And now a new limit appears: `jit` on this data set is far slower
# than it is on ML-100k (tutorial 03), although it does exactly the same
# arithmetic per rating. The difference is memory.

# %% [markdown]
# ## 2. A cost model: latency, random access, bandwidth
#
# Each rating reads its record (u, i, r), the rows p_u and q_i and the biases,
# and writes the rows back. Three measurements of this machine, in plain
# NumPy, bound what any engine can do:
#
# - **bandwidth**: how many bytes per second stream through a core when the
#   access pattern is sequential (a large `np.copyto`, read plus write);
# - **random lines from main memory**: how many random 64-byte cache lines per
#   second a NumPy gather touches in an array far larger than the caches (the
#   requests are independent, so the CPU overlaps them);
# - **random lines from cache**: the same gather in an array that fits in L2.

# %%
def best_seconds(f, repeats=3):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return min(out)


def probe_machine(big_mb, n_reads=2_000_000):
    """Stream bandwidth (GB/s) and random cache lines per second, from memory and from L2."""
    line = 64 // np.dtype(DTYPE).itemsize                # float32 numbers per cache line
    rng = np.random.default_rng(SEED)
    big = np.ones(big_mb * 2**20 // 4, DTYPE)            # far beyond the caches
    copy = np.empty_like(big)
    small = np.ones(256 * 2**10 // 4, DTYPE)             # 256 KB: fits in L2
    lines_big = rng.integers(0, len(big) // line, n_reads) * line
    lines_small = rng.integers(0, len(small) // line, n_reads) * line
    return {
        "stream GB/s": 2 * big.nbytes / best_seconds(lambda: np.copyto(copy, big)) / 1e9,
        "random lines/s (memory)": n_reads / best_seconds(lambda: big[lines_big]),
        "random lines/s (L2)": n_reads / best_seconds(lambda: small[lines_small]),
    }


machine = probe_machine(PROBE_MB)
for key, value in machine.items():
    print(f"{key:>24}: {value / (1 if 'GB' in key else 1e6):8.1f}{'' if 'GB' in key else 'M'}")

# %% [markdown]
# Turn them into bounds for an epoch (K = 15 in float32: one 64-byte line per
# row). A rating needs two rows, p_u and q_i, which it reads and writes back.
# If both come from main memory in random order, the rate is at most half the
# random-line rate; if they sit in cache, half the cached rate. The records
# (12–16 bytes per rating) stream sequentially, bounded by the bandwidth.
# (A NumPy gather adds its own overhead of a nanosecond or two per element, so
# read these as orders of magnitude, not limits to the digit.)

# %%
bounds = {
    "rows from memory (random)": machine["random lines/s (memory)"] / 2,
    "rows from cache (random)": machine["random lines/s (L2)"] / 2,
    "records streamed": machine["stream GB/s"] * 1e9 / 16,
}
for key, value in bounds.items():
    print(f"{key:>28}: <= {value / 1e6:8.1f}M ratings/s")

# %% [markdown]
# `jit` sits near the first bound: it is *latency-bound*, waiting for rows
# that a fresh random permutation scatters over all of P and Q. Everything
# below is about moving from the first bound towards the second.
#
# The tightest bound of all is measured, not computed: the **memory floor**, an
# epoch that does the same loads and stores per rating as the real engine in
# the same order, without the arithmetic (`BlockEpoch(memory_floor=True)`).
# An engine at its memory floor cannot go faster by computing faster.

# %% [markdown]
# ## 3. The tricks, one at a time
#
# Each row below adds one idea to the previous one and is timed as a *fit
# epoch*: what a user waits for, the engine's per-epoch randomisation
# included. All run on one thread except the last.
#
# 1. `jit`: the loop compiled, over `rng.permutation(n)`.
# 2. padding and packing (`jit-fast` exact, prefetch distance 0, i.e. each
#    request comes too late to help): rows padded to whole cache lines, the
#    ratings packed into 16-byte records, gathered block by block.
#    `mfcore/engines/mf_jit_fast.py` explains each step.
# 3. + software prefetch: while rating n is updated, the rows of rating n + 16
#    are requested (`llvm.prefetch`), so misses overlap instead of queueing.
# 4. + two fast-math flags (`reassoc`, `contract`): the dot product summed in
#    vector lanes, multiply-adds fused. This is `jit-fast`. The numbers change
#    in the last bits only.
# 5. a cheap order (`blocks` with a 1 x 1 grid): no `rng.permutation` of all
#    ratings each epoch; the ratings, shuffled once, are visited in random
#    chunks.
# 6. + blocks: users and items split into g ranges, ratings grouped into the
#    g x g blocks, so the rows one block needs fit in L2 and stay there while
#    the block runs. This is `blocks`. (It prefetches the rows of the rating
#    16 records ahead only when all rows together exceed 4 MiB, and every
#    cache line of a wide row only beyond 12 MiB: `mf_blocks.lookahead` and
#    `prefetch_lines`. Asking for the next block's rows while the current one
#    ran was measured 5-10% slower, because the block's own rows already hit
#    in cache. Where every line is prefetched, it also groups each block's
#    ratings by user, users in index order: a user's wide row is then read
#    once per run of its ratings, in address order. That changes the visiting
#    order, so it is a rule on the data's shape, `mf_blocks.group_by_user`,
#    with its accuracy measured in `blocks_accuracy.md`; on one-line rows it
#    ran slower, because consecutive updates of one row wait on each other.)
# 7. + strata on 2 threads: the blocks of one stratum share no row, so two
#    threads run them at once, without locks and without changing a bit.

# %%
ladder = {
    "1 jit": engines.get_epoch_fn("biased", "jit"),
    "2 padded + packed": mf_jit_fast.FastEpoch("biased", exact=True, prefetch_distance=0),
    "3 + prefetch": mf_jit_fast.FastEpoch("biased", exact=True),
    "4 + fast-math (jit-fast)": engines.get_epoch_fn("biased", "jit-fast"),
    "5 cheap order (1 x 1 grid)": BlockEpoch("biased", grid=1, n_threads=1),
    "6 + blocks (blocks)": BlockEpoch("biased", n_threads=1),
    "7 + 2 threads": BlockEpoch("biased", n_threads=2),
    "memory floor": BlockEpoch("biased", n_threads=1, memory_floor=True),
}
live = {"loop (a subsample)": loop_rate}
for name, fn in ladder.items():
    live[name] = fit_epoch_rate(fn, users, items, values)
    print(f"{name:>28}: {live[name] / 1e6:8.1f}M ratings/s", flush=True)
grid_g = ladder["6 + blocks (blocks)"].grid_.g
print(f"(grid of the blocks engine here: {grid_g} x {grid_g}, chosen by "
      f"mf_blocks.grid_size from the numbers of users and items, K and the dtype)")

# %%
fig, ax = plt.subplots(figsize=(9, 4.2))
names = list(live)
ax.barh(names[::-1], [live[k] / 1e6 for k in names[::-1]],
        color=["grey" if k == "memory floor" else "C0" for k in names[::-1]])
ax.set_xscale("log")
ax.set_xlabel("M ratings per second, fit epoch (log scale)")
ax.set_title(f"Biased MF SGD, K={K}, float32, {n:,} ratings: one idea at a time (this run)")
show(fig, "ladder")

# %% [markdown]
# What to look for: prefetching pays most where rows come from main memory;
# fast-math pays once the data is in cache and the chain of dependent
# additions in the dot product becomes the bottleneck; the cheap order
# removes the cost of `rng.permutation` (a random gather of n int64 at every
# epoch, which on 25M ratings took most of a `jit-fast` epoch); the blocks
# bring the rows into cache. On a small set the difference between 5 and 6
# shrinks, because P and Q fit in cache anyway.
#
# The committed benchmark runs these rows in full (ML-100k and up to 25M
# synthetic ratings, K = 15 and 100, interleaved repeats on a quiet machine):

# %%
committed = None
if RESULTS is not None and (RESULTS / "scaling.json").is_file():
    rows = pd.DataFrame(json.loads((RESULTS / "scaling.json").read_text())["rows"])
    if "variant" in rows:
        keep = rows[(rows.K == K) & (rows.dtype == "float32")]
        committed = keep[["set", "engine", "variant", "threads", "ratings_per_second"]].assign(
            ratings_per_second=lambda d: (d.ratings_per_second / 1e6).round(1)).rename(
            columns={"ratings_per_second": "M ratings/s"})
        print(committed.to_string(index=False))
    else:
        print("the committed scaling.json predates the blocks engine: run "
              "benchmarks/bench_scaling.py to fill it")
else:
    print("benchmarks/results/scaling.json not found next to this tutorial: skipped")

# %% [markdown]
# ## 4. Blocks and strata, read from the package
#
# The grid is built once per fit. Users are split into g contiguous ranges
# holding about equal numbers of ratings, and so are items. The rule for g:

# %%
show_source(mf_blocks.grid_size)

# %% [markdown]
# Every epoch draws its order in Python, from the model's order stream: which
# blocks form each stratum, the order of the strata, and a random order of
# chunks inside each block. A stratum is a set of g blocks that share no user
# range and no item range:

# %%
small_grid = mf_blocks.bucket(users, items, values, data.n_users, data.n_items, 4,
                              np.random.default_rng(SEED))
schedule, segments = mf_blocks.draw_order(small_grid, np.random.default_rng(SEED))
table = pd.DataFrame([[f"({b // 4},{b % 4})" for b in step] for step in schedule],
                     index=[f"step {t}" for t in range(4)],
                     columns=[f"user range {a}" for a in range(4)])
print(table.to_string())

# %% [markdown]
# Read a row: user range a is paired with one item range, and no item range
# repeats, so the four blocks of a step touch four disjoint sets of rows of P
# and of Q. Read a column: over the four steps, every user range meets every
# item range once, so an epoch visits every rating once. The kernel runs the
# steps one after another and the blocks of a step on `n_threads` threads
# (`workers` is Numba's `prange` when `n_threads > 1`, plain `range` on one
# thread: the same source compiled twice):

# %%
source = tutorial_source(mf_blocks_jit._blocks_epoch)
print(source[source.index("    for s in range"):source.index("                sse = 0.0")])

# %% [markdown]
# Because no two threads of a step touch the same row, the result cannot
# depend on how the blocks are shared out. Check it on the model:

# %%
fit_kw = dict(n_factors=8, n_epochs=2 if FAST else 5, dtype="float32", rng=SEED)
one = BiasedMF(n_threads=1, **fit_kw).fit(data)
two = BiasedMF(n_threads=2, **fit_kw).fit(data)
same_bits = bool(np.array_equal(one.user_factors_, two.user_factors_)
                 and np.array_equal(one.item_bias_, two.item_bias_))
print(f"1 thread vs 2 threads: bit-identical parameters = {same_bits}")

# %% [markdown]
# Compare Hogwild (`engine="jit-hogwild"`): threads update shared rows without
# locks, so the result changes from run to run, and mfcore refuses an int
# seed with it. The price of the strata is a less random order: an epoch is a
# sequence of blocks instead of a full reshuffle. On ML-100k the committed
# accuracy benchmark measures what that costs:

# %%
if RESULTS is not None and (RESULTS / "blocks_accuracy.json").is_file():
    acc = json.loads((RESULTS / "blocks_accuracy.json").read_text())["summary"]
    for split, s in acc.items():
        print(f"ML-100k {split:>5}: blocks {s['mean_final']['blocks']:.4f}, full reshuffle (jit) "
              f"{s['mean_final']['jit']:.4f}, difference {s['blocks_minus_jit']:+.4f} "
              "(mean of 3 seeds, test RMSE)")
else:
    print("benchmarks/results/blocks_accuracy.json not found next to this tutorial: skipped")

# %% [markdown]
# ## 5. When the data outgrow one machine: DSGD on a cluster
#
# The strata are not a trick for one computer. Gemulla et al. (2011) built
# *distributed* SGD (DSGD) on them: with w machines, split users and items
# into w ranges each. Machine a keeps the rows of P for user range a and the
# ratings of its w blocks (a, 0), …, (a, w − 1). In step t it trains block
# (a, σ_t(a)), where σ_t is the stratum's matching, needing only the rows of
# Q for item range σ_t(a). Between steps the Q ranges move from machine to
# machine; P never moves. On Spark, the same epoch reads:
#
# ```python
# ratings = ratings_rdd.keyBy(lambda r: (user_range(r.u), item_range(r.i)))
# blocks = ratings.partitionBy(w * w).cache()              # the grid, built once
# for epoch in range(n_epochs):
#     for t, matching in enumerate(draw_strata(w, rng)):  # the order, drawn on the driver
#         stratum = blocks.filter(lambda kv: matching[kv[0][0]] == kv[0][1])
#         Q_parts = broadcast_or_shuffle(Q, matching)      # item range matching[a] to machine a
#         P, Q = stratum.mapPartitions(sgd_on_block).collect_by_range()
# ```
#
# `sgd_on_block` is exactly this package's per-block loop. How much moves per
# step? Each machine receives one range of Q, so a step moves all of Q once:

# %%
for name, n_items_, k_ in (("MovieLens 25M", 59_047, 100), ("Netflix Prize", 17_770, 100)):
    q_mb = n_items_ * k_ * 4 / 2**20
    print(f"{name:>14}: Q is {q_mb:6.1f} MB (K={k_}, float32); with w = 16 machines an epoch "
          f"moves it 16 times: {16 * q_mb:7.1f} MB, against the ratings, which never move")

# %% [markdown]
# That is why DSGD scales: the heavy data (ratings, and P when users outnumber
# items) stay put, and only the small factor matrix travels. The price is the
# same as on one machine: a stratified rather than fully random order, and a
# barrier between steps, where the slowest machine sets the pace (keep the
# blocks balanced, as mfcore's ranges are, by rating counts).

# %% [markdown]
# ## Summary
#
# - Compiling removes the interpreter (two to three orders of magnitude); after
#   that, per-rating SGD is limited by memory, not arithmetic.
# - A cost model from three measurements (bandwidth, random rows from memory
#   and from cache) tells which limit an engine is near; the memory floor,
#   the same loads and stores without arithmetic, is the honest target.
# - Padding to cache lines, prefetching and packed records make each memory
#   access count; limited fast-math shortens the arithmetic once data is in
#   cache; a grid of blocks keeps the rows in cache; a cheap per-epoch order
#   avoids a full permutation every epoch.
# - Strata of blocks that share no row give parallel SGD whose result depends
#   on the seed only, on one machine (`n_threads`) or on a cluster (DSGD).
#
# ## Exercises
#
# 1. Run the ladder of section 3 with `K = 100`. Which step gains most now, and
#    how close does `blocks` get to its memory floor? Relate it to the number
#    of cache lines per row.
# 2. Time `BlockEpoch("biased", grid=g, n_threads=1)` for g in 1, 2, 4, 8, 16,
#    32, 64 on the data of this tutorial. Where is the optimum, and how does
#    it compare with `mf_blocks.grid_size`? Why does a too fine grid slow down?
# 3. In section 2, replace the table of 64-byte rows by rows of 4 bytes
#    (`np.ones(..., np.float32)` 1-D). Does the random-access rate change?
#    What does that say about the unit the memory system works in?
# 4. Using `mf_blocks.visit_order`, count how often two consecutive ratings
#    of an epoch share a user, for `blocks` and for a full permutation. Why
#    does that matter for the accuracy table of section 4?
# 5. In the DSGD sketch, count the messages per epoch when P moves instead of
#    Q. For which data sets would you rather move P?
# 6. Time `BlockEpoch("biased", by_user=True)` against `by_user=False` at
#    K=15 and at K=100 on the data of this tutorial (interleave the epochs).
#    Why can grouping a block's ratings by user help one and hurt the other?
#    (Think of what the next rating waits for when it has the same user.)
#
# ### Checked exercises
#
# Two exercises check themselves (`mfcore.exercises.t10`). Write the
# function, then run its checker: it runs your function next to mfcore's own on
# small seeded cases and names the first wrong number and the likely mistake.
#
# - `stratum_schedule(rows, cols, shift)`: section 4's schedule, the blocks of
#   every step of one epoch from three permutations.
# - `block_starts(users, items, user_edges, item_edges)`: the counting sort
#   that buckets the ratings once per fit, as block bounds.
#
# In a notebook: `from mfcore.exercises import t10; t10.check_stratum_schedule(stratum_schedule)`.
# From a console: `mfcore exercises template t10 -o my_t10.py` writes the stubs
# with their tasks, `mfcore exercises check t10 my_t10.py` checks them.
