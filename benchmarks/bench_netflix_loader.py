"""Benchmark mfcore.data.load_netflix on a generated file set in the Netflix Prize format.

    python benchmarks/bench_netflix_loader.py                 # 100,000,000 ratings (~2 GB)
    python benchmarks/bench_netflix_loader.py --ratings 1000000

Writes four ``combined_data_{1..4}.txt`` files plus ``movie_titles.csv`` into a
temporary folder (deleted afterwards), loads them in a child process (once
with timestamps, once without), and records wall time, CPU time and the child's peak
resident memory (VmHWM) in ``benchmarks/results/netflix_loader.json``
and ``.md``.

The data are synthetic: 17,770 movies with heavy-tailed rating counts, user
ids drawn from 1..2,649,429 as in the real files, dates 1999-11-11..2005-12-31.
Duplicate (user, movie) pairs can occur; the loader does not look for them.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
N_MOVIES, N_USERS, MAX_USER = 17_770, 480_189, 2_649_429
WIDTH = 21  # 7 user digits, ',', rating, ',', 10 date bytes, newline


def _date_table(first="1999-11-11", last="2005-12-31"):
    days = np.arange(np.datetime64(first), np.datetime64(last) + 1)
    text = np.array([str(d) for d in days], dtype="S10")
    return np.frombuffer(text.tobytes(), dtype=np.uint8).reshape(-1, 10)


def _format_block(movies, counts, users, ratings, day_rows, dates):
    """Bytes of several movie blocks: a 'movie:' line, then 'user,rating,date' lines."""
    n_lines = counts.size + counts.sum()
    head = np.zeros(n_lines, dtype=bool)
    head[np.concatenate([[0], np.cumsum(counts + 1)[:-1]])] = True
    M = np.zeros((n_lines, WIDTH), dtype=np.uint8)
    keep = np.zeros((n_lines, WIDTH), dtype=bool)
    ids = np.zeros(n_lines, dtype=np.int64)
    ids[head], ids[~head] = movies, users
    ndig = np.floor(np.log10(np.maximum(ids, 1))).astype(np.int64) + 1
    for k in range(7):
        M[:, k] = 48 + (ids // 10 ** (6 - k)) % 10
        keep[:, k] = k >= 7 - ndig
    rows = ~head
    M[head, 7], keep[head, 7] = ord(":"), True
    M[rows, 7], M[rows, 8], M[rows, 9] = ord(","), 48 + ratings, ord(",")
    M[rows, 10:20] = dates[day_rows]
    keep[rows, 7:20] = True
    M[:, 20], keep[:, 20] = 10, True
    return M[keep].tobytes()


def generate(folder, n_ratings, seed=0, batch=4_000_000):
    """Write the four combined_data files and movie_titles.csv; return the bytes written."""
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 1.5, N_MOVIES)
    counts = np.floor(weights / weights.sum() * n_ratings).astype(np.int64)
    counts[: n_ratings - counts.sum()] += 1
    user_ids = np.sort(rng.choice(MAX_USER, N_USERS, replace=False) + 1)
    user_p = rng.pareto(1.2, N_USERS) + 1
    user_cdf = np.cumsum(user_p / user_p.sum())
    dates = _date_table()
    file_of = np.minimum((np.cumsum(counts) - 1) * 4 // max(n_ratings, 1), 3)
    written = 0
    for f in range(4):
        movies = np.flatnonzero(file_of == f)
        with open(folder / f"combined_data_{f + 1}.txt", "wb") as out:
            start = 0
            while start < movies.size:
                stop = start + max(1, np.searchsorted(np.cumsum(counts[movies[start:]]), batch))
                m, c = movies[start:stop], counts[movies[start:stop]]
                n = int(c.sum())
                users = user_ids[np.minimum(np.searchsorted(user_cdf, rng.random(n)), N_USERS - 1)]
                data = _format_block(m + 1, c, users, rng.integers(1, 6, n),
                                     rng.integers(0, len(dates), n), dates)
                out.write(data)
                written += len(data)
                start = stop
    with open(folder / "movie_titles.csv", "w", encoding="ISO-8859-1") as out:
        for m in range(1, N_MOVIES + 1):
            year = "NULL" if m % 997 == 0 else str(1950 + m % 56)
            out.write(f"{m},{year},Movie {m}, part {m % 7} (Am\xe9lie cut)\n")
    return written


def _peak_rss_mb():
    """This process's peak resident memory in MB.

    Linux's VmHWM belongs to the process image after exec; ru_maxrss can carry
    the parent's peak across fork+exec, so it is only the fallback.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load_child(folder, timestamps):
    """Run in a child process: load, and print time and peak RSS as JSON."""
    import mfcore.data as data

    base = _peak_rss_mb()
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    r = data.load_netflix(folder, timestamps=timestamps)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    peak = _peak_rss_mb()
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    arrays = r.users.nbytes + r.items.nbytes + r.values.nbytes + (
        r.timestamps.nbytes if r.timestamps is not None else 0)
    print(json.dumps({"timestamps": timestamps, "seconds": seconds, "cpu_seconds": cpu,
                      "n_ratings": len(r),
                      "n_users": r.n_users, "n_items": r.n_items,
                      "peak_rss_mb": peak, "rss_before_load_mb": base,
                      "result_arrays_mb": arrays / 2**20}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=100_000_000)
    parser.add_argument("--tmp", default=None, help="parent folder of the temporary data")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _load_child(args.child[0], args.child[1] == "1")
    folder = Path(tempfile.mkdtemp(prefix="mfcore-netflix-", dir=args.tmp))
    try:
        t0 = time.perf_counter()
        size = generate(folder, args.ratings)
        gen_seconds = time.perf_counter() - t0
        print(f"generated {args.ratings:,} ratings ({size / 2**30:.2f} GiB) in {gen_seconds:.0f} s")
        runs = []
        for ts in (True, False):
            out = subprocess.run([sys.executable, __file__, "--child", str(folder), str(int(ts))],
                                 check=True, capture_output=True, text=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(runs[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    import mfcore
    record = {"benchmark": "load_netflix", "n_ratings": args.ratings, "file_bytes": size,
              "generate_seconds": gen_seconds, "runs": runs,
              "env": {"python": platform.python_version(), "numpy": np.__version__,
                      "mfcore": mfcore.__version__, "cpus": os.cpu_count(),
                      "machine": platform.machine()}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "netflix_loader.json").write_text(json.dumps(record, indent=2) + "\n")
    text = markdown(record)
    (RESULTS / "netflix_loader.md").write_text(text)
    print(text)


def markdown(record):
    """The readable summary of a result record."""
    runs, env = record["runs"], record["env"]
    lines = [f"# load_netflix on {record['n_ratings']:,} generated ratings "
             f"({record['file_bytes'] / 2**30:.2f} GiB in the Netflix Prize format)", "",
             "| timestamps | wall s | CPU s | ratings/s (wall) | peak RSS (MB) | "
             "result arrays (MB) |", "|---|---|---|---|---|---|"]
    for run in runs:
        lines.append(f"| {run['timestamps']} | {run['seconds']:.1f} | {run['cpu_seconds']:.1f} | "
                     f"{run['n_ratings'] / run['seconds']:,.0f} | {run['peak_rss_mb']:,.0f} | "
                     f"{run['result_arrays_mb']:,.0f} |")
    lines += [
        "", "Peak RSS is the child process's VmHWM, including the interpreter and imports "
        f"({runs[0]['rss_before_load_mb']:.0f} MB before loading). The result arrays are the "
        "floor set by `Ratings`: int32 user and item indices and float32 ratings (exact for 1..5) are 12 bytes "
        "per rating, int32 timestamps 4 more. The loader's own overhead is the rest (one "
        "16 MB chunk's working arrays). Wall time depends on the other jobs sharing the "
        "machine; CPU time less so. Generating the files took "
        f"{record['generate_seconds']:.0f} s. Python {env['python']}, NumPy {env['numpy']}, "
        f"{env['cpus']} CPUs (shared with other jobs).", ""]
    return "\n".join(lines)

if __name__ == "__main__":
    main()
