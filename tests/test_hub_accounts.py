"""What one student can read or change of another's work on the one-machine hub (issue 11).

deploy/README.md, "What one student can see of another's work", is a table: one row per file or
folder of a student A, what another student B can do with it, why, and the test here that checks
it. These tests run as root with real unix accounts made for the run (useradd; removed with their
home folders afterwards, also when a test fails): the course service's account and two students.
The course root, the exchange, the hub's folder and the software copy are set up with deploy/
README.md's "One machine" commands (the templates below, with the test's names and folders;
:func:`test_the_readmes_give_these_commands` checks that both READMEs say exactly this). Then, as
on the hub, the course service releases 01_perceptron, both students fetch it, A submits, the
course service collects and releases A's feedback and A fetches it, each command run as its own
account (`runuser`) with the settings the hub gives that account's server. Then B tries every
access of the table: where the table says B cannot, the test expects permission denied; where
nbgrader's filesystem exchange lets B do it, the test does it and expects it to work, so the
table cannot claim more than is true.

The accounts must be able to run this environment's Python. A checkout's virtual environment often
points to an interpreter under /root (pyenv); then the base interpreter and its standard library
(about 100 MB) are copied to the run's temporary folder, with a .pth file that adds this
environment's site-packages. The checkout itself must be readable by every account (it is the
environment); under a folder only root can enter, the tests skip with that reason.
"""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import grading_harness as h

ROOT = h.ROOT
DEPLOY = ROOT / "deploy"
COURSE_ID = "nn-fundamentals"
A_ID, NB = "01_perceptron", "perceptron"

# --- deploy/README.md's "One machine" commands that decide who may read what -------------------------
# The README's names are the placeholders' values in README_NAMES; the fixture runs the same
# commands with its own accounts and folders.
README_NAMES = dict(grader="grader-nn-fundamentals", course="/home/grader-nn-fundamentals/course",
                    exchange="/srv/nbgrader/exchange", opt="/opt/nn-fundamentals", state="/srv/jupyterhub")
USERADD = "useradd --create-home --key HOME_MODE=0700 --shell /bin/bash {user}"
SOFTWARE = "chmod 700 {opt}/solutions {opt}/.git"
SECRET = ("sh -c 'umask 077 && cd {course} && "
          "python3 -c \"import secrets; print(secrets.token_urlsafe(24))\" > nngrader_secret.txt'")  # as the grader
COURSE_ROOT = "chmod 700 {course}"
EXCHANGE = ("install -d -m 1777 {exchange}",
            "install -d -o {grader} -g {grader} -m 755 {exchange}/nn-fundamentals")
FSTAB = "{exchange} {exchange} none bind,nosymfollow 0 0"  # the README appends it to /etc/fstab ...
MOUNT = "mount {exchange}"  # ... and mounts it; the test mounts with its own fstab (mount -T)
STATE = "install -d -m 700 {state}"


def readme_lines(names=README_NAMES) -> list[str]:
    """The commands above as the READMEs write them (with sudo)."""
    return [
        "sudo " + USERADD.format(user=names["grader"]),
        "sudo " + USERADD.format(user='"$u"'),
        "sudo " + SOFTWARE.format(**names),
        f"sudo -u {names['grader']} " + SECRET.format(**names),
        "sudo " + COURSE_ROOT.format(**names),
        *("sudo " + c.format(**names) for c in EXCHANGE),
        f"echo '{FSTAB.format(**names)}' | sudo tee -a /etc/fstab",
        "sudo " + MOUNT.format(**names),
        "sudo " + STATE.format(**names),
    ]


