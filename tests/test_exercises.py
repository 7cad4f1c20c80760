"""mfcore.exercises: solutions pass, catalogued mistakes are recognised, reports read well, the CLI works.

Wrong implementations written the way a student would write them (three or
more per checker) live in ``test_exercises_mistakes.py``.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mfcore import exercises
from mfcore.exercises import _cli, t03

SOLUTIONS = Path(__file__).resolve().parents[1] / "tutorials" / "solutions"
ALL = exercises.all_exercises()


def _solution_module(tutorial):
    path = next(SOLUTIONS.glob(f"{tutorial}_*.py"))
    spec = importlib.util.spec_from_file_location(f"solution_{tutorial}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_tutorial_has_at_least_two_checked_exercises():
    counts = {name: len(mod.EXERCISES) for name, mod in exercises.MODULES.items()}
    assert list(counts) == [f"t{n:02d}" for n in range(15)]
    assert min(counts.values()) >= 2 and sum(counts.values()) == len(ALL) == 31


@pytest.mark.parametrize("key", list(ALL))
def test_the_solution_passes(key):
    ex = ALL[key]
    result = ex.check(getattr(_solution_module(key.split(".")[0]), ex.name))
    assert result and result.code == "ok", str(result)
    assert str(result).startswith(f"{key}: PASS")


@pytest.mark.parametrize("key", list(ALL))
def test_each_catalogued_mistake_fails_and_is_named(key):
    """Every mistake differs from the reference on some case and is diagnosed as itself, for sure."""
    ex = ALL[key]
    assert len(ex.mistakes) >= 3
    for mistake in ex.mistakes:
        result = ex.check(mistake.fn)
        assert not result and result.code == mistake.code and result.certain, (mistake.code, str(result))


def test_a_wrong_number_is_reported_with_output_index_expected_got_and_diagnosis():
    def sgd_step(r, mu, b_u, b_i, p_u, q_i, lr, reg):
        e = r - mu - b_u - b_i - p_u @ q_i
        b_u, b_i = b_u + lr * (e - reg * b_u), b_i + lr * (e - reg * b_i)
        p_u = p_u + lr * (e * q_i - reg * p_u)
        return b_u, b_i, p_u, q_i + lr * (e * p_u - reg * q_i)   # the new p_u

    result = t03.check_sgd_step(sgd_step)
    text = str(result)
    assert not result and result.code == "updated-pu"
    assert text.splitlines()[0].startswith("t03.sgd_step: FAIL in case 1 of 4 (one rating")
    assert "first wrong number: q_i[0]: expected " in text and ", got " in text
    assert "diagnosis [updated-pu]" in text and "Traceback" not in text
    assert all(len(line) <= 100 for line in text.splitlines()[1:])
    md = result._repr_markdown_()
    assert md.startswith("❌ **t03.sgd_step: FAIL") and "*first wrong number*" in md
    assert t03.check_sgd_step(_solution_module("t03").sgd_step)._repr_markdown_().startswith("✅")


def test_an_exception_in_the_students_code_is_reported_with_its_case_and_line():
    def embedding_backward(ids, delta, n_rows):
        G = np.zeros((n_rows, delta.shape[0]))   # K and B confused
        G[ids] = delta
        return G

    result = exercises.t05.check_embedding_backward(embedding_backward)
    text = str(result)
    assert not result and result.code == "error" and isinstance(result.error, ValueError)
    assert "case 1 of 3 (6 rows, K = 2, ids [3, 0, 5] (no repeat))" in text
    assert "your function raised: ValueError" in text
    assert "test_exercises.py, line" in text and "G[ids] = delta" in text and "Traceback" not in text


def test_a_stub_says_not_written_yet_and_a_non_function_is_refused():
    result = t03.check_sgd_step(lambda *a: (_ for _ in ()).throw(NotImplementedError))
    assert result.code == "not-written" and "not written yet" in str(result)
    result = t03.check_sgd_step(42)
    assert not result and "expected a function, got int" in str(result)


def test_wrong_output_count_and_shape_are_named():
    result = exercises.t05.check_dense_backward(lambda x, W, b, d: (d @ W.T, x.T @ d))
    assert "returned 2 values, expected 3" in str(result)
    result = exercises.t05.check_dense_backward(lambda x, W, b, d: (d @ W.T, x.T @ d, d.sum(axis=1)))
    assert "output db has shape (4,), expected (3,)" in str(result)


def test_a_float32_answer_is_told_to_use_float64():
    solution = _solution_module("t05").dense_backward

    def dense_backward(x, W, b, delta):
        return tuple(a.astype(np.float32) for a in solution(x, W, b, delta))

    result = exercises.t05.check_dense_backward(dense_backward)
    assert result.code == "precision" and "float64" in str(result)


def test_the_checker_does_not_let_the_student_modify_the_cases():
    def greedy(r, mu, b_u, b_i, p_u, q_i, lr, reg):
        p_u *= 0          # vandalise the input
        return 0.0, 0.0, p_u, q_i

    assert not t03.check_sgd_step(greedy)
    assert t03.check_sgd_step(_solution_module("t03").sgd_step)  # the cases are intact


def test_the_checker_function_documents_the_task():
    assert "(U4) q_i <- q_i + lr (e p_u - reg q_i)" in t03.check_sgd_step.__doc__
    assert t03.check_sgd_step.__name__ == "check_sgd_step"
    with pytest.raises(KeyError, match="t03.sgd_step"):
        exercises.get("t03.nope")


# ------------------------------------------------------------------ the command line


def _run(argv, capsys):
    code = _cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_template_then_check_a_wrong_then_a_fixed_answer(tmp_path, capsys):
    path = tmp_path / "my_t03.py"
    code, out, _ = _run(["template", "t03", "-o", str(path)], capsys)
    assert code == 0 and "wrote 2 stub(s)" in out and "def sgd_step(" in path.read_text()
    code, out, _ = _run(["check", "t03", str(path)], capsys)
    assert code == 1 and out.count("not written yet") == 2 and "0 of 2 exercises pass" in out
    code, _, err = _run(["template", "t03", "-o", str(path)], capsys)
    assert code == 2 and "exists" in err
    wrong = _solution_module("t03").__file__
    text = Path(wrong).read_text().replace("lr * (e * p_u - reg * q_i)", "lr * (e * new_p_u - reg * q_i)")
    path.write_text(text)
    code, out, _ = _run(["check", "t03.sgd_step", f"{path}:sgd_step"], capsys)
    assert code == 1 and "diagnosis [updated-pu]" in out
    path.write_text(Path(wrong).read_text())
    code, out, _ = _run(["check", "t03", str(path)], capsys)
    assert code == 0 and "2 of 2 exercises pass" in out


def _check_text(path, text, target, capsys):
    """``mfcore exercises check TARGET path`` on a student file holding ``text``."""
    path.write_text(text)
    return _run(["check", target, str(path)], capsys)


def test_cli_reports_problems_with_the_file_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    code, _, err = _check_text(bad, "def sgd_step(r mu):\n    pass\n", "t03.sgd_step", capsys)
    assert code == 2 and "bad.py, line 1: SyntaxError" in err and "Traceback" not in err
    code, _, err = _check_text(bad, "import numpy as np\n\ndef other():\n    pass\n\nx = 1 / 0\n", "t03", capsys)
    assert code == 2 and "importing bad.py raised ZeroDivisionError, line 6" in err
    code, _, err = _check_text(bad, "def other():\n    pass\n", "t03", capsys)
    assert code == 2 and "defines no function sgd_step or vectorized_epoch (it defines: other)" in err
    code, _, err = _run(["check", "t42", str(bad)], capsys)
    assert code == 2 and "no tutorial 't42'" in err
    code, _, err = _run(["check", "t03", str(tmp_path / "none.py")], capsys)
    assert code == 2 and "no such file" in err
    code, _, err = _run(["check", "t03", str(tmp_path)], capsys)
    assert code == 2 and "is a folder" in err
    data = tmp_path / "ratings.csv"
    data.write_text("1,1,4\n")
    code, _, err = _run(["check", "t03", str(data)], capsys)
    assert code == 2 and "ratings.csv is not a Python file: give the .py file" in err and "Traceback" not in err


def test_a_sys_exit_in_the_students_file_is_a_failure_not_a_silent_pass(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    code, out, _ = _check_text(bad, "import sys\n\ndef sgd_step(*args):\n    sys.exit(0)\n", "t03.sgd_step",
                               capsys)
    assert code == 1 and "SystemExit" in out
    code, _, err = _check_text(bad, "import sys\nsys.exit(3)\n", "t03", capsys)
    assert code == 2 and "importing bad.py raised SystemExit, line 2" in err


def test_cli_list_and_show(capsys):
    code, out, _ = _run([], capsys)
    assert code == 0 and "t14.precision_recall" in out and "31 exercises" in out
    code, out, _ = _run(["show", "t05.dense_backward"], capsys)
    assert code == 0 and "def dense_backward(x, W, b, delta)" in out
    assert "t05.check_dense_backward(dense_backward)" in out
