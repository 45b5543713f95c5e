"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, on the page
ucvd-web serves from web/dist, against a real ucvd relaying simulated cameras to a real
MediaMTX.

What an operator does: log in (a wrong token is refused), see every camera, start one and
watch it turn to publishing without a reload, kill its FFmpeg and watch it reconnect and
come back, stop it, open a camera's page (its picture, its FFmpeg log, its sessions), and
log out; a wall display's read-only token sees everything and can act on nothing.

Screenshots of the main views are written to $UCVD_SCREENSHOTS when it names a directory
(`make screenshots` writes docs/screenshots/); they are taken by this test, never by hand.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness.cameras import CameraFarm
from tests.harness.daemon import Ucvd, add_camera, add_target, program, secrets_of_lab
from tests.harness.mediamtx import Central
from tests.harness.ports import free_port, port_open
from tests.harness.procs import ProcessRegistry
from tests.harness.waiting import wait_until

playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

REPO = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("UCVD_WEB_STATIC") or REPO / "web" / "dist")  # as ucvd-web takes it
CHROMIUM = "/usr/bin/chromium"
# As the probe of this workplace found: without the background-networking flags Chromium
# keeps trying hosts this closed network refuses; as root it needs --no-sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LIVE = ("cam-lobby", "cam-gate", "cam-dock")  # publishing from the start
IDLE = "cam-yard"  # stopped: the test starts it from the browser
DARK = "cam-roof"  # its URL points at a closed port: reconnecting, with an error and a hint
WAIT_MS = 45_000


@dataclass
class Site:
    daemon: Ucvd
    url: str
    operator: str
    viewer: str
    secrets: list[str]
    web_log: Path


def _token(d: Ucvd, name: str, *extra: str) -> str:
    made = d.ctl("token", "create", name, *extra).check()
    token = made.stdout.strip()
    assert token.startswith("ucvd_") and len(token) > 40, made
    return token


@pytest.fixture
def site(
    registry: ProcessRegistry, tmp_path: Path, mediamtx: Central, cameras: CameraFarm
) -> Iterator[Site]:
    if not (DIST / "index.html").is_file():
        pytest.fail("web/dist is not built: `make deps` builds the dashboard")
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: `make deps` installs Debian's chromium")
    d = Ucvd(registry, tmp_path / "ucvd").start()
    add_target(d, mediamtx).check()
    sims = [cameras.add(cid) for cid in (*LIVE, IDLE)]
    for sim, cid in zip(sims, (*LIVE, IDLE), strict=True):
        add_camera(d, sim, cid).check()
    closed = free_port()
    d.ctl("camera", "add", DARK, "--url", f"rtsp://127.0.0.1:{closed}/stream",
          "--name", "Roof (unplugged)").check()  # fmt: skip
    for cid in (*LIVE, DARK):
        d.ctl("publish", cid).check()
    for cid in LIVE:
        d.wait_status(cid, "publishing", timeout=60)
    port = free_port()
    proc = registry.spawn(
        "ucvd-web",
        [program("ucvd-web"), "--listen", f"127.0.0.1:{port}", "--socket", str(d.socket),
         "--static-dir", str(DIST)],
    )  # fmt: skip
    wait_until(lambda: port_open(port), timeout=15, what="ucvd-web to listen")
    yield Site(
        daemon=d,
        url=f"http://127.0.0.1:{port}",
        operator=_token(d, "alice"),
        viewer=_token(d, "lobby-wall", "--read-only"),
        secrets=secrets_of_lab(mediamtx, sims),
        web_log=proc.log_path,
    )


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


SHOTS = os.environ.get("UCVD_SCREENSHOTS")


def _shot(page: Any, name: str) -> None:
    directory = SHOTS
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


def _log_in(page: Any, site: Site, token: str) -> None:
    page.goto(site.url + "/")
    page.get_by_test_id("login-token").fill(token)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id(f"camera-row-{LIVE[0]}").wait_for(timeout=WAIT_MS)


