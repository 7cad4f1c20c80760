"""The ``blocks`` engine (mfcore.engines.mf_blocks): its grid, its per-epoch order, its exact
twin against mf_loop over the same order, and results that do not depend on the threads."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mfcore.engines import epoch_order, get_epoch_fn, mf_blocks, mf_blocks_jit, mf_loop
from mfcore.engines.mf_blocks import BlockEpoch, draw_order, grid_size, visit_order
from mfcore.models.mf import BiasedMF, FunkMF


def make_problem(seed, dtype=np.float64, n=2000, n_users=50, n_items=30, K=5, skip=()):
    """Random ratings (users/items in ``skip`` get none) and a random starting point."""
    rng = np.random.default_rng(seed)
    users = rng.choice(np.setdiff1d(np.arange(n_users), skip), n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    ratings = rng.integers(1, 6, n).astype(dtype)
    state = {"bu": rng.normal(0, 0.1, n_users).astype(dtype),
             "bi": rng.normal(0, 0.1, n_items).astype(dtype),
             "P": rng.normal(0, 0.1, (n_users, K)).astype(dtype),
             "Q": rng.normal(0, 0.1, (n_items, K)).astype(dtype)}
    return users, items, ratings, state


def call(fn, kind, problem, order, state, lr=0.02, reg=0.05):
    users, items, ratings, _ = problem
    t = ratings.dtype.type
    if kind == "biased":
        return fn(users, items, ratings, order, t(3.0), state["bu"], state["bi"], state["P"],
                  state["Q"], t(lr), t(reg))
    return fn(users, items, ratings, order, state["P"], state["Q"], t(lr), t(reg))


def run_blocks(kind, problem, n_epochs=3, seed=1, **options):
    """``n_epochs`` of a BlockEpoch from a copy of the state, the order drawn from ``seed``."""
    state = {k: v.copy() for k, v in problem[3].items()}
    fn = BlockEpoch(kind, **options)
    stream = np.random.default_rng(seed)
    sse = [call(fn, kind, problem, stream, state) for _ in range(n_epochs)]
    return state if kind == "biased" else {"P": state["P"], "Q": state["Q"]}, sse, fn


def loop_reference(kind, problem, n_epochs=3, seed=1, **options):
    """mf_loop over the very orders the engine visits (the grid and draws of the same stream)."""
    users, items, ratings, state0 = problem
    state = {k: v.copy() for k, v in state0.items()}
    stream = np.random.default_rng(seed)
    grid = BlockEpoch(kind, **options).bucket(users, items, ratings, len(state["bu"]),
                                              len(state["bi"]), state["P"].shape[1], stream)
    rec = grid.records
    packed = (rec["u"].copy(), rec["i"].copy(), rec["r"].copy(), None)
    epoch = getattr(mf_loop, f"{kind}_epoch")
    sse = [call(epoch, kind, packed, visit_order(grid, *draw_order(grid, stream)), state)
           for _ in range(n_epochs)]
    return state if kind == "biased" else {"P": state["P"], "Q": state["Q"]}, sse


# ------------------------------------------------------------------ exactness
@pytest.mark.parametrize("kind", ["biased", "plain"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("K,by_user", [(1, False), (4, False), (15, False), (17, False), (4, True),
                                       (17, True)])
def test_exact_twin_is_bit_identical_to_the_loop_over_the_same_order(kind, dtype, K, by_user):
    """(U1)-(U4) have one source of truth: without fast-math, the kernel on padded rows,
    run block by block over 3 epochs, is mf_loop over visit_order to the last bit (blocks
    shuffled, and grouped by user)."""
    problem = make_problem(0, dtype, K=K)
    a, sse_a = loop_reference(kind, problem, grid=4, by_user=by_user)
    b, sse_b, _ = run_blocks(kind, problem, grid=4, exact=True, by_user=by_user)
    for key in a:
        assert b[key].dtype == dtype and np.array_equal(a[key], b[key]), key
    # per-block partial sums: the SSE agrees up to the order of the additions
    np.testing.assert_allclose(sse_b, sse_a, rtol=1e-12 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("kind", ["biased", "plain"])
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-11), (np.float32, 2e-4)])
def test_fast_kernel_matches_the_loop_up_to_rounding(kind, dtype, rtol):
    problem = make_problem(1, dtype, K=15)
    a, sse_a = loop_reference(kind, problem, grid=4)
    b, sse_b, _ = run_blocks(kind, problem, grid=4, n_threads=2)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=rtol, atol=rtol * 1e-2, err_msg=key)
    np.testing.assert_allclose(sse_b, sse_a, rtol=rtol)


@pytest.mark.skipif(not hasattr(mf_blocks_jit.kernel(), "targetoptions"),
                    reason="NUMBA_DISABLE_JIT=1: nothing is compiled")
def test_fast_kernel_uses_fast_math_and_threads_and_the_twin_neither():
    assert mf_blocks_jit.kernel().targetoptions.get("fastmath") == mf_blocks_jit.FASTMATH
    assert not mf_blocks_jit.kernel().targetoptions.get("parallel")  # one thread: serial compile
    threaded = mf_blocks_jit.kernel(threads=True)
    assert threaded.targetoptions.get("fastmath") == mf_blocks_jit.FASTMATH
    assert threaded.targetoptions.get("parallel")
    assert threaded is not mf_blocks_jit.kernel()
    assert not mf_blocks_jit.kernel(exact=True).targetoptions.get("fastmath")
    assert not mf_blocks_jit.kernel(exact=True).targetoptions.get("parallel")


@pytest.mark.parametrize("kind", ["biased", "plain"])
@pytest.mark.parametrize("all_lines", [False, True])
def test_the_software_prefetch_changes_no_number(kind, all_lines, monkeypatch):
    """lookahead only asks the CPU for rows early (their first line, or every line of these
    3-line rows): with it (fast kernel, 1 and 2 threads; exact twin) the numbers are those
    without it, and the exact twin is still mf_loop's."""
    if all_lines:
        monkeypatch.setattr(mf_blocks, "prefetch_lines", lambda nu, ni, K, size: 3)
    problem = make_problem(4, np.float32, n=3000, n_users=80, n_items=60, K=33)  # 48 floats: 3 lines
    for options in ({"n_threads": 1}, {"n_threads": 2}):
        a, sse_a, _ = run_blocks(kind, problem, grid=4, lookahead=0, **options)
        b, sse_b, _ = run_blocks(kind, problem, grid=4, lookahead=3, **options)
        assert sse_a == sse_b and all(np.array_equal(a[k], b[k]) for k in a), options
    ref, _ = loop_reference(kind, problem, grid=4)
    c, _, _ = run_blocks(kind, problem, grid=4, lookahead=3, exact=True)
    assert all(np.array_equal(ref[k], c[k]) for k in ref)


