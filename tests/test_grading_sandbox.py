"""nngrader's parts without nbgrader: codec, sandbox session, verdicts, the in-kernel check, specs."""
import json
import sys
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest

from nngrader import specs
from nngrader.check import CheckFailed, check
from nngrader.cells import neutralise_magics
from nngrader.sandbox import Session
from nngrader.wire import PackError, pack, unpack
from nngrader.specs import RNG, Case, Check
from nngrader.verdict import compare_close, compare_exact, run_check

ROOT = Path(__file__).resolve().parents[1]


# --- codec -----------------------------------------------------------------------------------
def test_pack_roundtrip_keeps_structure_and_python_types():
    value = {"w": np.arange(6.0).reshape(2, 3), "n": 3, "ok": True, "lr": 0.5, "s": "hi",
             "t": (np.int64(2), None, [np.float32(1.5)])}
    got = unpack(*pack(value))
    assert got["n"] == 3 and type(got["n"]) is int
    assert got["ok"] is True and type(got["lr"]) is float and got["s"] == "hi"
    assert got["t"][0] == 2 and got["t"][1] is None and got["t"][2] == [1.5]
    np.testing.assert_array_equal(got["w"], value["w"])
    gen = unpack(*pack([RNG(7)]), allow_rng=True)[0]
    assert gen.integers(1000) == np.random.default_rng(7).integers(1000)


class AlwaysEqual:
    def __eq__(self, other):
        return True


class LyingArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)


@pytest.mark.parametrize("bad", [AlwaysEqual(), np.array([AlwaysEqual()], dtype=object), 1 + 2j, {1: 2}, print])
def test_pack_refuses_what_is_not_plain_data(bad):
    with pytest.raises(PackError):
        pack(bad)


def test_pack_strips_array_subclasses():
    a = np.zeros(3).view(LyingArray)
    got = unpack(*pack(a))
    assert type(got) is np.ndarray and not np.any(got == 1)


@pytest.mark.parametrize("struct_, arrays", [
    ({"t": "arr", "k": "a9"}, {}),
    ({"t": "num", "py": "int", "k": "a0"}, {"a0": np.zeros(2)}),
    ({"t": "eval", "v": "1"}, {}),
    ({"t": "rng", "seed": 1}, {}),
    ({"t": "arr", "k": "a0"}, {"a0": np.array(["x"])}),
])
def test_unpack_rejects_malformed_or_unexpected_input(struct_, arrays):
    with pytest.raises(ValueError):
        unpack(struct_, arrays)


def test_magics_are_neutralised():
    # IPython's syntax becomes calls of the sandbox's get_ipython(); a %%time cell runs its body
    # (tests/test_sandbox_magics.py has the rules); a cell magic that runs no Python is skipped
    assert neutralise_magics("%matplotlib inline\nx = 1\nif x:\n    !ls") == (
        "get_ipython().run_line_magic('matplotlib', 'inline')\nx = 1\nif x:\n    get_ipython().system('ls')\n"
    )
    assert neutralise_magics("%%time\nx = 1") == "\nx = 1\n"
    assert neutralise_magics("%%bash\nls") is None


# --- the sandbox session -----------------------------------------------------------------------
@pytest.fixture
def session():
    s = Session(cell_timeout=5, time_budget=60)
    yield s
    s.close()


def _call(s, name, *args, forbidden=(), timeout=3.0):
    return s.call(name, args, {}, forbidden, timeout)


def test_session_runs_cells_and_calls_functions(session):
    assert session.exec_cell(0, "import numpy as np\ndef f(x):\n    return 2 * x, {'n': len(x)}").status == "ok"
    run = session.exec_cell(1, "print('noise'); import sys; print('more', file=sys.stderr); 1 / 0")
    assert run.status == "error" and "ZeroDivisionError" in run.message
    session.exec_cell(2, "%matplotlib inline\ndef g():\n    raise ValueError('bad shape')")
    out = _call(session, "f", np.arange(3.0))
    assert out.status == "ok"
    np.testing.assert_array_equal(out.value[0], [0.0, 2.0, 4.0])
    assert out.value[1] == {"n": 3}
    err = _call(session, "g")
    assert err.status == "error" and "ValueError: bad shape" in err.error and "cell 3, line 3" in err.error
    assert _call(session, "nope").status == "missing"


