"""The lectures work in a real browser: JupyterLab + Debian's chromium, driven by Playwright.

One JupyterLab server (this virtual environment's, on 127.0.0.1, a free port, a random token)
serves a temporary COPY of ``lectures/``, with its own settings, workspaces, runtime and data
folders, so nothing is written into the repository or the user's Jupyter folders. One chromium
(``/usr/bin/chromium``, or ``$NNKIT_CHROMIUM``; never a browser downloaded by Playwright) opens
each lecture in its own page and, like a student:

1. runs all cells from the Run menu and waits until every cell has run and the kernel is idle;
2. checks that the widgets rendered: no "Error displaying widget" / "Error rendering" text, no
   error on stderr, every widget output filled, and a matplotlib canvas (ipympl) for every
   lecture that uses ``nnkit.demos``;
3. for every demo (an output holding an ipympl figure and a slider) presses ArrowRight (then
   ArrowLeft) on its sliders, one after the other, until the figure's pixels change, and fails
   when none changes it.

Screenshots (each page after running, each demo before and after the move, the page on failure)
go to ``$NNKIT_ARTIFACTS`` or ``test-artifacts/browser/``. Without chromium or Playwright the
test is skipped with the reason; when ``CI`` is set it fails instead. The server, its kernels
and the browser are stopped whatever happens.
"""
from __future__ import annotations

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
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chromium import ARTIFACTS, CHROMIUM_ARGS, chromium_and_playwright

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LECTURES = Path(os.environ.get("NNKIT_LECTURES", ROOT / "lectures")).resolve()
NOTEBOOKS = sorted(LECTURES.glob("*.ipynb"))
RUN_TIMEOUT_MS = 240_000   # running all cells of one lecture (the headless target is 60 s)
CHANGE_TIMEOUT_MS = 15_000  # a slider move until the figure's pixels change
WIDGET_ERRORS = ("Error displaying widget", "Error rendering", "Click to show javascript error",
                 "Could not create a view", "Failed to load model class", "Error creating widget",
                 "Error setting state")
BAD_STDERR = re.compile(r"Traceback|Error\b|Exception\b|Warning\b")


# ------------------------------------------------------------------------------ the server

class Lab:
    """A JupyterLab server on a temporary copy of the lectures."""

    def __init__(self, lectures: Path, tmp: Path):
        self.tmp = tmp
        self.root = tmp / "lectures"
        shutil.copytree(lectures, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        settings = tmp / "settings"
        # Render every cell (no virtual scrolling, so every widget is in the page) and no news
        # or update pop-ups over the notebook.
        self._write(settings / "@jupyterlab/notebook-extension/tracker.jupyterlab-settings",
                    {"windowingMode": "none"})
        self._write(settings / "@jupyterlab/apputils-extension/notification.jupyterlab-settings",
                    {"fetchNews": "false", "checkForUpdates": False})
        self.token = secrets.token_hex(16)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
                   JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), IPYTHONDIR=str(tmp / "ipython"),
                   PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""))
        env.pop("JUPYTER_TOKEN", None)
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
               "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
               "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"]
        if os.name == "posix" and os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log_path = tmp / "jupyterlab.log"
        self._log = open(self.log_path, "wb")
        # Its own process group, so that stopping it also stops every kernel it started.
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @staticmethod
    def _write(path: Path, data):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))

    def log_tail(self, n=4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]

    def api(self, method: str, path: str):
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{self.log_tail()}")

    def shutdown_kernels(self):
        for session in self.api("GET", "/api/sessions") or []:
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def stop(self):
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # kernels left behind, if any
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait(timeout=10)
        finally:
            self._log.close()


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def lab(browser):
    """Started after the browser, so that a missing browser skips before any server starts."""
    tmp = Path(tempfile.mkdtemp(prefix="nnkit-lab-"))
    server = Lab(LECTURES, tmp)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    chromium_path, sync_playwright = chromium_and_playwright()
    user_data = Path(tempfile.mkdtemp(prefix="nnkit-chromium-"))
    pw = sync_playwright().start()
    context = None
    try:
        context = pw.chromium.launch_persistent_context(
            str(user_data), executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1280, "height": 900})
        yield context
    finally:
        try:
            if context is not None:
                context.close()
        finally:
            pw.stop()
            shutil.rmtree(user_data, ignore_errors=True)