@pytest.mark.parametrize("kind", ["biased", "plain"])
def test_padded_views_change_no_number_and_are_updated_in_place(kind):
    """P and Q kept as the engine's padded views (as BiasedMF.fit keeps them) give the numbers
    of contiguous arrays copied in and back at every call, and are never copied."""
    problem = make_problem(5, np.float32, n=3000, n_users=80, n_items=60, K=15)
    ref, sse_ref, _ = run_blocks(kind, problem, grid=4)
    state = {k: v.copy() for k, v in problem[3].items()}
    fn, stream = BlockEpoch(kind, grid=4), np.random.default_rng(1)
    sse = [call(fn, kind, problem, stream, state)]  # the first call buckets and pads
    views = {k: fn.padded_view(k, state[k]) for k in ("P", "Q")}
    assert not views["P"].flags.c_contiguous and np.array_equal(views["P"], state["P"])
    state.update(views)
    sse += [call(fn, kind, problem, stream, state) for _ in range(2)]
    assert sse == sse_ref
    for k in ref:
        assert np.array_equal(state[k], ref[k]), k
    for k in ("P", "Q"):
        assert np.shares_memory(state[k], fn._padded[k]) and state[k] is views[k]


def test_biased_mf_with_blocks_ends_with_contiguous_factors(planted):
    train, _ = planted
    m = BiasedMF(n_factors=6, n_epochs=2, rng=0).fit(train)
    assert m.user_factors_.flags.c_contiguous and m.item_factors_.flags.c_contiguous


def test_the_prefetch_rule_follows_the_size_of_the_rows():
    assert mf_blocks.lookahead(943, 1682, 15, 4) == 0  # ML-100k: 168 KB of rows stay in cache
    assert mf_blocks.lookahead(160_000, 60_000, 15, 4) == mf_blocks.LOOKAHEAD  # 25M: 14 MB
    assert mf_blocks.lookahead(6040, 3706, 100, 4) == mf_blocks.LOOKAHEAD  # 1M at K=100: 4.4 MB
    # every line of a wide row only when all rows exceed 12 MiB
    assert mf_blocks.prefetch_lines(162_541, 59_047, 15, 4) == 1  # 25M: 64-byte rows are one line
    assert mf_blocks.prefetch_lines(162_541, 59_047, 100, 4) == 7  # 25M at K=100: 448-byte rows, 99 MB
    assert mf_blocks.prefetch_lines(6040, 3706, 100, 4) == 1  # 1M at K=100: 4.4 MB
    assert mf_blocks.prefetch_lines(610, 9742, 100, 8) == 1  # the bundled set at K=100 float64: 8.6 MB