def test_prints_and_patched_builtins_cannot_corrupt_the_channel(session):
    session.exec_cell(0, "\n".join([
        "import os, sys, numpy as np",
        "os.write(1, b'x' * 100000); print('y' * 100000)",
        "np.savez = np.load = None",
        "os.write = os.read = lambda *a: 0",
        "def f():",
        "    print('inside')",
        "    return np.ones(2)",
    ]))
    out = _call(session, "f")
    assert out.status == "ok" and out.value.tolist() == [1.0, 1.0]


def test_a_function_that_kills_its_process_fails_alone(session):
    session.exec_cell(0, "import os, signal\nbase = 10\ndef boom():\n    os._exit(3)\ndef kill():\n    os.kill(os.getpid(), signal.SIGKILL)\ndef ok():\n    return base")
    out = _call(session, "boom")
    assert out.status == "crashed" and "exit status 3" in out.error
    out = _call(session, "kill")
    assert out.status == "crashed" and "signal 9" in out.error
    assert _call(session, "ok").value == 10  # state rebuilt by replaying the cells
    assert session.restarts == 2


def test_a_cell_that_kills_its_process_is_skipped_on_replay(session):
    session.exec_cell(0, "a = 1")
    run = session.exec_cell(1, "import os\ndef f():\n    return 99\nos._exit(0)")
    assert run.status == "crashed" and "skipped" in run.message
    session.exec_cell(2, "def g():\n    return a + 1")
    assert _call(session, "g").value == 2
    assert _call(session, "f").status == "missing"


def test_endless_loops_time_out(session):
    run = session.exec_cell(0, "def spin():\n    while True:\n        pass\ndef ok():\n    return 1")
    assert run.status == "ok"
    out = _call(session, "spin", timeout=1.0)
    assert out.status == "timeout" and "did not return within 1 s" in out.error
    assert _call(session, "ok").value == 1
    s2 = Session(cell_timeout=1.0, time_budget=30)
    try:
        assert s2.exec_cell(0, "while True:\n    pass").status == "timeout"
    finally:
        s2.close()


FORBID = ("nnkit.neurons:xor_network", "nnkit.neurons:McCullochPitts.__call__")


def test_calls_into_forbidden_nnkit_functions_are_caught_however_named(session):
    session.exec_cell(0, "\n".join([
        "import numpy as np, importlib, nnkit.neurons",
        "from nnkit.neurons import xor_network as helper, McCullochPitts",
        "def aliased(X):\n    return helper(X)",
        "via_module = lambda X: nnkit.neurons.xor_network(X)",
        "def reloaded(X):\n    m = importlib.reload(nnkit.neurons)\n    return m.xor_network(X)",
        "def method(X):\n    return McCullochPitts((1, 1), 2)(X)",
        "def xor_network(X):\n    return (X[:, 0] != X[:, 1]).astype(int)",
        "def allowed(X):\n    return nnkit.neurons.logic_gate('XOR')[1]",
    ]))
    X = np.array([[0.0, 1.0], [1.0, 1.0]])
    for name in ("aliased", "via_module", "reloaded", "method"):
        out = _call(session, name, X, forbidden=FORBID)
        assert out.status == "ok" and out.forbidden_calls, name
    for name in ("xor_network", "allowed"):
        out = _call(session, name, X, forbidden=FORBID)
        assert out.status == "ok" and out.forbidden_calls == [], name


