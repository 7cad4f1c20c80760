"""The package's shape: no import cycles, Numba only in mfcore/_jit.py and mfcore/engines/, and every
cached kernel that compiles in code from another module declares it (``jit(depends_on=...)``)."""
import ast
import importlib
import os
import re
from pathlib import Path

import pytest

import mfcore
from mfcore import _jit

ROOT = Path(mfcore.__file__).resolve().parent
NUMBA_HOMES = ("mfcore._jit", "mfcore.engines")


def _modules():
    """{dotted module name: path} of every module of the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _is_package(name):
    return MODULES[name].name == "__init__.py"


def _imports(name):
    """[(imported module, imported names or None, line)] of every import in ``name``, at any depth
    (imports inside functions count: a cycle through a lazy import is still a cycle)."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    package = name if _is_package(name) else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            out.append((base, [a.name for a in node.names], node.lineno))
    return out


def import_graph():
    """{module: set of package modules it imports}; ``from pkg import sub`` points at the submodule."""
    graph = {}
    for name in MODULES:
        edges = set()
        for target, names, _ in _imports(name):
            if target not in MODULES:
                continue
            subs = [f"{target}.{n}" for n in names or () if f"{target}.{n}" in MODULES]
            edges.update(subs)
            if names is None or len(subs) < len(names):
                edges.add(target)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One cycle as a list of modules (first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def _numba_home(name):
    return any(name == h or name.startswith(h + ".") for h in NUMBA_HOMES)


def test_numba_is_imported_only_in_jit_and_engines():
    offenders = [f"{name}:{line}" for name in MODULES if not _numba_home(name)
                 for target, _, line in _imports(name) if target.split(".")[0] in ("numba", "llvmlite")]
    assert not offenders, f"numba imported outside mfcore/_jit.py and mfcore/engines/: {offenders}"


def test_numba_is_not_even_mentioned_elsewhere():
    # the acceptance check of issue 9: grep -rn "njit\|numba" mfcore/ --include=*.py
    hits = [f"{MODULES[name].relative_to(ROOT.parent)}:{j}" for name in MODULES if not _numba_home(name)
            for j, line in enumerate(MODULES[name].read_text().splitlines(), 1) if re.search("njit|numba", line)]
    assert not hits, hits


def _origins(name):
    """{name bound by an import in module ``name``: the package module it comes from}."""
    out = {}
    for target, names, _ in _imports(name):
        if target not in MODULES:
            continue
        for n in names or ():
            out[n] = f"{target}.{n}" if f"{target}.{n}" in MODULES else target
    return out


def cached_kernels():
    """Every cached Numba dispatcher found in mfcore.engines, once."""
    from numba.core.registry import CPUDispatcher

    found = {}
    for name in MODULES:
        if name.startswith("mfcore.engines."):
            for obj in vars(importlib.import_module(name)).values():
                if isinstance(obj, CPUDispatcher) and type(obj._cache).__name__ != "NullCache":
                    found[id(obj)] = obj
    return list(found.values())


@pytest.mark.skipif(not _jit.HAVE_NUMBA or os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="needs compiled numba kernels")
def test_cached_kernels_declare_the_modules_they_compile_in():
    # Numba's cache checks only the file defining a kernel (e.g. mf_jit's kernels are mf_loop's
    # functions: their cache follows mf_loop.py). Code the kernel takes from elsewhere must be declared.
    kernels = cached_kernels()
    for kernel in kernels:
        home = kernel.py_func.__module__
        origins = _origins(home)
        used = set(kernel.py_func.__code__.co_names)
        needed = {origins[n] for n in used if n in origins} - {"mfcore._jit", home}
        missing = needed - set(getattr(kernel, "depends_on", ()))
        assert not missing, f"{home}.{kernel.__name__} compiles in {sorted(missing)}: add jit(depends_on=...)"
    assert len(kernels) > 20
