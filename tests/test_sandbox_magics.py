"""Issue 16, items 1, 2 and 5, without nbgrader: IPython magics in the sandbox, one time limit per
cell that the feedback names, and arguments changed in place.

- A cell that starts with ``%%time``, ``%%capture [name]`` or ``%%prun`` runs its body (before: the
  cell was skipped and its functions were "not defined"); what the sandbox defines is what IPython
  defines, checked against a real IPython shell; a cell magic that runs no Python is skipped with
  a message.
- One number, ``CELL_TIMEOUT``, for the kernel and the sandbox; a cell past it is interrupted like
  the kernel's, and a function it would have defined is reported with the cell, how long it ran and
  the limit (before: "is not defined").
- A function that changes an argument in place fails a part naming the argument, in the sandbox
  and in the student's kernel alike (before: full points).
"""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from nngrader import specs
from nngrader.check import CheckFailed, _KernelRunner, check
from nngrader.cells import translate_cell
from nngrader.sandbox import CELL_TIMEOUT, Outcome, Session
from nngrader.watcher import mutated_arguments
from nngrader.specs import RNG, Case, Check
from nngrader.verdict import compare_close, run_check

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def session():
    s = Session(cell_timeout=5, time_budget=60)
    yield s
    s.close()


def _call(s, name, *args, timeout=3.0):
    return s.call(name, args, {}, (), timeout)


# --- 1. magics ------------------------------------------------------------------------------------
def test_cell_magics_that_run_python_run_their_body():
    assert translate_cell("%%time\ndef f():\n    return 1\n").code.splitlines() == ["", "def f():", "    return 1"]
    capture = translate_cell("\n%%capture out --no-stderr\nx = 1").code.splitlines()
    assert capture == ["", "out = get_ipython()._captured()", "x = 1"]  # line numbers are the notebook's
    assert translate_cell("%%capture\nx = 1").code.splitlines() == ["", "x = 1"]
    assert translate_cell("%%prun -s cumulative -q\nx = 1").code.splitlines() == ["", "x = 1"]
    nested = translate_cell("%%time\n%%capture c\nx = 1")
    assert nested.code.splitlines() == ["", "c = get_ipython()._captured()", "x = 1"] and nested.magic == "%%time"
    timeit = translate_cell("%%timeit -n1 -r1 s = 3\ndef g():\n    return s")
    assert timeit.scoped == {"s", "g"} and "function of its own" in timeit.note


@pytest.mark.parametrize("magic", ["%%bash", "%%writefile helper.py", "%%html", "%%script python", "%%debug"])
def test_cell_magics_that_run_no_python_in_the_notebook_are_skipped_with_a_reason(magic):
    tr = translate_cell(f"{magic}\ndef f():\n    return 1")
    assert tr.code is None and tr.magic == magic.split()[0] and "skips the cell" in tr.note


def test_line_magics_and_shell_lines_become_python():
    code = translate_cell("x = !ls\ny = %time f(1)\nif 1:\n    !echo hi\n    %timeit -n1 f()\ns = ('a'\n     % x)").code
    assert code.splitlines() == [
        "x = get_ipython().getoutput('ls')",
        "y = get_ipython().run_line_magic('time', 'f(1)')",
        "if 1:",
        "    get_ipython().system('echo hi')",
        "    get_ipython().run_line_magic('timeit', '-n1 f()')",
        "s = ('a'",
        "     % x)",  # a continuation line, not a magic
    ]


def test_magics_inside_cells_do_what_ipython_does(session):
    session.exec_cell(0, "import numpy as np")
    run = session.exec_cell(1, textwrap.dedent("""\
        def f(x):
            y = %time x + 1
            %timeit -n1 -r1 x * 2
            !echo inside
            return y
        !echo hi
        %timeit -n1 -r1 f(1)
        listing = !ls
        seven = %time 3 + 4
        %time bound = f(10)
        if True:
            %prun -q indented = 2
        %matplotlib inline
        """))
    assert run.status == "ok", run.message
    session.exec_cell(2, "def values():\n    return [listing, seven, bound, indented]")
    assert _call(session, "f", 1).value == 2
    assert _call(session, "values").value == [[], 7, 11, 2]


