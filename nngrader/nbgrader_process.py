"""``nbgrader ARGS`` in a process of its own, with a time limit: the class runner's worker processes.

Each student is graded in a process of its own, forked from a "zygote" process that has already
imported nbgrader, nngrader and nnkit (and the assignment's spec): the child runs nbgrader's own
``autograde A --student S --force`` without paying ~1.5 s of imports again; feedback is generated
the same way, one child per worker. If the zygote cannot be used, every run is a fresh
``python -m nngrader ...`` instead. A run that overruns is killed with its process group (nbgrader,
its kernel and its sandbox together). :func:`failure_reason` turns a failed run's log into one line.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .course import without_iri_parser

__all__ = ["Zygote", "ZygoteDead", "run_nbgrader", "failure_reason"]


def _nbgrader(root: Path, args: list[str], timeout: float, env: dict | None = None) -> tuple[int | None, str]:
    """Run ``python -m nngrader ARGS`` in ``root``; (returncode or None on timeout, output)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nngrader", *args],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so a timeout kills nbgrader, its kernel and its sandbox together
        text=True,
        errors="replace",
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        return None, out


_BOILERPLATE = ("There was an error processing", "Please see")


_ZYGOTE_BOOT = "import sys; sys.path.insert(0, {root!r}); from nngrader.nbgrader_process import zygote_main; zygote_main()"


def _nbgrader_child(root: str, argv: list, log_path: str) -> None:
    """Body of one grading process (forked from the zygote): ``nbgrader ARGV``; never returns."""
    code = 1
    try:
        os.setsid()  # own process group: a timeout kills nbgrader and everything it started
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(root)
        from nbgrader.apps.nbgraderapp import NbGraderApp

        NbGraderApp.launch_instance(argv=[str(a) for a in argv])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def zygote_main() -> None:
    """Preload, then fork one grading process per request line read on stdin (JSON).

    Replies on stdout, one JSON line each: ``{"id", "pid"}`` after the fork, ``{"id", "exit"}``
    when the process ends (negative: killed by that signal).
    """
    import json
    import select

    without_iri_parser()
    for name in ("nngrader.__main__", "nngrader.preprocessors", "nngrader.specs", "nngrader.verdict", "nnkit"):
        try:
            __import__(name)
        except Exception:
            pass
    out = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing else may write on the reply channel

    def emit(msg):
        out.write(json.dumps(msg) + "\n")
        out.flush()

    children: dict[int, int] = {}
    buf = b""
    eof = False
    while not (eof and not children):
        if not eof:
            ready, _, _ = select.select([0], [], [], 0.05)
            if ready:
                chunk = os.read(0, 65536)
                buf += chunk
                if not chunk:  # grade_all is gone (it only closes stdin when no one is graded)
                    eof = True
                    for pid in children:
                        try:
                            os.killpg(pid, signal.SIGKILL)
                        except (ProcessLookupError, PermissionError):
                            pass
        else:
            time.sleep(0.05)
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            try:
                from nngrader import specs

                specs.load(req["assignment"])  # import the spec (and nnkit) once, before forking
            except Exception:
                pass
            pid = os.fork()
            if pid == 0:
                out.close()
                _nbgrader_child(req["root"], req["argv"], req["log"])
            children[pid] = req["id"]
            emit({"id": req["id"], "pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                break
            if pid == 0:
                break
            rid = children.pop(pid, None)
            if rid is not None:
                emit({"id": rid, "exit": os.waitstatus_to_exitcode(status)})


class ZygoteDead(Exception):
    pass


class Zygote:
    """Parent side of :func:`zygote_main`; thread-safe."""

    def __init__(self, env: dict | None = None):
        import json

        self._json = json
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE_BOOT.format(root=str(Path(__file__).resolve().parents[1]))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )
        self.lock = threading.Lock()
        self.next_id = 0
        self.waiting: dict[int, dict] = {}
        self.dead = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                msg = self._json.loads(line)
                slot = self.waiting[msg["id"]]
            except (ValueError, KeyError, TypeError):
                continue
            key = "pid" if "pid" in msg else "exit"
            slot[key] = msg[key]
            slot["event_" + key].set()
        with self.lock:
            self.dead = True
            for slot in self.waiting.values():
                slot["event_pid"].set()
                slot["event_exit"].set()

    def run(self, root: Path, assignment: str, argv: list, log_path: str, timeout: float) -> int | None:
        """``nbgrader ARGV`` in a forked process; its exit status, or None when it timed out (killed)."""
        with self.lock:
            if self.dead:
                raise ZygoteDead()
            rid = self.next_id
            self.next_id += 1
            slot = self.waiting[rid] = {"event_pid": threading.Event(), "event_exit": threading.Event()}
            req = {"id": rid, "root": str(root), "assignment": assignment, "argv": list(argv), "log": log_path}
            try:
                self.proc.stdin.write((self._json.dumps(req) + "\n").encode())
                self.proc.stdin.flush()
            except OSError:
                self.dead = True
                raise ZygoteDead() from None
        try:
            if not slot["event_pid"].wait(120) or "pid" not in slot:
                raise ZygoteDead()
            if slot["event_exit"].wait(timeout) and "exit" in slot:
                return slot["exit"]
            if "exit" not in slot and self.dead:
                raise ZygoteDead()
            for kill in (os.killpg, os.kill):  # timed out
                try:
                    kill(slot["pid"], signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            slot["event_exit"].wait(30)
            return None
        finally:
            with self.lock:
                self.waiting.pop(rid, None)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def run_nbgrader(root: Path, assignment: str, argv: list, timeout: float, zygote: Zygote | None,
                  env: dict | None = None):
    """``nbgrader ARGV`` in its own process, forked from the zygote when there is one, else started
    afresh; (returncode or None on timeout, output)."""
    if zygote is not None:
        fd, log_path = tempfile.mkstemp(prefix=f"nngrader-{argv[0]}-", suffix=".log")
        os.close(fd)
        try:
            code = zygote.run(root, assignment, argv, log_path, timeout)
            with open(log_path, errors="replace") as f:
                return code, f.read()
        except ZygoteDead:
            pass
        finally:
            os.unlink(log_path)
    return _nbgrader(root, argv, timeout, env)


def failure_reason(code: int | None, out: str, timeout: float) -> str:
    """One line for the report: nbgrader's last real ERROR record (a traceback's final line)."""
    if code is None:
        return f"timed out after {timeout:g} s"
    records: list[list[str]] = []
    for line in out.splitlines():
        if line.startswith("["):
            records.append([line])
        elif records:
            records[-1].append(line)
    for rec in reversed(records):
        head = rec[0].split("] ", 1)
        if len(head) < 2 or "| ERROR" not in head[0] and "| CRITICAL" not in head[0]:
            continue
        if head[1].startswith(_BOILERPLATE):
            continue
        rest = [ln.strip() for ln in rec[1:] if ln.strip()]
        text = rest[-1] if any("Traceback" in ln for ln in rec) and rest else " ".join([head[1].strip(), *rest])
        return " ".join(text.split())[:200]
    return f"nbgrader exited with status {code}"
