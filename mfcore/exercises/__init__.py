"""Exercises that check themselves: write a function, run its checker, read what is wrong.

Each tutorial ``NN`` has a module ``tNN`` with at least two exercises. An
exercise gives a task and a signature; its checker runs your function on small
seeded cases next to mfcore's own implementation and reports either PASS or the
first wrong number (which case, which output, which index, expected and got)
with a diagnosis from a catalogue of the usual mistakes of that exercise::

    from mfcore.exercises import t03
    print(t03.SGD_STEP.task)            # what to write
    t03.check_sgd_step(sgd_step)        # in a notebook the result renders as a short report

From a console, with the functions in a file of your own::

    python -m mfcore.exercises list
    python -m mfcore.exercises template t03 -o my_t03.py     # stubs to fill in
    python -m mfcore.exercises check t03 my_t03.py           # every exercise of t03 in the file
    python -m mfcore.exercises check t03.sgd_step my_t03.py:sgd_step

(``mfcore exercises ...`` is the same command.) Solutions for instructors are in
the repository's ``tutorials/solutions/``, not in the package.
"""
from . import t00_data as t00
from . import t01_baselines as t01
from . import t02_toy as t02
from . import t03_engines as t03
from . import t04_keras_regime as t04
from . import t05_backprop as t05
from . import t06_residual as t06
from . import t07_deep as t07
from . import t08_autorec as t08
from . import t09_rbm as t09
from . import t10_performance as t10
from . import t11_blending as t11
from . import t12_neighbourhoods as t12
from . import t13_als as t13
from . import t14_implicit as t14
from ._core import Case, CheckResult, Exercise, Mistake

MODULES = {"t00": t00, "t01": t01, "t02": t02, "t03": t03, "t04": t04,
           "t05": t05, "t06": t06, "t07": t07, "t08": t08, "t09": t09, "t10": t10, "t11": t11,
           "t12": t12, "t13": t13, "t14": t14}


def all_exercises():
    """Every exercise, keyed ``"tNN.name"``, in tutorial order."""
    return {ex.key: ex for mod in MODULES.values() for ex in mod.EXERCISES.values()}


def get(key):
    """The exercise ``"tNN.name"``; a KeyError that lists the valid keys otherwise."""
    table = all_exercises()
    if key not in table:
        raise KeyError(f"no exercise {key!r}; the exercises are: {', '.join(table)}")
    return table[key]


__all__ = ["MODULES", "all_exercises", "get", "Case", "CheckResult", "Exercise", "Mistake",
           "t00", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09", "t10", "t11",
           "t12", "t13", "t14"]