def test_answer_cells_under_a_cell_magic_are_graded(session):
    # before: every %% cell was skipped, so its functions were "not defined"
    session.exec_cell(0, "import numpy as np")
    session.exec_cell(1, "%%time\ndef double(x):\n    return 2 * x")
    session.exec_cell(2, "%%capture out\ndef triple(x):\n    print('noise')\n    return 3 * x")
    session.exec_cell(3, "%%capture\ndef quad(x):\n    return 4 * x")
    session.exec_cell(4, "%%prun -q\ndef five(x):\n    return 5 * x")
    session.exec_cell(5, "%%time\n%%capture c\ndef six(x):\n    return 6 * x")
    for name, k in [("double", 2), ("triple", 3), ("quad", 4), ("five", 5), ("six", 6)]:
        out = _call(session, name, np.arange(3.0))
        assert out.status == "ok", (name, out.error)
        np.testing.assert_array_equal(out.value, k * np.arange(3.0))


def test_a_function_that_a_cell_magic_hides_is_reported_with_the_cell(session):
    session.exec_cell(0, "%%timeit -n1 -r1\ndef g(x):\n    return x", name="g_solution")
    out = _call(session, "g", 1)
    assert out.status == "missing"
    assert out.error == ("g is not defined: cell 1 (g_solution) starts with %%timeit, which runs the cell in a "
                         "function of its own (as IPython does), so the g it defines is not kept; remove the %%timeit line")
    session.exec_cell(1, "%%bash\necho def h", name="h_solution")
    out = _call(session, "h", 1)
    assert "cell 2 (h_solution) was not run: it starts with %%bash" in out.error and "it may define h" in out.error
    session.exec_cell(2, "x = 1\n%%time\ndef late():\n    return 1")  # a cell magic not on the first line
    out = _call(session, "late")
    assert out.error.startswith("late is not defined: cell 3, which defines it, raised UsageError")
    assert "(cell 3, line 2)" in out.error


_IPYTHON_NAMES = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = set(shell.user_ns)
for cell in json.loads(sys.stdin.read()):
    shell.run_cell(cell)