def test_blocks_are_grouped_by_user_where_every_line_is_prefetched():
    for shape in [(162_541, 59_047, 15, 4), (6040, 3706, 100, 4), (610, 9742, 100, 8), (943, 1682, 100, 8)]:
        assert not mf_blocks.group_by_user(*shape), shape  # 25M at K=15, 1M, the bundled set, ML-100k
    assert mf_blocks.group_by_user(162_541, 59_047, 100, 4) and mf_blocks.group_by_user(162_541, 59_047, 50, 4)
    fn = BlockEpoch("biased")
    fn.bucket(*make_problem(0)[:3], 50, 30, 5, np.random.default_rng(0))
    assert fn.grid_.by_user is False  # the rule, through the engine


def test_grouping_by_user_keeps_each_block_and_each_users_order():
    """Same seed: the same records in every block; each user's records one run, users in index
    order, a user's records in the order of the shuffled grid."""
    problem = make_problem(10, n=4000, n_users=60)[:3]
    a = mf_blocks.bucket(*problem, 60, 30, 4, np.random.default_rng(0))
    b = mf_blocks.bucket(*problem, 60, 30, 4, np.random.default_rng(0), by_user=True)
    assert b.by_user and not a.by_user and np.array_equal(a.starts, b.starts)
    for blk in range(16):
        x, y = (g.records[g.starts[blk]:g.starts[blk + 1]] for g in (a, b))
        assert np.all(np.diff(y["u"].astype(np.int64)) >= 0)  # one run per user, ascending
        assert len(np.unique(y["u"])) > 1
        for u in np.unique(x["u"]):
            assert np.array_equal(x[x["u"] == u], y[y["u"] == u])
    assert not np.array_equal(a.records, b.records)


