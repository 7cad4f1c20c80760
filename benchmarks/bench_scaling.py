"""Seconds per SGD fit epoch against the number of ratings: ML-100k and synthetic 1M, 10M, 25M.

Biased MF (lr 0.005, reg 0.02) on ML-100k ``u.data`` and on
``make_like("1m"|"10m"|"25m", rng=0)`` (MovieLens-sized synthetic sets), for
every engine. Every rate is a *fit epoch* (the engine's per-epoch order, a
``rng.permutation`` of all ratings or the ``blocks`` engine's own draw, is
timed with the epoch) unless its row says "kernel only". Per set, the engines
run in groups whose epochs are interleaved (epoch k of each, then k + 1):

* K=15 float32: ``jit``, ``jit-fast``, ``jit-hogwild`` and ``jit-fast-hogwild``
  (2 threads), ``blocks`` on 1 and 2 threads, and in the same group the
  references: kernel-only rows of jit, jit-fast and blocks, the blocks kernel
  over a fixed order on the same grid (no randomness: blocks row by row,
  records as stored; the default grid is 16 x 16 on the 25M set), and the
  memory floor (a blocks fit epoch doing the same loads and stores without the
  arithmetic). The blocks rows run first in each round, one after another, so the
  ratios between them compare epochs seconds apart;
* K=100 float32: ``jit-fast``, ``blocks`` (1 and 2 threads), its fixed order
  and memory floor, and ``blocks`` with its blocks not grouped by user (on the
  10M and 25M sets the engine's rule groups them: ``mf_blocks.group_by_user``;
  elsewhere the two rows run the same order); up to 1M ratings also ``jit``;
* K=15 float64 and K=50 float32: ``jit-fast`` and ``blocks``; ``jit`` up to 1M;
* ``vectorized`` (batch 1024) and ``loop``: K=15 on a fixed random subsample
  (2M and 20k ratings) of each set, so their seconds per full epoch are
  extrapolated as n / rate (dashed in the plot).

Epochs per row: 2 warm-up and 5 timed up to 1M ratings; 1 warm-up and 3 timed on 10M and
25M (5 timed in the K=15 group). Each row keeps its timed epochs (``round_seconds``), so a
ratio of two rows can also be taken round by round, the two epochs run back to back: the
summary gives the two-thread speed-up both ways.

Also per set: the seconds of ``rng.permutation(n)`` and of the blocks engine's
draw (its whole per-epoch randomisation), as shares of a fit epoch. On the
largest set: a check that ``blocks`` on 2 threads gives bit-identical
parameters to 1 thread after 2 epochs, and the peak memory of ``BiasedMF.fit``
(K=15, float32, 2 epochs) for jit, jit-fast and blocks in a child process that
loads the set from .npy files (its ``VmHWM``: data + training, not the
generator's temporaries).

Run it for real on a quiet machine (7 to 10 minutes on 2 CPUs; say the load
average, ``uptime``, next to the results)::

    python benchmarks/bench_scaling.py

``--quick`` (ML-100k and 1M, K=15, few repeats) is a smoke run: it writes into a
temporary folder, not into ``benchmarks/results``.

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

from _common import RESULTS, flags, markdown_table, ml100k_dir, write_results  # noqa: E402
from bench_engines import (TARGETS, Runner, add_floor_ratios, load_average, measure,  # noqa: E402
                           table, time_draw, time_shuffle)

BIG = 5_000_000  # from here on: the restricted grid
PLOT = (("loop", 1), ("vectorized", 1), ("jit", 1), ("jit-fast", 1), ("jit-hogwild", 2),
        ("jit-fast-hogwild", 2), ("blocks", 1), ("blocks", 2))


def datasets(quick):
    from mfcore.data import load_ml100k, make_like

    r = load_ml100k(ml100k_dir())
    yield "ml-100k", r
    for name in ("1m",) if quick else ("1m", "10m", "25m"):
        t0 = time.perf_counter()
        r = make_like(name, rng=0)
        print(f"generated synthetic-{name} in {time.perf_counter() - t0:.1f}s", flush=True)
        yield f"synthetic-{name}", r


def groups(n, quick):
    """Lists of (engine, K, dtype, options) measured interleaved on a set of n ratings."""
    big = n >= BIG
    refs = [("blocks", opts) for opts in ({"variant": "fixed order"}, {"variant": "memory floor"})]
    # the blocks rows first and together: the ratios between them come from epochs seconds apart
    main = [("blocks", {"n_threads": 1}), ("blocks", {"n_threads": 2}), ("blocks", {"variant": "kernel only"})]
    main += refs + [("jit", {}), ("jit-fast", {}), ("jit-hogwild", {"n_threads": 2}),
                    ("jit-fast-hogwild", {"n_threads": 2}), ("jit", {"variant": "kernel only"}),
                    ("jit-fast", {"variant": "kernel only"})]
    yield [(e, 15, "float32", o) for e, o in main]
    if quick:
        return
    yield [(e, 100, "float32", o) for e, o in [("jit", {}), ("jit-fast", {}), ("blocks", {}),
                                               ("blocks", {"n_threads": 2}),
                                               ("blocks", {"by_user": False})] + refs
           if not (big and e == "jit")]
    yield [(e, K, dtype, {}) for K, dtype in ((15, "float64"), (50, "float32"))
           for e in ("jit", "jit-fast", "blocks") if not (big and e == "jit")]
    yield [(e, 15, dtype, o) for dtype in ("float32", "float64")
           for e, o in (("vectorized", {"batch_size": 1024, "subsample": min(n, 2_000_000)}),
                        ("loop", {"subsample": 20_000}))]


def threads_bit_identical(data, K=15, dtype="float32", n_epochs=2):
    """``blocks`` on 1 and on 2 threads from one start and one order stream: identical numbers?"""
    a, b = Runner(data, "blocks", K, dtype, n_threads=1), Runner(data, "blocks", K, dtype, n_threads=2)
    for _ in range(n_epochs):
        a.epoch()
        b.epoch()
    return all(np.array_equal(a.state[k], b.state[k]) for k in a.state) and a.sse == b.sse


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
    """Runs in a child process: load the set, fit 2 epochs, print peak RSS (MB) as JSON.

    ``blocks`` runs on one thread (its default); its grid is part of the peak."""
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

    fig, ax = plt.subplots(figsize=(7.5, 5.2))

    def curve(match, label, style="-", color=None):
        pts = sorted((r["n_total"], r["n_total"] / r["ratings_per_second"], bool(r.get("subsample")))
                     for r in rows if match(r))
        if pts:
            x, y, extrapolated = zip(*pts)
            extra = " (extrapolated from a subsample)" if any(extrapolated) else ""
            ax.plot(x, y, "--" if extra else style, marker="o", label=label + extra, color=color)

    for engine, threads in PLOT:
        curve(lambda r, e=engine, t=threads: (r["engine"] == e and r.get("variant") == "fit epoch"
                                              and r["K"] == 15 and r["dtype"] == "float32"
                                              and r.get("threads") in (t, "all")),
              f"{engine}, {threads} thread{'s' if threads > 1 else ''}")
    curve(lambda r: r["engine"] == "blocks" and r.get("variant") == "memory floor" and r["K"] == 15,
          "memory floor (blocks' loads and stores, no arithmetic)", ":", "black")
    curve(lambda r: r["engine"].startswith("shuffle"), "rng.permutation alone", ":", "gray")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("ratings in the training set")
    ax.set_ylabel("seconds per fit epoch (median, wall clock)")
    ax.set_title("SGD biased MF, K=15, float32: fit epochs (per-epoch order included)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(quick=False):
    load_before = load_average()
    top = "synthetic-1m" if quick else "synthetic-25m"
    rows, same_threads = [], None
    for set_name, r in datasets(quick):
        if set_name == top:
            folder = save_set(r, set_name)
        n = len(r)
        data = (r.users, r.items, r.values, r.n_users, r.n_items)
        warmup, repeats = (1, 3) if n >= BIG else (2, 3 if quick else 5)
        for k, group in enumerate(groups(n, quick)):
            print(f"{set_name}: group {k + 1}, {len(group)} rows interleaved", flush=True)
            runners = [Runner(data, e, K, dtype, **opts) for e, K, dtype, opts in group]
            new = measure(runners, warmup, repeats + 2 if k == 0 and n >= BIG else repeats)
            if k == 0:
                new.append(time_draw(next(x for x in runners if x.engine == "blocks"),
                                     repeats=5 if n >= BIG else 20))
            for row in new:
                row.update(set=set_name, n_total=n)
                rows.append(row)
                print(f"{set_name:16s} {row['engine']:26s} {row['variant']:18s} T={row['threads']!s:4s} "
                      f"{row['dtype']:8s} K={row['K']:<4d} {row['ratings_per_second'] / 1e6:8.3f} M/s "
                      f"median {row['best_ratings_per_second'] / 1e6:8.3f} best  CPU "
                      f"{(row['cpu_ratings_per_second'] or 0) / 1e6:8.3f}", flush=True)
            del runners
            Runner.forget()
        row = time_shuffle(n, repeats=3 if n >= BIG else 10)
        row.update(set=set_name, n_total=n)
        rows.append(row)
        if set_name == top:
            same_threads = threads_bit_identical(data)
            Runner.forget()
        del r, data
    memory = measure_memory(folder, ("jit", "jit-fast", "blocks"))
    shutil.rmtree(folder, ignore_errors=True)
    add_floor_ratios(rows)

    def rate(engine, variant="fit epoch", key="ratings_per_second", K=15, dtype="float32", threads=1):
        return next((r[key] for r in rows if r["set"] == top and r["engine"] == engine
                     and r["variant"] == variant and r["K"] == K and r["dtype"] == dtype
                     and r["threads"] in (threads, "all")), None)

    def ratio(a, b):
        return a / b if a and b else None

    def paired(K=15, slow=(1, "fit epoch"), fast=(2, "fit epoch")):
        """Median over rounds of (seconds of the slow row / seconds of the fast row), blocks rows
        (threads, variant) of one round: they ran close together, so a change of the host's speed
        between rounds cancels."""
        one, two = (next((r["round_seconds"] for r in rows if r["set"] == top and r["engine"] == "blocks"
                          and r["variant"] == variant and r["K"] == K and r["dtype"] == "float32"
                          and r["threads"] == t), None) for t, variant in (slow, fast))
        return float(np.median(np.divide(one, two))) if one and two else None

    summary = {"set": top, "load_average_before": load_before, "load_average_after": load_average(),
               "targets": TARGETS}
    for engine, threads in PLOT[2:]:
        for key in ("ratings_per_second", "best_ratings_per_second", "cpu_ratings_per_second"):
            summary[f"{engine} {threads}T {key}"] = rate(engine, key=key, threads=threads)
    blocks, blocks_best = rate("blocks"), rate("blocks", key="best_ratings_per_second")
    draw = next((r["epoch_seconds"] for r in rows if r["set"] == top
                 and r["engine"].startswith("blocks order")), None)
    shuffle = next((r["epoch_seconds"] for r in rows if r["set"] == top
                    and r["engine"].startswith("shuffle")), None)
    summary.update({
        "blocks 2T over 1T (median)": ratio(rate("blocks", threads=2), blocks),
        "blocks 2T over 1T (paired rounds)": paired(),
        "blocks 2T over 1T (best)": ratio(rate("blocks", key="best_ratings_per_second", threads=2),
                                          blocks_best),
        "blocks 2T bit-identical to 1T": same_threads,
        "fixed order over blocks (median)": ratio(rate("blocks", "fixed order"), blocks),
        "fixed order over blocks (best)": ratio(rate("blocks", "fixed order", "best_ratings_per_second"),
                                                blocks_best),
        "fixed order over blocks (paired rounds)": paired(15, (1, "fit epoch"), (1, "fixed order")),
        "blocks over memory floor": ratio(blocks, rate("blocks", "memory floor")),
        "blocks K=100": rate("blocks", K=100),
        "blocks K=100 2T": rate("blocks", K=100, threads=2),
        "blocks K=100 2T over 1T (paired rounds)": paired(100),
        "blocks K=100 not grouped": rate("blocks", "fit epoch, not grouped", K=100),
        "blocks K=100 grouped over not grouped (paired rounds)": paired(100, (1, "fit epoch, not grouped"),
                                                                        (1, "fit epoch")),
        "blocks randomisation share": ratio(draw, rate("blocks", key="epoch_seconds")),
        "jit-fast shuffle share": ratio(shuffle, rate("jit-fast", key="epoch_seconds")),
        "peak_memory_mb": {m["engine"]: m["peak_mb"] for m in memory},
    })
    for engine in ("jit", "jit-fast"):
        summary[f"{engine}-hogwild 2T over {engine} (median)"] = ratio(rate(f"{engine}-hogwild", threads=2),
                                                                      rate(engine))
    out = Path(tempfile.mkdtemp(prefix="mfcore-bench-scaling-")) if quick else RESULTS
    plot(rows, out / "scaling.png")
    s = summary
    mrate = (lambda x: "-" if x is None else f"{x / 1e6:.1f}M/s")
    mx = (lambda x: "-" if x is None else f"{x:.2f}x")
    pct = (lambda x: "-" if x is None else f"{100 * x:.1f}%")
    mb = (lambda e: "-" if e not in s["peak_memory_mb"] else f"{s['peak_memory_mb'][e]:.0f} MB")
    by_set = "\n\n".join(f"## {name}\n\n{table([r for r in rows if r['set'] == name])}"
                         for name in dict.fromkeys(r["set"] for r in rows))
    mem = markdown_table(["set", "engine", "ratings", "RSS after loading MB", "peak MB",
                          "fit epoch s (order incl.)", "compile s"],
                         [[m["set"], m["engine"], m["n_ratings"], m["rss_after_data_mb"], m["peak_mb"],
                           ", ".join(f"{x:.2f}" for x in m["fit_epoch_seconds"]), m["compile_seconds"]]
                          for m in memory])
    text = f"""# SGD engines against the number of ratings (biased MF)

