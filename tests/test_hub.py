"""The course on a real JupyterHub, end to end (issue 5), and the deployment files in deploy/.

The end-to-end tests start deploy/jupyterhub_config.py as it is, on 127.0.0.1 with free ports,
with configurable-http-proxy from npm and real single-user servers. A small overlay
(:data:`_NO_UNIX_ACCOUNTS`) swaps only what a test machine lacks: the dummy authenticator for PAM,
and JupyterHub's SimpleLocalProcessSpawner for unix accounts (every hub user runs as the test's
own unix account, in a home folder of their own; nbgrader tells the students apart by their hub
login). Through the proxy, with each user's own API token (:func:`course_cycle`):

1. the hub starts with the course service (the instructors' formgrader, in a copy of the course);
2. the instructor generates and releases 01_perceptron through the formgrader's REST API;
3. two students log in, their servers start, and they list and fetch the assignment through
   nbgrader's assignment-list server extension;
4. alice saves the solution through the contents API and submits it, bob submits the release as
   he fetched it;
5. the instructor collects, autogrades, grades the written answer, generates and releases feedback;
6. the students fetch their feedback: alice's says full marks (13 / 13);
7. bob's says 0;
8. every process of the run is stopped, even when a test fails: the hub runs below a subreaper
   (orphans come back to it), every process carries a marker in its environment, and teardown
   stops the hub, then kills whatever is left and checks that nothing is.

Also: students do not see the instructor tools and cannot switch them on, instructors do (lab
page config, plugin locks, server extensions, hub roles, the Courses tab), and the formgrader
iframe fix. deploy/config.yaml's hub settings and kubernetes/grader.yaml's pod environment run on
a local hub (a local-process spawner in place of KubeSpawner); the other deployment files get static
checks (the grading Jobs: tests/test_kubernetes_manifests.py, tests/test_detached_grading.py).
:func:`test_one_machine_with_real_unix_accounts` (opt-in, as root) runs steps 2-8 with nothing
swapped: PAM, one unix account per user, the course service as its own account.

The end-to-end tests skip, with the reason, when configurable-http-proxy is missing
(`npm install --global configurable-http-proxy@5`), and fail instead when CI is set.
"""
from __future__ import annotations

import ast
import contextlib
import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

import grading_harness as h

ROOT = h.ROOT
DEPLOY = ROOT / "deploy"
COURSE_ID = "nn-fundamentals"
SERVICE = COURSE_ID
A, NB = "01_perceptron", "perceptron"
WRITTEN = "xor_why"  # 01_perceptron's written answer, graded by hand in the formgrader
INSTRUCTOR, STUDENTS = "teacher", ("alice", "bob")
INSTRUCTOR_TOOLS = ("@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader",
                    "@jupyter/nbgrader:course-list")


# --- what the end-to-end tests need ----------------------------------------------------------------
def _need(what: str, found) -> None:
    """Skip (with how to install it) when a tool is missing; under CI that is a failure."""
    if found:
        return
    reason = f"{what} is not installed: the JupyterHub end-to-end test needs it"
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI installs it in .ci/run)")
    pytest.skip(reason)


def _requirements():
    _need("configurable-http-proxy (`npm install --global configurable-http-proxy@5`)",
          shutil.which("configurable-http-proxy"))
    bindir = Path(sys.executable).parent
    _need("jupyterhub (`pip install jupyterhub`, part of `.[test]`)",
          (bindir / "jupyterhub").exists() and (bindir / "jupyterhub-singleuser").exists())
    _need("requests", _importable("requests"))


