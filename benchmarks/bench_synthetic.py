"""Benchmark mfcore.data.make_like: wall time and peak memory per preset size.

    python benchmarks/bench_synthetic.py                  # presets 1m 10m 25m
    python benchmarks/bench_synthetic.py --presets 1m 100m --timestamps

Each preset is generated in a fresh child process, so its peak resident memory
(``ru_maxrss``) is that generation's alone (it includes about 150 MB for Python
and the imports, measured with a 0-preset baseline). Results go to
``benchmarks/results/synthetic.json`` and ``.md``.
"""
import argparse
import json
import subprocess
import sys

from _common import markdown_table, write_results

CHILD = """
import json, resource, sys, time
import numpy as np
from mfcore.data import make_like
preset, timestamps = sys.argv[1], sys.argv[2] == "1"
t0 = time.perf_counter()
r = make_like(preset, rng=0, timestamps=timestamps) if preset != "none" else None
seconds = time.perf_counter() - t0
use = resource.getrusage(resource.RUSAGE_SELF)
out = {"preset": preset, "seconds": seconds, "cpu_seconds": use.ru_utime + use.ru_stime,
       "peak_mb": use.ru_maxrss / 1024}
if r is not None:
    c = np.sort(r.item_counts())[::-1]
    out.update(n_ratings=len(r), n_users=r.n_users, n_items=r.n_items,
               top10_item_share=float(c[:c.size // 10].sum() / c.sum()),
               mean_rating=float(r.values.mean()))
print(json.dumps(out))
"""


def run(preset, timestamps):
    res = subprocess.run([sys.executable, "-c", CHILD, preset, "1" if timestamps else "0"],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["1m", "10m", "25m"])
    ap.add_argument("--timestamps", action="store_true", help="also draw timestamps")
    args = ap.parse_args(argv)
    rows = [run("none", False)]
    print(f"baseline (imports only): peak {rows[0]['peak_mb']:.0f} MB", flush=True)
    for p in args.presets:
        rows.append(run(p, args.timestamps))
        r = rows[-1]
        print(f"{p:>5}: {r['n_ratings']:,} ratings in {r['seconds']:.1f} s "
              f"(CPU {r['cpu_seconds']:.1f} s), peak {r['peak_mb']:.0f} MB", flush=True)
    table = markdown_table(
        ["preset", "ratings", "users", "items", "wall s", "CPU s", "peak MB", "top-10% item share"],
        [[r["preset"], r.get("n_ratings"), r.get("n_users"), r.get("n_items"), r["seconds"],
          r["cpu_seconds"], round(r["peak_mb"]), r.get("top10_item_share")] for r in rows])
    md = ("# make_like: generation time and peak memory\n\n"
          f"Seed 0, timestamps={args.timestamps}; one child process per preset "
          "(peak = ru_maxrss of the child; the 'none' row is Python plus imports). CPU s is\n"
          "user + system time of the child, including imports: on a shared machine it is\n"
          "steadier than wall time.\n\n" + table)
    write_results("synthetic", {"timestamps": args.timestamps, "runs": rows}, md)
    print(md)


if __name__ == "__main__":
    main()
