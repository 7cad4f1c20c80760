"""``python -m mfcore.exercises`` and ``mfcore exercises``: list, show, template, check."""
import argparse
import importlib.util
import sys
from pathlib import Path

from . import MODULES, all_exercises, get
from ._core import print_results


def add_exercise_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("list", help="every exercise, by tutorial")
    s = sub.add_parser("show", help="the task of one exercise (e.g. t03.sgd_step)")
    s.add_argument("exercise")
    s = sub.add_parser("template", help="a file of stubs to fill in (for t03, or one exercise)")
    s.add_argument("target", help="a tutorial (t03) or one exercise (t03.sgd_step)")
    s.add_argument("-o", "--output", help="write to this file (default: print)")
    s.add_argument("--force", action="store_true", help="overwrite an existing file")
    s = sub.add_parser("check", help="check your functions: check t03 my_t03.py, or "
                                     "check t03.sgd_step my_t03.py:sgd_step")
    s.add_argument("target", help="a tutorial (t03) or one exercise (t03.sgd_step)")
    s.add_argument("file", help="your Python file, optionally :FUNCTION (default: the exercise's name)")
    return p


class UsageError(Exception):
    """A mistake in the command line or in the student's file (not in a function being checked)."""


def _exercises(target):
    if "." in target:
        try:
            return [get(target)]
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
    if target not in MODULES:
        raise UsageError(f"no tutorial {target!r}; use one of {', '.join(MODULES)} or an exercise "
                         "such as t03.sgd_step (python -m mfcore.exercises list)")
    return list(MODULES[target].EXERCISES.values())


def load_file(path):
    """Import a student's file by path; errors in it become a UsageError naming file and line."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a folder: give the Python file that holds your functions")
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    spec = importlib.util.spec_from_file_location(f"_mfcore_student_{abs(hash(str(path.resolve())))}", path)
    if spec is None:  # Python imports only source files (.py) and compiled modules
        raise UsageError(f"{path.name} is not a Python file: give the .py file that holds your functions "
                         "(mfcore exercises template makes one)")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # the file may import its neighbours
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise UsageError(f"{path.name}, line {exc.lineno}: SyntaxError: {exc.msg}") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported, not raised (sys.exit too)
        import traceback

        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
        line = f", line {frames[-1].lineno}" if frames else ""
        raise UsageError(f"importing {path.name} raised {type(exc).__name__}{line}: {exc}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def cmd_list(out):
    for name, mod in MODULES.items():
        print(f"{name}  {mod.__doc__.splitlines()[0]}", file=out)
        for ex in mod.EXERCISES.values():
            print(f"    {ex.key:<28} {ex.title}", file=out)
    print(f"\n{len(all_exercises())} exercises. Next: python -m mfcore.exercises show t03.sgd_step", file=out)
    return 0


def cmd_show(key, out):
    ex = _exercises(key)[0]
    mod = ex.key.split(".")[0]
    print(f"{ex.key}: {ex.title}\n\n    def {ex.signature}\n{ex.task}\n", file=out)
    print(f"Check it: python -m mfcore.exercises check {ex.key} YOUR_FILE.py:{ex.name}\n"
          f"      or: from mfcore.exercises import {mod}; {mod}.check_{ex.name}({ex.name})", file=out)
    return 0


def cmd_template(target, output, force, out):
    exercises = _exercises(target)
    name = target.split(".")[0]
    head = (f'"""My answers to the exercises of tutorial {name[1:]}.\n\n'
            f"Check them with:  python -m mfcore.exercises check {target} THIS_FILE.py\n\"\"\"\n"
            "import numpy as np\n")
    text = head + "".join("\n\n" + ex.template() for ex in exercises)
    if output is None:
        print(text, file=out, end="")
        return 0
    if not str(output).strip():
        raise UsageError("-o needs a file name, e.g. -o my_t03.py (or leave -o out to print the template)")
    path = Path(output)
    if path.exists() and not force:
        raise UsageError(f"{path} exists; choose another name or pass --force to overwrite it")
    path.write_text(text, encoding="utf-8")
    print(f"wrote {len(exercises)} stub(s) to {path}; check them with: "
          f"python -m mfcore.exercises check {target} {path}", file=out)
    return 0


def cmd_check(target, file, out):
    path, _, func = file.partition(":")
    if not func and len(file) > 2 and file[1] == ":":  # a Windows drive letter, C:\...
        path, _, func = file[2:].partition(":")
        path = file[:2] + path
    exercises = _exercises(target)
    module = load_file(path)
    if func and len(exercises) > 1:
        raise UsageError(f"{target} has {len(exercises)} exercises: name one of them "
                         f"({', '.join(e.key for e in exercises)}) to check the function {func}")
    results, missing = [], []
    for ex in exercises:
        fn = getattr(module, func or ex.name, None)
        if fn is None:
            missing.append(func or ex.name)
            continue
        results.append(ex.check(fn))
    if missing and not results:
        defined = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                         and getattr(v, "__module__", None) == module.__name__)
        raise UsageError(f"{Path(path).name} defines no function {' or '.join(missing)} "
                         f"(it defines: {', '.join(defined) or 'no functions'})")
    ok = print_results(results, file=out)
    if missing:
        print(f"not in {Path(path).name} yet: {', '.join(missing)}", file=out)
    return 0 if ok and not missing else 1


def run(args, out=None):
    out = out or sys.stdout
    try:
        action = getattr(args, "action", None) or "list"
        if action == "list":
            return cmd_list(out)
        if action == "show":
            return cmd_show(args.exercise, out)
        if action == "template":
            return cmd_template(args.target, args.output, args.force, out)
        return cmd_check(args.target, args.file, out)
    except UsageError as exc:
        print(f"mfcore exercises: error: {exc}", file=sys.stderr)
        return 2


def main(argv=None):
    parser = add_exercise_arguments(argparse.ArgumentParser(
        prog="python -m mfcore.exercises", description="Exercises that check themselves."))
    return run(parser.parse_args(argv))
