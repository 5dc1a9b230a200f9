"""The first program inside the grading jail: set the limits, lay out the scratch, exec the real command.

Run by :mod:`nngrader.jail` as ``python -I -S jail_init.py -- COMMAND...`` inside bubblewrap, before
any student code; COMMAND gets the environment in the instructions and nothing else. It uses the standard library only (``-S``: no site-packages, so it starts in
about 10 ms). Its instructions come as JSON in the environment variable ``NNGRADER_JAIL_INIT``,
which it removes before the exec::

    {"limits": {"memory_mb": 2048, "processes": 64, "file_mb": 512},
     "dirs": ["/tmp/home", ...],               # made first
     "files": {"/tmp/run/kernel.json": "..."}, # written next (mode 0600)
     "copy": ["/submission", "/tmp/work"],     # a copy of the submission the code may change
     "cwd": "/tmp/work",
     "env": {"HOME": "/tmp/home", ...},         # the command's whole environment
     "uid": 1934567890}                            # only when started by root: drop to it

Why the limits are set here and not on bwrap itself: ``RLIMIT_NPROC`` is counted per user
namespace (Linux 5.14+), so set inside the jail's namespace it caps the jail's processes and
threads alone. Set on bwrap before the namespace exists, it would also cap every process the same
account runs elsewhere, so one student's fork bomb could stall another student's grading.
"""
import json
import os
import resource
import shutil
import sys


def _limit(which: int, value: int) -> None:
    resource.setrlimit(which, (value, value))


def _no_new_privileges() -> None:
    """PR_SET_NO_NEW_PRIVS: setuid programs under /usr (su, mount...) gain nothing in here."""
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def main(argv: list) -> None:
    spec = json.loads(os.environ.pop("NNGRADER_JAIL_INIT"))
    limits = spec.get("limits", {})
    mib = 1024 * 1024
    if limits.get("memory_mb"):
        _limit(resource.RLIMIT_AS, int(limits["memory_mb"]) * mib)
    if limits.get("processes"):
        _limit(resource.RLIMIT_NPROC, int(limits["processes"]))
    if limits.get("file_mb"):
        _limit(resource.RLIMIT_FSIZE, int(limits["file_mb"]) * mib)
    _limit(resource.RLIMIT_CORE, 0)
    if spec.get("uid") is not None:  # started by root: become a uid no account has, for good
        uid = int(spec["uid"])
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _no_new_privileges()
    os.umask(0o077)
    for folder in spec.get("dirs", []):
        os.makedirs(folder, exist_ok=True)
    for path, text in spec.get("files", {}).items():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    if spec.get("copy"):
        source, target = spec["copy"]
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    os.chdir(spec.get("cwd", "/"))
    command = argv[argv.index("--") + 1:]
    os.execve(command[0], command, spec.get("env", {}))


if __name__ == "__main__":
    main(sys.argv)