print(json.dumps(sorted(k for k in shell.user_ns if k not in before and not k.startswith("_"))))
"""

PARITY_CELLS = [
    "%%time\ndef f_time():\n    return 1",
    "%%capture out\ndef f_capture():\n    print('x')\n    return 1",
    "%%capture --no-stderr\ndef f_capture2():\n    return 1",
    "%%prun -q\ndef f_prun():\n    return 1",
    "%%timeit -n1 -r1 s_timeit = 1\ndef f_timeit():\n    return 1",
    "%%time\n%%capture c_nested\ndef f_nested():\n    return 1",
    "%%bash\necho hi",
    "%%writefile helper_written.py\ndef f_written():\n    return 1",
    "def f_lines():\n    return 1\n!echo hi\n%timeit -n1 -r1 f_lines()\nx_bang = !echo hi\ny_time = %time 3 * 7\n"
    "%time z_time = 5\nif True:\n    %time w_time = 6\n%timeit -n1 -r1 t_scoped = 1",
    "x_before = 1\n%%time\ndef f_late():\n    return 1",
    "%%time x = 1\ndef f_usage():\n    return 1",
    "def f_raises():\n    return 1\n1 / 0\ndef f_after_error():\n    return 1",
]


def test_the_sandbox_defines_what_ipython_defines(session, tmp_path):
    proc = subprocess.run([sys.executable, "-c", _IPYTHON_NAMES], input=json.dumps(PARITY_CELLS), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    ipython = json.loads(proc.stdout.strip().splitlines()[-1])
    for i, cell in enumerate(PARITY_CELLS):
        session.exec_cell(i, cell)
    session.exec_cell(len(PARITY_CELLS), "def names_now():\n    return sorted(k for k in globals() if not k.startswith('_'))")
    ours = set(_call(session, "names_now").value) - {"get_ipython", "display", "names_now"}
    assert ours == set(ipython)
    assert {"f_time", "f_capture", "out", "f_lines", "x_bang", "f_raises"} <= ours
    assert not {"f_timeit", "s_timeit", "f_late", "f_after_error", "t_scoped"} & ours


# --- 2. one time limit, and a cell that runs out of it says so ---------------------------------------
def test_one_time_limit_for_kernel_sandbox_and_grader():
    from traitlets.config.loader import PyFileConfigLoader

    from nngrader.preprocessors import TrustedVerdicts

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert cfg.Execute.timeout == cfg.TrustedVerdicts.cell_timeout == CELL_TIMEOUT
    assert f"{CELL_TIMEOUT} s" in cfg.Execute.error_on_timeout["traceback"][0]
    assert TrustedVerdicts().cell_timeout == Session().cell_timeout == CELL_TIMEOUT
    stated = ["01_perceptron", "02_three_layer", "03_two_layer", "04_optimizers", "05_training"]
    for path in sorted(p for a in stated for p in (ROOT / "solutions" / a).glob("*.ipynb")):  # the same limit
        intro = nbformat.read(path, as_version=4).cells[0].source
        assert f"within **{CELL_TIMEOUT} seconds**" in intro, path.name
        assert "must never change its arguments in place" in intro, path.name


def test_a_cell_past_the_limit_is_interrupted_as_the_kernel_does(session):
    s = Session(cell_timeout=1, time_budget=60)
    try:
        s.exec_cell(0, "import time")
        run = s.exec_cell(1, "def early():\n    return 1\ntime.sleep(30)\ndef late():\n    return 2", name="slow_solution")
        assert run.status == "timeout" and run.limit == 1 and 1 <= run.seconds < 3
        assert run.message == "ran out of time: it was stopped at line 3 after 1 s; the limit for one cell is 1 s"
        assert _call(s, "early").value == 1  # defined before the interrupt: kept, as in the kernel
        out = _call(s, "late")
        assert out.status == "missing"
        assert out.error == ("late is not defined: cell 2 (slow_solution), which defines it, ran out of time: "
                             "it was stopped at line 3 after 1 s; the limit for one cell is 1 s")
        # a cell that swallows the interrupt is ended with its process, and said so
        run = s.exec_cell(2, "while True:\n    try:\n        time.sleep(30)\n    except KeyboardInterrupt:\n        pass\n"
                             "def never():\n    return 3", name="stubborn")
        assert run.status == "timeout" and "did not stop when interrupted and was ended after" in run.message
        assert "the limit for one cell is 1 s" in _call(s, "never").error
        assert _call(s, "early").value == 1  # the cells before were replayed in a new process
    finally:
        s.close()


def test_the_kernel_check_uses_the_sandbox_time_limit_per_case():
    # before: the kernel allowed four times the case's timeout, so a case could pass there and time out when graded
    import time as _time

    chk = Check(grade_id="t_slow", functions=("slow",), points=1,
                visible=lambda rng: [Case((1.0,), label="one")], hidden=lambda rng: [],
                judge=lambda case, v: [compare_close("y", v, 1.0)], timeout=1)

    def slow(x):
        _time.sleep(1.5)
        return x

    v = run_check(chk, _KernelRunner({"slow": slow}), "s", ("visible",))
    assert v.cases[0].status == "timeout" and "did not return within 1 s" in v.text()


# --- 3. arguments changed in place ------------------------------------------------------------------
MUTATING = textwrap.dedent("""\
    import numpy as np
    def loss(y_hat, y):
        np.log(y_hat, out=y_hat)
        return float(np.mean(y_hat))
    def step(params, lr):
        params["W1"] = params["W1"] - lr
        return params["W1"]
    def draws(x, rng):
        return x + rng.normal(size=x.shape)
    def clean(y_hat, y):
        return float(np.mean(np.log(y_hat)))
    """)


def test_the_sandbox_names_the_argument_a_function_changed(session):
    session.exec_cell(0, MUTATING)
    y_hat = np.array([0.5, 0.25])
    out = _call(session, "loss", y_hat, np.ones(2))
    assert out.status == "ok" and out.mutated == ["y_hat"]
    np.testing.assert_array_equal(y_hat, [0.5, 0.25])  # the grader's own copy is untouched
    assert _call(session, "step", {"W1": np.ones(2), "b1": np.zeros(2)}, 0.5).mutated == ["params['W1']"]
    assert _call(session, "draws", np.zeros(2), RNG(3)).mutated == []  # a generator is meant to advance
    assert _call(session, "clean", y_hat, np.ones(2)).mutated == []


def test_the_kernel_names_the_argument_a_function_changed():
    ns = {}
    exec(MUTATING, ns)
    runner = _KernelRunner(ns)
    y_hat = np.array([0.5, 0.25])
    assert runner.call("loss", (y_hat, np.ones(2)), {}, (), 2).mutated == ["y_hat"]
    np.testing.assert_array_equal(y_hat, [0.5, 0.25])
    assert runner.call("step", ({"W1": np.ones(2)},), {"lr": 0.5}, (), 2).mutated == ["params['W1']"]
    assert runner.call("draws", (np.zeros(2), RNG(3)), {}, (), 2).mutated == []
    assert runner.call("clean", (y_hat, np.ones(2)), {}, (), 2).mutated == []


def test_mutated_arguments_compares_values_shapes_and_structure():
    a = np.arange(3.0)
    same = ((a, {"k": [1, 2.5, None]}), {"x": np.nan}), ((a.copy(), {"k": [1, 2.5, None]}), {"x": np.nan})
    assert mutated_arguments(*same, ["p", "q"]) == []
    assert mutated_arguments(((a,), {}), ((a.reshape(3, 1),), {}), ["p"]) == ["p"]
    assert mutated_arguments(((a,), {}), ((a.astype(np.float32),), {}), ["p"]) == ["p"]
    assert mutated_arguments((({"k": 1},), {}), (({"k": 1, "extra": 2},), {}), []) == ["argument 1"]
    assert mutated_arguments((([1, 2],), {}), (([1, 3],), {}), ["xs"]) == ["xs[1]"]


def test_a_changed_argument_fails_a_part_of_the_case():
    chk = Check(grade_id="t_mut", functions=("loss",), points=2,
                visible=lambda rng: [Case((np.array([0.5]),), label="one"), Case((np.array([0.25]),), label="two")],
                hidden=lambda rng: [], judge=lambda case, v: [compare_close("loss", v, float(case.args[0][0]))])

    class Runner:
        def call(self, function, args, kwargs, forbidden, timeout):
            return Outcome("ok", value=float(args[0][0]), mutated=["y_hat"])

    v = run_check(chk, Runner(), "s", ("visible",))
    assert v.score == 1.0 and [c.fraction for c in v.cases] == [0.5, 0.5]
    text = v.text()
    assert "y_hat was changed in place" in text
    assert text.count("the course's functions never modify their arguments: work on a copy") == 1  # the cause, once
    assert "(y_hat; 2 of 2 cases)" in text


def test_check_in_the_kernel_fails_a_function_that_changes_its_input(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)

    def cross_entropy_loss(y_hat, y):
        np.clip(y_hat, 0.3, 0.7, out=y_hat)  # changes the visible cases' predictions in place
        return float(-np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)))

    with pytest.raises(CheckFailed) as failed:
        check("three_layer_cross_entropy_loss", cross_entropy_loss)
    assert "y_hat was changed in place" in failed.value.diagnosis


@pytest.mark.parametrize("assignment", specs.assignments())
def test_no_solution_changes_its_arguments(assignment):
    from test_grading_sandbox import _solution_namespace

    ns = _solution_namespace(assignment)
    for chk in specs.load(assignment).values():
        runner = _KernelRunner({name: ns.get(name) for name in chk.names})
        for kind in ("visible", "hidden"):
            for case in chk.cases(kind, "secret"):
                out = runner.call(case.function, case.args, case.kwargs, chk.forbidden, chk.timeout)
                assert out.status == "ok" and out.mutated == [], (chk.grade_id, case.label, out.mutated)