def _importable(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- processes: subreapers below the test, and the sweep that stops everything ----------------------
# The hub (and, in the Kubernetes test, the course service) runs as the child of this small
# process, which makes itself a "child subreaper" (Linux): a process whose parent dies (a
# single-user server after the hub, a kernel after its server, a daemon that double-forks) is
# re-parented to it instead of to init, so that everything the hub started stays findable below it
# until the test has stopped it. It forwards SIGTERM to its command, reaps every child and exits
# when none is left.
_REAPER = r"""
import ctypes, os, signal, subprocess, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
main = subprocess.Popen(sys.argv[1:])
signal.signal(signal.SIGTERM, lambda *_: main.send_signal(signal.SIGTERM))
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
    except InterruptedError:
        pass
"""


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def descendants(pid: int) -> list[int]:
    kids, out, todo = _children_map(), [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def marked_processes(marker: str) -> list[int]:
    """Processes whose environment holds ``NN_HUB_TEST_RUN=<marker>`` (set for the hub and every
    server, service and kernel it starts), wherever they are in the process tree."""
    needle = f"NN_HUB_TEST_RUN={marker}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in Path(entry.path, "environ").read_bytes().split(b"\0") and _alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


class Reaped:
    """A command started below its own subreaper, with its output in ``log``."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict, log: Path):
        self.argv, self.log = argv, log
        with log.open("ab") as out:
            self.reaper = subprocess.Popen([sys.executable, "-c", _REAPER, *argv], cwd=cwd, env=env,
                                           stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        self.main_pid = None
        deadline = time.monotonic() + 10
        while self.main_pid is None and time.monotonic() < deadline and self.reaper.poll() is None:
            kids = _children_map().get(self.reaper.pid, [])
            self.main_pid = kids[0] if kids else None
            time.sleep(0.02)

    def running(self) -> bool:
        return self.main_pid is not None and _alive(self.main_pid)

    def terminate(self, grace: float) -> None:
        """SIGTERM to the command (through its subreaper), and wait for it to exit."""
        if self.reaper.poll() is None:
            self.reaper.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.running():
            time.sleep(0.2)

    def tail(self, n=6000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


class RunningHub:
    """A started hub (and any service started beside it), its URLs and folders, and how to stop
    every process of the run."""

    def __init__(self, tmp: Path, marker: str, url: str):
        self.tmp, self.marker, self.url = tmp, marker, url
        self.procs: list[Reaped] = []
        self.force_killed: list[str] = []
        self.stopped = False

    def log_tail(self, n=6000) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.tail(n)}" for p in self.procs)

    def _mine(self) -> set[int]:
        pids = set(marked_processes(self.marker))
        for p in self.procs:
            if p.reaper.poll() is None:
                pids |= set(descendants(p.reaper.pid))
        return {pid for pid in pids if _alive(pid)}

    def stop(self, grace: float = 30.0) -> list[str]:
        """Stop the hub (it stops its servers, managed services and proxy) and any other command
        of the run, then kill whatever is still below the subreapers or carries the run's marker;
        returns what had to be killed. Safe to call twice."""
        if self.stopped:
            return self.force_killed
        self.stopped = True
        for p in self.procs:
            p.terminate(grace)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            left = self._mine()
            if not left:
                break
            for pid in left:
                if sig == signal.SIGTERM:
                    self.force_killed.append(f"{pid} {_cmdline(pid)}")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(_alive(p) for p in left):
                time.sleep(0.1)
        for p in self.procs:
            try:
                p.reaper.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.reaper.kill()
                p.reaper.wait(timeout=10)
        return self.force_killed

    def leftovers(self) -> list[str]:
        """Processes of this run still alive (none after :meth:`stop`)."""
        pids = self._mine() | {p.reaper.pid for p in self.procs if p.reaper.poll() is None}
        return [f"{pid} {_cmdline(pid)}" for pid in sorted(pids)]


_LOOPBACK = """
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.Spawner.interrupt_timeout = 5
c.Spawner.term_timeout = 5
# every process of this run carries a marker, so that the test can prove none is left
c.Spawner.environment = {{**c.Spawner.environment, "NN_HUB_TEST_RUN": {marker!r}}}
for service in c.JupyterHub.services:
    if "command" in service:
        service.setdefault("environment", {{}}).update(NN_HUB_TEST_RUN={marker!r})
"""

_NO_UNIX_ACCOUNTS = """
# no unix accounts or PAM on a test machine: every hub user runs as this unix account, at home in
# {home}/<name>, and logs in with any password (loopback only)
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {home!r} + "/{{username}}"
for service in c.JupyterHub.services:
    if "command" in service:
        service["environment"]["HOME"] = {service_home!r}
if {root!r}:  # Jupyter servers refuse to run as root unless told
    c.Spawner.args = ["--allow-root"]
    for service in c.JupyterHub.services:
        if "command" in service:
            service["command"] = service["command"] + ["--allow-root"]
"""
_TEST_MACHINE = _LOOPBACK + _NO_UNIX_ACCOUNTS


def _single_machine_config(ctx) -> str:
    """The test's jupyterhub_config.py: deploy/jupyterhub_config.py, then what a test machine needs."""
    return f"load_subconfig({str(DEPLOY / 'jupyterhub_config.py')!r})\n" + _TEST_MACHINE.format(**ctx)


def _unix_accounts_config(ctx) -> str:
    """deploy/jupyterhub_config.py as it is (PAM, LocalProcessSpawner), on loopback ports."""
    return f"load_subconfig({str(DEPLOY / 'jupyterhub_config.py')!r})\n" + _LOOPBACK.format(**ctx)


@contextlib.contextmanager
def running_hub(tmp: Path, *, config=_single_machine_config, beside=None, iframe: str = "yes",
                bindir: Path | None = None, accounts: dict | None = None):
    """Start a hub on loopback with a fresh copy of the course; stop everything after.

    ``config(ctx)`` gives the text of the hub's config file; by default deploy/jupyterhub_config.py
    with the test machine's overlay. The hub's environment holds deploy/jupyterhub_config.py's
    settings (NN_HUB_*, NNGRADER_EXCHANGE) for this run. ``beside(hub)`` starts what runs next to
    the hub (an external service), right after the hub. ``bindir`` is the environment the hub runs
    from (default: this one); ``accounts`` (instructor, students, grader) are unix accounts that
    exist, for a hub with real accounts.
    """
    _requirements()
    import requests

    bindir = Path(bindir or Path(sys.executable).parent)
    tmp.mkdir(parents=True, exist_ok=True)
    marker = secrets.token_hex(8)
    course = h.new_course(tmp, assignments=[A])
    exchange, state, home = tmp / "exchange", tmp / "state", tmp / "home"
    for d in (exchange, state, home, home / ".course-service", tmp / "hub-home"):
        d.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o1777)  # as deploy/README.md makes it
    if accounts:
        import pwd

        owner = pwd.getpwnam(accounts["grader"])
        for path in [course, *course.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port, hub_port, api_port, service_port = (free_port() for _ in range(4))
    ctx = dict(home=str(home), service_home=str(home / ".course-service"), marker=marker, hub_port=hub_port,
               api_port=api_port, service_port=service_port, root=os.getuid() == 0, tmp=tmp, course=course,
               exchange=exchange)
    cfg = tmp / "jupyterhub_config.py"
    cfg.write_text(config(ctx))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "JPY_", "NN_HUB_", "NNGRADER_")) and k != "VIRTUAL_ENV"}
    env.update(
        PATH=str(bindir) + os.pathsep + os.environ.get("PATH", os.defpath),
        HOME=str(tmp / "hub-home"),
        NN_HUB_TEST_RUN=marker,
        NN_HUB_INSTRUCTORS=accounts["instructor"] if accounts else INSTRUCTOR,
        NN_HUB_STUDENTS=" ".join(accounts["students"] if accounts else STUDENTS),
        NN_HUB_COURSE_ROOT=str(course),
        NN_HUB_GRADER_USER=accounts["grader"] if accounts else "",  # "": the service runs as this account
        NNGRADER_EXCHANGE=str(exchange),
        NN_HUB_STATE_DIR=str(state),
        NN_HUB_BIND_URL=f"http://127.0.0.1:{port}",
        NN_HUB_SERVICE_PORT=str(service_port),
        NN_HUB_FORMGRADER_IFRAME=iframe,
    )
    hub = RunningHub(tmp, marker, f"http://127.0.0.1:{port}")
    hub.course, hub.exchange, hub.home, hub.ctx, hub.env = course, exchange, home, ctx, env
    if accounts:
        import pwd

        hub.home_of = lambda name: Path(pwd.getpwnam(name).pw_dir)
    else:
        hub.home_of = lambda name: home / name
    try:
        hub.procs.append(Reaped([str(bindir / "jupyterhub"), "-f", str(cfg)], cwd=state, env=env,
                                log=tmp / "hub.log"))
        if beside:
            beside(hub)
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(hub.url + "/hub/api/", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if not hub.procs[0].running() or time.monotonic() > deadline:
                raise AssertionError(f"the hub did not come up on {hub.url}:\n{hub.log_tail()}")
            time.sleep(0.5)
        yield hub
    finally:
        hub.stop()


# --- talking to the hub as a person would, through the proxy ----------------------------------------
class User:
    """A hub user: logs in through the login form, then works with an API token of their own."""

    def __init__(self, hub: RunningHub, name: str, password: str = "any"):
        import requests

        self.hub, self.name = hub, name
        self.web = requests.Session()
        r = self.web.get(f"{hub.url}/hub/login", timeout=30)
        assert r.status_code == 200, r.text[:500]
        xsrf = self.web.cookies.get("_xsrf")
        r = self.web.post(f"{hub.url}/hub/login", data={"username": name, "password": password, "_xsrf": xsrf},
                          allow_redirects=False, timeout=30)
        assert r.status_code == 302, f"login of {name} failed ({r.status_code}): {r.text[:500]}"
        r = self.web.post(f"{hub.url}/hub/api/users/{name}/tokens", json={"note": "test_hub", "expires_in": 3600},
                          headers={"X-XSRFToken": self.web.cookies.get("_xsrf")}, timeout=30)
        assert r.status_code == 201, f"token for {name}: {r.status_code} {r.text[:500]}"
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"token {r.json()['token']}"

    def request(self, method, path, *, expect=200, timeout=300, **kw):
        r = self.api.request(method, self.hub.url + path, timeout=timeout, allow_redirects=False, **kw)
        if expect is not None:
            assert r.status_code == expect, (
                f"{self.name}: {method} {path} -> {r.status_code} (expected {expect}): {r.text[:2000]}\n"
                f"hub log:\n{self.hub.log_tail(3000)}")
        return r

    def start_server(self, timeout=180):
        r = self.request("POST", f"/hub/api/users/{self.name}/server", expect=None)
        assert r.status_code in (201, 202), f"{self.name}: server start -> {r.status_code} {r.text[:1000]}"

    def wait_ready(self, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.request("GET", f"/hub/api/users/{self.name}").json()
            if (model.get("servers") or {}).get("", {}).get("ready"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{self.name}'s server never became ready:\n{self.hub.log_tail()}")

    # nbgrader's assignment-list server extension, in the user's own server
    def assignments(self, action=None, assignment=A):
        base = f"/user/{self.name}/assignments"
        if action is None:
            r = self.request("GET", base, params={"course_id": COURSE_ID})
        else:
            r = self.request("POST", f"{base}/{action}", json={"course_id": COURSE_ID, "assignment_id": assignment})
        out = r.json()
        assert out["success"], f"{self.name}: assignments {action or 'list'} failed: {out['value']}"
        return out["value"]

    def contents(self, path, method="GET", expect=200, **kw):
        return self.request(method, f"/user/{self.name}/api/contents/{path}", expect=expect, **kw).json()

    # the instructors' course service: nbgrader's formgrader REST API
    def formgrader(self, method, path, expect=200, **kw):
        r = self.request(method, f"/services/{SERVICE}/formgrader/api/{path}", expect=expect, **kw)
        return r.json() if expect == 200 else r

    def lab_page_config(self, prefix):
        r = self.request("GET", f"{prefix}/lab")
        m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', r.text, re.S)
        assert m, f"{prefix}/lab has no page config:\n{r.text[:1000]}"
        return json.loads(m.group(1)), r.headers


def _ok(result, what):
    assert result.get("success"), f"{what} failed:\n{result.get('error') or ''}\n{result.get('log') or ''}"
    return result


def _wait_for_service(teacher: User, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        r = teacher.request("GET", f"/services/{SERVICE}/formgrader/api/status", expect=None)
        if r.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the course service never answered ({r.status_code}):\n{teacher.hub.log_tail()}")
        time.sleep(0.5)


def feedback_score(user: User) -> tuple[float, float, str]:
    """(score, max score, html) of the feedback the student fetched into their home."""
    folder = user.contents(f"{A}/feedback")
    stamps = [e["name"] for e in folder["content"] if e["type"] == "directory"]
    assert len(stamps) == 1, f"{user.name}: feedback folders {stamps}"
    page = user.contents(f"{A}/feedback/{stamps[0]}/{NB}.html", params={"content": 1, "format": "text", "type": "file"})
    text = html.unescape(page["content"])
    m = re.search(rf"{NB} \(Score: ([\d.]+) / ([\d.]+)\)", text)
    assert m, f"{user.name}: no score in the feedback:\n{text[:3000]}"
    return float(m.group(1)), float(m.group(2)), text


def course_cycle(hub: RunningHub, teacher: "User", alice: "User", bob: "User") -> None:
    """Steps 2-7 of the issue, through the hub's proxy with each person's own API token: alice
    submits the solution, bob the release as he fetched it."""
    # 2. the instructor generates the student version and releases it, through the hub's proxy
    _ok(teacher.formgrader("POST", f"assignment/{A}/assign"), "generate_assignment")
    _ok(teacher.formgrader("POST", f"assignment/{A}/release"), "release_assignment")
    assert (hub.exchange / COURSE_ID / "outbound" / A / f"{NB}.ipynb").is_file()

    # 3. each student lists and fetches it through the assignment-list server extension
    for s in (alice, bob):
        listed = s.assignments()
        assert [(x["assignment_id"], x["status"]) for x in listed] == [(A, "released")], listed
        fetched = s.assignments("fetch")
        mine = [x for x in fetched if x["status"] == "fetched"]
        assert mine and mine[0]["path"] == A, fetched
        assert [n["notebook_id"] for n in mine[0]["notebooks"]] == [NB], mine
        assert (hub.home_of(s.name) / A / f"{NB}.ipynb").is_file()

    # 4. alice saves her solution (as JupyterLab does) and submits; bob submits what he fetched
    nb = h.submission(A, NB)
    alice.contents(f"{A}/{NB}.ipynb", method="PUT", json={"type": "notebook", "format": "json", "content": nb})
    for s in (alice, bob):
        after = s.assignments("submit")
        assert any(x["status"] == "submitted" and x["student_id"] == s.name for x in after), after
    inbound = sorted(p.name.split("+")[0] for p in (hub.exchange / COURSE_ID / "inbound").iterdir())
    assert inbound == sorted([alice.name, bob.name]), inbound

    # 5. the instructor collects, autogrades, grades the written answer, makes and releases feedback
    _ok(teacher.formgrader("POST", f"assignment/{A}/collect"), "collect")
    for name in (alice.name, bob.name):
        assert (hub.course / "submitted" / name / A / f"{NB}.ipynb").is_file(), name
        _ok(teacher.formgrader("POST", f"submission/{A}/{name}/autograde"), f"autograde {name}")
    subs = {s["student"]: s for s in teacher.formgrader("GET", f"submitted_notebooks/{A}/{NB}")}
    for name, points in ((alice.name, 2.0), (bob.name, 0.0)):
        grades = {g["name"]: g for g in teacher.formgrader("GET", "grades", params={"submission_id": subs[name]["id"]})}
        written = grades[WRITTEN]
        if written["needs_manual_grade"]:  # nbgrader already gave 0 to an answer left as released
            teacher.formgrader("PUT", f"grade/{written['id']}", json={"manual_score": points})
    _ok(teacher.formgrader("POST", f"assignment/{A}/generate_feedback"), "generate_feedback")
    _ok(teacher.formgrader("POST", f"assignment/{A}/release_feedback"), "release_feedback")

    # 6.-7. the students fetch their feedback: alice has full marks, bob has 0
    for s in (alice, bob):
        listed = s.assignments("fetch_feedback")
        assert any(sub.get("has_local_feedback") for x in listed if x["status"] == "submitted"
                   for sub in x.get("submissions", [])), listed
    score, total, text = feedback_score(alice)
    assert total == 13.0 and score == total, (score, total)
    assert "mp_neuron: 2 / 2 points" in text  # the course's trusted verdicts, not the student's kernel
    score, total, _ = feedback_score(bob)
    assert (score, total) == (0.0, 13.0)


# --- the end-to-end tests ------------------------------------------------------------------------
@pytest.fixture(scope="class")
def hub():
    tmp = Path(tempfile.mkdtemp(prefix="nn-hub-"))
    try:
        with running_hub(tmp) as running:
            yield running
            killed = running.stop()
            left = running.leftovers()
            # step 8: the shutdown left nothing behind (what the sweep had to kill is reported)
            assert not left, f"processes left after the hub stopped: {left}"
            if killed:
                print(f"\nstopped by the sweep after the hub's own shutdown: {killed}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="class")
def people(hub):
    teacher = User(hub, INSTRUCTOR)
    students = {name: User(hub, name) for name in STUDENTS}
    for u in (teacher, *students.values()):
        u.start_server()
    _wait_for_service(teacher)
    for u in (teacher, *students.values()):
        u.wait_ready()
    return teacher, students


@pytest.mark.slow
class TestTheCourseOnTheHub:
    """Steps 1-8 on one hub (started once for the class, stopped after it: the fixture checks
    that nothing is left), and who sees which tools."""

    def test_release_fetch_submit_grade_feedback_through_the_hub(self, hub, people):
        teacher, students = people
        course_cycle(hub, teacher, students["alice"], students["bob"])
        # two students, two student ids, although both ran as one unix account
        assert sorted(p.name.split("+")[0] for p in (hub.exchange / COURSE_ID / "inbound").iterdir()) == ["alice", "bob"]

    def test_students_do_not_see_the_instructor_tools_and_instructors_do(self, hub, people):
        teacher, students = people
        alice = students["alice"]

        # JupyterLab's page config: which nbgrader plugins each kind of account gets
        cfg, headers = alice.lab_page_config(f"/user/{alice.name}")
        disabled = set(cfg["disabledExtensions"])
        assert set(INSTRUCTOR_TOOLS) <= disabled, disabled
        assert not {"@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment"} & disabled
        assert headers["Content-Security-Policy"] == "frame-ancestors 'none'"  # the hub's protection stays
        # and JupyterLab's plugin manager cannot switch them back on: they are locked
        assert set(INSTRUCTOR_TOOLS) <= set(cfg.get("lockedExtensions", [])), cfg.get("lockedExtensions")
        r = alice.request("POST", f"/user/{alice.name}/lab/api/plugins", expect=500,
                          json={"cmd": "enable", "plugin_name": "@jupyter/nbgrader:formgrader"})
        assert "locked" in r.text, r.text[:500]
        cfg, _ = alice.lab_page_config(f"/user/{alice.name}")
        assert "@jupyter/nbgrader:formgrader" in cfg["disabledExtensions"]

        cfg, _ = teacher.lab_page_config(f"/user/{teacher.name}")
        disabled = set(cfg["disabledExtensions"])
        assert not {"@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list",
                    "@jupyter/nbgrader:assignment-list"} & disabled, disabled

        cfg, headers = teacher.lab_page_config(f"/services/{SERVICE}")
        disabled = set(cfg["disabledExtensions"])
        assert not {"@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader"} & disabled, disabled
        # the iframe fix, for the course service alone (the test runs with NN_HUB_FORMGRADER_IFRAME=yes)
        assert headers["Content-Security-Policy"] == "frame-ancestors 'self'"

        # server extensions: no formgrader or course list in a student's server
        alice.request("GET", f"/user/{alice.name}/formgrader", expect=404)
        alice.request("GET", f"/user/{alice.name}/formgraders", expect=404)
        # the instructor's Courses tab finds the course service through the hub
        courses = teacher.request("GET", f"/user/{teacher.name}/formgraders").json()
        assert courses["success"], courses
        assert [(c["course_id"], c["kind"]) for c in courses["value"]] == [(COURSE_ID, "jupyterhub")], courses
        assert courses["value"][0]["url"].endswith(f"/services/{SERVICE}/lab?formgrader=true")

        # hub roles: the course service is for the instructors' group only
        alice.request("GET", f"/services/{SERVICE}/formgrader/api/status", expect=403)
        r = teacher.request("GET", f"/services/{SERVICE}/", expect=302)  # opens on the formgrader
        assert r.headers["Location"].rstrip("?").endswith(f"/services/{SERVICE}/formgrader"), r.headers["Location"]


@pytest.mark.slow
def test_every_process_is_stopped_even_when_a_test_fails(tmp_path):
    """Step 8: a failure in the middle of a run still stops the hub, its proxy, the course service
    and the single-user servers (and their kernels)."""
    with pytest.raises(RuntimeError, match="a test failed here"):
        with running_hub(tmp_path / "run", iframe="") as hub_:
            u = User(hub_, "alice")
            u.start_server()
            u.wait_ready()
            kernel = u.request("POST", "/user/alice/api/kernels", expect=201, json={"name": "python3"}).json()
            started = hub_._mine()
            names = " ".join(_cmdline(p) for p in started)
            assert "configurable-http-proxy" in names and "jupyterhub-singleuser" in names, names
            assert "ipykernel" in names, (kernel, names)
            raise RuntimeError("a test failed here")
    assert hub_.stopped and all(p.reaper.poll() is not None for p in hub_.procs)
    assert not hub_.leftovers()
    assert not [p for p in started if _alive(p)], [_cmdline(p) for p in started if _alive(p)]


@contextlib.contextmanager
def unix_accounts(names: list[str], password: str):
    """Unix accounts made for one test (useradd, as root) and removed after it, home folders too."""
    made = []
    try:
        for name in names:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True,
                           capture_output=True, text=True)
            made.append(name)
        subprocess.run(["chpasswd"], input="".join(f"{n}:{password}\n" for n in names), check=True,
                       capture_output=True, text=True)
        yield
    finally:
        for name in made:
            # their processes are gone (the hub's sweep); a failure here is reported, never hidden
            subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
        left = [n for n in made if subprocess.run(["id", n], capture_output=True).returncode == 0]
        assert not left, f"unix accounts not removed: {left}"


@pytest.mark.slow
def test_one_machine_with_real_unix_accounts():
    """Opt-in: deploy/jupyterhub_config.py with nothing swapped (PAM login, one unix account per
    user, the course service as its own account, the exchange's unix permissions between them),
    through steps 2-8. It creates and removes unix accounts, so it runs only as root and when
    NN_HUB_TEST_PYTHON names a Python that every account may run, with the course installed
    (e.g. `/usr/bin/python3 -m venv /opt/nnhub && /opt/nnhub/bin/pip install -e '.[test]'`)."""
    python = os.environ.get("NN_HUB_TEST_PYTHON")
    if os.getuid() != 0 or not shutil.which("useradd") or not python:
        pytest.skip("opt-in (creates unix accounts): run as root with NN_HUB_TEST_PYTHON=<a Python every "
                    "account can run, with this course installed>")
    bindir = Path(python).parent
    tag = secrets.token_hex(2)
    teacher_name, alice_name, bob_name, grader = (f"nnt{tag}{r}" for r in ("teacher", "alice", "bob", "grader"))
    password = secrets.token_urlsafe(12)
    tmp = Path(tempfile.mkdtemp(prefix="nn-hub-unix-"))
    tmp.chmod(0o755)  # every account passes through to the exchange
    try:
        with unix_accounts([teacher_name, alice_name, bob_name, grader], password):
            accounts = dict(instructor=teacher_name, students=[alice_name, bob_name], grader=grader)
            with running_hub(tmp / "run", config=_unix_accounts_config, bindir=bindir, accounts=accounts,
                             iframe="") as hub_:
                (tmp / "run").chmod(0o755)
                (tmp / "run" / "state").chmod(0o700)
                teacher = User(hub_, teacher_name, password)
                alice, bob = User(hub_, alice_name, password), User(hub_, bob_name, password)
                for u in (teacher, alice, bob):
                    u.start_server()
                _wait_for_service(teacher)
                for u in (teacher, alice, bob):
                    u.wait_ready()
                course_cycle(hub_, teacher, alice, bob)
                # every server ran as its own account, the course service as the grader's
                owners = {p.name.split("+")[0]: p.stat().st_uid for p in (hub_.exchange / COURSE_ID / "inbound").iterdir()}
                import pwd

                assert owners == {n: pwd.getpwnam(n).pw_uid for n in (alice_name, bob_name)}, owners
                assert (hub_.course / "gradebook.db").stat().st_uid == pwd.getpwnam(grader).pw_uid
                hub_.stop()
                assert not hub_.leftovers()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- the Kubernetes values and the course service's pod, on a local hub ------------------------------
def _k8s_values():
    return yaml.safe_load((DEPLOY / "config.yaml").read_text())


def _k8s_docs(name):
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()) if d]


def _grader_container():
    deployment = next(d for d in _k8s_docs("grader.yaml") if d["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _local_paths(value: str, ctx) -> str:
    """A path of the image or of a pod's volumes, on this machine."""
    return (value.replace("/opt/nn-fundamentals", str(ROOT))
            .replace("/srv/nbgrader/exchange", str(ctx["exchange"]))
            .replace("/srv/course", str(ctx["course"])))


def _kubernetes_config(ctx) -> str:
    """deploy/config.yaml's hub settings turned into JupyterHub config as the chart does (hub.config
    as traitlets, hub.loadRoles, hub.services, hub.extraConfig, singleuser.defaultUrl/extraEnv),
    with a local-process spawner in place of KubeSpawner and the service's URL on loopback."""
    values = _k8s_values()
    hub_, single = values["hub"], values["singleuser"]
    lines = ["import os", "c.JupyterHub.bind_url = os.environ['NN_HUB_BIND_URL']"]
    for section, traits in hub_["config"].items():
        for k, v in traits.items():
            lines.append(f"c.{section}.{k} = {v!r}")
    roles = [dict(name=k, **v) for k, v in hub_["loadRoles"].items()]
    lines.append(f"c.JupyterHub.load_roles = {roles!r}")
    services = []
    for name, svc in hub_["services"].items():
        svc = dict(name=name, **svc, api_token=ctx["service_token"])
        svc["url"] = f"http://127.0.0.1:{ctx['service_port']}"
        services.append(svc)
    lines.append(f"c.JupyterHub.services = {services!r}")
    lines.append(f"c.Spawner.default_url = {single['defaultUrl']!r}")
    env = {k: _local_paths(v, ctx) for k, v in single["extraEnv"].items()}
    lines.append(f"c.Spawner.environment = {env!r}")
    for snippet in hub_["extraConfig"].values():
        lines.append(_local_paths(snippet, ctx))
    lines.append("c.Spawner.pre_spawn_hook = c.KubeSpawner.pre_spawn_hook")
    authenticator = hub_["config"]["JupyterHub"]["authenticator_class"]
    return "\n".join(lines) + "\n" + _TEST_MACHINE.format(**ctx) + f"c.JupyterHub.authenticator_class = {authenticator!r}\n"


def _start_grader_pod(hub_: RunningHub):
    """The course service as grader.yaml runs it: jupyterhub-singleuser with the pod's environment,
    in the course root, as an external service of the hub."""
    ctx, container = hub_.ctx, _grader_container()
    env = {k: v for k, v in hub_.env.items() if not k.startswith("NN_HUB_") or k == "NN_HUB_TEST_RUN"}
    env["HOME"] = ctx["service_home"]
    for item in container["env"]:
        value = ctx["service_token"] if "valueFrom" in item else _local_paths(item["value"], ctx)
        env[item["name"]] = value
    env["JUPYTERHUB_API_URL"] = env["JUPYTERHUB_API_URL"].replace("http://hub:8081", f"http://127.0.0.1:{ctx['hub_port']}")
    env["JUPYTERHUB_SERVICE_URL"] = f"http://127.0.0.1:{ctx['service_port']}"
    argv = [str(Path(sys.executable).parent / container["command"][0]), *container["command"][1:]]
    if ctx["root"]:
        argv.append("--allow-root")
    cwd = Path(_local_paths(container["workingDir"], ctx))
    hub_.procs.append(Reaped(argv, cwd=cwd, env=env, log=hub_.tmp / "grader-pod.log"))


@pytest.mark.slow
def test_kubernetes_values_and_course_service_pod_on_a_local_hub(tmp_path):
    """deploy/config.yaml's hub settings and grader.yaml's pod, without Kubernetes: the groups,
    roles, login, per-group settings hook and the external course service work together."""
    values = _k8s_values()
    password = values["hub"]["config"]["SharedPasswordAuthenticator"]["user_password"]
    groups = values["hub"]["config"]["JupyterHub"]["load_groups"]
    instructor = groups[f"formgrade-{COURSE_ID}"]["users"][0]
    student = groups[f"nbgrader-{COURSE_ID}"]["users"][0]
    token = secrets.token_hex(16)

    def config(ctx):
        ctx["service_token"] = token
        return _kubernetes_config(ctx)

    with running_hub(tmp_path / "k8s", config=config, beside=_start_grader_pod) as hub_:
        teacher, pupil = User(hub_, instructor, password), User(hub_, student, password)
        for u in (teacher, pupil):
            u.start_server()
        _wait_for_service(teacher)
        for u in (teacher, pupil):
            u.wait_ready()
        pupil.request("GET", f"/services/{SERVICE}/formgrader/api/status", expect=403)
        cfg, _ = pupil.lab_page_config(f"/user/{student}")
        assert set(INSTRUCTOR_TOOLS) <= set(cfg["disabledExtensions"]), cfg["disabledExtensions"]
        cfg, _ = teacher.lab_page_config(f"/user/{instructor}")
        assert "@jupyter/nbgrader:course-list" not in cfg["disabledExtensions"], cfg["disabledExtensions"]
        courses = teacher.request("GET", f"/user/{instructor}/formgraders").json()
        assert [(c["course_id"], c["kind"]) for c in courses["value"]] == [(COURSE_ID, "jupyterhub")], courses
        # the exchange is wired the same way in the pod and in the users' servers
        _ok(teacher.formgrader("POST", f"assignment/{A}/assign"), "generate_assignment")
        _ok(teacher.formgrader("POST", f"assignment/{A}/release"), "release_assignment")
        assert [(x["assignment_id"], x["status"]) for x in pupil.assignments()] == [(A, "released")]
        assert hub_.stop() is not None and not hub_.leftovers()


# --- static checks of the deployment files -----------------------------------------------------------
def _nbgrader_lab_plugins() -> set[str]:
    """Plugin ids of the installed nbgrader lab extension."""
    import nbgrader

    static = Path(nbgrader.__file__).parent / "labextension" / "static"
    found = set()
    for js in static.glob("*.js"):
        found |= set(re.findall(r"@jupyter/nbgrader:[a-z-]+", js.read_text(errors="replace")))
    assert found, f"no nbgrader lab plugin ids found in {static}"
    return found


def _group_settings():
    for page in sorted((DEPLOY / "jupyter").glob("*/labconfig/page_config.json")):
        yield page.parts[-3], json.loads(page.read_text())


def test_per_group_settings_name_real_nbgrader_extensions():
    plugins = _nbgrader_lab_plugins()
    named = set()
    for group, page in _group_settings():
        for key in ("disabledExtensions", "lockedExtensions"):
            named |= set(page.get(key, {}))
    for text in ((DEPLOY / "Dockerfile").read_text(), (ROOT / "postBuild").read_text()):
        named |= set(re.findall(r"@jupyter/nbgrader:[a-z-]+", text))
    assert named and named <= plugins, named - plugins
    servers = set()
    for cfg in (DEPLOY / "jupyter").glob("*/jupyter_server_config.d/*.json"):
        servers |= set(json.loads(cfg.read_text())["ServerApp"]["jpserver_extensions"])
    for text in ((DEPLOY / "Dockerfile").read_text(), (ROOT / "postBuild").read_text()):
        servers |= set(re.findall(r"nbgrader\.server_extensions\.[a-z_]+", text))
    for module in servers:
        __import__(module)  # a misspelt extension would be silently ignored by Jupyter


def test_students_and_instructors_get_the_tools_of_their_group():
    groups = dict(_group_settings())
    tools = set(INSTRUCTOR_TOOLS)
    disabled = {g: {k for k, v in p["disabledExtensions"].items() if v} for g, p in groups.items()}
    assert tools <= disabled["students"] and tools <= {k for k, v in groups["students"]["lockedExtensions"].items() if v}
    assert not ({"@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list"} & disabled["instructors"])
    assert not ({"@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader"} & disabled["grader"])
    for group, page in groups.items():
        assert "@jupyter/nbgrader:assignment-list" not in disabled[group] or group == "grader"


def test_single_machine_config_loads(tmp_path, monkeypatch):
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("NN_HUB_INSTRUCTORS", "ada, grace")
    monkeypatch.setenv("NN_HUB_STUDENTS", "s1 s2  s3")
    monkeypatch.setenv("NN_HUB_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("NN_HUB_SUBDOMAIN_HOST", raising=False)
    monkeypatch.delenv("NN_HUB_FORMGRADER_IFRAME", raising=False)
    c = PyFileConfigLoader("jupyterhub_config.py", path=str(DEPLOY)).load_config()
    groups = c.JupyterHub.load_groups
    assert groups == {f"formgrade-{COURSE_ID}": {"users": ["ada", "grace"]},
                      f"nbgrader-{COURSE_ID}": {"users": ["s1", "s2", "s3"]}}
    assert c.Authenticator.allowed_users == {"ada", "grace", "s1", "s2", "s3"}
    assert c.Spawner.default_url == "/lab" and callable(c.Spawner.pre_spawn_hook)
    (service,) = c.JupyterHub.services
    # the service is named like the course (nbgrader's Courses tab relies on it); the course's
    # config creates the exchange folder and takes NNGRADER_SECRET out of the environment
    monkeypatch.setenv("NNGRADER_EXCHANGE", str(tmp_path / "exchange"))
    monkeypatch.setenv("NNGRADER_SECRET", os.environ.get("NNGRADER_SECRET", ""))  # restored afterwards
    course = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert service["name"] == course.CourseDirectory.course_id == COURSE_ID
    assert service["user"] == f"grader-{COURSE_ID}" and service["environment"]["NN_HUB_FORMGRADER_IFRAME"] == ""
    for folder in service["environment"]["JUPYTER_CONFIG_PATH"].split(os.pathsep):
        assert Path(folder).is_dir(), folder
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == f"formgrade-{COURSE_ID}")
    assert role["groups"] == [f"formgrade-{COURSE_ID}"] and f"access:services!service={COURSE_ID}" in role["scopes"]
    # subdomains turn the formgrader iframe on for the course service
    monkeypatch.setenv("NN_HUB_SUBDOMAIN_HOST", "https://hub.example.org")
    c = PyFileConfigLoader("jupyterhub_config.py", path=str(DEPLOY)).load_config()
    assert c.JupyterHub.subdomain_host == "https://hub.example.org"
    assert c.JupyterHub.services[0]["environment"]["NN_HUB_FORMGRADER_IFRAME"] == "yes"


def test_kubernetes_values_have_what_the_course_needs():
    values = _k8s_values()
    hub_, single = values["hub"], values["singleuser"]
    assert single["defaultUrl"] == "/lab"
    assert single["image"]["name"] and single["image"]["tag"]
    mounts = {m["name"]: m["mountPath"] for m in single["storage"]["extraVolumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in single["storage"]["extraVolumes"]}
    assert mounts["nbgrader-exchange"] == single["extraEnv"]["NNGRADER_EXCHANGE"] == "/srv/nbgrader/exchange"
    pvcs = {d["metadata"]["name"]: d for d in _k8s_docs("storage.yaml")}
    assert pvcs[claims["nbgrader-exchange"]]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert set(hub_["loadRoles"][f"formgrade-{COURSE_ID}"]["groups"]) == {f"formgrade-{COURSE_ID}"}
    assert set(hub_["config"]["JupyterHub"]["load_groups"]) == {f"formgrade-{COURSE_ID}", f"nbgrader-{COURSE_ID}"}
    # the course service: a hub service named like the course, served by grader.yaml's pod
    service = hub_["services"][SERVICE]
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _k8s_docs("grader.yaml")}
    k8s_service = docs["Service", "nn-fundamentals-grader"]
    assert service["url"] == f"http://{k8s_service['metadata']['name']}:{k8s_service['spec']['ports'][0]['port']}"
    env = {e["name"]: e for e in _grader_container()["env"]}
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hub", "key": f"hub.services.{SERVICE}.apiToken"}
    assert env["JUPYTERHUB_SERVICE_NAME"]["value"] == SERVICE
    for snippet in hub_["extraConfig"].values():
        ast.parse(snippet)


def test_dockerfile_builds_the_course_environment():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM \S+", text, re.M)
    assert re.search(r"mamba env update --name base --file environment\.yml", text)
    assert re.search(r"^COPY .*\. /opt/nn-fundamentals$", text, re.M) and "WORKDIR /opt/nn-fundamentals" in text
    assert "JUPYTERHUB_DEFAULT_URL=/lab" in text
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {"gradebook.db", "nngrader_secret.txt", "submitted", "solutions", ".venv", ".git"} <= set(ignored)  # students run this image
    # what environment.yml installs is the course itself (`pip: -e .`, checked by test_environment.py)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert any(isinstance(d, dict) and "-e ." in d.get("pip", []) for d in env["dependencies"])


def test_binder_builds_the_course_and_opens_the_lectures():
    # repo2docker uses the root's environment.yml when there is no binder/ or .binder/ folder
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    post = ROOT / "postBuild"
    assert os.access(post, os.X_OK) and post.read_text().startswith("#!/bin/bash")
    assert (ROOT / "lectures").is_dir()
