"""The teaching commands, ``mfcore exercises`` and ``mfcore tutorials`` (kept out of cli.py).

``mfcore tutorials`` lists the tutorials with their measured times and checked
exercises; ``mfcore tutorials --notebook 08`` writes tutorial 08 as a notebook
(jupytext), and ``--execute`` runs it (nbclient); both need the ``notebooks``
extra: ``pip install "mfcore[notebooks]"``.
"""
import os
import re
import sys
from pathlib import Path


# ------------------------------------------------------------------ exercises
def cmd_exercises(args):
    from .exercises._cli import run

    return run(args)


# ------------------------------------------------------------------ tutorials
def tutorials_dir(explicit=None):
    """The folder of the tutorial scripts: ``explicit``, ./tutorials, the source checkout's, or
    the copy installed with the package (``<prefix>/share/mfcore/tutorials``)."""
    import mfcore

    if explicit:  # asked for: that folder or an error, never another one
        if not sorted(Path(explicit).glob("0[0-9]_*.py")):
            raise FileNotFoundError(f"--from {explicit}: no tutorials there (the folder holding "
                                    "00_data_and_notation.py ...); leave --from out to use the installed ones")
        return Path(explicit)
    candidates = [Path.cwd() / "tutorials", Path(mfcore.__file__).resolve().parent.parent / "tutorials",
                   Path(sys.prefix) / "share" / "mfcore" / "tutorials"]
    for folder in candidates:
        if sorted(folder.glob("0[0-9]_*.py")):
            return folder
    raise FileNotFoundError("tutorials not found: run from the repository's root folder, or pass "
                            "--from FOLDER (the folder holding 00_data_and_notation.py ...)")


def tutorial_files(folder):
    return {int(p.name[:2]): p for p in sorted(folder.glob("[0-9][0-9]_*.py"))}


def measured_times(folder):
    """{number: (fast seconds, full seconds)} from ``full_runs.json`` beside the tutorials, or {}."""
    import json

    try:
        data = json.loads((folder / "full_runs.json").read_text(encoding="utf-8"))["tutorials"]
    except (FileNotFoundError, KeyError, ValueError):
        return {}
    return {int(n): (e.get("seconds_fast"), e.get("seconds_full")) for n, e in data.items()}


def _duration(seconds):
    if seconds is None:
        return "-"
    return f"{seconds:.0f}s" if seconds < 100 else f"{seconds / 60:.0f}min"


def tutorial_title(path):
    m = re.search(r"^# # \d+ · (.+)$", path.read_text(encoding="utf-8"), re.M)
    return m.group(1).strip() if m else path.stem


def cmd_tutorials(args):
    folder = tutorials_dir(args.from_dir)
    files = tutorial_files(folder)
    if args.notebook is None and (args.execute or args.fast):
        raise ValueError("--execute and --fast run a notebook: name the tutorial, e.g. "
                         "mfcore tutorials --notebook 03 --execute")
    if args.notebook is None:
        from .exercises import MODULES

        titles = {n: tutorial_title(path) for n, path in files.items()}
        times = measured_times(folder)
        width = max(map(len, titles.values())) + 2
        print(f"{'':3}{'tutorial':<{width}}{'fast':>6}{'full':>7}  checked exercises")
        for n, path in files.items():
            fast, full = times.get(n, (None, None))
            mod = MODULES.get(f"t{n:02d}")
            names = ", ".join(mod.EXERCISES) if mod else "-"
            print(f"{n:02d} {titles[n]:<{width}}{_duration(fast):>6}{_duration(full):>7}  {names}")
        print(f"\n(from {folder}; wall-clock times of python NN_*.py measured by record_full_runs.py on a "
              "busy 2-core machine; fast = MFCORE_FAST=1)\n"
              "Run one:            python tutorials/03_engines_loop_vectorized_jit.py\n"
              "As a notebook:      mfcore tutorials --notebook 03 [--execute] [--fast]\n"
              "Checked exercises:  mfcore exercises list")
        return 0
    n = int(args.notebook) if str(args.notebook).isdigit() else None
    if n not in files:
        have = ", ".join(f"{k:02d}" for k in files)
        raise FileNotFoundError(f"no tutorial {args.notebook} in {folder} (there are {have})")
    return write_notebook(files[n], Path(args.out), execute=args.execute, fast=args.fast)


class NotebookError(RuntimeError):
    """A tutorial's cell failed while ``--execute`` ran it as a notebook."""


def write_notebook(path, out_dir, execute=False, fast=False, timeout=3600):
    """Write tutorial ``path`` as ``out_dir/<name>.ipynb``; optionally execute it first. Returns 0."""
    try:
        import jupytext
    except ImportError:
        raise ModuleNotFoundError('writing a notebook needs jupytext: pip install "mfcore[notebooks]"') from None
    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    target = out_dir / f"{path.stem}.ipynb"
    if execute:
        try:
            from nbclient import NotebookClient
        except ImportError:
            raise ModuleNotFoundError('executing a notebook needs nbclient and ipykernel: '
                                      'pip install "mfcore[notebooks]"') from None
        print(f"executing {path.name} as a notebook{' (fast mode)' if fast else ''} ...", flush=True)
        before = os.environ.get("MFCORE_FAST")
        if fast:
            os.environ["MFCORE_FAST"] = "1"  # the kernel inherits the environment
        from nbclient.exceptions import CellExecutionError

        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(Path.cwd())}}).execute()
        except CellExecutionError as exc:  # one line: which cell, which error (no notebook is written)
            cell = next((k for k, c in enumerate(nb.cells, 1) if any(
                o.get("output_type") == "error" for o in c.get("outputs", ()))), None)
            raise NotebookError(f"{path.name}: {'cell ' + str(cell) if cell else 'a cell'} raised "
                                f"{exc.ename}: {exc.evalue}; run the script itself (python {path}) "
                                "to see the whole traceback") from None
        finally:
            if before is None:
                os.environ.pop("MFCORE_FAST", None)
            else:
                os.environ["MFCORE_FAST"] = before
    import nbformat

    from ._json import write_atomically

    write_atomically(target, lambda fh: fh.write(nbformat.writes(nb).encode("utf-8")), binary=True,
                     what="notebook", suffix=".ipynb", example=target.name)  # never half-written
    print(f"wrote {target}" + ("" if execute else f"; open it with: jupyter lab {target}"))
    return 0


def add_commands(sub):
    """Register ``exercises`` and ``tutorials`` on the ``mfcore`` command's subparsers."""
    s = sub.add_parser("exercises", help="exercises that check themselves: list, show, template, check")
    from .exercises._cli import add_exercise_arguments

    add_exercise_arguments(s)
    s.set_defaults(func=cmd_exercises)
    s = sub.add_parser("tutorials", help="the tutorials with their times; --notebook NN writes one as .ipynb")
    s.add_argument("--notebook", metavar="NN", help="write tutorial NN as a Jupyter notebook")
    s.add_argument("--out", default=os.path.join("mfcore-output", "notebooks"),
                   help="folder for the notebook (default mfcore-output/notebooks)")
    s.add_argument("--execute", action="store_true", help="run the notebook (nbclient) before writing it")
    s.add_argument("--fast", action="store_true", help="with --execute: MFCORE_FAST=1 (a quick run)")
    s.add_argument("--from", dest="from_dir", metavar="FOLDER", help="the tutorials folder (default: found)")
    s.set_defaults(func=cmd_tutorials)