def test_switching_the_profiler_off_is_tampering(session):
    session.exec_cell(0, "\n".join([
        "import sys, threading, nnkit.neurons",
        "def off(X):\n    sys.setprofile(None)\n    return nnkit.neurons.xor_network(X)",
        "def sneaky(X):\n    h = sys.getprofile()\n    sys.setprofile(None)\n    y = nnkit.neurons.xor_network(X)\n    sys.setprofile(h)\n    return y",
        "def thread(X):\n    threading.setprofile(None)\n    return X[:, 0]",
        "def fine(X):\n    return X[:, 0]",
    ]))
    X = np.array([[0.0, 1.0]])
    for name in ("off", "sneaky", "thread"):
        assert _call(session, name, X, forbidden=FORBID).tampered, name
    assert not _call(session, "fine", X, forbidden=FORBID).tampered


def test_sandbox_environment_is_clean(session, monkeypatch):
    monkeypatch.setenv("NNGRADER_SECRET", "do-not-leak")
    session.exec_cell(0, "import os, sys\ndef env():\n    return [os.environ.get('NNGRADER_SECRET', ''), os.environ['NBGRADER_EXECUTION'], os.getcwd(), str(sys.flags.isolated)]")
    out = _call(session, "env")
    assert out.value[0] == "" and out.value[1] == "autograde" and "nngrader-sandbox-" in out.value[2]
    assert out.value[3] == "1"


# --- verdicts ------------------------------------------------------------------------------------
class FakeRunner:
    def __init__(self, fn):
        self.fn = fn

    def call(self, function, args, kwargs, forbidden, timeout):
        from nngrader.sandbox import Outcome
        try:
            return Outcome("ok", value=self.fn(*args))
        except Exception as e:
            return Outcome("error", f"raised {type(e).__name__}")


def _square_check(points=3):
    return Check(
        grade_id="t_square", functions=("square",), points=points,
        visible=lambda rng: [Case((np.arange(3.0),), label="v")],
        hidden=lambda rng: [Case((rng.normal(size=4),), label="h1"), Case((np.zeros(2),), label="h2")],
        judge=lambda case, v: [compare_close("y", v, case.args[0] ** 2)],
    )


def test_scores_are_the_mean_case_fraction_to_the_nearest_hundredth():
    chk = _square_check(points=2)
    full = run_check(chk, FakeRunner(lambda x: x ** 2), "s")
    assert full.score == 2 and full.passed
    # right on the zero case only (x * 0 == x ** 2 there): 1 of 3 cases -> 0.666.. -> 0.67 (the nearest hundredth)
    partial = run_check(chk, FakeRunner(lambda x: x * 0), "s")
    assert partial.score == 0.67 and not partial.passed
    text = partial.text()
    assert "relative error 1 at index" in text and "visible case 1 [v]: FAILED" in text
    assert run_check(chk, FakeRunner(lambda x: 1 / 0), "s").score == 0


def test_comparison_messages_name_the_quantity_index_and_error():
    p = compare_close("dW2", np.array([[1.0, 2.0], [3.0, 4.5]]), np.array([[1.0, 2.0], [3.0, 4.0]]), tol=1e-6)
    assert not p.ok and p.message.startswith("dW2: relative error 0.059 at index (1, 1)")
    assert "shape (3,), expected (2,)" in compare_exact("y", np.zeros(3), np.zeros(2)).message
    assert compare_exact("y", 1, np.array(1), scalar=True).ok
    assert "got None" in compare_exact("y", None, np.zeros(2)).message


def test_hidden_cases_depend_on_the_secret_visible_ones_do_not():
    chk = specs.find("perceptron_mp_neuron")
    v1, v2 = chk.cases("visible", "a"), chk.cases("visible", "b")
    h1, h1b, h2 = chk.cases("hidden", "a"), chk.cases("hidden", "a"), chk.cases("hidden", "b")
    same = lambda c1, c2: all(np.array_equal(a, b) for x, y in zip(c1, c2) for a, b in zip(x.args, y.args))
    assert same(v1, v2) and same(h1, h1b) and not same(h1, h2)


