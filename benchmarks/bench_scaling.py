"""Seconds per SGD epoch against the number of ratings: ML-100k and synthetic 1M, 10M, 25M.

Biased MF (lr 0.005, reg 0.02) on ML-100k ``u.data`` and on
``make_like("1m"|"10m"|"25m", rng=0)`` (MovieLens-sized synthetic sets), for
every engine. The grid, chosen to keep a full run near 15 minutes on 2 CPUs:

* ``jit-fast``: K in {15, 50, 100} x {float32, float64} up to 1M ratings; on
  the 10M and 25M sets K=15 in both dtypes and K=50, 100 in float32;
* ``jit`` (the readable kernel): the same grid up to 1M ratings, K=15 (both
  dtypes) on the 10M and 25M sets;
* ``jit-hogwild`` and ``jit-fast-hogwild`` with 2 threads, and the shuffle
  (``Generator.permutation``): K=15 float32 on every set;
* ``vectorized`` (batch 1024) and ``loop``: K=15 on a fixed random subsample
  (2M and 20k ratings) of each set, so their seconds per full epoch are
  extrapolated as n / rate (dashed in the plot): their cost per rating does not
  depend on n beyond the cache effects of the full-size P and Q, which they keep.

Warm-up epochs, then timed ones; median and best wall-clock rates and the best
CPU-time rate (see bench_engines.py). Peak memory: a child process loads the 25M
set (saved as .npy by this script, so generating it does not count) and fits
``BiasedMF`` for 2 epochs (K=15, float32); ``resource.getrusage().ru_maxrss`` is
its peak resident set. The epoch seconds there include the shuffle.

    python benchmarks/bench_scaling.py [--quick]     # --quick: ML-100k and 1M, K=15

Writes ``benchmarks/results/scaling.json``, ``scaling.md`` and ``scaling.png``.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__" and "--memory" not in sys.argv:  # real compile times, not cache loads
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="mfcore-bench-numba-"))

import numpy as np  # noqa: E402

from _common import RESULTS, markdown_table, ml100k_dir, write_results  # noqa: E402
from bench_engines import TARGETS, load_average, table, time_engine, time_shuffle  # noqa: E402

BIG = 5_000_000  # from here on: the restricted grid
PLOT_ENGINES = ("loop", "vectorized", "jit", "jit-fast", "jit-hogwild", "jit-fast-hogwild",
                "shuffle (rng.permutation)")


def datasets(quick):
    from mfcore.data import load_ml100k, make_like

    r = load_ml100k(ml100k_dir())
    yield "ml-100k", r
    for name in ("1m",) if quick else ("1m", "10m", "25m"):
        t0 = time.perf_counter()
        r = make_like(name, rng=0)
        print(f"generated synthetic-{name} in {time.perf_counter() - t0:.1f}s", flush=True)
        yield f"synthetic-{name}", r


def grid(n, quick):
    """(engine, K, dtype, options) measured on a set of n ratings."""
    ks = (15,) if quick else (15, 50, 100)
    for K in ks:
        for dtype in ("float32", "float64"):
            if n < BIG or K == 15 or dtype == "float32":
                yield "jit-fast", K, dtype, {}
            if n < BIG or K == 15:
                yield "jit", K, dtype, {}
    yield "jit-hogwild", 15, "float32", {"n_threads": 2}
    yield "jit-fast-hogwild", 15, "float32", {"n_threads": 2}
    for dtype in ("float32", "float64"):
        yield "vectorized", 15, dtype, {"batch_size": 1024, "subsample": min(n, 2_000_000)}
        yield "loop", 15, dtype, {"subsample": 20_000}


def save_set(r, set_name):
    """The arrays of ``r`` in a temporary folder, for :func:`memory_child`."""
    folder = Path(tempfile.mkdtemp(prefix="mfcore-bench-set-"))
    for key in ("users", "items", "values"):
        np.save(folder / f"{key}.npy", getattr(r, key))
    spec = {"set": set_name, "n_users": r.n_users, "n_items": r.n_items,
            "scale": [r.scale.low, r.scale.high, r.scale.step]}
    (folder / "spec.json").write_text(json.dumps(spec))
    return folder


def peak_rss_mb():
    """This process's peak resident memory (MB) since it started: ``VmHWM``.

    Not ``getrusage().ru_maxrss``: Linux carries that over from the parent across
    fork and exec, so a child of this 2 GB benchmark reported the parent's peak.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    import resource  # not Linux: the best available figure
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(folder, engine):
    """Runs in a child process: load the set, fit 2 epochs, print peak RSS (MB) as JSON."""
    from mfcore.data import IdMap, Ratings, RatingScale
    from mfcore.models.mf import BiasedMF

    folder = Path(folder)
    spec = json.loads((folder / "spec.json").read_text())
    ratings = Ratings(*(np.load(folder / f"{key}.npy") for key in ("users", "items", "values")),
                      IdMap(np.arange(spec["n_users"])), IdMap(np.arange(spec["n_items"])),
                      RatingScale(*spec["scale"]), name=spec["set"])
    with open("/proc/self/statm") as fh:
        rss_data = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    peak_data = peak_rss_mb()
    model = BiasedMF(n_factors=15, n_epochs=2, lr=0.005, reg=0.02, init_std=0.1, dtype="float32",
                     engine=engine, rng=0).fit(ratings)
    peak = peak_rss_mb()
    print(json.dumps({"set": spec["set"], "engine": engine, "n_ratings": len(ratings),
                      "rss_after_data_mb": rss_data, "peak_after_loading_mb": peak_data,
                      "peak_mb": peak, "fit_epoch_seconds": list(model.history_["seconds"]),
                      "compile_seconds": model.history_.compile_seconds}))


