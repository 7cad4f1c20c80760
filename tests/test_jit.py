"""mfcore._jit: a cached kernel that compiles in a function of another module is recompiled when
that module changes, if (and only if) it says so with ``jit(depends_on=...)``."""
import os
import subprocess
import sys
import textwrap

import pytest

from mfcore import _jit

pytestmark = pytest.mark.skipif(not _jit.HAVE_NUMBA or os.environ.get("NUMBA_DISABLE_JIT") == "1",
                                reason="needs compiled, cached numba kernels")

CALLER = """
from mfcore._jit import jit
from . import callee
from .callee import add

@jit(depends_on=(callee,))
def declared(x):
    return add(x)

@jit
def undeclared(x):
    return add(x)
"""


def _run(folder):
    code = "from pkg import caller; print(caller.declared(1), caller.undeclared(1))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder)] + sys.path))
    env.pop("NUMBA_CACHE_DIR", None)  # the cache beside the sources, as users get it
    out = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def test_depends_on_recompiles_a_kernel_when_its_callee_changes(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "caller.py").write_text(textwrap.dedent(CALLER))
    callee = pkg / "callee.py"
    callee.write_text("from mfcore._jit import jit\n\n\n@jit\ndef add(x):\n    return x + 1\n")
    assert _run(tmp_path) == ["2", "2"]  # compiled and cached
    assert _run(tmp_path) == ["2", "2"]  # loaded from the cache
    callee.write_text("from mfcore._jit import jit\n\n\n@jit\ndef add(x):\n    return x + 100\n")
    declared, undeclared = _run(tmp_path)
    assert declared == "101"  # the stamp of callee.py is part of the cache's check
    assert undeclared == "2"  # Numba's own check looks at caller.py only: the stale copy


def test_depends_on_is_recorded_and_folded_into_the_stamp():
    from mfcore.engines import mfkeras_jit, optim_jit

    kernel = mfkeras_jit.mf_epoch_sgd
    assert kernel.depends_on == ("mfcore.engines.optim_jit",)
    stamp = kernel._cache._cache_file._source_stamp
    assert stamp[1] == _jit._stamp(optim_jit)