@pytest.fixture(scope="module")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# ------------------------------------------------------------------------------ in the page

ALL_RAN = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
  return prompts.length > 0 && !prompts.some(p => p.textContent.includes('*'));
}"""
STARTED = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
  .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
NOT_RUN = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')]
  .map((c, i) => [i, c.querySelector('.jp-InputPrompt').textContent.trim(),
                  c.querySelector('.jp-InputArea-editor').textContent.trim()])
  .filter(([i, prompt, src]) => src && !/\\[\\d+\\]/.test(prompt)).map(([i]) => i)"""
EMPTY_OUTPUTS = """() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
  .filter(o => o.children.length === 0).length"""
STDERR_TEXTS = """() => [...document.querySelectorAll(
    '.jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.innerText)"""
PIXELS = "c => c.toDataURL()"
EMPTY_FIGURES = """() => [...document.querySelectorAll('.jp-Notebook .jupyter-matplotlib')]
  .map(f => f.querySelector('canvas')).filter(c => !c || c.width === 0 || c.height === 0).length"""
SLIDER_POSITION = """s => [s.querySelector('.noUi-handle')?.getAttribute('aria-valuenow'),
  s.querySelector('.widget-readout')?.textContent, s.querySelector('.noUi-origin')?.style.transform]
  .join('|')"""


def run_all_cells(page):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^\s*Run\s*$")).first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(STARTED, timeout=30_000)
    page.wait_for_function(ALL_RAN, timeout=RUN_TIMEOUT_MS, polling=500)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status=idle]", timeout=RUN_TIMEOUT_MS)


KERNEL_IDLE = """() => /\\|\\s*Idle\\b/.test(document.querySelector('#jp-main-statusbar')?.innerText || '')"""


def wait_for_kernel(page, timeout_s=120):
    """Wait until the notebook's kernel is started and idle (the status bar says "| Idle").

    A notebook without kernel metadata asks which kernel to start: the default (python3) is taken.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
        if dialog.count():
            dialog.first.click()
        if page.evaluate(KERNEL_IDLE):
            return
        page.wait_for_timeout(250)
    status = page.locator("#jp-main-statusbar").inner_text()
    raise AssertionError(f"the kernel did not start within {timeout_s} s (status bar: {status!r})")


def move_a_slider(page, demo, name: str, artifacts: Path) -> str:
    """Press keys on the demo's sliders until its figure changes; return what was moved."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    canvas = demo.locator(".jupyter-matplotlib canvas").first
    demo.scroll_into_view_if_needed()
    demo.screenshot(path=str(artifacts / f"{name}-before.png"))
    before = canvas.evaluate(PIXELS)
    sliders = demo.locator(".widget-slider")
    tried = []
    for i in range(sliders.count()):
        slider = sliders.nth(i)
        handle = slider.locator(".noUi-handle").first
        if not handle.count():
            continue
        label = slider.locator("label").first
        label = (label.text_content() or "").strip() if label.count() else f"slider {i}"
        for key in ("ArrowRight", "ArrowLeft"):
            # aria-valuenow is rounded (1.20 and 1.22 both read "1.2"): also compare the
            # readout and the handle's position.
            value = slider.evaluate(SLIDER_POSITION)
            handle.focus()
            handle.press(key)
            if slider.evaluate(SLIDER_POSITION) == value:
                continue  # already at that end of its range
            tried.append(f"{label} ({key})")
            try:
                page.wait_for_function("([c, b]) => c.toDataURL() !== b",
                                       arg=[canvas.element_handle(), before],
                                       timeout=CHANGE_TIMEOUT_MS, polling=100)
            except PlaywrightTimeout:  # this slider did not change the picture: try the next
                continue
            page.wait_for_timeout(300)  # let the new image settle for the screenshot
            demo.screenshot(path=str(artifacts / f"{name}-after.png"))
            return f"{label} ({key})"
    raise AssertionError(f"{name}: no slider changed the figure within {CHANGE_TIMEOUT_MS} ms "
                         f"(moved: {tried or 'none, no slider could move'})")


