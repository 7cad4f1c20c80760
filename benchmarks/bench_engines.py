"""Ratings per second per SGD epoch for each matrix-factorization engine.

Biased MF, K=15, lr 0.005, reg 0.02, on the 100,000 ratings of ML-100k
``u.data``, in float32 and float64:

* ``jit`` (one thread), ``jit-hogwild`` (all threads, non-deterministic);
* ``vectorized`` at several batch sizes;
* ``loop`` (pure Python) on a fixed 20,000-rating subsample, since it is
  hundreds of times slower; ratings/second makes it comparable.

Each engine runs warm-up epochs, then timed epochs; the median is reported.
The shuffle is drawn outside the timed region (kernel time only); the
``model fit`` rows time whole ``BiasedMF.fit`` epochs instead (shuffle
included, from ``history_["seconds"]``). Numba compile time is reported apart.

    MFCORE_DATA_DIR=/work/shared/data python benchmarks/bench_engines.py [--quick]

Writes ``benchmarks/results/engines.json`` and ``engines.md``.
"""
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_results  # noqa: E402

from mfcore.data import load_ml100k  # noqa: E402
from mfcore.engines import get_epoch_fn  # noqa: E402
from mfcore.models.mf import BiasedMF  # noqa: E402

DATA = Path(os.environ.get("MFCORE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
K, LR, REG, SEED = 15, 0.005, 0.02, 0
TARGETS = {"jit": 60e6, "vectorized": 3e6}  # acceptance, float32, one thread


def problem(ratings, dtype, n=None):
    """Arrays as BiasedMF prepares them (optionally the first ``n`` of a fixed shuffle)."""
    rng = np.random.default_rng(SEED)
    rows = np.sort(rng.permutation(len(ratings))[:n]) if n else np.arange(len(ratings))
    arrays = dict(users=np.array(ratings.users[rows]), items=np.array(ratings.items[rows]),
                  ratings=np.array(ratings.values[rows], dtype=dtype))
    state = dict(bu=np.zeros(ratings.n_users, dtype), bi=np.zeros(ratings.n_items, dtype),
                 P=rng.normal(0, 0.1, (ratings.n_users, K)).astype(dtype),
                 Q=rng.normal(0, 0.1, (ratings.n_items, K)).astype(dtype))
    return arrays, state


def time_engine(ratings, engine, dtype, batch_size=1, n=None, warmup=2, repeats=5):
    """Median ratings/second of one epoch, and the compile seconds (first call)."""
    a, s = problem(ratings, dtype, n)
    fn = get_epoch_fn("biased", engine, batch_size=batch_size)
    t = dtype.type
    mu = t(a["ratings"].mean())
    m = len(a["ratings"])
    order_rng = np.random.default_rng(SEED + 1)

    def epoch(order):
        return fn(a["users"], a["items"], a["ratings"], order, mu, s["bu"], s["bi"], s["P"], s["Q"],
                  t(LR), t(REG))

    start = time.perf_counter()
    z = np.zeros(1, np.int64)
    one = np.zeros(1, np.int32)
    fn(one, one.copy(), a["ratings"][:1].copy(), z, mu,
       np.zeros(1, dtype), np.zeros(1, dtype), np.zeros((1, K), dtype), np.zeros((1, K), dtype),
       t(LR), t(REG))
    compile_seconds = time.perf_counter() - start if engine.startswith("jit") else 0.0
    for _ in range(warmup):
        epoch(order_rng.permutation(m))
    seconds = []
    for _ in range(repeats):
        order = order_rng.permutation(m)
        start = time.perf_counter()
        epoch(order)
        seconds.append(time.perf_counter() - start)
    med = float(np.median(seconds))
    return {"engine": engine, "dtype": np.dtype(dtype).name, "batch_size": batch_size,
            "n_ratings": m, "epoch_seconds": med, "ratings_per_second": m / med,
            "best_ratings_per_second": m / min(seconds),  # robust to other load on the machine
            "compile_seconds": compile_seconds, "repeats": repeats}


def time_fit(ratings, dtype, n_epochs=12):
    """Whole BiasedMF.fit epochs (shuffle included), median after the first two."""
    model = BiasedMF(n_factors=K, n_epochs=n_epochs, lr=LR, reg=REG, init_std=0.1, dtype=dtype,
                     rng=SEED).fit(ratings)
    seconds = model.history_["seconds"][2:]
    med = float(np.median(seconds))
    return {"engine": "jit (model fit)", "dtype": np.dtype(dtype).name, "batch_size": 1,
            "n_ratings": len(ratings), "epoch_seconds": med, "ratings_per_second": len(ratings) / med,
            "best_ratings_per_second": len(ratings) / float(np.min(seconds)),
            "compile_seconds": model.history_.compile_seconds, "repeats": n_epochs - 2}


def main(quick=False):
    ratings = load_ml100k(DATA / "ml-100k")
    rows = []
    reps = 3 if quick else 5
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        rows.append(time_engine(ratings, "jit", dtype, warmup=3, repeats=4 * reps))
        rows.append(time_engine(ratings, "jit-hogwild", dtype, warmup=3, repeats=4 * reps))
        rows.append(time_fit(ratings, dtype))
        for B in (256, 1024, 4096):
            rows.append(time_engine(ratings, "vectorized", dtype, batch_size=B, warmup=1, repeats=reps))
        rows.append(time_engine(ratings, "loop", dtype, n=20_000, warmup=1, repeats=1 if quick else 3))
        for r in rows[-6:]:
            print(f"{r['engine']:18s} {r['dtype']:8s} B={r['batch_size']:<5d} "
                  f"{r['ratings_per_second'] / 1e6:9.3f} M ratings/s  compile {r['compile_seconds']:.2f}s",
                  flush=True)
    jit32 = next(r for r in rows if r["engine"] == "jit" and r["dtype"] == "float32")
    loop32 = next(r for r in rows if r["engine"] == "loop" and r["dtype"] == "float32")
    vec32 = max((r for r in rows if r["engine"] == "vectorized" and r["dtype"] == "float32"),
                key=lambda r: r["ratings_per_second"])
    summary = {"jit_float32_ratings_per_second": jit32["ratings_per_second"],
               "vectorized_float32_ratings_per_second": vec32["ratings_per_second"],
               "vectorized_float32_batch_size": vec32["batch_size"],
               "jit_float32_best_epoch_ratings_per_second": jit32["best_ratings_per_second"],
               "jit_over_loop_speedup_float32": jit32["ratings_per_second"] / loop32["ratings_per_second"],
               "targets": TARGETS,
               "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    table = markdown_table(
        ["engine", "dtype", "batch", "ratings", "M ratings/s (median)", "M ratings/s (best)",
         "epoch ms", "compile s"],
        [[r["engine"], r["dtype"], r["batch_size"], r["n_ratings"], r["ratings_per_second"] / 1e6,
          r["best_ratings_per_second"] / 1e6, r["epoch_seconds"] * 1e3, r["compile_seconds"]]
         for r in rows])
    text = (f"# SGD engines: biased MF, K={K}, ML-100k u.data (100k ratings)\n\n{table}\n\n"
            f"jit/loop speed-up (float32): {summary['jit_over_loop_speedup_float32']:.0f}x. "
            f"Targets (float32, one thread): jit >= 60M/s, vectorized >= 3M/s. "
            f"Load average while running: {summary['load_average']}.\n"
            "Kernel rows exclude the per-epoch shuffle; 'model fit' rows include it.\n")
    write_results("engines", {"config": {"K": K, "lr": LR, "reg": REG}, "rows": rows,
                              "summary": summary}, text)
    print(text)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