# ------------------------------------------------------------------ threads
@pytest.mark.parametrize("kind", ["biased", "plain"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("by_user", [False, True])
def test_one_two_and_four_threads_are_bit_identical(kind, dtype, by_user):
    problem = make_problem(2, dtype, n=5000, n_users=200, n_items=120, K=15)
    runs = [run_blocks(kind, problem, grid=8, n_threads=T, by_user=by_user) for T in (1, 2, 4)]
    for state, sse, _ in runs[1:]:
        for key in state:
            assert np.array_equal(state[key], runs[0][0][key]), key
        assert sse == runs[0][1]


def test_four_real_threads_in_a_fresh_process():
    """This machine may have fewer CPUs than 4; NUMBA_NUM_THREADS=4 still starts 4 threads."""
    code = textwrap.dedent("""
        import numpy as np, numba
        from mfcore.engines.mf_blocks import BlockEpoch
        assert numba.config.NUMBA_NUM_THREADS == 4
        rng = np.random.default_rng(3)
        u, i = rng.integers(0, 300, 20000).astype(np.int32), rng.integers(0, 90, 20000).astype(np.int32)
        r = rng.integers(1, 6, 20000).astype(np.float32)
        out = []
        for T in (1, 4):
            P, Q = np.full((300, 15), 0.1, np.float32), np.full((90, 15), 0.1, np.float32)
            bu, bi = np.zeros(300, np.float32), np.zeros(90, np.float32)
            fn, stream = BlockEpoch("biased", grid=8, n_threads=T), np.random.default_rng(4)
            for _ in range(3):
                fn(u, i, r, stream, np.float32(3.5), bu, bi, P, Q, np.float32(0.01), np.float32(0.05))
            out.append(np.concatenate([P.ravel(), Q.ravel(), bu, bi]))
        print(np.array_equal(out[0], out[1]) and not np.array_equal(out[0], np.full_like(out[0], 0.1)))
    """)
    env = dict(os.environ, NUMBA_NUM_THREADS="4")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("True")


# ------------------------------------------------------------------ the order
@pytest.mark.parametrize("by_user", [False, True])
def test_every_rating_is_visited_exactly_once_per_epoch(by_user):
    users, items, ratings, state = make_problem(3, n=3000)
    fn = BlockEpoch("biased", grid=4, n_threads=2, by_user=by_user)
    stream = np.random.default_rng(5)
    grid = fn.bucket(users, items, ratings, 50, 30, 5, stream)
    # the grid holds exactly the training ratings
    def key(u, i, r):  # one int64 per (user, item, rating)
        return np.sort(u.astype(np.int64) * 10**6 + i * 10 + r.astype(np.int64))

    assert np.array_equal(key(grid.records["u"], grid.records["i"], grid.records["r"]),
                          key(users, items, ratings))
    for _ in range(3):
        schedule, segments = draw_order(grid, stream)
        assert np.array_equal(np.sort(visit_order(grid, schedule, segments)), np.arange(3000))
        # with lr = 0 nothing moves, so the kernel's SSE is the sum over each rating once
        P, Q, bu, bi = (state[k].copy() for k in ("P", "Q", "bu", "bi"))
        sse = fn(users, items, ratings, (schedule, segments), 3.0, bu, bi, P, Q, 0.0, 0.0)
        e = ratings - (3.0 + state["bu"][users] + state["bi"][items]
                       + np.einsum("nk,nk->n", state["P"][users], state["Q"][items]))
        np.testing.assert_allclose(sse, np.sum(e * e), rtol=1e-12)
        assert np.array_equal(P, state["P"]) and np.array_equal(bu, state["bu"])
    floor = BlockEpoch("biased", memory_floor=True)  # adds each r once, whatever it does to P, Q
    assert floor(users, items, ratings, stream, 3.0, bu, bi, P, Q, 0.1, 0.1) == pytest.approx(
        ratings.sum(), rel=1e-12)


def test_a_step_is_a_set_of_blocks_sharing_no_row_and_every_block_comes_once():
    grid = mf_blocks.bucket(*make_problem(4, n=4000, n_users=80)[:3], 80, 30, 8,
                            np.random.default_rng(0))
    schedule, _ = draw_order(grid, np.random.default_rng(1))
    assert schedule.shape == (8, 8)
    assert np.array_equal(np.sort(schedule.ravel()), np.arange(64))
    for step in schedule:
        assert len(set(step // 8)) == 8 and len(set(step % 8)) == 8


def test_the_fixed_order_visits_the_records_as_stored():
    """The benchmarks' reference without randomness: every block, row by row, as stored."""
    grid = mf_blocks.bucket(*make_problem(4, n=4000)[:3], 50, 30, 4, np.random.default_rng(0))
    schedule, segments = mf_blocks.fixed_order(grid)
    assert np.array_equal(visit_order(grid, schedule, segments), np.arange(4000))


def test_seeds_change_the_order_and_the_same_seed_repeats_it():
    users, items, ratings, _ = make_problem(5, n=3000)

    def epoch_orders(seed):
        stream = np.random.default_rng(seed)
        grid = mf_blocks.bucket(users, items, ratings, 50, 30, 4, stream)
        return [grid.records[visit_order(grid, *draw_order(grid, stream))] for _ in range(2)]

    a, b, c = epoch_orders(0), epoch_orders(0), epoch_orders(1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], a[1])  # and each epoch has its own order


# ------------------------------------------------------------------ the grid
@pytest.mark.parametrize("case", ["empty rows", "single user", "g above users", "g = 1"])
@pytest.mark.parametrize("dtype,by_user", [(np.float64, False), (np.float32, False), (np.float32, True)])
def test_grid_corner_cases_stay_exact(case, dtype, by_user):
    if case == "empty rows":  # users 0-9 and items 20-29 have no rating
        problem = make_problem(6, dtype, n=500, n_users=40, n_items=30, skip=np.arange(10))
        problem[1][:] %= 20
        g = 4
    elif case == "single user":
        problem = make_problem(7, dtype, n=60, n_users=1, n_items=25)
        g = 4
    elif case == "g above users":
        problem = make_problem(8, dtype, n=200, n_users=3, n_items=40)
        g = 12
    else:
        problem = make_problem(9, dtype, n=300)
        g = 1
    a, _ = loop_reference("biased", problem, grid=g, by_user=by_user)
    b, _, fn = run_blocks("biased", problem, grid=g, exact=True, by_user=by_user)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert fn.grid_.g == g and len(fn.grid_.records) == len(problem[2]) and fn.grid_.by_user == by_user
    c, _, _ = run_blocks("biased", problem, grid=g, n_threads=2, by_user=by_user)  # the threaded kernel too
    np.testing.assert_allclose(c["P"], a["P"], rtol=1e-4, atol=1e-6)


def test_grid_size_rule():
    """(n_users + n_items) / g padded rows fit in 1 MiB; a multiple of 4 in [4, 32]."""
    assert grid_size(943, 1682, 15, 4) == 4  # ML-100k: 168 KB of rows, the minimum
    assert grid_size(162_541, 59_047, 15, 4) == 16  # 25M: 64-byte rows, 14.2 MB
    assert grid_size(162_541, 59_047, 100, 4) == 32  # 448-byte rows: 96 by the rule, capped
    assert grid_size(162_541, 59_047, 15, 8) == 28  # float64: 128-byte rows
    assert grid_size(10**8, 10**8, 100, 8) == 32  # capped
    for K in (1, 15, 33, 100):
        g = grid_size(50_000, 20_000, K, 4)
        assert g % 4 == 0 and (70_000 * mf_blocks.padded_width(K, 4) * 4 / g <= 2**20 or g == 32)


def test_ranges_hold_about_equal_numbers_of_ratings():
    rng = np.random.default_rng(10)
    users = (rng.zipf(1.5, 50_000) % 1000).astype(np.int32)  # skewed activity
    edges = mf_blocks.range_edges(users, 1000, 8)
    counts = np.bincount(users, minlength=1000)
    per_range = np.add.reduceat(counts, edges[:-1])
    assert edges[0] == 0 and edges[-1] == 1000 and np.all(np.diff(edges) >= 0)
    assert np.all(np.abs(per_range - 50_000 / 8) <= counts.max())


# ------------------------------------------------------------------ API and model
def test_epoch_order_gives_each_engine_what_it_takes():
    stream = np.random.default_rng(0)
    assert epoch_order(get_epoch_fn("biased", "blocks"), stream, 5) is stream
    order = epoch_order(get_epoch_fn("biased", "jit"), stream, 5)
    assert np.array_equal(np.sort(order), np.arange(5))
    with pytest.raises(TypeError, match="draws its own order"):
        call(BlockEpoch("biased"), "biased", make_problem(0), np.arange(2000), make_problem(0)[3])


@pytest.fixture(scope="module")
def planted():
    """Rank-3 ratings with noise 0.1 (helpers.make_planted), split 80/20."""
    from helpers import make_planted

    ratings, _, _ = make_planted(np.random.default_rng(0))
    mask = np.random.default_rng(1).random(len(ratings)) < 0.8
    return ratings.subset(mask, "train"), ratings.subset(~mask, "valid")


@pytest.mark.parametrize("cls,K", [(BiasedMF, 3), (FunkMF, 5)])
def test_the_model_learns_with_blocks_and_threads_change_nothing(planted, cls, K):
    train, valid = planted
    kw = dict(n_factors=K, n_epochs=150, lr=0.02, reg=0.001, engine="blocks", rng=0)
    model = cls(n_threads=1, **kw).fit(train, valid)
    assert model.evaluate(train)["rmse_unclipped"] < 1.2 * 0.1
    baseline = np.sqrt(np.mean((valid.values - train.global_mean) ** 2))
    assert model.history_["val_rmse"][-1] < 0.5 * baseline
    other = cls(n_threads=2, **kw).fit(train, valid)
    assert np.array_equal(other.user_factors_, model.user_factors_)
    assert other.history_["train_loss"].tolist() == model.history_["train_loss"].tolist()
    regrid = cls(grid=2, **kw).fit(train, valid)  # another grid is another order
    assert not np.array_equal(regrid.user_factors_, model.user_factors_)


@pytest.mark.parametrize("param,value,exc,msg", [
    ("n_threads", 0, ValueError, "The 'n_threads' parameter of BiasedMF must be an int >= 1. Got 0 instead."),
    ("n_threads", 1.5, TypeError, "The 'n_threads' parameter of BiasedMF must be an int >= 1"),
    ("grid", 0, ValueError, "The 'grid' parameter of BiasedMF must be an int >= 1 and <= 1024. Got 0"),
    ("grid", "4", TypeError, "The 'grid' parameter of BiasedMF must be an int"),
])
def test_parameter_errors(planted, param, value, exc, msg):
    with pytest.raises(exc, match=msg.replace(".", r"\.")):
        BiasedMF(n_epochs=1, **{param: value}).fit(planted[0])


def test_grid_needs_the_blocks_engine(planted):
    with pytest.raises(ValueError, match="applies to engine='blocks' only"):
        BiasedMF(n_epochs=1, engine="jit", grid=4).fit(planted[0])