lr 0.005, reg 0.02. Load average before/after: {s['load_average_before']} /
{s['load_average_after']} on {os.cpu_count()} CPUs (wall-clock rates move with the load;
"CPU-time" rates divide by the process CPU seconds). Every rate is a **fit epoch**
(the per-epoch order, `rng.permutation` or the `blocks` engine's own draw, timed with the
epoch) unless the "what" column says *kernel only* (order drawn outside) or *fixed order*
(the blocks kernel over its grid with no randomness: blocks row by row, records as stored).
*memory floor*: a blocks fit epoch doing the same loads and stores per rating without the
arithmetic; "of floor" is each rate over it (same set, K, dtype). The rows of a group ran
interleaved; groups and restrictions: see the docstring of bench_scaling.py.

![seconds per epoch](scaling.png)

Headline on {top} (K=15, float32, fit epochs):
`blocks`, one thread, {mrate(blocks)} median / {mrate(blocks_best)} best /
{mrate(s['blocks 1T cpu_ratings_per_second'])} CPU-time (target 85M/s), {mx(s['blocks over memory floor'])}
of its memory floor; the fixed-order kernel on the same grid is
{mx(s['fixed order over blocks (median)'])} of it (medians; best {mx(s['fixed order over blocks (best)'])};
paired rounds {mx(s['fixed order over blocks (paired rounds)'])}; target <= 1.3x); its per-epoch
randomisation (the draw alone) is {pct(s['blocks randomisation share'])} of its epoch (target <= 15%; for comparison `rng.permutation` is {pct(s['jit-fast shuffle share'])}
of a jit-fast epoch). Two threads {mx(s['blocks 2T over 1T (median)'])} one thread (medians;
best {mx(s['blocks 2T over 1T (best)'])}; the median of each round's own ratio, the two
epochs back to back, {mx(s['blocks 2T over 1T (paired rounds)'])}; target 1.7x), bit-identical
parameters: {s['blocks 2T bit-identical to 1T']}. K=100: {mrate(s['blocks K=100'])} on one
thread, {mrate(s.get('blocks K=100 2T'))} on two ({mx(s.get('blocks K=100 2T over 1T (paired rounds)'))}
one thread, paired rounds; target 25M/s); each block's ratings grouped by user there (the engine's
rule for wide rows on large data); not grouped, one thread, {mrate(s.get('blocks K=100 not grouped'))}
(grouped {mx(s.get('blocks K=100 grouped over not grouped (paired rounds)'))} of it, paired rounds).
Peak memory of `BiasedMF.fit`: blocks {mb('blocks')} (target < 1200 MB), jit {mb('jit')},
jit-fast {mb('jit-fast')}.
jit {mrate(s['jit 1T ratings_per_second'])}, jit-fast {mrate(s['jit-fast 1T ratings_per_second'])};
two Hogwild threads over one: jit {mx(s['jit-hogwild 2T over jit (median)'])}, jit-fast
{mx(s['jit-fast-hogwild 2T over jit-fast (median)'])} (not reproducible).

