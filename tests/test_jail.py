"""``nngrader.jail``, ``jail_init`` and ``jailed_kernel``: what a jailed process can see and do.

Every test runs real bubblewrap. Grading fails closed without it, so these tests fail (they do not
skip) on a machine where the jail cannot be made: that machine cannot grade.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import grading_harness as h
from nngrader.jail import HOME, WORK, GradingJail, JailUnavailable, find_bwrap, readable_paths
from nngrader.jailed_kernel import JailedKernelManager
from nngrader.sandbox import Session


@pytest.fixture
def course(tmp_path):
    """A pretend course root: solutions, a gradebook, the secret, a config with a database URL."""
    root = tmp_path / "course"
    (root / "solutions" / "a").mkdir(parents=True)
    (root / "solutions" / "a" / "nb.ipynb").write_text("SOLUTION-TEXT")
    (root / "gradebook.db").write_text("GRADEBOOK")
    (root / "nngrader_secret.txt").write_text("SECRET-ON-DISK\n")
    (root / "nbgrader_config.py").write_text('c.CourseDirectory.db_url = "postgresql://u:pw@db/x"\n')
    (root / "submitted" / "alice" / "a").mkdir(parents=True)
    (root / "submitted" / "alice" / "a" / "nb.ipynb").write_text("ALICE")
    return root


def jailed(code: str, *, course_root, jail=None, env=None, submission=None, timeout=60) -> dict:
    """Run Python ``code`` in a jail; it must print one JSON object, which is returned."""
    jail = jail or GradingJail()
    cmd = jail.command([sys.executable, "-c", textwrap.dedent(code)], env=env, course_root=course_root,
                       submission=submission)
    try:
        proc = subprocess.run(cmd.argv, capture_output=True, text=True, timeout=timeout, **cmd.kwargs)
    finally:
        cmd.cleanup()
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_jail_sees_the_environment_and_its_scratch_only(course):
    seen = jailed(f"""
        import json, os, sys
        out = {{"uid": os.getuid(), "cwd": os.getcwd(), "home": os.path.expanduser("~"), "root": sorted(os.listdir("/"))}}
        for p in [{str(course)!r}, {str(course / "gradebook.db")!r}, {str(course / "solutions")!r},
                  {str(h.ROOT / "solutions")!r}, {str(h.ROOT / "nbgrader_config.py")!r}]:
            out[p] = os.path.exists(p)
        out["package"] = sorted(os.listdir({str(h.ROOT)!r}))
        home = {str(Path.home())!r}
        out["grader's home"] = sorted(os.listdir(home)) if os.path.isdir(home) else []
        import numpy, nnkit, nngrader  # the environment and the packages are there
        print(json.dumps(out))
    """, course_root=course)
    assert seen["cwd"] == WORK and seen["home"] == HOME
    assert not any(v for k, v in seen.items() if k.startswith("/")), seen  # none of those paths exists
    assert set(seen["package"]) <= {"nnkit", "nngrader", ".venv"}, seen["package"]  # not solutions/, not the config
    assert "tmp" in seen["root"] and "home" not in seen["root"]
    # of the grader's home, at most the way to the Python environment (a pyenv under /root)
    home = Path.home()
    ways = {Path(p).relative_to(home).parts[0] for p in readable_paths(course) if Path(p).is_relative_to(home)}
    assert set(seen["grader's home"]) <= ways, seen["grader's home"]
    if os.getuid() == 0:  # root drops to a uid no account has
        low, high = GradingJail().root_uid_range
        assert low <= seen["uid"] < high


def test_the_package_and_environment_are_read_only(course):
    seen = jailed("""
        import json, os, nnkit, sys
        out = {}
        for p in [os.path.join(os.path.dirname(nnkit.__file__), "evil.py"), os.path.join(sys.prefix, "evil.py"),
                  "/usr/evil", "/evil"]:
            try:
                open(p, "w").close()
                out[p] = "written"
            except OSError as e:
                out[p] = e.errno
        print(json.dumps(out))
    """, course_root=course)
    assert "written" not in seen.values(), seen
    assert not (h.ROOT / "nnkit" / "evil.py").exists()


def test_no_network_not_even_the_hosts_loopback(course):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    seen_connections = []
    server.settimeout(10)

    def accept():
        try:
            seen_connections.append(server.accept())
        except OSError:  # the timeout: nobody came
            pass

    threading.Thread(target=accept, daemon=True).start()
    try:
        seen = jailed(f"""
            import json, socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2)
                out = "connected"
            except OSError as e:
                out = type(e).__name__
            print(json.dumps({{"tcp": out, "interfaces": [n for _, n in socket.if_nameindex()]}}))
        """, course_root=course)
    finally:
        server.close()
    assert seen["tcp"] in ("ConnectionRefusedError", "OSError", "TimeoutError"), seen
    assert seen["interfaces"] == ["lo"]
    assert seen_connections == []


def test_the_environment_holds_no_secret(course):
    env = dict(os.environ, NNGRADER_SECRET="ENV-SECRET", DATABASE_URL="postgresql://u:pw@db/x", HOME=str(course))
    seen = jailed("""
        import glob, json, os
        blobs = []
        for p in glob.glob("/proc/*/environ"):
            try:
                blobs.append(open(p, "rb").read().decode("latin-1"))
            except OSError:  # bwrap's own process, when root started the jail
                pass
        print(json.dumps({"env": dict(os.environ), "proc": blobs}))
    """, course_root=course, env=env)
    text = json.dumps(seen)
    for secret in ("ENV-SECRET", "postgresql", str(course)):
        assert secret not in text
    assert seen["env"]["HOME"] == HOME


def test_memory_processes_and_scratch_are_capped(course):
    jail = GradingJail(memory_mb=1024, processes=40, scratch_mb=64)
    seen = jailed("""
        import json, os, threading, time
        out = {}
        try:
            bytearray(1536 * 2**20)
            out["memory"] = "allocated"
        except MemoryError:
            out["memory"] = "MemoryError"
        n = 0
        try:
            for _ in range(500):
                threading.Thread(target=time.sleep, args=(2,), daemon=True).start()
                n += 1
        except RuntimeError:
            pass
        out["threads"] = n
        try:
            with open("/tmp/big", "wb") as f:
                for _ in range(128):
                    f.write(b"x" * 2**20)
            out["disk"] = "written"
        except OSError as e:
            out["disk"] = e.errno
        print(json.dumps(out))
    """, course_root=course, jail=jail)
    assert seen["memory"] == "MemoryError"
    assert 0 < seen["threads"] < 40
    assert seen["disk"] != "written"


def test_the_working_directory_is_a_private_copy_of_the_submission(course):
    folder = course / "submitted" / "alice" / "a"
    seen = jailed("""
        import json, os
        before = sorted(os.listdir("."))
        open("nb.ipynb", "w").write("CHANGED")
        open("new.txt", "w").write("x")
        print(json.dumps({"before": before}))
    """, course_root=course, submission=folder)
    assert seen["before"] == ["nb.ipynb"]
    assert sorted(p.name for p in folder.iterdir()) == ["nb.ipynb"]
    assert (folder / "nb.ipynb").read_text() == "ALICE"


def test_a_folder_that_holds_the_course_is_never_shown(course):
    with pytest.raises(JailUnavailable, match="holds the course root"):
        readable_paths(course, extra=[course.parent])
    with pytest.raises(JailUnavailable, match="holds the course root"):
        GradingJail(extra_readable=[str(course.parent)]).command(["true"], course_root=course)


def test_fails_closed_with_what_is_missing_and_how_to_fix_it(course, tmp_path):
    with pytest.raises(JailUnavailable, match="not an executable"):
        GradingJail(bwrap=str(tmp_path / "no-bwrap")).check(course)
    false = tmp_path / "bwrap"
    false.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    false.chmod(0o755)
    with pytest.raises(JailUnavailable) as e:
        GradingJail(bwrap=str(false)).check(course)
    assert "user namespaces" in str(e.value) and "status 1" in str(e.value)
    assert find_bwrap()  # this machine has one


# --- the kernel and the sandbox -----------------------------------------------------------------------
def test_a_jailed_kernel_runs_a_notebook_and_can_be_interrupted(course, monkeypatch):
    monkeypatch.chdir(course)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in [
        "import os; print(os.getcwd(), sorted(os.listdir('.')))",
        f"print(os.path.exists({str(course / 'gradebook.db')!r}))",
        "import time; time.sleep(60)",
        "print('after the interrupt')",
    ]]
    client = NotebookClient(nb, kernel_name="python3", kernel_manager_class=JailedKernelManager, timeout=3,
                            interrupt_on_timeout=True, allow_errors=True,
                            resources={"metadata": {"path": str(course / "submitted" / "alice" / "a")}})
    client.execute()
    texts = ["".join(o.get("text", "") or o.get("ename", "") for o in c.outputs) for c in nb.cells]
    assert texts[0].strip() == f"{WORK} ['nb.ipynb']"
    assert texts[1].strip() == "False"
    assert "KeyboardInterrupt" in texts[2]
    assert texts[3].strip() == "after the interrupt"


def test_the_verdict_sandbox_runs_in_the_jail(course, monkeypatch):
    monkeypatch.chdir(course)
    s = Session(cell_timeout=5, time_budget=60, jail=GradingJail())
    try:
        assert s.exec_cell(0, "import os\ndef where():\n    return os.getcwd()\ndef boom():\n    os._exit(3)").status == "ok"
        assert s.call("where", [], {}, [], 5).value == WORK
        assert s.call("boom", [], {}, [], 5).status == "crashed"
        assert s.call("where", [], {}, [], 5).value == WORK  # a new jail, the cells replayed
        run = s.exec_cell(1, f"open({str(course / 'gradebook.db')!r}, 'w')")
        assert run.status == "error" and "FileNotFoundError" in run.message
    finally:
        s.close()
    assert (course / "gradebook.db").read_text() == "GRADEBOOK"


@pytest.mark.slow
def test_nbgrader_validate_runs_the_notebook_in_the_jail(tmp_path):
    course = h.new_course(tmp_path, assignments=["01_perceptron"])
    nb = h.submission("01_perceptron", "perceptron")
    answer = nb.cells[h.cell_index(nb, "mp_neuron_solution")]
    # validate reports test cells only, and this answer passes its test inside the jail only
    answer.source += textwrap.dedent(f"""

        _mp_neuron = mp_neuron
        def mp_neuron(x, w, theta):
            import os
            try:
                open({str(course / 'pwned')!r}, "w").write("x")
            except OSError:
                pass
            assert not os.path.exists({str(course)!r}), "the course root is visible"
            assert os.getcwd() == {WORK!r}
            return _mp_neuron(x, w, theta)
    """)
    path = tmp_path / "perceptron.ipynb"
    nbformat.write(nb, path)
    proc = h.nbgrader(course, "validate", str(path), check=False)
    assert "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout + proc.stderr
    assert not (course / "pwned").exists()


@pytest.mark.slow
def test_grading_stops_without_a_jail_unless_the_instructor_allows_it(tmp_path):
    course = h.new_course(tmp_path, assignments=["01_perceptron"])
    h.nbgrader(course, "generate_assignment", "01_perceptron", "--force")
    h.write_submission(course, "alice", "01_perceptron", "perceptron", h.submission("01_perceptron", "perceptron"))
    with open(course / "nbgrader_config.py", "a") as f:
        f.write('\nc.GradingJail.bwrap = "/nonexistent/bwrap"\n')

    proc = h.run_grade_all(course, "01_perceptron")
    assert proc.returncode != 0
    assert "Grading stopped" in proc.stderr and "/nonexistent/bwrap" in proc.stderr
    assert not (course / "grades_01_perceptron.csv").exists() and not (course / "autograded").exists()

    # nbgrader's own autograde (the formgrader's button) refuses too: no grade is recorded
    auto = h.nbgrader(course, "autograde", "01_perceptron", check=False)
    assert auto.returncode != 0 and "/nonexistent/bwrap" in auto.stdout + auto.stderr
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", h.COURSE_ID) as gb:
        recorded = [g.auto_score for sub in gb.find_assignment("01_perceptron").submissions
                    for nb in sub.notebooks for g in nb.grades]
    assert all(score is None for score in recorded), recorded

    proc = h.run_grade_all(course, "01_perceptron", "--allow-unsafe-grading")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "UNSAFE" in proc.stdout
    row = h.grades_csv(course, "01_perceptron")["alice"]
    assert row["jail"] == "NONE (--allow-unsafe-grading)" and float(row["score"]) == 11.0


def test_run_by_root_the_whole_jail_stays_under_its_memory(course):
    if os.getuid() != 0:
        pytest.skip("memory cgroups are root's here: an ordinary account has the per-process limit only")
    jail = GradingJail(memory_mb=1024)
    # four processes of 400 MiB each: each is under the per-process limit, together they are not
    seen = jailed("""
        import json, os, time
        pids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                block = bytearray(400 * 2**20)
                for k in range(0, len(block), 4096):
                    block[k] = 1
                time.sleep(2)
                os._exit(0)
            pids.append(pid)
        print(json.dumps([os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]))
    """, course_root=course, jail=jail)
    assert -9 in seen and 0 in seen, seen  # the OOM killer stopped some, inside the jail only
