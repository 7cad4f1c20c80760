"""Ratings per second of a fit epoch for each matrix-factorization engine on ML-100k.

Biased MF, lr 0.005, reg 0.02, on the 100,000 ratings of ML-100k ``u.data``,
K in {15, 50, 100}, float32 and float64:

* ``jit`` (the readable kernel compiled), ``jit-fast`` (the same numbers with
  padded rows, packed ratings and prefetching), both on one thread;
* ``blocks`` (the default engine of ``mf``/``biased-mf``: a grid of blocks in a
  cheap random order) on 1 and 2 threads;
* ``jit-hogwild`` and ``jit-fast-hogwild`` (all threads, non-deterministic);
* references in the same run (K=15 and K=100, float32): ``kernel only`` rows of
  jit, jit-fast and blocks (the order drawn outside the timed region), the
  blocks kernel over a ``fixed order`` (no randomness), and the ``memory
  floor``: a blocks epoch doing the same loads and stores without the arithmetic;
* ``vectorized`` at several batch sizes;
* ``loop`` (pure Python) on a fixed 20,000-rating subsample, since it is
  hundreds of times slower; ratings/second makes it comparable;
* peers, when an interpreter has them: Surprise's ``SVD`` (Cython, float64,
  walks the ratings in a fixed order without shuffling), a PyTorch embedding
  model (float32, one thread, plain SGD, batch 128 and 1024, ``randperm`` each
  epoch) and LIBMF through the ``libmf`` package (block-grid SGD with AdaGrad,
  no biases, float32, 1 and 2 threads; an epoch is the marginal cost of ten
  more iterations, its one-off binning left out). Each runs in a subprocess of
  this interpreter when it can import the peer, else of ``--peers-python PATH``
  (or ``$MFCORE_PEERS_PYTHON``); a peer found nowhere is recorded as "not
  installed". They are never mfcore dependencies.

Every rate is a *fit epoch* unless labelled otherwise: the engine's per-epoch
order (``rng.permutation`` of all ratings, or the ``blocks`` engine's own draw)
is drawn inside the timed region. The engines of one K and dtype run
interleaved (epoch k of each, then epoch k + 1), so a change of load hits them
all; warm-up epochs, then the median and best wall-clock rates, and the best
*CPU-time* rate (process CPU seconds, one-thread rows only), which is what the
kernel achieves while scheduled on a loaded machine. ``BiasedMF.fit`` rows time
whole fit epochs through the model. Numba compile time is reported apart: this
script points ``NUMBA_CACHE_DIR`` at a fresh temporary folder, so it is a real
compilation, not a cache load.

Run it for real on a quiet machine (about a minute on 2 CPUs, the peers included)::

    python benchmarks/bench_engines.py [--peers-python PATH]

and write ``uptime`` next to the results. ``--quick`` (K=15 only, fewer
repeats) is a smoke run: it writes into a temporary folder, not into
``benchmarks/results``.

Writes ``benchmarks/results/engines.json`` and ``engines.md``.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__" and "--peer" not in sys.argv:  # real compile times, not cache loads
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="mfcore-bench-numba-"))

import numpy as np  # noqa: E402

from _common import RESULTS, load_average, markdown_table, ml100k_dir, peer_python, write_results  # noqa: E402

PEERS = {"surprise": "Surprise", "torch": "PyTorch", "libmf": "LIBMF"}  # module -> name in the tables
LR, REG, SEED = 0.005, 0.02, 0
TARGETS = {"jit_100k": 60e6, "jit_25m": 14e6, "jit_fast_25m_stretch": 50e6, "vectorized_100k": 3e6,
           "over_surprise": 25.0, "hogwild_2_threads": 1.5, "peak_memory_25m_mb": 1500,
           # issue 10, the blocks engine (fit epochs, K=15 float32 unless said)
           "blocks_100k": 100e6, "blocks_25m": 85e6, "blocks_fixed_order_over_blocks_25m": 1.3,
           "blocks_2_threads_25m": 1.7, "blocks_K100_25m": 25e6, "blocks_peak_memory_25m_mb": 1200,
           "blocks_randomisation_share": 0.15}
SINGLE_THREAD = ("loop", "vectorized", "jit", "jit-fast")
JIT_ENGINES = ("jit", "jit-fast", "jit-hogwild", "jit-fast-hogwild", "blocks")


# ------------------------------------------------------------------ mfcore engines
def arrays_of(data, dtype, subsample=None):
    """users, items (int32) and ratings (``dtype``) as BiasedMF prepares them; ``subsample``
    keeps a fixed random subset of the ratings."""
    users, items, values = data[:3]
    rows = np.sort(np.random.default_rng(SEED).permutation(len(values))[:subsample]) if subsample \
        else slice(None)
    return dict(users=np.array(users[rows], np.int32),  # writable copies, as BiasedMF makes
                items=np.array(items[rows], np.int32),
                ratings=np.array(values[rows], dtype))


def initial_state(n_users, n_items, K, dtype):
    rng = np.random.default_rng(SEED + 2)
    return dict(bu=np.zeros(n_users, dtype), bi=np.zeros(n_items, dtype),
                P=rng.normal(0, 0.1, (n_users, K)).astype(dtype),
                Q=rng.normal(0, 0.1, (n_items, K)).astype(dtype))


class Runner:
    """One row of the table: an epoch function with its own parameters, timed one epoch at a time.

    A *fit epoch* (``variant=None``) times what a user waits for per epoch: the engine's
    per-epoch order (``rng.permutation`` of all ratings, or the ``blocks`` engine's own cheap
    draw) and the epoch itself. ``variant="kernel only"`` draws the order outside the timed
    region. For ``engine="blocks"``: ``"fixed order"`` (kernel only, no randomness at all:
    blocks row by row, records as stored, one thread) and ``"memory floor"`` (a fit epoch of
    the same loads and stores without the arithmetic). Blocks runners of one data set, K and
    dtype share one grid (bucketed once, outside any timing: a fit does it once); ``by_user``
    (blocks only) overrides the engine's rule for grouping each block by user (its rows:
    "fit epoch, not grouped" when False).
    """

    arrays = {}  # (id of the data, subsample, dtype) -> arrays shared by the runners
    grids = {}  # (id of the data, subsample, K, dtype) -> (arrays, Grid, seconds)

    @classmethod
    def forget(cls):
        """Drop the shared arrays and grids (between groups of runners: bounds the memory)."""
        cls.arrays.clear()
        cls.grids.clear()

    def __init__(self, data, engine, K, dtype, batch_size=1, subsample=None, n_threads=None,
                 variant=None, by_user=None):
        from mfcore.engines import epoch_order, get_epoch_fn
        from mfcore.engines.mf_blocks import BlockEpoch, fixed_order, group_by_user

        self.engine, self.K, self.dtype, self.variant = engine, K, np.dtype(dtype), variant
        self.by_user = by_user
        self.batch_size, self.subsample, self.data = batch_size, subsample, data
        self.threads = n_threads or (1 if engine in SINGLE_THREAD + ("blocks",) else "all")
        key = (id(data), subsample, self.dtype.name)
        if key not in Runner.arrays:
            Runner.arrays[key] = arrays_of(data, self.dtype, subsample)
        a, self.state = Runner.arrays[key], initial_state(data[3], data[4], K, self.dtype)
        if engine == "blocks":
            self.fn = BlockEpoch("biased", n_threads=n_threads or 1, memory_floor=variant == "memory floor",
                                 by_user=by_user)
        else:
            self.fn = get_epoch_fn("biased", engine, batch_size=batch_size, n_threads=n_threads)
        t = self.dtype.type
        self.args = (t(a["ratings"].mean()), t(LR), t(REG))
        self.m, self.order_rng = len(a["ratings"]), np.random.default_rng(SEED + 1)
        one = np.zeros(1, np.int32)  # compile on a one-rating dummy (real compilations: see the top)
        tiny = dict(bu=np.zeros(1, self.dtype), bi=np.zeros(1, self.dtype),
                    P=np.zeros((1, K), self.dtype), Q=np.zeros((1, K), self.dtype))
        start = time.perf_counter()
        self._call(dict(users=one, items=one.copy(), ratings=np.ones(1, self.dtype)), tiny,
                   epoch_order(self.fn, np.random.default_rng(0), 1))
        self.compile_seconds = time.perf_counter() - start if engine in JIT_ENGINES else 0.0
        self.setup_seconds = 0.0
        if engine == "blocks":
            grouped = group_by_user(data[3], data[4], K, self.dtype.itemsize) if by_user is None else by_user
            key = (id(data), subsample, K, self.dtype.name, grouped)  # one grid per order, not per option
            if key not in Runner.grids:
                start = time.perf_counter()
                grid = self.fn.bucket(a["users"], a["items"], a["ratings"], data[3], data[4], K,
                                      np.random.default_rng(SEED + 3))  # every runner's order_rng
                # then starts at the same state: the same data, K and dtype get the same orders
                Runner.grids[key] = (a, grid, time.perf_counter() - start)
            a, grid, self.setup_seconds = Runner.grids[key]
            self.fn.adopt(grid, a["users"], a["items"], a["ratings"], data[3], data[4])
            self.fixed = fixed_order(grid) if variant == "fixed order" else None
        if hasattr(self.fn, "padded_view"):  # jit-fast, blocks: P and Q kept in the engine's padded
            for name in ("P", "Q"):  # rows, as BiasedMF.fit keeps them
                self.state[name] = self.fn.padded_view(name, self.state[name])
        self.arrays, self.wall, self.cpu, self.sse = a, [], [], 0.0
        self.set = None

    def _call(self, arrays, state, order):
        mu, lr, reg = self.args
        return self.fn(arrays["users"], arrays["items"], arrays["ratings"], order, mu, state["bu"],
                       state["bi"], state["P"], state["Q"], lr, reg)

    def _draw(self):
        from mfcore.engines import epoch_order
        from mfcore.engines.mf_blocks import draw_order

        if self.engine == "blocks":
            return self.fixed if self.variant == "fixed order" else draw_order(self.fn.grid_, self.order_rng)
        return epoch_order(self.fn, self.order_rng, self.m)

    def epoch(self):
        """Time one epoch (appends to ``wall`` and ``cpu``)."""
        from mfcore.engines import epoch_order

        outside = self.variant in ("kernel only", "fixed order")
        order = self._draw() if outside else None
        c0, w0 = time.process_time(), time.perf_counter()
        if not outside:
            order = epoch_order(self.fn, self.order_rng, self.m)
        self.sse = self._call(self.arrays, self.state, order)
        w1, c1 = time.perf_counter(), time.process_time()
        self.wall.append(w1 - w0)
        self.cpu.append(c1 - c0)

    def row(self, warmup):
        if not np.isfinite(self.sse) and self.variant != "memory floor":
            raise FloatingPointError(f"{self.engine} diverged in the benchmark")
        wall, cpu = self.wall[warmup:], self.cpu[warmup:]
        med, m = float(np.median(wall)), self.m
        ungrouped = self.by_user is False and self.variant is None
        variant = "fit epoch, not grouped" if ungrouped else self.variant or "fit epoch"
        return {"engine": self.engine, "variant": variant,
                "rate": "kernel only" if self.variant in ("kernel only", "fixed order") else "fit epoch",
                "dtype": self.dtype.name, "K": self.K, "batch_size": self.batch_size,
                "threads": self.threads, "n_ratings": m, "n_users": self.data[3],
                "n_items": self.data[4], "epoch_seconds": med, "ratings_per_second": m / med,
                "best_ratings_per_second": m / min(wall),
                "cpu_ratings_per_second": m / min(cpu) if self.threads == 1 else None,
                "compile_seconds": self.compile_seconds, "setup_seconds": self.setup_seconds,
                "repeats": len(wall), "subsample": self.subsample, "set": self.set,
                "round_seconds": [float(x) for x in wall],
                "grouped_by_user": self.fn.grid_.by_user if self.engine == "blocks" else None}


def measure(runners, warmup=2, repeats=5, log=print):
    """Interleaved repeats: epoch k of every runner, then epoch k + 1 (a load change hits all rows)."""
    for k in range(warmup + repeats):
        for r in runners:
            r.epoch()
        log(f"  round {k + 1}/{warmup + repeats} done")
    return [r.row(warmup) for r in runners]


def time_engine(data, engine, K, dtype, warmup=2, repeats=5, **options):
    """One row measured alone (see :class:`Runner`)."""
    return measure([Runner(data, engine, K, dtype, **options)], warmup, repeats, log=lambda s: None)[0]


def _row(name, n, seconds):
    return {"engine": name, "variant": "randomisation only", "rate": "part of a fit epoch",
            "dtype": None, "K": None, "batch_size": None, "threads": 1, "n_ratings": n,
            "epoch_seconds": float(np.median(seconds)),
            "ratings_per_second": n / float(np.median(seconds)), "best_ratings_per_second": n / min(seconds),
            "cpu_ratings_per_second": None, "compile_seconds": 0.0, "setup_seconds": 0.0,
            "repeats": len(seconds)}


def time_shuffle(n, repeats=5):
    """Seconds of ``Generator.permutation(n)``: the per-epoch order of the reshuffling engines."""
    rng = np.random.default_rng(SEED)
    wall = []
    for _ in range(repeats):
        w0 = time.perf_counter()
        rng.permutation(n)
        wall.append(time.perf_counter() - w0)
    return _row("shuffle (rng.permutation)", n, wall)


def time_draw(runner, repeats=5):
    """Seconds of the blocks engine's per-epoch draw (:func:`mfcore.engines.mf_blocks.draw_order`)."""
    from mfcore.engines.mf_blocks import draw_order

    rng, wall = np.random.default_rng(SEED), []
    for _ in range(repeats):
        w0 = time.perf_counter()
        draw_order(runner.fn.grid_, rng)
        wall.append(time.perf_counter() - w0)
    row = _row("blocks order (draw_order)", runner.m, wall)
    row.update(K=runner.K, dtype=runner.dtype.name, grid=runner.fn.grid_.g)
    return row


