"""Run tutorials in full mode and commit what they recorded: ``tutorials/full_runs.json``.

Each tutorial runs in a fresh interpreter (as ``python tutorials/NN_*.py`` would),
first in full mode, then in fast mode (``MFCORE_FAST=1``), and the wall-clock
time of both is measured. From the full run, what the tutorial recorded through
its ``RUN = mfcore.tutorial.FullRun(...)`` (the result lines, tables and curves
its prose quotes) is saved, so that a fast run can print the full run's results
beside its own, labelled as such.

Usage (from the repository root; ML-100k under $MFCORE_DATA_DIR)::

    python tutorials/record_full_runs.py            # every tutorial (about 20 min on 2 cores)
    python tutorials/record_full_runs.py 06 08      # some of them; the others are kept
    python tutorials/record_full_runs.py --logs DIR # also keep what each run printed, in DIR

Wall-clock times depend on the machine and on what else runs on it; the file
records the load average next to them, and the CPU time (user + system) of each
run, which depends much less on the load.
"""
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "full_runs.json"

DRIVER = """
import json, runpy, sys

def plain(x):  # NumPy is imported by the tutorial itself, after its own thread settings
    import numpy as np
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x

ns = runpy.run_path(sys.argv[1], run_name="__main__")
run = ns.get("RUN")  # the tutorial's mfcore.tutorial.FullRun
json.dump(plain(run.record if run is not None else {}), open(sys.argv[2], "w"))
"""


def run(path, fast, record_to, log_dir=None):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(HERE.parent))
    env.pop("MFCORE_FAST", None)
    if fast:
        env["MFCORE_FAST"] = "1"
    with tempfile.TemporaryDirectory() as cwd:  # figures go to a throwaway folder
        t0, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, "-c", DRIVER, str(path), record_to], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seconds, cpu1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if log_dir is not None:
        Path(log_dir, f"{path.stem}.{'fast' if fast else 'full'}.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"{path.name} failed ({'fast' if fast else 'full'} mode):\n{done.stderr[-3000:]}")
    return seconds, cpu


def main(which, log_dir=None):
    data = json.loads(OUT.read_text()) if OUT.is_file() else {"tutorials": {}}
    paths = sorted(HERE.glob("[0-9][0-9]_*.py"))
    for path in paths:
        n = path.name[:2]
        if which and n not in which:
            continue
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            record_file = tmp.name
        load = os.getloadavg()[0]
        full, full_cpu = run(path, False, record_file, log_dir)
        record = json.loads(Path(record_file).read_text())
        fast, fast_cpu = run(path, True, record_file, log_dir)
        os.unlink(record_file)
        data["tutorials"][n] = {"name": path.stem, "seconds_full": round(full, 1), "seconds_fast": round(fast, 1),
                                "cpu_seconds_full": round(full_cpu, 1), "cpu_seconds_fast": round(fast_cpu, 1),
                                "load_average": round(load, 2), "record": record}
        print(f"{path.stem}: full {full:.0f} s ({full_cpu:.0f} s CPU), fast {fast:.0f} s ({fast_cpu:.0f} s CPU), "
              f"load average {load:.1f}", flush=True)
        data["machine"] = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                           "python": platform.python_version(),
                           "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    logs = None
    if "--logs" in args:
        k = args.index("--logs")
        logs = args[k + 1]
        Path(logs).mkdir(parents=True, exist_ok=True)
        del args[k:k + 2]
    main(set(args), logs)
