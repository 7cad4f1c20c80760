"""Ratings per second per SGD epoch for each matrix-factorization engine on ML-100k.

Biased MF, lr 0.005, reg 0.02, on the 100,000 ratings of ML-100k ``u.data``,
K in {15, 50, 100}, float32 and float64:

* ``jit`` (the readable kernel compiled), ``jit-fast`` (the same numbers with
  padded rows, packed ratings and prefetching), both on one thread;
* ``jit-hogwild`` and ``jit-fast-hogwild`` (all threads, non-deterministic);
* ``vectorized`` at several batch sizes;
* ``loop`` (pure Python) on a fixed 20,000-rating subsample, since it is
  hundreds of times slower; ratings/second makes it comparable;
* peers, when an interpreter has them: Surprise's ``SVD`` (Cython, float64,
  fixed order) and a PyTorch embedding model (float32, one thread, plain SGD,
  batch 128 and 1024). Each runs in a subprocess of this interpreter when it
  can import the peer, else of ``--peers-python PATH`` (or
  ``$MFCORE_PEERS_PYTHON``); a peer found nowhere is recorded as "not
  installed". They are never mfcore dependencies.

Every row: warm-up epochs, then timed epochs; median and best wall-clock
ratings/s, and the best *CPU-time* rate (process CPU seconds, single-thread
engines and peers only), which is what the kernel achieves while it is scheduled on a
loaded machine. The shuffle is drawn outside the timed region (its own row);
``model fit`` rows time whole ``BiasedMF.fit`` epochs (shuffle included).
Numba compile time is reported apart: this script points ``NUMBA_CACHE_DIR`` at a
fresh temporary folder, so it is a real compilation, not a cache load.

    python benchmarks/bench_engines.py [--quick] [--peers-python PATH]

Writes ``benchmarks/results/engines.json`` and ``engines.md``.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

if __name__ == "__main__" and "--peer" not in sys.argv:  # real compile times, not cache loads
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="mfcore-bench-numba-"))

import numpy as np  # noqa: E402

from _common import markdown_table, ml100k_dir, peer_python, write_results  # noqa: E402

PEERS = {"surprise": "Surprise", "torch": "PyTorch"}  # importable module -> name in the tables
LR, REG, SEED = 0.005, 0.02, 0
TARGETS = {"jit_100k": 60e6, "jit_25m": 14e6, "jit_fast_25m_stretch": 50e6, "vectorized_100k": 3e6,
           "over_surprise": 25.0, "hogwild_2_threads": 1.5, "peak_memory_25m_mb": 1500}
SINGLE_THREAD = ("loop", "vectorized", "jit", "jit-fast")


def load_average():
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


# ------------------------------------------------------------------ mfcore engines
def problem(users, items, values, n_users, n_items, K, dtype, subsample=None):
    """Arrays as BiasedMF prepares them; ``subsample`` keeps a fixed random subset of ratings."""
    rng = np.random.default_rng(SEED)
    rows = np.sort(rng.permutation(len(values))[:subsample]) if subsample else slice(None)
    arrays = dict(users=np.array(users[rows], np.int32),  # writable copies, as BiasedMF makes
                  items=np.array(items[rows], np.int32),
                  ratings=np.array(values[rows], dtype))
    state = dict(bu=np.zeros(n_users, dtype), bi=np.zeros(n_items, dtype),
                 P=rng.normal(0, 0.1, (n_users, K)).astype(dtype),
                 Q=rng.normal(0, 0.1, (n_items, K)).astype(dtype))
    return arrays, state


def time_engine(data, engine, K, dtype, batch_size=1, subsample=None, warmup=2, repeats=5,
                n_threads=None):
    """One row: ratings/s of one epoch (median, best; wall and CPU) and the compile seconds."""
    from mfcore.engines import get_epoch_fn

    dtype = np.dtype(dtype)
    a, s = problem(*data, K, dtype, subsample)
    fn = get_epoch_fn("biased", engine, batch_size=batch_size, n_threads=n_threads)
    t = dtype.type
    mu, m = t(a["ratings"].mean()), len(a["ratings"])
    order_rng = np.random.default_rng(SEED + 1)

    def epoch(order, arrays=a, st=s):
        return fn(arrays["users"], arrays["items"], arrays["ratings"], order, mu, st["bu"], st["bi"],
                  st["P"], st["Q"], t(LR), t(REG))

    one = np.zeros(1, np.int32)
    dummy = dict(users=one, items=one.copy(), ratings=np.ones(1, dtype))
    tiny = dict(bu=np.zeros(1, dtype), bi=np.zeros(1, dtype), P=np.zeros((1, K), dtype),
                Q=np.zeros((1, K), dtype))
    start = time.perf_counter()
    epoch(np.zeros(1, np.int64), dummy, tiny)  # compiles the jit engines
    compile_seconds = time.perf_counter() - start if engine.startswith("jit") else 0.0
    wall, cpu = [], []
    for k in range(warmup + repeats):
        order = order_rng.permutation(m)  # drawn outside the timed region
        c0, w0 = time.process_time(), time.perf_counter()
        sse = epoch(order)
        w1, c1 = time.perf_counter(), time.process_time()
        if k >= warmup:
            wall.append(w1 - w0)
            cpu.append(c1 - c0)
    if not np.isfinite(sse):
        raise FloatingPointError(f"{engine} diverged in the benchmark")
    med = float(np.median(wall))
    return {"engine": engine, "dtype": dtype.name, "K": K, "batch_size": batch_size,
            "n_ratings": m, "n_users": data[3], "n_items": data[4], "epoch_seconds": med,
            "ratings_per_second": m / med, "best_ratings_per_second": m / min(wall),
            "cpu_ratings_per_second": m / min(cpu) if engine in SINGLE_THREAD else None,
            "compile_seconds": compile_seconds, "repeats": repeats,
            "threads": n_threads or (None if engine in SINGLE_THREAD else "all"),
            "subsample": subsample}


def time_shuffle(n, repeats=5):
    """Seconds of ``Generator.permutation(n)``: the per-epoch order every engine gets."""
    rng = np.random.default_rng(SEED)
    wall = []
    for _ in range(repeats):
        w0 = time.perf_counter()
        rng.permutation(n)
        wall.append(time.perf_counter() - w0)
    return {"engine": "shuffle (rng.permutation)", "dtype": "int64", "K": None, "batch_size": None,
            "n_ratings": n, "epoch_seconds": float(np.median(wall)),
            "ratings_per_second": n / float(np.median(wall)), "best_ratings_per_second": n / min(wall),
            "cpu_ratings_per_second": None, "compile_seconds": 0.0, "repeats": repeats}


def time_fit(ratings, engine, K=15, dtype="float32", n_epochs=12):
    """Whole BiasedMF.fit epochs (shuffle included), median after the first two."""
    from mfcore.models.mf import BiasedMF

    model = BiasedMF(n_factors=K, n_epochs=n_epochs, lr=LR, reg=REG, init_std=0.1, dtype=dtype,
                     engine=engine, rng=SEED).fit(ratings)
    seconds = model.history_["seconds"][2:]
    med = float(np.median(seconds))
    return {"engine": f"{engine} (model fit)", "dtype": np.dtype(dtype).name, "K": K,
            "batch_size": 1, "n_ratings": len(ratings), "epoch_seconds": med,
            "ratings_per_second": len(ratings) / med,
            "best_ratings_per_second": len(ratings) / float(np.min(seconds)),
            "cpu_ratings_per_second": None, "compile_seconds": model.history_.compile_seconds,
            "repeats": n_epochs - 2}


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
                    perm = torch.randperm(n)
                    c0, w0 = time.process_time(), time.perf_counter()
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
    """The acceptance figures of issue 3 that this file can measure (ML-100k)."""
    def get(engine, K=15, dtype="float32", key="ratings_per_second", **match):
        for r in rows:
            name = r["engine"].split()[0] if engine == "surprise" else r["engine"]
            if (name == engine and r["K"] == K and r["dtype"] == dtype
                    and all(r.get(k) == v for k, v in match.items())):
                return r[key]
        return None

    svd = get("surprise", dtype="float64")
    jit, fast, loop = get("jit", batch_size=1), get("jit-fast"), get("loop")
    vec = max((r["ratings_per_second"] for r in rows
               if r["engine"] == "vectorized" and r["K"] == 15 and r["dtype"] == "float32"), default=None)
    return {
        "jit_float32_K15": jit, "jit_fast_float32_K15": fast,
        "jit_float32_K15_best": get("jit", key="best_ratings_per_second"),
        "jit_fast_float32_K15_best": get("jit-fast", key="best_ratings_per_second"),
        "jit_float32_K15_cpu": get("jit", key="cpu_ratings_per_second"),
        "jit_fast_float32_K15_cpu": get("jit-fast", key="cpu_ratings_per_second"),
        "vectorized_float32_K15_best_batch": vec,
        "surprise_svd_K15": svd,
        "jit_over_surprise": jit / svd if svd else None,
        "jit_fast_over_surprise": fast / svd if svd else None,
        "jit_over_loop": jit / loop if loop else None,
        "targets": TARGETS,
    }


def fmt_rate(x):
    return None if x is None else x / 1e6


def table(rows):
    return markdown_table(
        ["engine", "dtype", "K", "batch", "ratings", "M/s median", "M/s best", "M/s CPU-time",
         "epoch ms", "compile s"],
        [[r["engine"], r["dtype"], r["K"], r["batch_size"], r["n_ratings"],
          fmt_rate(r["ratings_per_second"]), fmt_rate(r["best_ratings_per_second"]),
          fmt_rate(r.get("cpu_ratings_per_second")), r["epoch_seconds"] * 1e3, r["compile_seconds"]]
         for r in rows])


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
        print(f"{row['engine']:26s} {row['dtype']:8s} K={row['K']!s:4s} B={row['batch_size']!s:5s} "
              f"{row['ratings_per_second'] / 1e6:8.3f} M/s median {row['best_ratings_per_second'] / 1e6:8.3f}"
              f" best  compile {row['compile_seconds']:.2f}s", flush=True)

    for K in ks:
        for dtype in ("float32", "float64"):
            for engine in ("jit", "jit-fast", "jit-hogwild", "jit-fast-hogwild"):
                add(time_engine(data, engine, K, dtype, warmup=3, repeats=4 * reps))
            for B in (256, 1024, 4096):
                if K == 15 or B == 1024:
                    add(time_engine(data, "vectorized", K, dtype, batch_size=B, warmup=1, repeats=reps))
            add(time_engine(data, "loop", K, dtype, subsample=20_000, warmup=1,
                            repeats=1 if quick else 2))
    add(time_shuffle(len(ratings), repeats=20))
    for engine in ("jit", "jit-fast"):
        add(time_fit(ratings, engine))
    peer_rows, peer_notes = run_peers(ks, quick, peers_python)
    for row in peer_rows:
        add(row)
    summary = summarize(rows)
    summary["peers"] = peer_notes
    summary["load_average_before"], summary["load_average_after"] = load_before, load_average()
    s = summary
    pct = (lambda x: "-" if x is None else f"{x / 1e6:.1f}M/s")
    ratio = (lambda x: "-" if x is None else f"{x:.0f}x")
    peers_line = "; ".join(f"{PEERS[k]}: {v}" for k, v in peer_notes.items())
    text = f"""# SGD engines: biased MF on ML-100k u.data (100,000 ratings)

