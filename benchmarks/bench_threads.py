"""What two threads can gain on this machine: compute-bound vs random-memory-bound loops.

Hogwild SGD (``jit-hogwild``, ``jit-fast-hogwild``) on a large set spends its
time waiting for rows of P and Q fetched from random places in memory. This
script separates the two things a second thread could speed up:

* ``compute``: a dependent chain of floating-point operations on private
  registers (no memory traffic). Two threads doing twice the work in the same
  time means two real cores.
* ``random reads``: summing ``A[idx[k]]`` over random ``idx`` in a 400 MB array
  (far larger than the caches), split in two halves, one per thread. Two
  threads in the time of one means the memory system serves twice the random
  requests; no gain means it is already saturated by one thread.
* ``random read-modify-writes``: ``A[idx[k]] += 1`` over the same random
  ``idx``: every miss also dirties a line that must be written back, as the
  SGD updates of p_u and q_i do.
* ``sequential reads``: the same sum over ``A`` in order (bandwidth, prefetched).

    python benchmarks/bench_threads.py

Writes ``benchmarks/results/threads.json`` and ``threads.md``.
"""
import os
import time

import numba
import numpy as np

from _common import flags, markdown_table, write_results

N_COMPUTE = 200_000_000
N_ARRAY = 50_000_000  # 400 MB of float64
N_READS = 20_000_000
REPEATS = 5


@numba.njit
def compute(n):
    s, x = 0.0, 1.0
    for _ in range(n):
        x = x * 1.0000001 + 1e-9
        s += x
    return s


@numba.njit(parallel=True)
def compute_threads(n, T):
    out = np.zeros(T)
    for t in numba.prange(T):
        out[t] = compute(n)
    return out


@numba.njit
def gather(A, idx):
    s = 0.0
    for k in range(idx.shape[0]):
        s += A[idx[k]]
    return s


@numba.njit
def update(A, idx):
    for k in range(idx.shape[0]):
        A[idx[k]] += 1.0
    return 0.0


@numba.njit(parallel=True)
def update_threads(A, idx, T):
    n = idx.shape[0]
    for t in numba.prange(T):
        update(A, idx[t * n // T:(t + 1) * n // T])
    return 0.0


@numba.njit(parallel=True)
def gather_threads(A, idx, T):
    out = np.zeros(T)
    n = idx.shape[0]
    for t in numba.prange(T):
        out[t] = gather(A, idx[t * n // T:(t + 1) * n // T])
    return out


def best(fn, *args):
    fn(*args)  # compile / warm up
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    T = 2
    load_before = [round(x, 2) for x in os.getloadavg()]
    rows = []
    one, two = best(compute, N_COMPUTE), best(compute_threads, N_COMPUTE, T)
    rows.append({"loop": "compute (private registers)", "one_thread_s": one, "two_threads_s": two,
                 "work_per_thread": "same", "speed_up": T * one / two})
    rng = np.random.default_rng(0)
    A = rng.random(N_ARRAY)
    idx = rng.integers(0, N_ARRAY, N_READS)
    one, two = best(gather, A, idx), best(gather_threads, A, idx, T)
    rows.append({"loop": "random reads (400 MB array)", "one_thread_s": one, "two_threads_s": two,
                 "work_per_thread": "half", "speed_up": one / two})
    one, two = best(update, A, idx), best(update_threads, A, idx, T)
    rows.append({"loop": "random read-modify-writes (400 MB array)", "one_thread_s": one,
                 "two_threads_s": two, "work_per_thread": "half", "speed_up": one / two})
    seq = np.arange(N_READS, dtype=np.int64)
    one, two = best(gather, A, seq), best(gather_threads, A, seq, T)
    rows.append({"loop": "sequential reads", "one_thread_s": one, "two_threads_s": two,
                 "work_per_thread": "half", "speed_up": one / two})
    load_after = [round(x, 2) for x in os.getloadavg()]
    table = markdown_table(["loop", "1 thread s", "2 threads s", "work per thread", "speed-up"],
                           [[r["loop"], r["one_thread_s"], r["two_threads_s"], r["work_per_thread"],
                             f"{r['speed_up']:.2f}x"] for r in rows])
    text = f"""# Two threads on this machine: compute vs memory

Produced by `benchmarks/bench_threads.py` (Numba, best of {REPEATS}). Load average
before/after: {load_before} / {load_after} on {os.cpu_count()} CPUs.

{table}

"speed-up" is the rate of two threads over one. Compute scales with the
threads, so the two CPUs are real cores. Random reads into a large array do not
gain from a second thread when that row says about 1x: the memory system already
serves one thread's misses as fast as it can. Hogwild SGD on 25M ratings is
this kind of loop (a random row of P and of Q per rating), which is why two
Hogwild threads are no faster than one there (benchmarks/results/scaling.md).
"""
    write_results("threads", {"rows": rows, "load_average_before": load_before,
                              "load_average_after": load_after}, text)
    print(text)


if __name__ == "__main__":
    flags(__doc__)
    main()
