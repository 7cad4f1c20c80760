r"""Small helpers shared by the tutorial scripts in ``tutorials/``.

They keep each tutorial's set-up cell short and make one script read well in
both of its lives:

* as a script in a terminal, docstring maths prints as plain Unicode text
  (``:math:`\eta\,e_{ui}``` becomes ``η e_ui``), figures are saved without
  opening a window, and nothing waits for a keypress;
* as a notebook (``mfcore tutorials --notebook NN``), the same docstrings render
  as Markdown with LaTeX, and figures are shown inline.

Figures go to one predictable folder, ``mfcore-output/tutorials/NN/`` under the
working directory, named once when the tutorial starts. The tutorials write
nothing else. :mod:`mfcore.tutorial.toy` reproduces the toy notebook's two
factorizations (tutorials 02 and 09).
"""
import ast
import inspect
import os
import re
import textwrap
from pathlib import Path

OUTPUT_DIR = Path("mfcore-output") / "tutorials"


def in_notebook():
    """True inside a Jupyter kernel (where rich output renders), False in a console or script."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def find_results(start=None):
    """The ``benchmarks/results`` folder of this checkout, or None (e.g. in an installed copy).

    Looks beside ``start`` (a tutorial's folder), the working folder and the
    package's source tree.
    """
    import mfcore

    bases = [Path(start).resolve()] if start else []
    bases += [Path.cwd(), Path(mfcore.__file__).resolve().parent.parent]
    for base in bases:
        for folder in (base.parent / "benchmarks" / "results", base / "benchmarks" / "results"):
            if folder.is_dir():
                return folder
    return None


class Figures:
    """The figures of tutorial ``number``, saved into ``mfcore-output/tutorials/NN/`` (``self.dir``).

    Outside a notebook matplotlib is switched to its non-interactive Agg
    backend (unless ``MPLBACKEND`` says otherwise), so a script never stops at
    a figure; in a notebook figures are also shown inline.
    """

    def __init__(self, number):
        self.dir = OUTPUT_DIR / f"{int(number):02d}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.notebook = in_notebook()
        if self.notebook:  # inline figures, whatever MPLBACKEND says
            from IPython import get_ipython

            get_ipython().run_line_magic("matplotlib", "inline")
        elif "MPLBACKEND" not in os.environ:
            import matplotlib

            matplotlib.use("Agg")
        print(f"figures of this tutorial go to {self.dir}{os.sep}")

    def show(self, fig, name):
        """Save ``fig`` as ``name.png``; show it in a notebook; close it. Returns the path."""
        import matplotlib.pyplot as plt

        from ..plots import save_figure

        path = save_figure(fig, self.dir / f"{name}.png", dpi=80)
        if self.notebook:
            plt.show()
        else:
            print(f"[figure {path.name}]")
        plt.close(fig)
        return path


def tutorial_dataset(consequence=""):
    """``(path, name)`` of the data a tutorial runs on: ML-100k when this machine has it.

    Otherwise ``(None, "ml-latest-small")`` (bundled), after a note that says how to
    get ML-100k and ``consequence``: what changes in the tutorial without it.
    """
    from ..data import find_dataset

    path = find_dataset("ml-100k")  # $MFCORE_DATA_DIR/ml-100k, or the download cache
    if path is not None:
        return path, "ml-100k"
    print("note: ML-100k was not found (set MFCORE_DATA_DIR to the folder holding ml-100k/, or run "
          "`mfcore fetch ml-100k`); using the bundled ml-latest-small. " + consequence)
    return None, "ml-latest-small"


def full_run(number):
    """What tutorial ``number`` recorded in its last committed full run (``tutorials/full_runs.json``,
    written by ``tutorials/record_full_runs.py``): a dict, or ``{}`` when there is none."""
    import json

    from .._teaching_cli import tutorials_dir

    try:
        path = tutorials_dir() / "full_runs.json"
        return json.loads(path.read_text(encoding="utf-8"))["tutorials"][f"{int(number):02d}"]["record"]
    except (FileNotFoundError, KeyError):
        return {}


class FullRun:
    """A tutorial's link to its committed full run, so that fast mode never shows a lonely number.

    ``show(key, text)`` prints ``text`` (a result line or table) and records it; in fast mode it
    then prints what the committed full run printed under the same key, marked as such.
    ``curves(key, curves)`` records per-epoch curves and returns the full run's (fast mode) or
    ``{}``, for :func:`plot_full_run`. ``record`` is what ``tutorials/record_full_runs.py`` saves.
    """

    def __init__(self, number, fast):
        self.fast, self.record = fast, {}
        self.full = full_run(number) if fast else {}
        if fast:
            print("fast mode: a quick pass with few epochs; the results of the committed full run are "
                  "printed beside this run's, marked 'full run'" if self.full else
                  "fast mode: a quick pass with few epochs (no committed full run found to compare)")

    def show(self, key, text):
        text = str(text)
        print(text)
        self.record[key] = text
        theirs = self.full.get(key)
        if self.fast and theirs is not None:
            if "\n" in theirs:
                print(f"--- full run (committed):\n{theirs}\n---")
            else:
                print(f"    full run (committed): {theirs}")

    def curves(self, key, curves):
        self.record[key] = {label: [float(v) for v in values] for label, values in curves.items()}
        return self.full.get(key, {}) if self.fast else {}


def plot_full_run(ax, curves):
    """Draw committed full-run curves ``{label: values}`` dashed on ``ax``, labelled as such."""
    import numpy as np

    for label, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, linestyle="--", linewidth=1.2,
                label=f"{label} (full run, committed)")
    if curves:
        ax.legend(fontsize=8)
    return ax


def display(obj):
    """Show ``obj`` richly in a notebook (e.g. an exercise's report), print it in a console."""
    if in_notebook():
        from IPython.display import display as ipython_display

        ipython_display(obj)
    else:
        print(obj)


def source(obj):
    """``inspect.getsource(obj)`` with the reStructuredText of its docstrings made readable
    (:func:`rst_to_text`); the code itself is unchanged."""
    src = inspect.getsource(obj)
    lines = src.splitlines()
    try:
        tree = ast.parse(textwrap.dedent(src))
    except SyntaxError:  # pragma: no cover - getsource of a lambda inside an expression
        return src
    spans = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
                spans.append((first.lineno - 1, first.end_lineno))
    for a, b in sorted(spans, reverse=True):
        lines[a:b] = rst_to_text("\n".join(lines[a:b])).split("\n")
    return textwrap.dedent("\n".join(lines) + "\n")


def show_source(obj):
    """Show the source of ``obj`` (docstrings made readable): printed in a console, highlighted in a notebook."""
    src = source(obj)
    if in_notebook():
        from IPython.display import Markdown, display as ipython_display

        ipython_display(Markdown(f"```python\n{src}```"))
    else:
        print(src)


def show_doc(text):
    """Print reStructuredText from a docstring readably: Unicode maths in a console, LaTeX in a notebook."""
    if in_notebook():
        from IPython.display import Markdown, display as ipython_display

        ipython_display(Markdown(rst_to_markdown(text)))
    else:
        print(rst_to_text(text))


# ------------------------------------------------------------------ reStructuredText -> text
_SYMBOLS = {
    "leftarrow": "←", "rightarrow": "→", "to": "→", "eta": "η", "lambda": "λ", "mu": "μ", "sigma": "σ",
    "delta": "δ", "Delta": "Δ", "epsilon": "ε", "theta": "θ", "alpha": "α", "beta": "β", "rho": "ρ",
    "tau": "τ", "partial": "∂", "sum": "Σ", "prod": "Π", "odot": "⊙", "cdot": "·", "times": "×",
    "infty": "∞", "in": "∈", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "propto": "∝",
    "approx": "≈", "neq": "≠", "mid": "|", "sim": "~", "lVert": "‖", "rVert": "‖", "|": "‖", "lfloor": "⌊",
    "rfloor": "⌋", "ldots": "…", "dots": "…", "top": "ᵀ", "sqrt": "√", "nabla": "∇", "pm": "±",
    "exp": "exp", "log": "log", "min": "min", "max": "max", "quad": "  ", "qquad": "    ",
    ",": " ", ";": " ", ":": " ", " ": " ", "!": "",
}
_DROP = ("left", "right", "big", "Big", "bigg", "Bigg", "textstyle", "displaystyle", "limits")
_SUPER_FROM, _SUPER_TO = "0123456789+-=()abcdefghijklmnoprstuvwxyzT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᵀ"
_SUPERSCRIPT = str.maketrans(_SUPER_FROM, _SUPER_TO)
_SUPER_OK = set(_SUPER_FROM)
_BLACKBOARD = {"R": "ℝ", "E": "𝔼", "N": "ℕ", "Z": "ℤ"}
_SCRIPT = {"B": "𝓑", "L": "𝓛", "D": "𝓓"}


def _group(s, i):
    """The brace group (or single character) starting at s[i]; returns (content, next index)."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        return "", i
    if s[i] != "{":
        if s[i] == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", s[i:])
            return m.group(0), i + len(m.group(0))
        return s[i], i + 1
    depth = 0
    for j in range(i, len(s)):
        depth += {"{": 1, "}": -1}.get(s[j], 0)
        if depth == 0:
            return s[i + 1:j], j + 1
    return s[i + 1:], len(s)


def latex_to_text(s):
    r"""LaTeX maths as plain Unicode: ``\hat r_{ui} \leftarrow \eta\,e`` -> ``r̂_ui ← η e``."""
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", s[i:])
            name, i = m.group(1), i + len(m.group(0))
            if name in ("frac", "tfrac", "dfrac"):
                a, i = _group(s, i)
                b, i = _group(s, i)
                a, b = latex_to_text(a), latex_to_text(b)
                wrap = (lambda t: t if re.fullmatch(r"[\w.·∂]+", t) else f"({t})")
                out.append(f"{wrap(a)}/{wrap(b)}")
            elif name in ("hat", "widehat", "bar", "tilde"):
                a, i = _group(s, i)
                mark = {"hat": "\u0302", "widehat": "\u0302", "bar": "\u0304", "tilde": "\u0303"}[name]
                t = latex_to_text(a)
                out.append(t + mark if len(t) == 1 else f"{t}^")
            elif name in ("text", "mathrm", "operatorname", "textrm", "mathbf", "boldsymbol", "mathit"):
                a, i = _group(s, i)
                out.append(latex_to_text(a) if name != "text" else a)
            elif name in ("mathbb", "mathcal"):
                a, i = _group(s, i)
                out.append((_BLACKBOARD if name == "mathbb" else _SCRIPT).get(a, a))
            elif name in ("underbrace", "overbrace"):
                a, i = _group(s, i)
                out.append(latex_to_text(a))
                if s[i:i + 1] == "_":
                    _, i = _group(s, i + 1)
            elif name in _DROP:
                pass
            elif name in _SYMBOLS:
                out.append(_SYMBOLS[name])
                if name == "partial":  # ∂L, not ∂ L
                    while s[i:i + 1] == " ":
                        i += 1
            else:
                out.append(name)
        elif c in "^_":
            a, i = _group(s, i + 1)
            t = latex_to_text(a).strip()
            if c == "^" and t and set(t) <= _SUPER_OK:
                out.append(t.translate(_SUPERSCRIPT))
            elif c == "^":
                out.append(f"^{t}" if len(t) == 1 else f"^({t})")
            else:
                out.append(f"_{t}" if re.fullmatch(r"[A-Za-z0-9,]+", t) else f"_({t})")
        elif c in "{}":
            i += 1
        else:
            out.append(c)
            i += 1
    return re.sub(r"(?<=\S)  (?=\S)", " ", "".join(out))  # "\\, " is one space, not two


_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc):`(~?)([^`]+)`")


def _roles(line, literal):
    line = _ROLE.sub(lambda m: literal(m.group(2).split(".")[-1] if m.group(1) else m.group(2)), line)
    return re.sub(r"``([^`]+)``", lambda m: literal(m.group(1)), line)


def _math_blocks(text):
    """Split docstring text into ("text", line) and ("math", [equations]) items."""
    lines, items, i = text.splitlines(), [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)\.\. math::\s*(.*)$", lines[i])
        if not m:
            items.append(("text", lines[i]))
            i += 1
            continue
        indent, body = len(m.group(1)), [m.group(2)]
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        n_blank = len(body) - len("\n".join(body).rstrip().splitlines())
        eqs = [" ".join(part.split()) for part in "\n".join(body).split("\n\n") if part.strip()]
        items.append(("math", (indent, eqs)))
        items.extend([("text", "")] * n_blank)
    return items


def _segments(text, math):
    """Text lines with inline maths (which may span lines) replaced by ``math(latex)``; the
    ``.. math::`` blocks as ("math", equations) items."""
    out, buf = [], []

    def flush():
        if buf:
            seg = re.sub(r":math:`([^`]+)`", lambda m: math(" ".join(m.group(1).split())), "\n".join(buf))
            out.extend(("text", line) for line in seg.split("\n"))
            buf.clear()

    for kind, item in _math_blocks(text):
        if kind == "text":
            buf.append(item)
        else:
            flush()
            out.append((kind, item))
    flush()
    return out


def rst_to_text(text):
    """A docstring's reStructuredText for a console: roles and ``literals`` unwrapped, maths in Unicode."""
    out = []
    for kind, item in _segments(text, latex_to_text):
        if kind == "math":
            indent, eqs = item
            out.extend(" " * (indent + 4) + latex_to_text(eq) for eq in eqs)
        else:
            out.append(_roles(item, lambda t: t))
    return "\n".join(out)


def rst_to_markdown(text):
    """The same docstring as Markdown for a notebook: LaTeX maths, code literals, line breaks kept."""
    out, rules = [], 0  # rules: separator lines seen in the current simple table (3 close it)
    for kind, item in _segments(text, lambda latex: f"${latex}$"):
        if kind == "math":
            out.extend(["", *(f"$$ {eq} $$" for eq in item[1]), ""])
            continue
        if re.fullmatch(r"\s*=+(\s+=+)*\s*", item) or rules:  # an RST simple table: a code block
            if rules == 0:
                out.append("```")
            out.append(_roles(item, lambda t: t))
            rules += bool(re.fullmatch(r"\s*=+(\s+=+)*\s*", item))
            if rules == 3:
                out.append("```")
                rules = 0
            continue
        if re.fullmatch(r"\s*-{3,}\s*", item) and out and out[-1].strip():  # a section underline
            out[-1] = f"**{out[-1].strip()}**  "
            continue
        line = _roles(item, lambda t: f"`{t}`")
        stripped = line.lstrip()
        pad = "&nbsp;" * (len(line) - len(stripped))
        out.append(f"{pad}{stripped}  " if stripped else "")
    if rules:
        out.append("```")
    return "\n".join(out)
