"""``make lab``: JupyterLab serves the whole course and opens on the lectures."""
import os
import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lab_command() -> list:
    """The command ``make lab`` runs (``make -n``: printed, not run), as a list."""
    out = subprocess.run(["make", "-n", "-s", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if " lab " in f"{ln} " and "jupyter" in ln)
    return shlex.split(line)


@pytest.mark.slow
def test_make_lab_serves_the_course_root_and_opens_on_the_lectures(tmp_path):
    cmd = _lab_command()
    assert not any(a.endswith("lectures/") or a == "lectures" for a in cmd), cmd  # a path would be the root
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd[0] = str(ROOT / cmd[0]) if not os.path.isabs(cmd[0]) else cmd[0]
    cmd += ["--no-browser", "--ip=127.0.0.1", f"--port={port}", "--IdentityProvider.token=t0k",
            "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"]
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token=t0k", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and proc.poll() is None, "JupyterLab did not start"
                time.sleep(0.3)
        for folder in ("lectures", "solutions", "assignments"):
            with urllib.request.urlopen(f"{base}/api/contents/{folder}?token=t0k&content=0", timeout=10) as r:
                assert r.status == 200, folder
        opener = urllib.request.build_opener(type("NoRedirect", (urllib.request.HTTPRedirectHandler,),
                                                  {"redirect_request": lambda *a, **k: None}))
        try:
            opener.open(f"{base}/?token=t0k", timeout=10)
            location = ""
        except urllib.error.HTTPError as e:
            location = e.headers.get("Location", "")
        assert location.split("?")[0].endswith("/lab/tree/lectures"), location
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
