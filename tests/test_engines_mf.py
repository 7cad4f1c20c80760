"""The engine contract of mfcore.engines (STYLE.md section 3): loop, jit and
vectorized are one algorithm at batch_size=1, and vectorized sums every
per-rating update of a batch."""
import numpy as np
import pytest

from mfcore.engines import (ENGINES, epoch_order, get_epoch_fn, mf_jit, mf_jit_fast, mf_loop,
                            mf_vectorized)

from helpers import F32, F64


def make_problem(rng, dtype=np.float64, n=300, n_users=25, n_items=15, K=4):
    """Random ratings and a random starting point, every array in ``dtype``."""
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    ratings = rng.integers(1, 6, n).astype(dtype)
    state = {"bu": rng.normal(0, 0.1, n_users).astype(dtype),
             "bi": rng.normal(0, 0.1, n_items).astype(dtype),
             "P": rng.normal(0, 0.1, (n_users, K)).astype(dtype),
             "Q": rng.normal(0, 0.1, (n_items, K)).astype(dtype)}
    return users, items, ratings, state


def run(kind, engine, problem, n_epochs=3, lr=0.02, reg=0.05, batch_size=1, seed=1):
    """``n_epochs`` of ``engine`` from a copy of the problem's state; returns (state, sse list)."""
    users, items, ratings, state0 = problem
    state = {k: v.copy() for k, v in state0.items()}
    dt = state["P"].dtype.type
    fn = engine if callable(engine) else get_epoch_fn(kind, engine, batch_size=batch_size)
    order_rng = np.random.default_rng(seed)
    sse = []
    for _ in range(n_epochs):
        order = order_rng.permutation(len(ratings))
        if kind == "biased":
            sse.append(fn(users, items, ratings, order, dt(ratings.mean()), state["bu"], state["bi"],
                          state["P"], state["Q"], dt(lr), dt(reg)))
        else:
            sse.append(fn(users, items, ratings, order, state["P"], state["Q"], dt(lr), dt(reg)))
    if kind == "plain":
        state = {"P": state["P"], "Q": state["Q"]}
    return state, sse


@pytest.mark.parametrize("kind", ["biased", "plain"])
def test_loop_and_jit_are_bit_identical_float64(kind):
    problem = make_problem(np.random.default_rng(0))
    a, sse_a = run(kind, "loop", problem)
    b, sse_b = run(kind, "jit", problem)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert sse_a == sse_b
    assert all(isinstance(s, float) for s in sse_b)


@pytest.mark.parametrize("kind", ["biased", "plain"])
def test_vectorized_batch1_equals_loop_float64(kind):
    problem = make_problem(np.random.default_rng(1))
    a, sse_a = run(kind, "loop", problem)
    b, sse_b = run(kind, "vectorized", problem, batch_size=1)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], **F64, err_msg=key)
    np.testing.assert_allclose(sse_b, sse_a, **F64)


@pytest.mark.parametrize("kind", ["biased", "plain"])
@pytest.mark.parametrize("engine", ["jit", "jit-fast", "vectorized"])
def test_float32_engines_match_loop_and_keep_dtype(kind, engine):
    problem = make_problem(np.random.default_rng(2), dtype=np.float32)
    a, sse_a = run(kind, "loop", problem)
    b, sse_b = run(kind, engine, problem)
    for key in a:
        assert a[key].dtype == np.float32 and b[key].dtype == np.float32, key
        np.testing.assert_allclose(b[key], a[key], **F32, err_msg=key)
    np.testing.assert_allclose(sse_b, sse_a, **F32)