def time_fit(ratings, engine, K=15, dtype="float32", n_epochs=12):
    """Whole BiasedMF.fit epochs (per-epoch order included), median after the first two."""
    from mfcore.models.mf import BiasedMF

    model = BiasedMF(n_factors=K, n_epochs=n_epochs, lr=LR, reg=REG, init_std=0.1, dtype=dtype,
                     engine=engine, n_threads=1 if engine == "blocks" else None, rng=SEED).fit(ratings)
    seconds = model.history_["seconds"][2:]
    med = float(np.median(seconds))
    return {"engine": f"{engine} (BiasedMF.fit)", "variant": "model fit", "rate": "fit epoch",
            "dtype": np.dtype(dtype).name, "K": K, "batch_size": 1, "threads": 1,
            "n_ratings": len(ratings), "epoch_seconds": med, "ratings_per_second": len(ratings) / med,
            "best_ratings_per_second": len(ratings) / float(np.min(seconds)),
            "cpu_ratings_per_second": None, "compile_seconds": model.history_.compile_seconds,
            "setup_seconds": 0.0, "repeats": n_epochs - 2}


def pick(rows, engine, variant="fit epoch", key="ratings_per_second", K=15, dtype="float32", **match):
    """``key`` of the first row matching, or None."""
    for r in rows:
        if (r["engine"] == engine and r.get("variant") == variant and r["K"] == K
                and r["dtype"] == dtype and all(r.get(k) == v for k, v in match.items())):
            return r[key]
    return None