# --- running things as an account --------------------------------------------------------------------
# B's attempts run in one small Python process per batch; each answers "ok" (with what it read) or
# the errno's name (EACCES, EPERM, ENOENT, ...).
PROBE = r"""
import errno, json, os, shutil, sys

def do(op, path, data):
    if op == "list":
        return sorted(os.listdir(path))
    if op == "read":
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    if op == "stat":
        st = os.stat(path)
        return [st.st_uid, oct(st.st_mode & 0o7777)]
    if op == "write":  # create, or overwrite what is there
        with open(path, "w") as f:
            f.write(data)
    elif op == "create":
        open(path, "x").close()
    elif op == "mkdir":
        os.mkdir(path)
    elif op == "unlink":
        os.unlink(path)
    elif op == "rmtree":
        shutil.rmtree(path)
    elif op == "rename":
        os.rename(path, data)
    elif op == "symlink":
        os.symlink(data, path)
    else:
        raise ValueError(op)

out = []
for op, path, data in json.loads(sys.argv[1]):
    try:
        out.append(["ok", do(op, path, data)])
    except OSError as e:
        out.append([errno.errorcode.get(e.errno, str(e.errno)), None])
print(json.dumps(out))
"""


def _skip_unless_possible():
    if os.geteuid() != 0:
        pytest.skip("needs root: it creates and removes unix accounts (useradd, userdel); CI runs it as root")
    missing = [t for t in ("useradd", "userdel", "runuser", "install") if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (it runs commands as real unix accounts)")


def _run(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kw)


def _check(proc: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"
    return proc


@dataclass
class Machine:
    """The one-machine hub's accounts and folders, for one test module."""

    tmp: Path
    grader: str
    a: str
    b: str
    python: Path = None
    python_env: dict = field(default_factory=dict)
    exchange: Path = None
    course: Path = None
    opt: Path = None
    state: Path = None
    fstab: Path = None
    mounted: bool = False
    mount_error: str = ""

    def home(self, user) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    @property
    def names(self) -> dict:
        return dict(grader=self.grader, course=str(self.course), exchange=str(self.exchange), opt=str(self.opt),
                    state=str(self.state))

    def env(self, user) -> dict:
        """What the hub gives this account's server: the course service's settings for the grader, the
        students' for A and B (deploy/jupyterhub_config.py)."""
        env = {"HOME": str(self.home(user)), "USER": user, "LOGNAME": user, "LANG": "C.UTF-8",
               "PATH": f"{self.python.parent}:/usr/local/bin:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1",
               "NNGRADER_EXCHANGE": str(self.exchange), **self.python_env}
        if user == self.grader:
            env["JUPYTER_CONFIG_PATH"] = str(DEPLOY / "jupyter" / "grader")
        else:
            env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(str(DEPLOY / "jupyter" / d) for d in ("students", "common"))
            env["JUPYTERHUB_USER"] = user
        return env

    def run_as(self, user, argv, *, cwd=None, umask="022") -> subprocess.CompletedProcess:
        """``argv`` as ``user`` (runuser), with that account's environment only, in its home or the
        course root (the grader); the hub's processes have umask 022 (root's)."""
        env = [f"{k}={v}" for k, v in self.env(user).items()]
        cwd = cwd or (self.course if user == self.grader else self.home(user))
        script = f'umask {umask} && exec "$@"'
        return _run(["runuser", "-u", user, "--", "env", "-i", *env, "sh", "-c", script, "sh", *map(str, argv)],
                    cwd=cwd)

    def nbgrader(self, user, *args, check=True) -> subprocess.CompletedProcess:
        proc = self.run_as(user, [self.python, "-m", "nngrader", *args])
        if check:
            _check(proc, f"{user}: nbgrader {' '.join(args)}")
        return proc

    def attempt(self, user, *ops) -> list[tuple[str, object]]:
        """Each ``(op, path[, data])`` as ``user``: ``("ok", result)`` or ``(errno name, None)``."""
        batch = [[op, str(path), str(data[0]) if data else None] for op, path, *data in ops]
        proc = _check(self.run_as(user, [self.python, "-I", "-S", "-c", PROBE, json.dumps(batch)]), f"{user}: probe")
        return [tuple(r) for r in json.loads(proc.stdout)]

    def can(self, user, op, path, data=None) -> str:
        """"ok" or the errno's name, for one attempt."""
        return self.attempt(user, (op, path, data) if data is not None else (op, path))[0][0]

    def shell(self, command: str) -> subprocess.CompletedProcess:
        """A README command (with the test's names), as root."""
        return _check(_run(["bash", "-c", command]), command)

    def inbound(self) -> Path:
        return self.exchange / COURSE_ID / "inbound"

    def submissions(self, student) -> list[Path]:
        return sorted(self.inbound().glob(f"{student}+{A_ID}+*"))

    def feedback_name(self, secret: str) -> str:
        """nbgrader's name of released feedback: md5(submission secret + notebook name) + .html."""
        return hashlib.md5(secret.encode() + NB.encode()).hexdigest() + ".html"

    def a_cache(self) -> Path:
        (entry,) = (self.home(self.a) / ".local/share/jupyter/nbgrader_cache" / COURSE_ID).glob(f"{self.a}+{A_ID}+*")
        return entry


def _python_for_accounts(m: Machine) -> None:
    """A Python with this environment's packages that every account can run: this one if it can,
    else a copy of its base interpreter and standard library that adds this environment's
    site-packages (a .pth file). Skips when the checkout itself is closed to other accounts."""
    m.python, m.python_env = Path(sys.executable), {}
    check = [str(m.python), "-c", "import nbgrader, nngrader, nnkit"]
    if m.run_as(m.b, check).returncode == 0:
        return
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    copy = m.tmp / "python"
    (copy / "bin").mkdir(parents=True)
    (copy / "lib").mkdir()
    shutil.copy2(Path(sys._base_executable).resolve(), copy / "bin" / ver)
    (copy / "bin" / "python3").symlink_to(ver)
    libdir, soname = Path(sysconfig.get_config_var("LIBDIR") or "/nonexistent"), sysconfig.get_config_var("INSTSONAME")
    if soname and (libdir / soname).is_file():
        shutil.copy2(libdir / soname, copy / "lib" / soname)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    big = {"site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip"}
    shutil.copytree(stdlib, copy / "lib" / ver, symlinks=True,
                    ignore=lambda d, names: [n for n in names if Path(d) == stdlib and (n in big or n.startswith("config-"))])
    site = copy / "lib" / ver / "site-packages"
    site.mkdir()
    venv_site = sysconfig.get_paths()["purelib"]
    (site / "nn_course_env.pth").write_text(f"import site; site.addsitedir({venv_site!r})\n")
    # nbgrader runs `alembic` from PATH when it makes a gradebook (python -m nngrader puts the
    # interpreter's folder first on PATH)
    alembic = copy / "bin" / "alembic"
    alembic.write_text(f"#!{copy / 'bin' / ver}\nimport sys\nfrom alembic.config import main\nsys.exit(main())\n")
    alembic.chmod(0o755)
    _run(["chmod", "-R", "a+rX", str(copy)])
    m.python, m.python_env = copy / "bin" / ver, {"LD_LIBRARY_PATH": str(copy / "lib")}
    proc = m.run_as(m.b, [m.python, "-c", "import nbgrader, nngrader, nnkit"])
    if proc.returncode != 0:
        pytest.skip(f"other accounts cannot use this checkout's environment ({ROOT}; a folder only root may "
                    f"enter?): {proc.stderr.strip()[-300:]}")


def _add_cell(m: Machine, user, notebook: Path, text: str) -> None:
    """``user`` adds a markdown cell to a notebook of theirs (their work, recognisable later)."""
    code = ("import json, sys; p = sys.argv[1]; nb = json.load(open(p)); "
            "nb['cells'].append({'cell_type': 'markdown', 'metadata': {}, 'source': sys.argv[2]}); "
            "json.dump(nb, open(p, 'w'))")
    _check(m.run_as(user, [m.python, "-I", "-S", "-c", code, notebook, text]), f"{user} edits {notebook}")


def _setup(m: Machine) -> None:
    """The README's commands, then one release-submit-collect-feedback cycle, each step as its account."""
    for user in (m.grader, m.a, m.b):
        m.shell(USERADD.format(user=user))
    m.course = m.home(m.grader) / "course"
    _python_for_accounts(m)
    names = m.names

    # 1. the software copy: /opt/nn-fundamentals holds the instructor's solutions and git history
    for folder in ("solutions", ".git"):
        shutil.copytree(ROOT / "solutions" / A_ID, m.opt / folder / A_ID)
    (m.opt / "README.md").write_text("the software copy\n")
    _run(["chmod", "-R", "a+rX", str(m.opt)])
    m.shell(SOFTWARE.format(**names))

    # 3. the course root: a clone owned by the course service's account (dirs 0755, files 0644, as
    #    `git clone` makes them), the hidden-case secret, then the README's chmod
    src = h.new_course(m.tmp, assignments=[A_ID], name="course-src")
    shutil.copytree(src, m.course)
    for path in [m.course, *m.course.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    _run(["chown", "-R", f"{m.grader}:{m.grader}", str(m.course)])
    _check(m.run_as(m.grader, ["sh", "-c", SECRET.format(**names)], cwd=m.home(m.grader)), "the secret")
    m.shell(COURSE_ROOT.format(**names))

    # 4. the exchange (and its nosymfollow mount, where this machine lets root mount) and the hub's folder
    for command in EXCHANGE:
        m.shell(command.format(**names))
    m.fstab.write_text(FSTAB.format(**names) + "\n")
    if shutil.which("mount"):
        mount = _run(["mount", "-T", str(m.fstab), str(m.exchange)])
        m.mounted, m.mount_error = mount.returncode == 0, mount.stderr.strip()
    else:
        m.mount_error = "no mount command"
    m.shell(STATE.format(**names))

    # the cycle, as on the hub
    m.nbgrader(m.grader, "release_assignment", A_ID)
    for student in (m.a, m.b):
        m.nbgrader(student, "fetch_assignment", A_ID)
    _add_cell(m, m.a, m.home(m.a) / A_ID / f"{NB}.ipynb", f"WORK-OF-{m.a}")
    m.nbgrader(m.a, "submit", A_ID)
    m.nbgrader(m.grader, "collect", A_ID)
    # the feedback generate_feedback would write (the release needs the HTML, the submission's
    # timestamp and secret), written by the course service's account
    fb = f"feedback/{m.a}/{A_ID}"
    script = (f"mkdir -p {fb} && cp submitted/{m.a}/{A_ID}/timestamp.txt submitted/{m.a}/{A_ID}/submission_secret.txt "
              f"{fb}/ && echo '<html>FEEDBACK-FOR-{m.a}</html>' > {fb}/{NB}.html && mkdir -p autograded/{m.a}/{A_ID} "
              f"&& cp submitted/{m.a}/{A_ID}/{NB}.ipynb autograded/{m.a}/{A_ID}/")
    _check(m.run_as(m.grader, ["sh", "-c", script]), "feedback files")
    m.nbgrader(m.grader, "release_feedback", A_ID)
    m.nbgrader(m.a, "fetch_feedback", A_ID)


@pytest.fixture(scope="module")
def machine():
    _skip_unless_possible()
    tag = secrets.token_hex(3)
    tmp = Path(tempfile.mkdtemp(prefix="nn-accounts-"))
    tmp.chmod(0o755)  # every account passes through to the exchange and the software copy
    m = Machine(tmp=tmp, grader=f"nngrader{tag}", a=f"nnalice{tag}", b=f"nnbob{tag}", exchange=tmp / "exchange",
                opt=tmp / "opt", state=tmp / "jupyterhub", fstab=tmp / "fstab")
    try:
        _setup(m)
        yield m
    finally:
        if m.mounted and _run(["umount", str(m.exchange)]).returncode != 0:
            _run(["umount", "--lazy", str(m.exchange)])
        made = [u for u in (m.grader, m.a, m.b) if _run(["id", u]).returncode == 0]
        for user in made:
            _run(["userdel", "--remove", user])
        shutil.rmtree(tmp, ignore_errors=True)
        left = [u for u in made if _run(["id", u]).returncode == 0]
        assert not left, f"unix accounts not removed: {left}"
        assert not any(Path("/home", u).exists() for u in made), "home folders not removed"


# --- the table's rows, read-only ones first ----------------------------------------------------------
@pytest.mark.slow
def test_release_is_read_only(machine):
    m, b = machine, machine.b
    release = m.exchange / COURSE_ID / "outbound" / A_ID
    (status, names), (read, text) = m.attempt(b, ("list", release), ("read", release / f"{NB}.ipynb"))
    assert (status, names, read) == ("ok", [f"{NB}.ipynb"], "ok") and '"nbgrader"' in text
    assert (m.home(b) / A_ID / f"{NB}.ipynb").is_file()  # B fetched it
    results = m.attempt(b, ("write", release / f"{NB}.ipynb", "{}"), ("unlink", release / f"{NB}.ipynb"),
                        ("create", release / "extra.py"), ("rename", release, release.with_name("moved")),
                        ("mkdir", release.with_name("02_fake")))
    assert [r[0] for r in results] == ["EACCES"] * 5, results
    assert oct(release.stat().st_mode & 0o777) == "0o755" and oct((release / f"{NB}.ipynb").stat().st_mode & 0o777) == "0o644"


@pytest.mark.slow
def test_course_folder_in_the_exchange_belongs_to_the_course_service(machine):
    m, b = machine, machine.b
    folder = m.exchange / COURSE_ID
    assert folder.stat().st_uid == pwd.getpwnam(m.grader).pw_uid and folder.stat().st_mode & 0o777 == 0o755
    results = m.attempt(b, ("rename", folder, m.exchange / "mine"), ("rmtree", folder), ("mkdir", folder),
                        ("create", folder / "x"), ("mkdir", m.exchange / "another-course"))
    # the root is 1777: B cannot take or remove the course's folder, and can make folders of its own
    assert [r[0] for r in results] == ["EPERM", "EACCES", "EEXIST", "EACCES", "ok"], results
    assert folder.is_dir() and (folder / "inbound").is_dir()


@pytest.mark.slow
def test_inbound_cannot_be_listed(machine):
    m, b = machine, machine.b
    assert m.inbound().stat().st_mode & 0o7777 == 0o2733
    assert m.can(b, "list", m.inbound()) == "EACCES"
    listed = m.nbgrader(b, "list", "--inbound", check=False)
    assert m.a not in listed.stdout + listed.stderr, listed.stdout + listed.stderr


@pytest.mark.slow
def test_released_feedback_cannot_be_listed_or_guessed(machine):
    m, a, b = machine, machine.a, machine.b
    feedback = m.exchange / COURSE_ID / "feedback"
    # A fetched her feedback
    (fetched,) = (m.home(a) / A_ID / "feedback").glob(f"*/{NB}.html")
    assert f"FEEDBACK-FOR-{a}" in fetched.read_text()
    secret = (m.a_cache() / "submission_secret.txt").read_text()
    assert re.fullmatch(r"[0-9a-f]{128}", secret)
    name = m.feedback_name(secret)
    assert feedback.stat().st_mode & 0o777 == 0o711 and (feedback / name).stat().st_mode & 0o777 == 0o644
    results = m.attempt(b, ("list", feedback), ("read", feedback / name), ("write", feedback / name, "x"),
                        ("unlink", feedback / name), ("create", feedback / ("0" * 32 + ".html")),
                        ("read", m.a_cache() / "submission_secret.txt"),
                        ("read", m.course / "submitted" / a / A_ID / "submission_secret.txt"))
    status = [r[0] for r in results]
    # no listing; the name (an MD5 of a 128-hex-digit secret) opens it, but B cannot learn it
    assert status == ["EACCES", "ok", "EACCES", "EACCES", "EACCES", "EACCES", "EACCES"], results
    assert f"FEEDBACK-FOR-{a}" in results[1][1]
    # B's fetch_feedback in A's name looks in B's own nbgrader cache: nothing of A's
    m.nbgrader(b, "fetch_feedback", A_ID, "--student", a, check=False)
    assert not any(f"FEEDBACK-FOR-{a}" in p.read_text(errors="replace")
                   for p in m.home(b).rglob("*.html")), "B fetched A's feedback"


@pytest.mark.slow
def test_a_home_is_private(machine, monkeypatch):
    m, a, b = machine, machine.a, machine.b
    home, notebook = m.home(a), m.home(a) / A_ID / f"{NB}.ipynb"
    assert home.stat().st_mode & 0o777 == 0o700  # useradd --key HOME_MODE=0700
    results = m.attempt(b, ("list", home), ("read", notebook), ("read", m.a_cache() / "submission_secret.txt"))
    assert [r[0] for r in results] == ["EACCES"] * 3, results
    # with Debian's default (useradd without HOME_MODE: 0755) B reads A's work, and A's
    # submission secret, which names A's feedback in the exchange
    home.chmod(0o755)
    try:
        notebook_text, secret = (r[1] for r in m.attempt(b, ("read", notebook), ("read", m.a_cache() / "submission_secret.txt")))
        assert f"WORK-OF-{a}" in notebook_text
        stolen = m.attempt(b, ("read", m.exchange / COURSE_ID / "feedback" / m.feedback_name(secret)))[0]
        assert stolen[0] == "ok" and f"FEEDBACK-FOR-{a}" in stolen[1]
        # the hub closes it again before A's server starts (deploy/jupyterhub_config.py's pre-spawn hook)
        c = _load_hub_config(m, monkeypatch)
        from types import SimpleNamespace

        from jupyterhub.spawner import LocalProcessSpawner

        spawner = LocalProcessSpawner(user=SimpleNamespace(name=a, groups=[]))
        c.Spawner.pre_spawn_hook(spawner)
        assert home.stat().st_mode & 0o777 == 0o700
        assert "JUPYTER_CONFIG_PATH" in spawner.environment
        assert m.can(b, "read", notebook) == "EACCES"
    finally:
        home.chmod(0o700)


@pytest.mark.slow
def test_course_root_is_private(machine):
    m, a, b = machine, machine.a, machine.b
    c = m.course
    assert c.stat().st_mode & 0o777 == 0o700 and m.home(m.grader).stat().st_mode & 0o777 == 0o700
    assert (c / "nngrader_secret.txt").stat().st_mode & 0o777 == 0o600  # umask 077
    targets = [("list", m.home(m.grader)), ("list", c), ("read", c / "solutions" / A_ID / f"{NB}.ipynb"),
               ("read", c / "gradebook.db"), ("read", c / "nngrader_secret.txt"),
               ("read", c / "submitted" / a / A_ID / f"{NB}.ipynb"), ("read", c / "autograded" / a / A_ID / f"{NB}.ipynb"),
               ("read", c / "feedback" / a / A_ID / f"{NB}.html"), ("create", c / "submitted" / b)]
    for path in (t[1] for t in targets[2:-1]):
        assert path.exists(), path
    results = m.attempt(b, *targets)
    assert [r[0] for r in results] == ["EACCES"] * len(targets), results
    # the course root's own mode holds even with the grader's home open
    home = m.home(m.grader)
    home.chmod(0o755)
    try:
        assert [r[0] for r in m.attempt(b, *targets[1:])] == ["EACCES"] * (len(targets) - 1)
    finally:
        home.chmod(0o700)


@pytest.mark.slow
def test_the_hub_makes_the_course_root_private_and_creates_the_course_exchange_folder(machine, monkeypatch, caplog):
    m, b = machine, machine.b
    grader = pwd.getpwnam(m.grader)
    course = m.home(m.grader) / "course-open"
    course.mkdir(mode=0o755)
    os.chown(course, grader.pw_uid, grader.pw_gid)
    exchange = m.tmp / "exchange-new"
    exchange.mkdir()
    exchange.chmod(0o1777)
    _load_hub_config(m, monkeypatch, course=course, exchange=exchange)
    assert course.stat().st_mode & 0o777 == 0o700
    folder = exchange / COURSE_ID
    assert folder.stat().st_uid == grader.pw_uid and folder.stat().st_mode & 0o777 == 0o755
    # a course folder that a student made first is reported
    squatted = m.tmp / "exchange-squatted"
    squatted.mkdir()
    squatted.chmod(0o1777)
    assert m.can(b, "mkdir", squatted / COURSE_ID) == "ok"
    with caplog.at_level("ERROR", logger="JupyterHub"):
        _load_hub_config(m, monkeypatch, course=course, exchange=squatted)
    assert f"{squatted / COURSE_ID} does not belong to {m.grader}" in caplog.text


def _load_hub_config(m: Machine, monkeypatch, *, course=None, exchange=None):
    """deploy/jupyterhub_config.py as the hub loads it, for this machine's course and exchange."""
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("NN_HUB_COURSE_ROOT", str(course or m.course))
    monkeypatch.setenv("NNGRADER_EXCHANGE", str(exchange or m.exchange))
    monkeypatch.setenv("NN_HUB_GRADER_USER", m.grader)
    monkeypatch.setenv("NN_HUB_STATE_DIR", str(m.state))
    monkeypatch.setenv("NN_HUB_STUDENTS", f"{m.a} {m.b}")
    return PyFileConfigLoader("jupyterhub_config.py", path=str(DEPLOY)).load_config()


@pytest.mark.slow
def test_software_copy_hides_the_solutions(machine):
    m = machine
    results = m.attempt(m.b, ("read", m.opt / "README.md"), ("read", m.opt / "solutions" / A_ID / f"{NB}.ipynb"),
                        ("list", m.opt / ".git"))
    assert [r[0] for r in results] == ["ok", "EACCES", "EACCES"], results


@pytest.mark.slow
def test_hub_state_is_private(machine):
    m = machine
    assert m.can(m.b, "list", m.state) == "EACCES" and m.state.stat().st_mode & 0o777 == 0o700


# --- what nbgrader's filesystem exchange lets B do (these change the exchange: they run last) --------
@pytest.mark.slow
def test_a_submission_cannot_be_found_but_is_open_once_named(machine):
    m, a, b = machine, machine.a, machine.b
    (folder,) = m.submissions(a)
    student, assignment, timestamp, random = folder.name.split("+")
    assert (student, assignment) == (a, A_ID) and re.fullmatch(r"[A-Za-z0-9_-]{12}", random)  # 72 random bits
    assert folder.stat().st_uid == pwd.getpwnam(a).pw_uid
    # without the random part (or with a wrong one) B finds nothing, and cannot list inbound
    guesses = m.attempt(b, ("stat", folder.with_name(f"{a}+{A_ID}+{timestamp}")),
                        ("stat", folder.with_name(f"{a}+{A_ID}+{timestamp}+AAAAAAAAAAAA")))
    assert [g[0] for g in guesses] == ["ENOENT", "ENOENT"], guesses
    # once named, nbgrader's 0777 folder is open: B reads, replaces and deletes A's files
    assert folder.stat().st_mode & 0o777 == 0o777
    notebook = folder / f"{NB}.ipynb"
    results = m.attempt(b, ("read", notebook), ("write", notebook, "{}"), ("unlink", notebook),
                        ("write", notebook, "B-WAS-HERE"), ("rmtree", folder))
    assert [r[0] for r in results] == ["ok", "EACCES", "ok", "ok", "ok"], results
    assert f"WORK-OF-{a}" in results[0][1] and not folder.exists()


@pytest.mark.slow
def test_b_can_submit_in_a_name_and_at_a_time_of_b_choosing(machine):
    m, a, b = machine, machine.a, machine.b
    _add_cell(m, b, m.home(b) / A_ID / f"{NB}.ipynb", f"WORK-OF-{b}")
    future = "2099-01-01 00:00:00.000000 UTC"
    m.nbgrader(b, "submit", A_ID, "--student", a, f"--Exchange.timestamp_format={future}")
    (forged,) = [p for p in m.submissions(a) if p.stat().st_uid == pwd.getpwnam(b).pw_uid]
    assert forged.name.startswith(f"{a}+{A_ID}+{future}+")
    m.nbgrader(a, "submit", A_ID)  # A's own, later, real submission
    collect = m.nbgrader(m.grader, "collect", "--update", A_ID)
    out = collect.stdout + collect.stderr
    assert f"claims to be submitted by {a} but is owned by {b}; cheating attempt?" in " ".join(out.split())
    collected = m.course / "submitted" / a / A_ID
    assert f"WORK-OF-{b}" in (collected / f"{NB}.ipynb").read_text()  # B's work, graded as A's
    assert (collected / "timestamp.txt").read_text() == future


@pytest.mark.slow
def test_collect_follows_links_unless_the_exchange_is_mounted_nosymfollow(machine):
    m, b = machine, machine.b
    solution = m.course / "solutions" / A_ID / f"{NB}.ipynb"
    # B makes a submission folder by hand whose notebook is a link to the course's solution (the
    # README names the course root); inbound is writable by every account
    folder = m.inbound() / f"{b}+{A_ID}+2030-01-01 00:00:00.000000 UTC+handmade"
    results = m.attempt(b, ("mkdir", folder), ("symlink", folder / f"{NB}.ipynb", str(solution)),
                        ("read", folder / f"{NB}.ipynb"))
    assert [r[0] for r in results][:2] == ["ok", "ok"], results
    assert results[2][0] in ("EACCES", "ELOOP")  # B itself cannot read through it
    collected = m.course / "submitted" / b / A_ID / f"{NB}.ipynb"
    could_mount = m.mounted
    if m.mounted:
        refused = m.nbgrader(m.grader, "collect", A_ID, "--student", b, check=False)
        assert refused.returncode != 0 and "Too many levels of symbolic links" in refused.stdout + refused.stderr
        assert not collected.exists()
        _check(_run(["umount", str(m.exchange)]), "umount")
        m.mounted = False
    # without the mount, the course service follows the link and files the solution as B's work
    m.nbgrader(m.grader, "collect", "--update", A_ID, "--student", b)
    assert collected.read_bytes() == solution.read_bytes()
    if not could_mount:
        pytest.skip(f"this machine does not let root mount ({m.mount_error}): the nosymfollow mount is untested here")


# --- the READMEs and the table agree with these tests ------------------------------------------------
def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start:end if end != -1 else len(text)]


def test_the_readmes_give_these_commands():
    deploy = _section((DEPLOY / "README.md").read_text(), "\n## One machine")
    root = _section((ROOT / "README.md").read_text(), "**One machine with JupyterHub**")
    for where, text in (("deploy/README.md", deploy), ("README.md", root)):
        lines = {line.strip() for line in text.splitlines()}
        commands = {line.split("; do ", 1)[-1].split(" && ")[0] if line.startswith("for u in") else line
                    for line in lines}
        for command in readme_lines():
            assert command in commands or command in lines, f"{where} lacks: {command}"


def test_the_table_names_these_tests():
    table = _section((DEPLOY / "README.md").read_text(), "\n## What one student can see of another's work")
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", table))
    here = {name for name, f in globals().items() if name.startswith("test_") and callable(f)
            and any(mark.name == "slow" for mark in getattr(f, "pytestmark", []))}
    assert named == here, (named - here, here - named)