def test_vectorized_sums_every_update_of_a_repeated_user():
    """One batch holds user 0 three times (and item 1 twice): each row must move by
    the SUM of its per-rating updates, all at the batch-start values. A buffered
    ``P[u] += g`` would keep only one of them."""
    rng = np.random.default_rng(3)
    users = np.array([0, 2, 0, 1, 0], dtype=np.int32)
    items = np.array([1, 0, 2, 1, 3], dtype=np.int32)
    ratings = np.array([5.0, 1.0, 3.0, 4.0, 2.0])
    mu, lr, reg, K = 3.2, 0.05, 0.1, 3
    bu, bi = rng.normal(0, 0.3, 3), rng.normal(0, 0.3, 4)
    P, Q = rng.normal(0, 0.5, (3, K)), rng.normal(0, 0.5, (4, K))

    # Reference written out by hand: accumulate each update, apply once at the end.
    dbu, dbi, dP, dQ = np.zeros_like(bu), np.zeros_like(bi), np.zeros_like(P), np.zeros_like(Q)
    gP = []  # the per-rating updates of P, for the buggy version below
    for u, i, r in zip(users, items, ratings):
        e = r - (mu + bu[u] + bi[i] + P[u] @ Q[i])
        dbu[u] += lr * (e - reg * bu[u])
        dbi[i] += lr * (e - reg * bi[i])
        gP.append(lr * (e * Q[i] - reg * P[u]))
        dP[u] += gP[-1]
        dQ[i] += lr * (e * P[u] - reg * Q[i])
    expected = (bu + dbu, bi + dbi, P + dP, Q + dQ)

    got = (bu.copy(), bi.copy(), P.copy(), Q.copy())
    mf_vectorized.biased_epoch(users, items, ratings, np.arange(5), mu, *got, lr, reg, batch_size=5)
    for g, x, name in zip(got, expected, ("bu", "bi", "P", "Q")):
        np.testing.assert_allclose(g, x, rtol=0, atol=1e-12, err_msg=name)
    # the buffered bug (one update per repeated row survives) differs: this test can fail
    buggy = P.copy()
    buggy[users] += np.array(gP)
    assert not np.allclose(buggy, expected[2], atol=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_one_sgd_step_by_hand(engine):
    """K=2, mu=3, b_u=0.1, b_i=-0.2, p=(0.5, -1), q=(0.2, 0.4), r=4, lr=0.1, reg=0.5.

    r_hat = 3 + 0.1 - 0.2 + (0.1 - 0.4) = 2.6, so e = 1.4 and SSE = 1.96.
    (U1) b_u = 0.1 + 0.1 (1.4 - 0.05)            = 0.235
    (U2) b_i = -0.2 + 0.1 (1.4 + 0.1)            = -0.05
    (U3) p = p + 0.1 (1.4 q - 0.5 p) = (0.5 + 0.1 (0.28 - 0.25), -1 + 0.1 (0.56 + 0.5))
                                     = (0.503, -0.894)
    (U4) q = q + 0.1 (1.4 p_old - 0.5 q) = (0.2 + 0.1 (0.7 - 0.1), 0.4 + 0.1 (-1.4 - 0.2))
                                         = (0.26, 0.24)
    """
    bu, bi = np.array([0.1]), np.array([-0.2])
    P, Q = np.array([[0.5, -1.0]]), np.array([[0.2, 0.4]])
    one = np.zeros(1, dtype=np.int32)
    fn = get_epoch_fn("biased", engine)
    order = epoch_order(fn, np.random.default_rng(0), 1)  # [0], or the stream for "blocks"
    sse = fn(one, one, np.array([4.0]), order, 3.0, bu, bi, P, Q, 0.1, 0.5)
    tol = dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sse, 1.96, **tol)
    np.testing.assert_allclose(bu, [0.235], **tol)
    np.testing.assert_allclose(bi, [-0.05], **tol)
    np.testing.assert_allclose(P, [[0.503, -0.894]], **tol)
    np.testing.assert_allclose(Q, [[0.26, 0.24]], **tol)


@pytest.mark.parametrize("engine,batch_size", [("loop", 1), ("jit", 1), ("jit-fast", 1),
                                               ("vectorized", 1), ("vectorized", 16)])
def test_epochs_reduce_the_error(engine, batch_size):
    problem = make_problem(np.random.default_rng(4))
    _, sse = run("biased", engine, problem, n_epochs=5, lr=0.01, batch_size=batch_size)
    assert sse[-1] < sse[0]
    assert np.all(np.diff(sse) < 0)


