"""The checker shared by every exercise: run, compare, diagnose, report.

An :class:`Exercise` knows its reference (a function of mfcore, or a thin
wrapper around one), a few small seeded :class:`Case` s and a catalogue of
typical :class:`Mistake` s, each a deliberately wrong implementation with the
student's signature. ``exercise.check(fn)``:

1. runs the reference and ``fn`` on every case (on fresh copies of the inputs);
2. finds the first number that differs: which case, which output, which index,
   expected and got (or the exception ``fn`` raised, and where);
3. runs every catalogued mistake on the same cases: a mistake whose outputs
   equal the student's on every case is *the* diagnosis; one that matches on
   the failing case only is a *likely* one;
4. returns a :class:`CheckResult`, printed as a few lines in a console and
   rendered as Markdown in a notebook. A wrong answer never raises.

The modules ``tNN`` write their exercises with two helpers: :func:`catalogue`
turns a table of ``(code, switches, text)`` rows into the mistakes of one
implementation with switches, and :func:`seeded_cases` turns a table of
``(label, *params)`` rows into seeded cases.
"""
import copy
import functools
import sys
import textwrap
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_HERE = str(Path(__file__).resolve().parent)


@dataclass
class Case:
    """One input of an exercise: ``label`` says what is special about it."""

    label: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    ref_kwargs: dict = field(default_factory=dict)  # passed to the reference only


@dataclass
class Mistake:
    """A typical error: ``code`` (short id), ``text`` (the diagnosis), ``fn`` (a wrong implementation)."""

    code: str
    text: str
    fn: object


def catalogue(wrong, rows):
    """The mistakes of one exercise from a table of ``(code, switches, text)`` rows.

    ``wrong`` is the exercise's implementation with switches (keyword-only
    arguments, each one a typical error); a row's mistake is ``wrong`` called
    with the student's arguments and that row's ``switches`` (a dict). ``text``,
    the diagnosis, is a paragraph: its line breaks fold to single spaces.
    """
    return [Mistake(code, " ".join(text.split()), functools.partial(wrong, **switches))
            for code, switches, text in rows]


def seeded_cases(build, seed, rows, one_generator=False):
    """A ``cases`` function for a table of ``(label, *params)`` rows.

    Row n becomes ``Case(label, build(g, *params))``, g a fresh
    ``np.random.default_rng(seed + n)``, or with ``one_generator`` a single
    ``np.random.default_rng(seed)`` that the rows draw from in turn.
    """
    def cases():
        shared = np.random.default_rng(seed) if one_generator else None
        return [Case(label, build(shared or np.random.default_rng(seed + n), *params))
                for n, (label, *params) in enumerate(rows)]
    return cases


@dataclass
class Outcome:
    outputs: tuple = None   # numpy arrays, one per output, or None
    error: BaseException = None
    where: str = ""         # "file.py, line 12: <source line>" of the student's raising line


@dataclass
class Difference:
    kind: str               # "count", "shape", "value"
    output: str = ""
    index: tuple = ()
    expected: object = None
    got: object = None


def _as_output(x):
    if isinstance(x, (bool, np.bool_)):
        return np.asarray(x)
    try:
        arr = np.asarray(x)
    except Exception:  # noqa: BLE001 - anything unconvertible is reported as is
        return x
    if arr.dtype == object:
        return x
    return arr