def _row(page: Any, camera_id: str) -> Any:
    return page.get_by_test_id(f"camera-row-{camera_id}")


def _wait_row_status(page: Any, camera_id: str, status: str) -> None:
    page.wait_for_selector(
        f'[data-testid="camera-row-{camera_id}"][data-status="{status}"]', timeout=WAIT_MS
    )


# Records every status each camera row shows, however briefly: a MutationObserver in the
# page, read back at the end. (A transient state can come and go between two polls.)
RECORD_STATUSES = """() => {
  window.__seen = {};
  const note = () => {
    for (const row of document.querySelectorAll('[data-testid^="camera-row-"]')) {
      const id = row.dataset.testid.slice('camera-row-'.length);
      const seen = (window.__seen[id] ||= []);
      if (seen[seen.length - 1] !== row.dataset.status) seen.push(row.dataset.status);
    }
  };
  note();
  new MutationObserver(note).observe(document.body,
    {subtree: true, childList: true, attributes: true, attributeFilter: ['data-status']});
  window.__samePage = true;
}"""


def test_an_operator_logs_in_watches_and_acts_live(site: Site, browser: Any) -> None:
    # Dark, as on a wall display (the page follows the system's choice).
    context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="dark")
    page = context.new_page()
    websockets: list[str] = []
    page.on("websocket", lambda ws: websockets.append(ws.url))
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/api/status") else None)

    # A wrong token is refused, and the page says how to get one.
    page.goto(site.url + "/")
    page.get_by_test_id("login-token").fill("ucvd_not-a-real-token-000000000000000000000")
    page.get_by_test_id("login-submit").click()
    error = page.get_by_test_id("login-error")
    error.wait_for(timeout=WAIT_MS)
    assert "ucvctl token create" in error.inner_text()
    _shot(page, "login")

    # Every camera, with what it is doing; the dark one says why.
    page.get_by_test_id("login-token").fill(site.operator)
    page.get_by_test_id("login-submit").click()
    for cid in LIVE:
        _wait_row_status(page, cid, "publishing")
    _wait_row_status(page, IDLE, "stopped")
    page.wait_for_selector(
        f'[data-testid="camera-row-{DARK}"]:is([data-status="reconnecting"],'
        f'[data-status="starting"])',
        timeout=WAIT_MS,
    )
    assert "alice" in page.get_by_test_id("user").inner_text()
    dark_row = _row(page, DARK)
    wait_until(lambda: "connection_failed" in dark_row.inner_text(), timeout=30,
               what=f"{DARK}'s row to show its error")  # fmt: skip
    page.evaluate(RECORD_STATUSES)
    requests_before = len(polls)

    # Start the idle camera: it turns to publishing, without a reload.
    page.get_by_test_id(f"start-{IDLE}").click()
    _wait_row_status(page, IDLE, "publishing")
    result = page.get_by_test_id("action-result").first
    result.wait_for(timeout=WAIT_MS)

    # Its FFmpeg is killed: the row goes through reconnecting and comes back by itself.
    pid = site.daemon.status(IDLE)["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    page.wait_for_function(
        f"() => (window.__seen['{IDLE}'] || []).includes('reconnecting')", timeout=WAIT_MS
    )
    page.wait_for_function(
        f"() => (window.__seen['{IDLE}'] || []).slice(-1)[0] === 'publishing'"
        f" && (window.__seen['{IDLE}'] || []).lastIndexOf('reconnecting') >= 0",
        timeout=WAIT_MS,
    )
    seen = page.evaluate(f"window.__seen['{IDLE}']")
    assert seen[0] == "stopped" and "publishing" in seen[1:], seen
    assert seen.index("publishing") < seen.index("reconnecting") < len(seen) - 1, seen
    assert site.daemon.status(IDLE)["restarts"] >= 1

    # Stop it.
    page.get_by_test_id(f"stop-{IDLE}").click()
    _wait_row_status(page, IDLE, "stopped")
    assert site.daemon.status(IDLE)["status"] == "stopped"
    assert page.evaluate("window.__samePage === true"), "the page was reloaded"
    assert not [u for u in polls[requests_before:]], "status was polled, not pushed"
    assert any(u.endswith("/api/events") for u in websockets), websockets
    if SHOTS:
        # Not a wait for a condition: a minute of live samples, so the sparklines in the
        # picture have a shape (they span 10 minutes).
        page.get_by_test_id(f"start-{IDLE}").click()
        page.wait_for_timeout(60_000)
    _shot(page, "cameras")

    # A camera's page: why it is dark, its picture, its FFmpeg log, its sessions.
    page.goto(f"{site.url}/#/cameras/{DARK}")
    why = page.get_by_test_id("why")
    why.wait_for(timeout=WAIT_MS)
    wait_until(lambda: "connection_failed" in why.inner_text(), timeout=30,
               what="the dark camera's page to say why")  # fmt: skip
    still_error = page.get_by_test_id("still-error")
    still_error.wait_for(timeout=WAIT_MS)
    assert "127.0.0.1" in still_error.inner_text()  # the camera's own refusal, said plainly
    _shot(page, "camera-dark")
    page.goto(f"{site.url}/#/cameras/{LIVE[0]}")
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=\"still-image\"]');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=WAIT_MS,
    )
    width = page.evaluate("document.querySelector('[data-testid=\"still-image\"]').naturalWidth")
    assert width > 100
    log_tail = page.get_by_test_id("log-tail")
    wait_until(lambda: "Stream #0" in log_tail.inner_text() or "Input #0" in log_tail.inner_text(),
               timeout=30, what="FFmpeg's log in the tail")  # fmt: skip
    page.get_by_test_id("history").wait_for(timeout=WAIT_MS)
    _shot(page, "camera")

    page.goto(f"{site.url}/#/targets")
    page.get_by_test_id("target-row-central").wait_for(timeout=WAIT_MS)
    page.get_by_test_id("check-central").click()
    check = page.get_by_test_id("check-result")
    check.wait_for(timeout=WAIT_MS)
    _shot(page, "targets")
    page.goto(f"{site.url}/#/discovery")
    page.get_by_test_id("scan-subnet").wait_for(timeout=WAIT_MS)
    _shot(page, "discovery")

    # Nothing secret reached the browser, or ucvd-web's log.
    html = page.content()
    web_log = site.web_log.read_text(errors="replace")
    for secret in site.secrets:
        assert secret not in html
        assert secret not in web_log
    assert site.operator not in web_log

    page.get_by_test_id("logout").click()
    page.get_by_test_id("login-token").wait_for(timeout=WAIT_MS)
    context.close()


def test_a_read_only_token_sees_everything_and_can_act_on_nothing(site: Site, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    _log_in(page, site, site.viewer)
    for cid in LIVE:
        _wait_row_status(page, cid, "publishing")
    page.get_by_test_id("read-only-badge").wait_for(timeout=WAIT_MS)
    for action in ("start", "stop", "restart"):
        assert page.get_by_test_id(f"{action}-{LIVE[0]}").count() == 0
    # Even a forged click (the API called from the page) is refused, and changes nothing.
    answer = page.evaluate(
        """async (id) => {
             const r = await fetch(`/api/cameras/${id}/stop`, {method: 'POST',
               credentials: 'same-origin', headers: {'X-Requested-With': 'ucvd'}});
             return [r.status, (await r.json()).error.kind];
           }""",
        LIVE[0],
    )
    assert answer == [403, "read_only"]
    assert site.daemon.status(LIVE[0])["status"] == "publishing"
    # A wall display still gets the pictures.
    page.goto(f"{site.url}/#/cameras/{LIVE[0]}")
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=\"still-image\"]');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=WAIT_MS,
    )
    context.close()