def test_jit_is_the_loop_source_compiled():
    for name in ("biased_epoch", "plain_epoch"):
        compiled = getattr(mf_jit, name)
        assert getattr(compiled, "py_func", compiled) is getattr(mf_loop, name)


@pytest.mark.parametrize("engine", ["loop", "jit", "jit-fast", "jit-hogwild", "jit-fast-hogwild"])
def test_batch_size_above_one_needs_vectorized(engine):
    with pytest.raises(ValueError, match="engine='vectorized'"):
        get_epoch_fn("biased", engine, batch_size=8)


def test_unknown_engine_or_kind():
    with pytest.raises(ValueError, match="engine must be one of"):
        get_epoch_fn("biased", "cuda")
    with pytest.raises(ValueError, match="kind must be one of"):
        get_epoch_fn("svdpp", "jit")


@pytest.mark.parametrize("kind", ["biased", "plain"])
@pytest.mark.parametrize("engine", ["jit-hogwild", "jit-fast-hogwild"])
def test_hogwild_learns_and_keeps_dtype(kind, engine):
    """Hogwild is non-deterministic, so only its effect is tested, not its values."""
    problem = make_problem(np.random.default_rng(5), dtype=np.float32, n=2000)
    state, sse = run(kind, engine, problem, n_epochs=5, lr=0.01)
    assert sse[-1] < sse[0]
    assert all(v.dtype == np.float32 for v in state.values())


# ----------------------------------------------------------------- jit-fast
@pytest.mark.parametrize("kind", ["biased", "plain"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("K", [1, 4, 15, 17])
def test_jit_fast_exact_is_bit_identical_to_jit(kind, dtype, K):
    """Padding, packing and prefetching change no number: the padding columns
    subtract exact zeros from e and stay +0.0. Without fast-math the kernel is
    exact in both dtypes (the same operations in the same order); K=17 needs two
    cache lines per row in float32."""
    problem = make_problem(np.random.default_rng(6), dtype=dtype, n=500, K=K)
    a, sse_a = run(kind, "jit", problem)
    b, sse_b = run(kind, mf_jit_fast.FastEpoch(kind, exact=True), problem)
    for key in a:
        assert b[key].dtype == dtype and b[key].shape == a[key].shape, key
        assert np.array_equal(a[key], b[key]), key
    assert sse_a == sse_b


@pytest.mark.parametrize("kind", ["biased", "plain"])
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-11), (np.float32, 2e-4)])
@pytest.mark.parametrize("K", [4, 15, 40])
def test_jit_fast_matches_jit_up_to_rounding(kind, dtype, rtol, K):
    """The default kernel (fast-math: lane sums, FMA) differs only in the last bits."""
    problem = make_problem(np.random.default_rng(6), dtype=dtype, n=500, K=K)
    a, sse_a = run(kind, "jit", problem)
    b, sse_b = run(kind, "jit-fast", problem)
    for key in a:
        assert b[key].dtype == dtype
        np.testing.assert_allclose(b[key], a[key], rtol=rtol, atol=rtol * 1e-2, err_msg=key)
    np.testing.assert_allclose(sse_b, sse_a, rtol=rtol)


def test_jit_fast_uses_fast_math_and_exact_does_not():
    """The two kernels are really different compilations: if fast-math were lost
    (e.g. a cache entry of the exact twin), jit-fast would silently be 2x slower."""
    assert mf_jit_fast.padded_epoch.targetoptions.get("fastmath") == mf_jit_fast.FASTMATH
    assert not mf_jit_fast.padded_epoch_exact.targetoptions.get("fastmath")
    with pytest.raises(ValueError, match="Hogwild is never exact"):
        mf_jit_fast.FastEpoch("biased", n_threads=2, exact=True)


