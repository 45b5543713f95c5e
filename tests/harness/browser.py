"""The dashboard in a real browser: ucvd-web serving the built page (web/dist) for a daemon's
socket, and Debian's Chromium driven by Playwright, for the browser tests.

Screenshots go to $UCVD_SCREENSHOTS when it names a directory (`make screenshots` writes
docs/screenshots/); they are taken by the tests, never by hand.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness.daemon import program
from tests.harness.ports import free_port, port_open
from tests.harness.procs import Proc, ProcessRegistry
from tests.harness.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("UCVD_WEB_STATIC") or REPO / "web" / "dist")  # as ucvd-web takes it
CHROMIUM = "/usr/bin/chromium"
# As the probe of this workplace found: without the background-networking flags Chromium
# keeps trying hosts this closed network refuses; as root it needs --no-sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = os.environ.get("UCVD_SCREENSHOTS")


def require_dashboard() -> None:
    """Fail (not skip) when what `make deps` provides is missing: the built page, Chromium."""
    if not (DIST / "index.html").is_file():
        pytest.fail("web/dist is not built: `make deps` builds the dashboard")
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: `make deps` installs Debian's chromium")


@dataclass
class Web:
    url: str
    proc: Proc

    @property
    def log_path(self) -> Path:
        return self.proc.log_path


def start_web(registry: ProcessRegistry, socket: Path) -> Web:
    """ucvd-web on a free loopback port, serving the built page, for the daemon at `socket`."""
    port = free_port()
    proc = registry.spawn(
        "ucvd-web",
        [program("ucvd-web"), "--listen", f"127.0.0.1:{port}", "--socket", str(socket),
         "--static-dir", str(DIST)],
    )  # fmt: skip
    wait_until(lambda: port_open(port), timeout=15, what="ucvd-web to listen")
    return Web(url=f"http://127.0.0.1:{port}", proc=proc)


@contextmanager
def chromium() -> Iterator[Any]:
    """A Chromium browser (Playwright's sync API); the test is skipped without Playwright."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    """The whole page as $UCVD_SCREENSHOTS/NAME.png, when that directory is named."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def log_in(page: Any, url: str, token: str) -> None:
    """Through the login page, as a user does."""
    page.goto(url + "/")
    page.get_by_test_id("login-token").fill(token)
    page.get_by_test_id("login-submit").click()
