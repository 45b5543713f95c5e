"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, on the page
ucvd-web serves from web/dist, against a real ucvd relaying simulated cameras to a real
MediaMTX.

What an operator does: log in (a wrong token is refused), see every camera, start one and
watch it turn to publishing without a reload, kill its FFmpeg and watch it reconnect and
come back, stop it, open a camera's page (its picture, its FFmpeg log, its sessions), and
log out; a wall display's read-only token sees everything and can act on nothing.

Screenshots of the main views are written to $UCVD_SCREENSHOTS when it names a directory
(`make screenshots` writes docs/screenshots/); they are taken by this test, never by hand.
(Discovery's, with results, is taken by tests/integration/test_discovery.py.)
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.harness.browser import SHOTS, chromium, log_in, require_dashboard, shot, start_web
from tests.harness.cameras import CameraFarm
from tests.harness.daemon import Ucvd, add_camera, add_target, secrets_of_lab
from tests.harness.mediamtx import Central
from tests.harness.ports import free_port
from tests.harness.procs import ProcessRegistry
from tests.harness.waiting import wait_until
from ucvd.domain.hints import hint

pytest.importorskip("playwright.sync_api", reason="pip install playwright")

LIVE = ("cam-lobby", "cam-gate", "cam-dock")  # publishing from the start
IDLE = "cam-yard"  # stopped: the test starts it from the browser
DARK = "cam-roof"  # its URL points at a closed port: reconnecting, with an error and a hint
WAIT_MS = 45_000
# The central's web player, as an operator sets it (only a link: nothing is fetched from it).
PLAYER = "http://127.0.0.1:8889/"
# What a status event must not be followed by: the status list, or one camera's status (the
# event carries the camera's whole status).
REFETCH = re.compile(r"/api/(status|cameras/[^/]+)")


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
    require_dashboard()
    # The product's backoff cap (60 s), not the harness's 4 s: the dark camera's restarts and
    # retry countdown in the pictures are what an operator would see.
    d = Ucvd(registry, tmp_path / "ucvd", settings={"supervision": {"backoff_cap_s": 60.0}})
    d.start()
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
    web = start_web(registry, d.socket)
    yield Site(
        daemon=d,
        url=web.url,
        operator=_token(d, "alice"),
        viewer=_token(d, "lobby-wall", "--read-only"),
        secrets=secrets_of_lab(mediamtx, sims),
        web_log=web.log_path,
    )


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _log_in(page: Any, site: Site, token: str) -> None:
    log_in(page, site.url, token)
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
    refetches: list[str] = []

    def note_refetch(request: Any) -> None:
        if request.method == "GET" and REFETCH.fullmatch(urlsplit(request.url).path):
            refetches.append(request.url)

    page.on("request", note_refetch)

    # A wrong token is refused, and the page says how to get one.
    page.goto(site.url + "/")
    page.get_by_test_id("login-token").fill("ucvd_not-a-real-token-000000000000000000000")
    page.get_by_test_id("login-submit").click()
    error = page.get_by_test_id("login-error")
    error.wait_for(timeout=WAIT_MS)
    assert "ucvctl token create" in error.inner_text()
    shot(page, "login")

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
    # What to check, on a second line (cut to the column) and whole in the cell's tooltip.
    assert dark_row.get_by_test_id("error-hint").inner_text() == hint("connection_failed")
    assert hint("connection_failed") in dark_row.locator(".col-error").get_attribute("title")
    page.evaluate(RECORD_STATUSES)
    requests_before = len(refetches)

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
    assert refetches[requests_before:] == [], "a status event was followed by a refetch"
    assert any(u.endswith("/api/events") for u in websockets), websockets
    if SHOTS:
        # Not a wait for a condition: a minute of live samples, so the sparklines in the
        # picture have a shape (they span 10 minutes).
        page.get_by_test_id(f"start-{IDLE}").click()
        page.wait_for_timeout(60_000)
    shot(page, "cameras")

    # A camera's page: why it is dark (and what to check), its picture, its FFmpeg log, its
    # sessions, and a link to the central's player once the target has one.
    site.daemon.ctl("target", "update", "central", "--player-url", PLAYER).check()
    page.goto(f"{site.url}/#/cameras/{DARK}")
    why = page.get_by_test_id("why")
    why.wait_for(timeout=WAIT_MS)
    wait_until(lambda: "connection_failed" in why.inner_text(), timeout=30,
               what="the dark camera's page to say why")  # fmt: skip
    assert page.get_by_test_id("why-hint").inner_text() == hint("connection_failed")
    still_error = page.get_by_test_id("still-error")
    still_error.wait_for(timeout=WAIT_MS)
    assert "127.0.0.1" in still_error.inner_text()  # the camera's own refusal, said plainly
    shot(page, "camera-dark")
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
    path = site.daemon.status(LIVE[0])["publish_path"]
    player = page.get_by_test_id("player-link")
    assert player.get_attribute("href") == f"{PLAYER}{path}/"
    assert player.get_attribute("target") == "_blank"
    shot(page, "camera")

    page.goto(f"{site.url}/#/targets")
    page.get_by_test_id("target-row-central").wait_for(timeout=WAIT_MS)
    assert page.get_by_test_id("player-central").get_attribute("href") == PLAYER
    page.get_by_test_id("check-central").click()
    check = page.get_by_test_id("check-result")
    check.wait_for(timeout=WAIT_MS)
    shot(page, "targets")
    page.goto(f"{site.url}/#/discovery")
    page.get_by_test_id("scan-subnet").wait_for(timeout=WAIT_MS)

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