What limits Hogwild here (measured apart, on this machine): not the machine, whose
two cores give 2.0x on compute, random reads and random read-modify-writes into a
400 MB array (``benchmarks/results/threads.md``); not contention on popular rows
either: on 25M ratings with uniformly random users and items, two ``jit-fast``
threads gained the same as on the skewed set (1.43x and 1.43x in one standalone
run). Each thread of ``jit-fast-hogwild`` runs the single-thread kernel on half of
the shuffled order, so the remaining suspects are the serial parts of an epoch
(the permutation of the order; runs before December 5, session 9, also copied P and Q
into padded rows and back every epoch) and two threads' prefetches and
write-backs competing for the same memory queues, which the simple loops of
``threads.md`` do not reproduce; not pinned down. On ML-100k (everything in
cache) Hogwild is slower than one thread (engines.md), most likely because its
1,682 item rows are so few that the two cores keep taking the same cache lines
from each other. The `blocks` engine's threads never share a row: each runs
whole blocks of one stratum.

## Peak memory (child process, BiasedMF.fit, K=15, float32, 2 epochs)

The child loads the set from .npy files (users int32, items int32, values float64),
so the peak is data + training, not the generator's own temporaries. Where it goes
(25M, measured by hand with /proc/self/statm and ru_maxrss around each step, before
the blocks engine): data 0.53 GB; ``Recommender.fit`` keeps only the CSR *structure*
of the training set for ``recommend`` (``Ratings.csr_structure``: int64 row pointers
and int32 item indices, +0.1 GB; peak 0.92 GB while its int64 sort order exists);
BiasedMF adds the float32 ratings and P, Q (it does not copy users/items); ``jit`` and
``jit-fast`` the int64 order of each epoch (+0.2 GB), ``jit-fast`` its 16-byte records
(+0.4 GB); ``blocks`` its 12-byte records (float32; +0.3 GB) and no per-epoch order.
The peaks below are the child's ``VmHWM`` (not ``ru_maxrss``, which Linux inherits
from the parent across fork and exec).

{mem}

{by_set}
"""
    write_results("scaling", {"rows": rows, "memory": memory, "summary": summary}, text, directory=out)
    print(text)
    if quick:
        print(f"(quick run: results written to {out}, not to benchmarks/results)")


if __name__ == "__main__":
    if "--memory" in sys.argv:
        at = sys.argv.index("--memory")
        memory_child(sys.argv[at + 1], sys.argv[at + 2])
    else:
        main(quick="--quick" in flags(__doc__, "--quick"))