def test_secret_comes_from_env_then_file_then_default(tmp_path, monkeypatch):
    monkeypatch.delenv("NNGRADER_SECRET", raising=False)
    assert specs.get_secret(tmp_path) == specs.DEFAULT_SECRET
    (tmp_path / "nngrader_secret.txt").write_text("from-file\n")
    assert specs.get_secret(tmp_path) == "from-file"
    monkeypatch.setenv("NNGRADER_SECRET", "from-env")
    assert specs.get_secret(tmp_path) == "from-env"


# --- the advisory check in the student's kernel ---------------------------------------------------
def _xor(X):
    X = np.asarray(X)
    return (X[:, 0] != X[:, 1]).astype(int)


def test_check_prints_advice_to_stdout_only(capsys, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    check("perceptron_xor_network", _xor)
    check("perceptron_xor_network", _xor, hidden=True)
    with pytest.raises(CheckFailed, match="0 / 2"):
        check("perceptron_xor_network", lambda X: np.zeros(len(X), dtype=int) + np.float64("nan") * 0)
    with pytest.raises(CheckFailed):
        check("perceptron_xor_network", lambda X: np.log(-np.ones(len(X))))  # would warn; silenced

    def noisy(X):
        import sys, warnings
        print("debugging", file=sys.stderr)
        warnings.warn("careful")
        return _xor(X)
    check("perceptron_xor_network", noisy)
    out, err = capsys.readouterr()
    assert err == ""
    assert "xor_network: 2 / 2 points" in out and "Advice only" in out


def test_check_reports_calls_into_nnkit(capsys, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    from nnkit.neurons import xor_network
    with pytest.raises(CheckFailed) as failed:
        check("perceptron_xor_network", lambda X: xor_network(X))
    assert "called nnkit.neurons.xor_network" in "\n".join(failed.value._render_traceback_())


def test_a_failed_check_shows_its_diagnosis_as_its_error_in_short_lines(capsys, monkeypatch):
    # nbgrader validate prints a failing test cell's error output, each line cut at 86 characters
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    with pytest.raises(CheckFailed) as failed:
        check("perceptron_xor_network", lambda X: np.zeros(len(X), dtype=int))
    shown = failed.value._render_traceback_()
    assert all(len(line) <= 80 for line in shown), [ln for ln in shown if len(ln) > 80]
    assert shown[0].startswith("xor_network: 0 / 2 points") and "FAILED" in "\n".join(shown)
    assert shown[-1] == "CheckFailed: perceptron_xor_network: 0 / 2 on the visible cases"
    assert capsys.readouterr().out == ""  # the diagnosis is shown once, as the error


def test_check_is_a_no_op_when_autograding(capsys, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert check("perceptron_xor_network", None) is None
    assert "graded by the autograder" in capsys.readouterr().out


# --- specs and notebooks agree ----------------------------------------------------------------------
def _test_cells(assignment):
    for path in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            m = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and m.get("grade") and not m.get("solution"):
                yield path, cell, m


@pytest.mark.parametrize("assignment", specs.assignments())
def test_every_test_cell_has_a_spec_with_the_same_points(assignment):
    checks = specs.load(assignment)
    seen = set()
    for path, cell, m in _test_cells(assignment):
        gid = m["grade_id"]
        assert gid in checks, f"{path.name}: test cell {gid} has no check in nngrader/specs/{assignment}.py"
        assert float(m["points"]) == float(checks[gid].points), gid
        assert f'check("{gid}"' in cell.source and "### BEGIN HIDDEN TESTS" in cell.source, gid
        seen.add(gid)
    assert seen == set(checks), f"checks without a test cell: {set(checks) - seen}"


def test_grade_ids_are_unique_across_the_course():
    assert len(specs.all_checks()) == sum(len(specs.load(a)) for a in specs.assignments())


def test_notebooks_are_committed_without_outputs():
    for path in list((ROOT / "solutions").glob("*/*.ipynb")) + list((ROOT / "assignments").glob("*/*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path


def _solution_namespace(assignment):
    """Execute a solution notebook's nbgrader cells (setup and solutions, not tests) in a namespace."""
    ns = {"__name__": "__main__"}
    for path in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            m = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and m and not (m.get("grade") and not m.get("solution")):
                exec(compile(neutralise_magics(cell.source) or "", str(path), "exec"), ns)
    return ns


# --- helpers: notebook functions a check calls but does not grade ----------------------------------
def test_check_binds_helpers_by_position_or_by_name(capsys, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    ns = _solution_namespace("04_optimizers")
    assert specs.find("optim_sgd").helpers == ("run_optimizer",)
    check("optim_sgd", ns["sgd_step"], ns["run_optimizer"])  # as the notebook's test cells call it
    notebook = types.ModuleType("__main__")  # a kernel's user namespace is sys.modules["__main__"]
    vars(notebook).update(ns)
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    check("optim_sgd", ns["sgd_step"])  # the driver found in the notebook
    check("optim_sgd", ns)  # everything by name
    out = capsys.readouterr().out
    assert out.count("sgd_step: 1 / 1 points (4 of 4 cases passed)") == 3 and "run_optimizer:" not in out
    with pytest.raises(TypeError, match=r"takes 1 function\(s\): sgd_step \(optionally followed by run_optimizer\)"):
        check("optim_sgd")
    del notebook.run_optimizer
    with pytest.raises(CheckFailed) as failed:  # a notebook without the driver: the path cases cannot run
        check("optim_sgd", ns["sgd_step"])
    assert "run_optimizer is not defined (run the notebook's cell that defines it, unchanged)" in failed.value.diagnosis


def test_forbidden_calls_made_by_the_student_come_before_those_nnkit_made_in_turn():
    import nnkit.initializers as init
    import nnkit.model
    from nngrader.watcher import call_watched, resolve_forbidden

    def student():
        nnkit.model.MLP([2, 3, 1], rng=np.random.default_rng(0))  # calls initializers inside
        return init.normal((2, 2), np.random.default_rng(1), std=1.0)  # called directly, later

    names = ["nnkit.initializers:get_initializer", "nnkit.initializers:he_normal",
             "nnkit.initializers:normal", "nnkit.model:MLP"]
    r = call_watched(student, (), {}, resolve_forbidden(names))
    assert r["status"] == "ok", r["error"]
    assert r["forbidden_calls"][:2] == ["nnkit.model:MLP", "nnkit.initializers:normal"]
    assert set(r["forbidden_calls"]) == set(names)


def test_a_long_list_of_forbidden_calls_names_the_first_five():
    from nngrader.sandbox import Outcome

    hits = [f"nnkit.layers:f{i}" for i in range(7)]
    chk = Check(
        grade_id="t_many", functions="square", points=2,
        visible=lambda rng: [Case((2.0,), label="one")], hidden=lambda rng: [],
        judge=lambda case, v: [compare_close("y", v, case.args[0] ** 2)], forbidden=tuple(hits),
    )

    class Runner:
        def call(self, function, args, kwargs, forbidden, timeout):
            return Outcome("ok", value=args[0] ** 2, forbidden_calls=hits)

    text = run_check(chk, Runner(), "s", ("visible",)).text()
    assert ("your code called nnkit.layers.f0, nnkit.layers.f1, nnkit.layers.f2, nnkit.layers.f3, "
            "nnkit.layers.f4 and 2 more, nnkit's own") in text
    assert "f5" not in text


def test_helpers_stay_out_of_the_title_and_the_forbidden_call_note():
    from nngrader.sandbox import Outcome

    chk = Check(
        grade_id="t_helper", functions="square", helpers="drive", points=2,
        visible=lambda rng: [Case((2.0,), label="one"), Case((3.0,), label="driven", function="drive")],
        hidden=lambda rng: [], judge=lambda case, v: [compare_close("y", v, case.args[0] ** 2)],
        forbidden=("nnkit.activations:relu",),
    )
    assert chk.functions == ("square",) and chk.helpers == ("drive",) and chk.names == ("square", "drive")
    called = []

    class Runner:
        def call(self, function, args, kwargs, forbidden, timeout):
            called.append(function)
            return Outcome("ok", value=args[0] ** 2, forbidden_calls=["nnkit.activations:relu"] if function == "drive" else [])

    v = run_check(chk, Runner(), "s", ("visible",))
    assert called == ["square", "drive"]
    assert v.score == 0 and v.text().startswith("square: 0 / 2 points (2 of 2 cases passed)")
    assert "Write square yourself with NumPy" in v.text() and "drive" not in v.text().split("\n")[0]
    with pytest.raises(ValueError, match="both function and helper"):
        Check("t_bad", ("f",), 1, lambda r: [], lambda r: [], lambda c, v: [], helpers=("f",))


@pytest.mark.parametrize("assignment", specs.assignments())
def test_solutions_pass_the_hidden_cases_for_any_secret(assignment):
    from nngrader.check import _KernelRunner

    import time

    ns = _solution_namespace(assignment)
    t0 = time.monotonic()
    for i in range(12):  # 12 secrets, or as many as fit in ~20 s (at least 3)
        if i >= 3 and time.monotonic() - t0 > 20:
            break
        for chk in specs.load(assignment).values():
            runner = _KernelRunner({name: ns.get(name) for name in chk.names})
            v = run_check(chk, runner, f"secret-{i}", ("visible", "hidden"))
            assert v.passed, v.text()


def test_gradient_parts_name_the_tensor_that_is_off():
    from nngrader.verdict import gradient_parts

    rng = np.random.default_rng(0)
    x, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    f = lambda p: float(np.sum(np.tanh(p["x"] @ p["W"])))
    g = 1 - np.tanh(x @ W) ** 2
    right = {"x": g @ W.T, "W": x.T @ g}
    assert all(p.ok for p in gradient_parts(f, {"x": x.copy(), "W": W.copy()}, right))
    wrong = {"x": g @ W.T, "W": 2 * (x.T @ g)}
    parts = gradient_parts(f, {"x": x.copy(), "W": W.copy()}, wrong)
    assert [p.ok for p in parts] == [True, False]
    assert parts[1].message.startswith("dW: relative error 0.33 at index")
    parts = gradient_parts(f, {"x": x.copy(), "W": W.copy()}, {"x": g @ W.T})
    assert [p.ok for p in parts] == [True, False] and "dW: got None" in parts[1].message


def test_trusted_verdicts_replace_whatever_the_kernel_printed():
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from nngrader.preprocessors import TrustedVerdicts

    def test_cell(gid, points):
        c = new_code_cell(f'check("{gid}", xor_network)', metadata={"nbgrader": {
            "grade": True, "solution": False, "locked": True, "grade_id": gid, "points": points, "schema_version": 3}})
        c.outputs = [new_output("stream", name="stderr", text="boom"), new_output("execute_result", data={"text/plain": "99"})]
        return c

    nb = new_notebook(cells=[
        new_code_cell("import numpy as np"),
        new_code_cell("def xor_network(X):\n    return (X[:, 0] != X[:, 1]).astype(int)"),
        test_cell("perceptron_xor_network", 2),
        test_cell("not_registered", 1),
        new_code_cell("while True:\n    pass"),  # after the last test cell: never run
    ])
    nb, _ = TrustedVerdicts(secret="s").preprocess(nb, {"nbgrader": {"assignment": "01_perceptron"}})
    good, unknown = nb.cells[2], nb.cells[3]
    assert [o.output_type for o in good.outputs] == ["stream", "execute_result"]
    assert good.outputs[0].name == "stdout" and good.outputs[1].data["text/plain"] == "2.0"
    assert unknown.outputs[1].data["text/plain"] == "0.0"
    assert "no automatic check is registered" in unknown.outputs[0].text
