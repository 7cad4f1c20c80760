"""Shared by the benchmark scripts: the environment record and atomic result files.

    env = environment()                       # versions, CPUs, BLAS threads, date
    write_results("baselines", data, text)    # results/baselines.json + .md
"""
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment():
    """A JSON-ready record of where a benchmark ran."""
    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "packages": {p: _version(p) for p in ("mfcore", "numpy", "scipy", "numba", "pandas")},
        "thread_env": {v: os.environ[v] for v in THREAD_VARS if v in os.environ},
    }
    try:
        import threadpoolctl

        env["threadpools"] = [{k: info.get(k) for k in ("user_api", "internal_api", "version",
                                                         "num_threads")}
                              for info in threadpoolctl.threadpool_info()]
    except ImportError:
        env["threadpools"] = None  # threadpoolctl not installed
    return env


@contextmanager
def timed(record, key):
    """``with timed(d, "fit_seconds"): ...`` stores the wall time of the block in ``d[key]``."""
    start = time.perf_counter()
    yield
    record[key] = time.perf_counter() - start


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_results(stem, data, markdown, directory=RESULTS):
    """Write ``<stem>.json`` (``data`` plus ``environment``) and ``<stem>.md``; return both paths."""
    data = dict(data)
    data.setdefault("environment", environment())
    js = write_atomic(Path(directory) / f"{stem}.json", json.dumps(data, indent=2, default=float) + "\n")
    md = write_atomic(Path(directory) / f"{stem}.md", markdown.rstrip() + "\n")
    return js, md


def markdown_table(header, rows):
    """A GitHub markdown table; floats are printed with 4 decimals, None as a dash."""
    def cell(v):
        if v is None:
            return "-"
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
