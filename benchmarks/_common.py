"""Shared by the benchmark scripts: data, peers, the environment record and result files.

    folder = ml100k_dir()                     # $MFCORE_DATA_DIR/ml-100k or mfcore's download cache
    python, note = peer_python("tensorflow", flag)   # an interpreter that has the peer, or None
    env = environment()                       # versions, CPUs, BLAS threads, peers, date
    write_results("baselines", data, text)    # results/baselines.json + .md

The scripts import this file as ``from _common import ...``: Python puts the folder of
the script it runs (``benchmarks/``) on ``sys.path``, so run them as
``python benchmarks/bench_x.py`` from anywhere. mfcore itself is imported as installed
(``pip install -e .``).
"""
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

# Threads of a finished parallel region sleep instead of spinning (GNU OpenMP spins for a while
# by default), so a two-thread row does not leave a thread busy beside the one-thread row
# measured next. Set before Numba starts its threads; a value the caller set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RESULTS = Path(__file__).resolve().parent / "results"
THREAD_VARS = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def flags(doc, *names, argv=None):
    """A script's command line: ``--help`` prints ``doc`` (its docstring) and exits; ``names`` are
    its on/off flags (``"--quick"``), returned as the set of those given. Anything else stops with
    exit code 2, so a mistyped flag never starts a long run that rewrites ``results/``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in names:
        parser.add_argument(name, action="store_true")
    given = vars(parser.parse_args(argv))
    return {name for name in names if given[name.lstrip("-").replace("-", "_")]}


def load_average():
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


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
        "packages": {p: _version(p) or NOT_INSTALLED
                     for p in ("mfcore", "numpy", "scipy", "numba", "pandas", "threadpoolctl")},
        "thread_env": {v: os.environ[v] for v in THREAD_VARS if v in os.environ},
    }
    try:
        import threadpoolctl

        env["threadpools"] = [{k: info.get(k) for k in ("user_api", "internal_api", "version",
                                                         "num_threads")}
                              for info in threadpoolctl.threadpool_info()]
    except ImportError:
        env["threadpools"] = NOT_INSTALLED  # pip install -e ".[bench]"
    return env


# ------------------------------------------------------------------ data
def ml100k_dir():
    """The folder holding ML-100k: ``$MFCORE_DATA_DIR/ml-100k``, else mfcore's download cache.

    Exits with a message saying how to get it when there is none. (In an environment
    without mfcore, such as a bare TensorFlow one, only ``$MFCORE_DATA_DIR`` is read.)
    """
    try:
        from mfcore.data import find_dataset
    except ImportError:
        env = os.environ.get("MFCORE_DATA_DIR")
        folder = Path(env) / "ml-100k" if env and (Path(env) / "ml-100k" / "u.data").is_file() else None
    else:
        folder = find_dataset("ml-100k")
    if folder is None:
        raise SystemExit("ML-100k not found: run `mfcore fetch ml-100k` (downloads it into "
                         "mfcore's cache), or set MFCORE_DATA_DIR to a folder holding ml-100k/")
    return folder


# ------------------------------------------------------------------ peers
NOT_INSTALLED = "not installed"


def module_version(module, python=None):
    """The version of ``module`` importable by ``python`` (default: this interpreter), or None."""
    if python is None or Path(python) == Path(sys.executable):
        if importlib.util.find_spec(module) is None:
            return None
        return _version({"torch": "torch", "surprise": "scikit-surprise"}.get(module, module)) or "unknown"
    code = f"import {module}; print(getattr({module}, '__version__', 'unknown'))"
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=600)
    except OSError:
        return None
    return out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else None


def peer_python(module, python=None):
    """``(interpreter, note)`` for a peer library that mfcore never imports (TensorFlow, Surprise,
    PyTorch): ``python`` when given (a flag or an environment variable) and it can import
    ``module``, else this interpreter when it can. ``interpreter`` is None when neither can,
    and ``note`` then says so ("not installed ...") and how to provide the peer."""
    tried = []
    if python:
        version = module_version(module, python) if Path(python).exists() else None
        if version is not None:
            return str(python), f"{module} {version} ({python})"
        tried.append(f"{python} {'cannot import it' if Path(python).exists() else 'does not exist'}")
    version = module_version(module)
    if version is not None:
        return sys.executable, f"{module} {version} (this interpreter)"
    tried.append(f"{sys.executable} cannot import it")
    return None, (f"{NOT_INSTALLED} ({module}: {'; '.join(tried)}); install it here or pass a "
                  "Python that has it (see benchmarks/README.md)")


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


@contextmanager
def checkout_of(ref):
    """A temporary ``git worktree`` of this repository at ``ref`` (its root folder), removed
    afterwards; None (with a note on stderr) when git or the ref is not available. Used to
    time an earlier version of mfcore in the same run as this one: put the folder first on
    the child's ``PYTHONPATH``."""
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="mfcore-at-") as tmp:
        root = Path(tmp) / "src"
        made = subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "-q", str(root), ref],
                              capture_output=True, text=True)
        if made.returncode != 0:
            print(f"cannot check out {ref}: {made.stderr.strip()}", file=sys.stderr)
            yield None
            return
        try:
            yield root
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(root)],
                           capture_output=True)
