"""A memory cgroup for one grading jail, where the grader may make one (root, cgroup v1 or v2).

``RLIMIT_AS`` caps each process of a jail; a jail of many processes could still add up to more.
Where the grader runs as root and the machine has a writable memory controller, every jail also
gets a cgroup of its own whose limit is the same ``memory_mb``: the whole jail (its processes and
what they keep in its tmpfs) stays under it, and the kernel's OOM killer picks from the jail only.
An ordinary account has no cgroups unless systemd delegates them; there the per-process limit and
the process limit are what hold.

Usage (by :mod:`nngrader.jail`)::

    group = MemoryGroup.create(limit_bytes)   # None where no cgroup can be made
    argv = group.wrap(argv)                   # joins the cgroup, then execs argv
    ...
    group.remove()                            # once every process of the jail is gone
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

__all__ = ["MemoryGroup"]

_V1 = Path("/sys/fs/cgroup/memory")
_V2 = Path("/sys/fs/cgroup")
_PARENT = "nngrader-jails"


def _parent() -> tuple[Path, str] | None:
    """(folder holding the jails' cgroups, "v1" | "v2"), made if needed; None where impossible."""
    if os.geteuid() != 0:
        return None
    candidates = []
    if (_V1 / "memory.limit_in_bytes").exists():
        candidates.append((_V1 / _PARENT, "v1"))
    if (_V2 / "cgroup.controllers").exists() and "memory" in (_V2 / "cgroup.controllers").read_text().split():
        candidates.append((_V2 / _PARENT, "v2"))
    for folder, version in candidates:
        try:
            folder.mkdir(exist_ok=True)
            if version == "v2":
                (folder / "cgroup.subtree_control").write_text("+memory")
            return folder, version
        except OSError:
            continue
    return None


class MemoryGroup:
    """One jail's memory cgroup."""

    def __init__(self, path: Path, version: str):
        self.path, self.version = path, version

    @classmethod
    def create(cls, limit_bytes: int) -> MemoryGroup | None:
        found = _parent()
        if found is None:
            return None
        parent, version = found
        _sweep(parent)
        path = parent / f"jail-{uuid.uuid4().hex[:16]}"
        try:
            path.mkdir()
            if version == "v1":
                (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
                swap = path / "memory.memsw.limit_in_bytes"  # only where swap is accounted
                if swap.exists():
                    swap.write_text(str(limit_bytes))
            else:
                (path / "memory.max").write_text(str(limit_bytes))
                (path / "memory.swap.max").write_text("0")
        except OSError:
            _rmdir(path)
            return None
        return cls(path, version)

    def wrap(self, argv: list) -> list:
        """``argv`` started in this cgroup: a shell joins it, then execs ``argv`` (nothing of the
        command runs outside it, not even for an instant)."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs"), *argv]

    def remove(self) -> None:
        _rmdir(self.path, wait=2.0)


def _rmdir(path: Path, wait: float = 0.0) -> None:
    """rmdir a cgroup; it refuses while a process is still leaving it, so retry for ``wait`` s."""
    deadline = time.monotonic() + wait
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() >= deadline:
                return  # left for the next _sweep
            time.sleep(0.02)


def _sweep(parent: Path, age: float = 600.0) -> None:
    """Remove the empty cgroups of jails that ended without removing theirs (a grader killed),
    if older than ``age`` s (a younger one may belong to a jail that is just starting)."""
    now = time.time()
    try:
        for child in parent.iterdir():
            if child.name.startswith("jail-") and now - child.stat().st_mtime > age:
                _rmdir(child)
    except OSError:
        pass