def measure_memory(folder, engines):
    rows = []
    for engine in engines:
        out = subprocess.run([sys.executable, __file__, "--memory", str(folder), engine],
                             capture_output=True, text=True, timeout=1800)
        if out.returncode:
            print(f"memory child failed:\n{out.stderr[-2000:]}")
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for engine in PLOT_ENGINES:
        shuffle = engine.startswith("shuffle")
        pts = sorted((r["n_total"], r["n_total"] / r["ratings_per_second"], bool(r.get("subsample")))
                     for r in rows if r["engine"] == engine
                     and (shuffle or (r["K"] == 15 and r["dtype"] == "float32")))
        if not pts:
            continue
        x, y, extrapolated = zip(*pts)
        style = ":" if shuffle else "--" if any(extrapolated) else "-"
        label = engine + (" (extrapolated from a subsample)" if any(extrapolated) else "")
        ax.plot(x, y, style, marker="o", label=label, color="gray" if shuffle else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("ratings in the training set")
    ax.set_ylabel("seconds per epoch (median, wall clock)")
    ax.set_title("SGD biased MF, K=15, float32 (epochs exclude the shuffle, drawn apart)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(quick=False):
    load_before = load_average()
    top = "synthetic-1m" if quick else "synthetic-25m"
    rows = []
    for set_name, r in datasets(quick):
        if set_name == top:
            folder = save_set(r, set_name)
        n = len(r)
        data = (r.users, r.items, r.values, r.n_users, r.n_items)
        big = n >= BIG
        for engine, K, dtype, opts in grid(n, quick):
            warmup, repeats = (1, 2) if big else (2, 3 if quick else 5)
            if engine == "loop":
                warmup, repeats = 1, 1
            row = time_engine(data, engine, K, dtype, warmup=warmup, repeats=repeats, **opts)
            row.update(set=set_name, n_total=n)
            rows.append(row)
            print(f"{set_name:16s} {engine:18s} {dtype:8s} K={K:<4d} {row['ratings_per_second'] / 1e6:8.3f}"
                  f" M/s median {row['best_ratings_per_second'] / 1e6:8.3f} best  CPU "
                  f"{(row['cpu_ratings_per_second'] or 0) / 1e6:8.3f}", flush=True)
        row = time_shuffle(n, repeats=3 if big else 10)
        row.update(set=set_name, n_total=n)
        rows.append(row)
        del r, data
    memory = measure_memory(folder, ("jit", "jit-fast"))
    shutil.rmtree(folder, ignore_errors=True)

    def rate(set_name, engine, key="ratings_per_second", K=15, dtype="float32"):
        return next((r[key] for r in rows if r["set"] == set_name and r["engine"] == engine
                     and r["K"] == K and r["dtype"] == dtype), None)

    summary = {"set": top, "load_average_before": load_before, "load_average_after": load_average(),
               "targets": TARGETS}
    for engine in ("jit", "jit-fast", "jit-hogwild", "jit-fast-hogwild"):
        for key in ("ratings_per_second", "best_ratings_per_second", "cpu_ratings_per_second"):
            summary[f"{engine} {key}"] = rate(top, engine, key)
    for engine in ("jit", "jit-fast"):
        one, two = rate(top, engine), rate(top, f"{engine}-hogwild")
        summary[f"{engine}-hogwild over {engine} (median wall)"] = two / one if one and two else None
        one, two = rate(top, engine, "best_ratings_per_second"), rate(top, f"{engine}-hogwild",
                                                                      "best_ratings_per_second")
        summary[f"{engine}-hogwild over {engine} (best wall)"] = two / one if one and two else None
    summary["peak_memory_mb"] = {m["engine"]: m["peak_mb"] for m in memory}
    plot(rows, RESULTS / "scaling.png")
    s = summary
    mrate = (lambda x: "-" if x is None else f"{x / 1e6:.1f}M/s")
    mx = (lambda x: "-" if x is None else f"{x:.2f}x")
    by_set = "\n\n".join(f"## {name}\n\n{table([r for r in rows if r['set'] == name])}"
                         for name in dict.fromkeys(r["set"] for r in rows))
    mem = markdown_table(["set", "engine", "ratings", "RSS after loading MB", "peak MB",
                          "fit epoch s (shuffle incl.)", "compile s"],
                         [[m["set"], m["engine"], m["n_ratings"], m["rss_after_data_mb"], m["peak_mb"],
                           ", ".join(f"{x:.2f}" for x in m["fit_epoch_seconds"]), m["compile_seconds"]]
                          for m in memory])
    text = f"""# SGD engines against the number of ratings (biased MF)

lr 0.005, reg 0.02. Load average before/after: {s['load_average_before']} /
{s['load_average_after']} on {os.cpu_count()} CPUs (shared machine: wall-clock rates
move with the load; "CPU-time" rates divide by the process CPU seconds).
Grid: see the docstring of bench_scaling.py (jit K=50/100 and the subsampled
loop/vectorized rows are restricted on the 10M/25M sets). Kernel rows exclude the shuffle.

![seconds per epoch](scaling.png)

Headline on {top} (K=15, float32): jit {mrate(s['jit ratings_per_second'])} median /
{mrate(s['jit best_ratings_per_second'])} best / {mrate(s['jit cpu_ratings_per_second'])} CPU-time
(target 14M/s); jit-fast {mrate(s['jit-fast ratings_per_second'])} median /
{mrate(s['jit-fast best_ratings_per_second'])} best / {mrate(s['jit-fast cpu_ratings_per_second'])}
CPU-time (stretch 50M/s). Two Hogwild threads over one: jit
{mx(s['jit-hogwild over jit (median wall)'])} median, {mx(s['jit-hogwild over jit (best wall)'])} best;
jit-fast {mx(s['jit-fast-hogwild over jit-fast (median wall)'])} median,
{mx(s['jit-fast-hogwild over jit-fast (best wall)'])} best (aim 1.5x).

What limits Hogwild here (measured apart, on this machine): not the machine, whose
two cores give 2.0x on compute, random reads and random read-modify-writes into a
400 MB array (``benchmarks/results/threads.md``); not contention on popular rows
either: on 25M ratings with uniformly random users and items, two ``jit-fast``
threads gained the same as on the skewed set (1.43x and 1.43x in one standalone
run). Each thread of ``jit-fast-hogwild`` runs the single-thread kernel on half of
the shuffled order, so the remaining suspects are the serial parts of an epoch
(padded copies of P and Q in and out) and two threads' prefetches and
write-backs competing for the same memory queues, which the simple loops of
``threads.md`` do not reproduce; not pinned down. On ML-100k (everything in
cache) Hogwild is slower than one thread (engines.md), most likely because its
1,682 item rows are so few that the two cores keep taking the same cache lines
from each other.

## Peak memory (child process, BiasedMF.fit, K=15, float32, 2 epochs; target < 1500 MB)

The child loads the set from .npy files (users int32, items int32, values float64),
so the peak is data + training, not the generator's own temporaries. Where it goes
(25M, measured by hand with /proc/self/statm and ru_maxrss around each step): data
0.53 GB; ``Recommender.fit`` keeps only the CSR *structure* of the training set for
``recommend`` (``Ratings.csr_structure``: int64 row pointers and int32 item indices,
+0.1 GB; peak 0.92 GB while its int64 sort order exists); BiasedMF adds the
float32 ratings, the int64 order of each epoch and P, Q (+0.35 GB; it does not
copy users/items), and ``jit-fast`` its 16-byte records (+0.4 GB). Measured peaks:
0.97 GB (jit), 1.37 GB (jit-fast). Before ``csr_structure``, ``fit`` built the full
CSR and its mask (peak 1.30 GB there) and kept the mask alive during training:
1.66 GB for jit-fast. The peaks below are the child's ``VmHWM``; earlier versions
of this script read ``ru_maxrss``, which Linux inherits from the (2 GB) parent
across fork and exec, and so reported the parent's peak (1.86 GB) for every child.

{mem}

{by_set}
"""
    write_results("scaling", {"rows": rows, "memory": memory, "summary": summary}, text)
    print(text)


if __name__ == "__main__":
    if "--memory" in sys.argv:
        at = sys.argv.index("--memory")
        memory_child(sys.argv[at + 1], sys.argv[at + 2])
    else:
        main(quick="--quick" in sys.argv)