def add_floor_ratios(rows):
    """Each row's rate over the memory floor's rate of the same data, K and dtype (when measured)."""
    for r in rows:
        floor = pick(rows, "blocks", "memory floor", K=r["K"], dtype=r["dtype"],
                     n_ratings=r["n_ratings"], set=r.get("set"))
        epoch = r.get("variant") != "randomisation only"
        r["of_memory_floor"] = r["ratings_per_second"] / floor if floor and epoch else None


# ------------------------------------------------------------------ peers (another interpreter)
def run_peers(ks, quick, python=None):
    """``(rows, notes)``: the rows of Surprise and PyTorch, each measured by this script in a
    subprocess of an interpreter that has the peer, and per peer a note (its version and
    interpreter, or "not installed ...", or why it failed)."""
    rows, notes = [], {}
    for peer in PEERS:
        interpreter, notes[peer] = peer_python(peer, python)
        if interpreter is None:
            print(f"peer {PEERS[peer]}: {notes[peer]}", flush=True)
            continue
        cmd = [interpreter, __file__, "--peer", peer, str(ml100k_dir() / "u.data"),
               ",".join(map(str, ks)), "2" if quick else "4"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if out.returncode:
            notes[peer] = f"failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}"
            print(f"peer {PEERS[peer]} failed:\n{out.stderr[-2000:]}", flush=True)
            continue
        rows += json.loads(out.stdout.strip().splitlines()[-1])
    return rows, notes


def peer_main(peer, path, ks, repeats):
    """Runs inside the peers' interpreter: numpy + surprise or torch, no mfcore."""
    raw = np.loadtxt(path, dtype=np.int64)  # (n, 4): user item rating timestamp
    n = len(raw)
    rows = []

    def row(name, K, batch, seconds, cpu, dtype, threads):
        med = float(np.median(seconds))
        return {"engine": name, "dtype": dtype, "K": K, "batch_size": batch, "n_ratings": n,
                "epoch_seconds": med, "ratings_per_second": n / med,
                "best_ratings_per_second": n / min(seconds), "cpu_ratings_per_second": n / min(cpu),
                "compile_seconds": 0.0, "repeats": len(seconds), "threads": threads}

    if peer == "surprise":
        import surprise
        from surprise import SVD, Dataset, Reader

        trainset = Dataset.load_from_file(path, Reader("ml-100k")).build_full_trainset()
        for K in ks:
            seconds, cpu = [], []
            for rep in range(repeats + 1):  # the first fit is a warm-up
                algo = SVD(n_factors=K, n_epochs=5, lr_all=LR, reg_all=REG, random_state=rep)
                c0, w0 = time.process_time(), time.perf_counter()
                algo.fit(trainset)
                seconds.append((time.perf_counter() - w0) / 5)
                cpu.append((time.process_time() - c0) / 5)
            rows.append(row(f"surprise SVD {surprise.__version__}", K, 1, seconds[1:], cpu[1:],
                            "float64", 1))
    elif peer == "libmf":
        from libmf import mf as libmf

        # LIBMF (Chin et al.): block-grid SGD with AdaGrad steps, no biases, float32. Its fit
        # also bins and shuffles the data once; an epoch is the marginal cost of 10 more
        # iterations, (fit(11) - fit(1)) / 10, so that one-off setup is left out as ours is.
        data = np.column_stack([raw[:, 0] - 1, raw[:, 1] - 1, raw[:, 2]]).astype(np.float32)
        for K in ks:
            for threads in (1, 2):
                seconds, cpu = [], []
                for rep in range(repeats + 1):  # the first pair is a warm-up
                    t = {}
                    for iters in (1, 11):
                        engine = libmf.MF(k=K, nr_iters=iters, nr_threads=threads, quiet=True,
                                          eta=0.1, lambda_p1=REG, lambda_q1=REG)
                        c0, w0 = time.process_time(), time.perf_counter()
                        engine.fit(data)
                        t[iters] = (time.perf_counter() - w0, time.process_time() - c0)
                    seconds.append((t[11][0] - t[1][0]) / 10)
                    cpu.append((t[11][1] - t[1][1]) / 10 / threads)
                rows.append(row("libmf (AdaGrad, no biases)", K, 1, seconds[1:], cpu[1:], "float32",
                                threads))
    else:
        import torch

        torch.set_num_threads(1)  # compared with single-thread kernels
        torch.manual_seed(SEED)
        u = torch.as_tensor(raw[:, 0] - 1)
        i = torch.as_tensor(raw[:, 1] - 1)
        r = torch.as_tensor(raw[:, 2], dtype=torch.float32)
        mu = float(r.mean())
        for K in ks:
            for B in (128, 1024):
                P, Q = torch.nn.Embedding(int(u.max()) + 1, K), torch.nn.Embedding(int(i.max()) + 1, K)
                bu, bi = torch.nn.Embedding(int(u.max()) + 1, 1), torch.nn.Embedding(int(i.max()) + 1, 1)
                params = [*P.parameters(), *Q.parameters(), *bu.parameters(), *bi.parameters()]
                opt = torch.optim.SGD(params, lr=0.05)
                seconds, cpu = [], []
                for ep in range(repeats + 1):
                    c0, w0 = time.process_time(), time.perf_counter()
                    perm = torch.randperm(n)  # its per-epoch shuffle is part of the fit epoch
                    for s in range(0, n, B):
                        idx = perm[s:s + B]
                        uu, ii = u[idx], i[idx]
                        pred = mu + bu(uu)[:, 0] + bi(ii)[:, 0] + (P(uu) * Q(ii)).sum(1)
                        loss = ((pred - r[idx]) ** 2).mean()
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                    seconds.append(time.perf_counter() - w0)
                    cpu.append(time.process_time() - c0)
                rows.append(row(f"pytorch {torch.__version__.split('+')[0]} embeddings", K, B,
                                seconds[1:], cpu[1:], "float32", 1))
    print(json.dumps(rows))


# ------------------------------------------------------------------ report
def summarize(rows):
    """The acceptance figures that this file can measure (ML-100k; issues 3 and 10)."""
    def get(engine, K=15, dtype="float32", key="ratings_per_second", **match):
        for r in rows:
            name = r["engine"].split()[0] if engine == "surprise" else r["engine"]
            if (name == engine and r["K"] == K and r["dtype"] == dtype
                    and all(r.get(k) == v for k, v in match.items())):
                return r[key]
        return None

    def ratio(a, b):
        return a / b if a and b else None

    svd = get("surprise", dtype="float64")
    jit, fast, loop = get("jit", variant="fit epoch"), get("jit-fast", variant="fit epoch"), get("loop")
    blocks = get("blocks", variant="fit epoch", threads=1)
    blocks_s = get("blocks", variant="fit epoch", threads=1, key="epoch_seconds")
    draw_s = get("blocks order (draw_order)", key="epoch_seconds", variant="randomisation only")
    vec = max((r["ratings_per_second"] for r in rows
               if r["engine"] == "vectorized" and r["K"] == 15 and r["dtype"] == "float32"), default=None)
    return {
        "jit_float32_K15": jit, "jit_fast_float32_K15": fast,
        "jit_float32_K15_best": get("jit", variant="fit epoch", key="best_ratings_per_second"),
        "jit_fast_float32_K15_best": get("jit-fast", variant="fit epoch", key="best_ratings_per_second"),
        "jit_float32_K15_cpu": get("jit", variant="fit epoch", key="cpu_ratings_per_second"),
        "jit_fast_float32_K15_cpu": get("jit-fast", variant="fit epoch", key="cpu_ratings_per_second"),
        "blocks_float32_K15": blocks,
        "blocks_float32_K15_best": get("blocks", variant="fit epoch", threads=1,
                                       key="best_ratings_per_second"),
        "blocks_float32_K15_cpu": get("blocks", variant="fit epoch", threads=1,
                                      key="cpu_ratings_per_second"),
        "blocks_2_threads_over_1": ratio(get("blocks", variant="fit epoch", threads=2), blocks),
        "blocks_fixed_order_over_blocks": ratio(get("blocks", variant="fixed order"), blocks),
        "blocks_over_memory_floor": ratio(blocks, get("blocks", variant="memory floor")),
        "blocks_randomisation_share": draw_s / blocks_s if draw_s and blocks_s else None,
        "blocks_float32_K100": get("blocks", K=100, variant="fit epoch", threads=1),
        "vectorized_float32_K15_best_batch": vec,
        "surprise_svd_K15": svd,
        "jit_over_surprise": ratio(jit, svd), "jit_fast_over_surprise": ratio(fast, svd),
        "blocks_over_surprise": ratio(blocks, svd), "blocks_over_jit": ratio(blocks, jit),
        "jit_over_loop": ratio(jit, loop),
        "targets": TARGETS,
    }


def fmt_rate(x):
    return None if x is None else x / 1e6


def table(rows):
    return markdown_table(
        ["engine", "what", "threads", "dtype", "K", "batch", "ratings", "M/s median", "M/s best",
         "M/s CPU-time", "of floor", "epoch ms", "compile s", "setup s"],
        [[r["engine"], r.get("variant", r.get("rate")), r.get("threads"), r["dtype"], r["K"],
          r["batch_size"], r["n_ratings"], fmt_rate(r["ratings_per_second"]),
          fmt_rate(r["best_ratings_per_second"]), fmt_rate(r.get("cpu_ratings_per_second")),
          r.get("of_memory_floor"), r["epoch_seconds"] * 1e3, r["compile_seconds"],
          r.get("setup_seconds")]
         for r in rows])


def runners_100k(data, K, dtype, quick):
    """The interleaved rows of one (K, dtype) on ML-100k."""
    rs = [Runner(data, e, K, dtype) for e in ("jit", "jit-fast", "jit-hogwild", "jit-fast-hogwild")]
    rs += [Runner(data, "blocks", K, dtype, n_threads=T) for T in (1, 2)]
    if dtype == "float32" and K in (15, 100):  # references of the same run
        rs += [Runner(data, e, K, dtype, variant="kernel only") for e in ("jit", "jit-fast")]
        rs += [Runner(data, "blocks", K, dtype, n_threads=1, variant=v)
               for v in ("kernel only", "fixed order", "memory floor")]
    return rs


def main(quick=False, peers_python=None):
    from mfcore.data import load_ml100k

    ratings = load_ml100k(ml100k_dir())
    data = (ratings.users, ratings.items, ratings.values, ratings.n_users, ratings.n_items)
    load_before = load_average()
    ks = (15,) if quick else (15, 50, 100)
    reps = 3 if quick else 5
    rows = []

    def add(row):
        rows.append(row)
        print(f"{row['engine']:26s} {row.get('variant', ''):18s} T={row.get('threads')!s:4s} "
              f"{row['dtype']!s:8s} K={row['K']!s:4s} B={row['batch_size']!s:5s} "
              f"{row['ratings_per_second'] / 1e6:8.3f} M/s median "
              f"{row['best_ratings_per_second'] / 1e6:8.3f} best  compile {row['compile_seconds']:.2f}s",
              flush=True)

    for K in ks:
        for dtype in ("float32", "float64"):
            print(f"K={K} {dtype}: interleaved epochs", flush=True)
            runners = runners_100k(data, K, dtype, quick)
            for row in measure(runners, warmup=3, repeats=4 * reps):
                add(row)
            if K == 15 and dtype == "float32":
                add(time_draw(runners[4], repeats=20))
            for B in (256, 1024, 4096):
                if K == 15 or B == 1024:
                    add(time_engine(data, "vectorized", K, dtype, batch_size=B, warmup=1, repeats=reps))
            add(time_engine(data, "loop", K, dtype, subsample=20_000, warmup=1,
                            repeats=1 if quick else 2))
    add(time_shuffle(len(ratings), repeats=20))
    for engine in ("jit", "jit-fast", "blocks"):
        add(time_fit(ratings, engine))
    peer_rows, peer_notes = run_peers(ks, quick, peers_python)
    for row in peer_rows:
        add(dict(row, variant="peer", rate="fit epoch"))
    add_floor_ratios(rows)
    summary = summarize(rows)
    summary["peers"] = peer_notes
    summary["load_average_before"], summary["load_average_after"] = load_before, load_average()
    s = summary
    pct = (lambda x: "-" if x is None else f"{x / 1e6:.1f}M/s")
    ratio = (lambda x: "-" if x is None else f"{x:.0f}x")
    peers_line = "; ".join(f"{PEERS[k]}: {v}" for k, v in peer_notes.items())
    mx = (lambda x: "-" if x is None else f"{x:.2f}x")
    share = (lambda x: "-" if x is None else f"{100 * x:.1f}%")
    text = f"""# SGD engines: biased MF on ML-100k u.data (100,000 ratings)

lr {LR}, reg {REG}; one thread unless the threads column says otherwise ("all": every CPU,
{os.cpu_count()} here). Load average before/after: {s['load_average_before']} /
{s['load_average_after']} on {os.cpu_count()} CPUs (a shared machine: compare ratios within
this run; "CPU-time" divides by the process CPU seconds, i.e. the speed while scheduled).

Every rate is a **fit epoch** (what a user waits for per epoch: the engine's per-epoch
order, `rng.permutation` of all ratings or the `blocks` engine's own draw, plus the epoch)
unless the "what" column says otherwise: *kernel only* rows draw the order outside the timed
region; *fixed order* is the `blocks` kernel over the grid with no randomness at all (blocks
row by row, records as stored); *memory floor* is a `blocks` fit epoch doing the same loads
and stores per rating without the arithmetic, and "of floor" is each rate over that floor
(same K and dtype). The rows of one K and dtype ran interleaved (epoch k of every engine,
then epoch k + 1); medians after warm-up. `setup s` is the blocks engine's one-off bucketing
(once per fit). The loop engine runs on a fixed 20,000-rating subsample; K=50/100 show only
batch 1024 for the vectorized engine. Compile times are real compilations (empty Numba cache).

{table(rows)}

Acceptance (float32, K=15, one thread, fit epochs): blocks {pct(s['blocks_float32_K15'])} median /
{pct(s['blocks_float32_K15_best'])} best / {pct(s['blocks_float32_K15_cpu'])} CPU-time (target
100M/s); {mx(s['blocks_over_memory_floor'])} of its memory floor; the fixed-order kernel over the
same grid is {mx(s['blocks_fixed_order_over_blocks'])} of it; its per-epoch randomisation is
{share(s['blocks_randomisation_share'])} of the epoch (target <= 15%); two threads
{mx(s['blocks_2_threads_over_1'])} one thread. K=100: {pct(s['blocks_float32_K100'])}.
jit {pct(s['jit_float32_K15'])} median / {pct(s['jit_float32_K15_best'])} best /
{pct(s['jit_float32_K15_cpu'])} CPU-time; jit-fast {pct(s['jit_fast_float32_K15'])} median /
{pct(s['jit_fast_float32_K15_best'])} best / {pct(s['jit_fast_float32_K15_cpu'])} CPU-time;
vectorized (best batch) {pct(s['vectorized_float32_K15_best_batch'])};
over Surprise's SVD at K=15: blocks {ratio(s['blocks_over_surprise'])}, jit
{ratio(s['jit_over_surprise'])}, jit-fast {ratio(s['jit_fast_over_surprise'])}; jit over loop
{ratio(s['jit_over_loop'])}. See scaling.md for the 1M-25M sets, threads and memory.

Peers: {peers_line}.
"""
    out = Path(tempfile.mkdtemp(prefix="mfcore-bench-engines-")) if quick else RESULTS
    write_results("engines", {"config": {"lr": LR, "reg": REG, "quick": quick}, "rows": rows,
                              "summary": summary}, text, directory=out)
    print(text)
    if quick:
        print(f"(quick run: results written to {out}, not to benchmarks/results)")


if __name__ == "__main__":
    if "--peer" in sys.argv:
        at = sys.argv.index("--peer")
        peer_main(sys.argv[at + 1], sys.argv[at + 2], [int(k) for k in sys.argv[at + 3].split(",")],
                  int(sys.argv[at + 4]))
    else:
        ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        ap.add_argument("--quick", action="store_true", help="K=15 only, fewer repeats")
        ap.add_argument("--peers-python", default=os.environ.get("MFCORE_PEERS_PYTHON"), metavar="PATH",
                        help="a Python that can import surprise and/or torch (default: "
                             "$MFCORE_PEERS_PYTHON, else this interpreter when it has them)")
        args = ap.parse_args()
        main(quick=args.quick, peers_python=args.peers_python)
