"""Debian's chromium driven by Playwright, for the tests that open pages in a real browser.

``chromium_and_playwright()`` finds both or skips the test with the reason (fails it when ``CI``
is set); ``offline_page()`` opens a page with every request to the network blocked and records
what the page tried to reach. The browser is ``/usr/bin/chromium`` or ``$NNKIT_CHROMIUM``, never
one downloaded by Playwright. Screenshots go to ``ARTIFACTS``.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("NNKIT_ARTIFACTS", ROOT / "test-artifacts" / "browser"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_SCHEMES = ("file:", "data:", "blob:")  # what an offline page may still load


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str):
    """Skip on a user's machine; in CI the browser test must run, so fail."""
    if in_ci():
        pytest.fail(f"CI is set but the real-browser test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def find_chromium() -> str | None:
    """``$NNKIT_CHROMIUM`` when set, else Debian's chromium."""
    if os.environ.get("NNKIT_CHROMIUM"):
        candidates = [os.environ["NNKIT_CHROMIUM"]]
    else:
        candidates = ["/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def chromium_and_playwright():
    """``(chromium path, playwright's sync_playwright)``; without either, :func:`unavailable`."""
    path = find_chromium()
    if path is None:
        unavailable(f"chromium not found ({os.environ.get('NNKIT_CHROMIUM') or '/usr/bin/chromium'}; "
                    "Debian: `apt-get install chromium`, or set NNKIT_CHROMIUM to a chromium binary)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the Python package playwright is not installed (pip install playwright; "
                    "no `playwright install` needed: the test uses the system's chromium)")
    return path, sync_playwright


@dataclass
class Blocked:
    """What an offline page did that it should not have."""

    remote: list[str] = field(default_factory=list)  # URLs it tried to reach (blocked)
    failed: list[str] = field(default_factory=list)  # URLs of requests that failed, blocked ones too
    errors: list[str] = field(default_factory=list)  # JavaScript errors


@contextmanager
def offline_page(**options):
    """``(page, Blocked)``: a new page in a fresh chromium (``options`` go to ``new_page``) that may
    load only ``file:``, ``data:`` and ``blob:`` URLs; the browser is closed afterwards."""
    chromium, sync_playwright = chromium_and_playwright()
    seen = Blocked()

    def route(r):
        if r.request.url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            seen.remote.append(r.request.url)
            r.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(**options)
            page.route("**/*", route)
            page.on("requestfailed", lambda r: seen.failed.append(r.url))
            page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
            yield page, seen
        finally:
            browser.close()