def uses_a_demo(path: Path) -> bool:
    """Whether a code cell of the notebook imports from nnkit.demos."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return any(c.cell_type == "code" and "nnkit.demos" in c.source for c in nb.cells)


def page_problems(page, console_errors: list[str]) -> list[str]:
    """Widget errors shown in the notebook or logged by the browser, and errors on stderr."""
    text = page.locator(".jp-Notebook").first.inner_text()
    problems = [f"the page shows {msg!r}" for msg in WIDGET_ERRORS if msg in text]
    broken = page.locator(".jp-Notebook .jupyter-widgets-error-widget").count()
    if broken:
        problems.append(f"{broken} widget(s) failed to render (jupyter-widgets-error-widget)")
    problems += [f"error output: {t.strip()[:600]}" for t in page.evaluate(STDERR_TEXTS)
                 if BAD_STDERR.search(t)]
    problems += [f"browser console: {m[:300]}" for m in console_errors
                 if any(w in m for w in WIDGET_ERRORS) or "widget" in m.lower()]
    return problems


# ------------------------------------------------------------------------------ the test

@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_lecture_in_browser(path, browser, lab, artifacts):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for old in artifacts.glob(f"{path.stem}-*.png"):
        old.unlink()
    page = browser.new_page()
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: console_errors.append(f"page error: {exc}"))
    try:
        page.goto(f"{lab.url}/lab/workspaces/{path.stem}/tree/{path.name}?token={lab.token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        wait_for_kernel(page)

        run_all_cells(page)
        page.wait_for_timeout(1500)  # widget views render after the last message
        try:  # and each ipympl figure once the kernel has sent its first image
            page.wait_for_function(f"() => ({EMPTY_FIGURES})() === 0", timeout=CHANGE_TIMEOUT_MS)
        except PlaywrightTimeout:
            pass  # reported below
        page.locator(".jp-NotebookPanel").first.screenshot(path=str(artifacts / f"{path.stem}-ran.png"))

        problems = page_problems(page, console_errors)
        not_run = page.evaluate(NOT_RUN)
        if not_run:
            problems.append(f"code cells that did not run (an earlier cell failed?): {not_run}")
        empty = page.evaluate(EMPTY_OUTPUTS)
        if empty:
            problems.append(f"{empty} output(s) rendered nothing")

        empty_figures = page.evaluate(EMPTY_FIGURES)
        if empty_figures:
            problems.append(f"{empty_figures} matplotlib widget(s) (ipympl) show no image (0x0 canvas)")

        uses_demos = uses_a_demo(path)
        canvases = page.locator(".jp-Notebook .jupyter-matplotlib canvas").count()
        if uses_demos and canvases == 0:
            problems.append("the lecture uses nnkit.demos but no matplotlib widget (ipympl) rendered")
        assert not problems, f"{path.name} in JupyterLab:\n" + "\n".join(problems)

        demos = (page.locator(".jp-Notebook .jp-OutputArea-output")
                 .filter(has=page.locator(".jupyter-matplotlib canvas"))
                 .filter(has=page.locator(".widget-slider .noUi-handle")))
        if uses_demos:
            assert demos.count() > 0, f"{path.name}: no demo with a slider rendered"
        for i in range(demos.count()):
            move_a_slider(page, demos.nth(i), f"{path.stem}-demo{i + 1}", artifacts)
        after = page_problems(page, console_errors)
        assert not after, f"{path.name}, after moving the sliders:\n" + "\n".join(after)
    except BaseException:
        try:
            page.screenshot(path=str(artifacts / f"{path.stem}-failure.png"))
        except Exception:  # noqa: BLE001 - the failure itself is what matters
            pass
        raise
    finally:
        page.close()
        try:
            lab.shutdown_kernels()
        except OSError:
            pass