lr {LR}, reg {REG}; one thread unless the engine says hogwild (all {os.cpu_count()} CPUs).
Load average before/after: {s['load_average_before']} / {s['load_average_after']} on
{os.cpu_count()} CPUs (a shared machine: compare ratios within this run; "CPU-time"
divides by the process CPU seconds, i.e. the speed while scheduled).
Kernel rows exclude the per-epoch shuffle (its own row); 'model fit' rows include it.
The loop engine runs on a fixed 20,000-rating subsample; K=50/100 show only batch 1024
for the vectorized engine. Compile times are real compilations (empty Numba cache).

{table(rows)}

Acceptance (float32, K=15, one thread): jit {pct(s['jit_float32_K15'])} median /
{pct(s['jit_float32_K15_best'])} best / {pct(s['jit_float32_K15_cpu'])} CPU-time;
jit-fast {pct(s['jit_fast_float32_K15'])} median / {pct(s['jit_fast_float32_K15_best'])} best /
{pct(s['jit_fast_float32_K15_cpu'])} CPU-time (target 60M/s);
vectorized (best batch) {pct(s['vectorized_float32_K15_best_batch'])} (target 3M/s);
over Surprise's SVD at K=15: jit {ratio(s['jit_over_surprise'])}, jit-fast
{ratio(s['jit_fast_over_surprise'])} (target 25x); jit over loop {ratio(s['jit_over_loop'])}.
See scaling.md for the 1M-25M sets, Hogwild and memory.

Peers: {peers_line}.
"""
    write_results("engines", {"config": {"lr": LR, "reg": REG, "quick": quick}, "rows": rows,
                              "summary": summary}, text)
    print(text)


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