def _where(exc):
    """The last frame of ``exc``'s traceback outside this package (the student's line)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_HERE)]
    if not frames:
        return ""
    f = frames[-1]
    line = f" `{f.line.strip()}`" if f.line else ""
    return f"{Path(f.filename).name}, line {f.lineno}:{line}"


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.10g}"
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return _fmt(v.item())
    return repr(v)


class Exercise:
    """One checked exercise; see the module docstring.

    ``text`` is written as the docstring of the function to write: the title on
    its first line, a blank line, then the task.
    """

    def __init__(self, key, text, signature, reference, cases, outputs, mistakes,
                 reference_name, collect=None, rtol=1e-9, atol=1e-12, match_rtol=1e-6, match_atol=1e-9):
        self.title, _, task = text.lstrip("\n").partition("\n\n")
        self.key, self.task, self.signature = key, "\n" + task, signature
        self.reference, self.make_cases, self.outputs = reference, cases, tuple(outputs)
        self.mistakes, self.reference_name = list(mistakes), reference_name
        self.collect = collect or (lambda args, ret: ret)
        self.rtol, self.atol, self.match_rtol, self.match_atol = rtol, atol, match_rtol, match_atol

    @property
    def name(self):
        return self.key.split(".", 1)[1]

    def template(self):
        """A stub of the function to write, with the task as its docstring."""
        doc = textwrap.indent(self.task.strip(), "    ")
        return (f"def {self.signature}:\n    \"\"\"{self.title}\n\n{doc}\n    \"\"\"\n"
                "    raise NotImplementedError\n")

    def checker(self):
        """``check(fn)`` as a function of its own, documented with the task."""
        def check(fn):
            return self.check(fn)

        check.__name__ = check.__qualname__ = f"check_{self.name}"
        check.__doc__ = (f"Check your ``{self.signature}``: {self.title}\n{self.task}\n\n"
                         "Returns a CheckResult: true when every case agrees with mfcore; printed, it "
                         "names the first wrong number and the likely mistake.")
        return check

    # ------------------------------------------------------------ running
    def run(self, fn, case, reference=False):
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        if reference:
            kwargs.update(case.ref_kwargs)
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ret = fn(*args, **kwargs)
                out = self.collect(args, ret)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the student's error is reported, not raised
            return Outcome(error=exc, where=_where(exc))
        if len(self.outputs) == 1 or not isinstance(out, (tuple, list)):
            out = (out,)
        return Outcome(outputs=tuple(_as_output(o) for o in out))

    def difference(self, expected, got, rtol, atol):
        """The first :class:`Difference` between two output tuples, or None."""
        if len(got) != len(expected):
            return Difference("count", expected=len(expected), got=len(got))
        for name, e, g in zip(self.outputs, expected, got):
            if not isinstance(g, np.ndarray) or g.dtype.kind not in "biuf":
                return Difference("type", name, expected=type(e).__name__, got=type(g).__name__)
            if g.shape != e.shape:
                return Difference("shape", name, expected=e.shape, got=g.shape)
            if e.dtype == bool:
                bad = g.astype(bool) != e
            else:
                g64 = g.astype(np.float64)
                bad = ~np.isclose(g64, e, rtol=rtol, atol=atol) & ~(np.isnan(e) & np.isnan(g64))
            if bad.any():
                idx = tuple(int(j) for j in np.argwhere(bad)[0])
                return Difference("value", name, idx, e[idx], g[idx])
        return None

    def _same(self, a, b):
        if a.error is not None or b.error is not None:
            return a.error is not None and b.error is not None and type(a.error) is type(b.error)
        return self.difference(a.outputs, b.outputs, self.match_rtol, self.match_atol) is None

    # ------------------------------------------------------------ checking
    def check(self, fn):
        """Run ``fn`` on every case; return a :class:`CheckResult` (never raises for a wrong answer)."""
        if not callable(fn):
            return CheckResult(self, False, 0, note=f"expected a function, got {type(fn).__name__}")
        cases = self.make_cases()
        expected = [self.run(self.reference, c, reference=True) for c in cases]
        for c, e in zip(cases, expected):  # pragma: no cover - a bug of the exercise, not the student
            if e.error is not None:
                raise RuntimeError(f"{self.key}: the reference failed on {c.label}") from e.error
        got = [self.run(fn, c) for c in cases]
        first = None
        for n, (e, g) in enumerate(zip(expected, got)):
            diff = None if g.error else self.difference(e.outputs, g.outputs, self.rtol, self.atol)
            if g.error is not None or diff is not None:
                first = (n, diff)
                break
        if first is None:
            return CheckResult(self, True, len(cases))
        n, diff = first
        if isinstance(got[n].error, NotImplementedError):
            return CheckResult(self, False, len(cases), n, cases[n].label, outcome=got[n],
                               note="not written yet: replace `raise NotImplementedError` by your code")
        mistake, certain = self.diagnose(cases, got, n)
        if mistake is None and diff is not None and diff.kind == "value" and \
                self.difference(expected[n].outputs, got[n].outputs, 1e-4, 1e-7) is None:
            mistake, certain = PRECISION, True
        return CheckResult(self, False, len(cases), n, cases[n].label, diff, got[n], mistake, certain)

    def diagnose(self, cases, got, n):
        """The catalogued mistake that reproduces the student's outputs: on every case (certain)
        or on the failing case ``n`` only (likely)."""
        likely = None
        for m in self.mistakes:
            runs = [self.run(m.fn, c) for c in cases]
            if all(self._same(a, b) for a, b in zip(runs, got)):
                return m, True
            if likely is None and self._same(runs[n], got[n]):
                likely = m
        return likely, False


PRECISION = Mistake("precision", "your numbers agree with mfcore's to about 4 digits only: compute in "
                    "float64 (NumPy's default), not float32, and do not round intermediate values.", None)


class CheckResult:
    """What ``check`` found. True when the function passed; printable and notebook-friendly.

    ``code`` is ``"ok"``, the catalogued mistake's code, ``"error"`` (the
    function raised), ``"not-written"`` or ``"unknown"`` (wrong, not in the catalogue).
    """

    def __init__(self, exercise, passed, n_cases, case_index=None, case_label="", diff=None,
                 outcome=None, mistake=None, certain=False, note=""):
        self.exercise, self.passed, self.n_cases = exercise, passed, n_cases
        self.case_index, self.case_label, self.diff = case_index, case_label, diff
        self.outcome, self.mistake, self.certain, self.note = outcome, mistake, certain, note

    def __bool__(self):
        return self.passed

    @property
    def error(self):
        return self.outcome.error if self.outcome is not None else None

    @property
    def code(self):
        if self.passed:
            return "ok"
        if self.note.startswith("not written"):
            return "not-written"
        if self.mistake is not None:
            return self.mistake.code
        return "error" if self.error is not None else "unknown"

    def _lines(self):
        """(headline, [(label, text)]) shared by the console and the notebook forms."""
        ex = self.exercise
        if self.passed:
            return f"{ex.key}: PASS, all {self.n_cases} cases agree with {ex.reference_name}", []
        where = f"case {self.case_index + 1} of {self.n_cases} ({self.case_label})" \
            if self.case_index is not None else ""
        rows = []
        if self.note:
            rows.append(("note", self.note))
        elif self.error is not None:
            err = self.error
            rows.append(("your function raised", f"{type(err).__name__}: {err}"))
            if self.outcome.where:
                rows.append(("at", self.outcome.where))
        else:
            rows.append(("first wrong number", self._describe(self.diff)))
        if self.mistake is not None:
            label = "diagnosis" if self.certain else "likely mistake"
            rows.append((f"{label} [{self.mistake.code}]", self.mistake.text))
        elif self.error is None and self.diff is not None:
            rows.append(("diagnosis", "not one of the typical mistakes of this exercise; compare each "
                                      "line of your function with the equations of the task "
                                      f"(python -m mfcore.exercises show {ex.key})"))
        return f"{ex.key}: FAIL in {where}" if where else f"{ex.key}: FAIL", rows

    @staticmethod
    def _describe(d):
        if d.kind == "count":
            return f"returned {d.got} values, expected {d.expected}"
        if d.kind == "type":
            return f"output {d.output} is a {d.got}, expected numbers"
        if d.kind == "shape":
            return f"output {d.output} has shape {d.got}, expected {d.expected}"
        at = f"{d.output}[{', '.join(map(str, d.index))}]" if d.index else d.output
        return f"{at}: expected {_fmt(d.expected)}, got {_fmt(d.got)}"

    def __str__(self):
        head, rows = self._lines()
        out = [head]
        for label, text in rows:
            out.extend(textwrap.wrap(text, 88, initial_indent=f"  {label}: ", subsequent_indent="      ",
                                     break_long_words=False, break_on_hyphens=False))
        return "\n".join(out)

    __repr__ = __str__

    def _repr_markdown_(self):
        head, rows = self._lines()
        mark = "✅" if self.passed else "❌"
        lines = [f"{mark} **{head}**"] + [f"- *{label}*: {text}" for label, text in rows]
        return "\n".join(lines)


def print_results(results, file=None):
    """Print several results and a one-line tally; returns True when all passed."""
    file = file or sys.stdout
    for r in results:
        print(r, file=file)
    n_ok = sum(bool(r) for r in results)
    if len(results) > 1:
        print(f"{n_ok} of {len(results)} exercises pass", file=file)
    return n_ok == len(results)