@pytest.mark.parametrize("block_size,distance", [(1, 0), (7, 3), (64, 100), (10_000, 16)])
def test_jit_fast_blocks_and_prefetch_distance_change_nothing(block_size, distance):
    """Block boundaries (including a last partial block) and any prefetch
    distance, even longer than a block, give the loop's numbers."""
    users, items, ratings, state = make_problem(np.random.default_rng(7), n=301)
    order = np.random.default_rng(8).permutation(len(ratings))
    a = {k: v.copy() for k, v in state.items()}
    b = {k: v.copy() for k, v in state.items()}
    sse_a = mf_loop.biased_epoch(users, items, ratings, order, 3.0, a["bu"], a["bi"], a["P"], a["Q"],
                                 0.02, 0.05)
    fast = mf_jit_fast.FastEpoch("biased", block_size=block_size, prefetch_distance=distance,
                                 exact=True)
    sse_b = fast(users, items, ratings, order, 3.0, b["bu"], b["bi"], b["P"], b["Q"], 0.02, 0.05)
    assert sse_a == sse_b
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_jit_fast_padded_views_give_the_loop_numbers_without_copies():
    """P and Q kept as FastEpoch's padded views (as BiasedMF.fit keeps them) are updated where
    they are, epoch after epoch, with the loop's numbers (exact kernel)."""
    users, items, ratings, state = make_problem(np.random.default_rng(10), n=400)
    a = {k: v.copy() for k, v in state.items()}
    fast = mf_jit_fast.FastEpoch("biased", exact=True)
    b = {k: v.copy() for k, v in state.items()}
    b["P"], b["Q"] = fast.padded_view("P", b["P"]), fast.padded_view("Q", b["Q"])
    views = (b["P"], b["Q"])
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(ratings))
        expected = mf_loop.biased_epoch(users, items, ratings, order, 3.0, a["bu"], a["bi"], a["P"], a["Q"],
                                        0.02, 0.05)
        assert fast(users, items, ratings, order, 3.0, b["bu"], b["bi"], b["P"], b["Q"], 0.02, 0.05) == expected
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert all(np.shares_memory(v, fast._padded[k]) for v, k in zip(views, "PQ"))


def test_jit_fast_repacks_when_given_other_ratings():
    """FastEpoch keeps its packed copy only for the very same arrays."""
    users, items, ratings, state = make_problem(np.random.default_rng(9))
    other = ratings[::-1].copy()  # same sizes, other values: must not reuse the packed copy
    order = np.arange(len(ratings))
    fast = mf_jit_fast.FastEpoch("plain", exact=True)
    for r in (ratings, other, ratings):
        a = {k: state[k].copy() for k in ("P", "Q")}
        b = {k: state[k].copy() for k in ("P", "Q")}
        expected = mf_loop.plain_epoch(users, items, r, order, a["P"], a["Q"], 0.02, 0.05)
        assert fast(users, items, r, order, b["P"], b["Q"], 0.02, 0.05) == expected
        assert np.array_equal(a["P"], b["P"]) and np.array_equal(a["Q"], b["Q"])


@pytest.mark.parametrize("dtype,K,W", [(np.float32, 15, 16), (np.float32, 16, 16),
                                       (np.float32, 50, 64), (np.float64, 15, 16),
                                       (np.float64, 100, 104)])
def test_pad_rows_fills_whole_aligned_cache_lines(dtype, K, W):
    A = np.random.default_rng(10).normal(size=(7, K)).astype(dtype)
    Ap = mf_jit_fast.pad_rows(A)
    assert Ap.shape == (7, W) and Ap.dtype == dtype and Ap.flags.c_contiguous
    assert Ap.ctypes.data % 64 == 0 and (W * Ap.itemsize) % 64 == 0
    assert np.array_equal(Ap[:, :K], A)
    assert np.all(Ap[:, K:] == 0) and not np.any(np.signbit(Ap[:, K:]))


def test_pack_ratings_uses_16_byte_records():
    users, items, ratings, _ = make_problem(np.random.default_rng(11), dtype=np.float32)
    rec = mf_jit_fast.pack_ratings(users, items, ratings)
    assert rec.itemsize == 16
    assert np.array_equal(rec["u"], users) and np.array_equal(rec["r"], ratings)
    assert mf_jit_fast.pack_ratings(users, items, ratings.astype(np.float64)).itemsize == 16
