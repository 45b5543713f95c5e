"""`ucvctl discover` end to end, on a LAN of network namespaces (tests/harness/camera_lan.py):
three simulated ONVIF cameras, a plain RTSP camera, a host that is not a camera, and the
gateway where a real ucvd runs; last, an operator does the same from the dashboard's
Discovery page in Chromium. Nothing here touches the machine's own interfaces; the tests
are skipped, saying why, only where namespaces cannot be created.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import camera_lan, netns
from tests.harness.browser import chromium, log_in, require_dashboard, shot, start_web
from tests.harness.camera_lan import MAIN_PATH, SUB_PATH, CameraLan, LanCamera
from tests.harness.daemon import CtlResult, Ucvd, program
from tests.harness.media import SUB_CLIP, ClipLibrary, ClipSpec, probe_streams
from tests.harness.procs import ProcessRegistry
from tests.harness.tools import Tools
from tests.harness.waiting import wait_until
from ucvctl.client import Client, RemoteError

_WHY = netns.unavailable()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=f"discovery LAN: {_WHY}")


@pytest.fixture(scope="module")
def net(
    tools: Tools, clips: ClipLibrary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CameraLan]:
    workdir = tmp_path_factory.mktemp("discovery-lan")
    with netns.Lan() as lan, ProcessRegistry(workdir / "logs") as registry:
        names = list(lan.namespaces)
        built = camera_lan.build(lan, registry, tools, clips, workdir)
        names = list(lan.namespaces)
        yield built
    # Both closed, in that order: every process stopped, then every namespace deleted.
    assert netns.exists(names) == []


@pytest.fixture(scope="module")
def gw_ucvd(net: CameraLan, tmp_path_factory: pytest.TempPathFactory) -> Ucvd:
    d = net.ucvd(tmp_path_factory.mktemp("discovery-ucvd")).start()
    camera_lan.register_central(d, net)
    return d


def cam(net: CameraLan, name: str) -> LanCamera:
    return net.cameras[name]


# cam3's MediaMTX answers a wrong password only after a deliberate pause (~2 s); a longer
# timeout than the default 5 s keeps a loaded machine from cutting that answer off.
ROOMY = ("--timeout", "8")


def discover(d: Ucvd, *args: str, camera: LanCamera | None = None) -> CtlResult:
    """`ucvctl --json discover ARGS`, with `camera`'s ONVIF credentials when given."""
    extra: list[str] = []
    password = None
    if camera is not None:
        assert camera.credentials is not None
        extra = ["--username", camera.credentials.user, "--password-stdin"]
        password = camera.credentials.password + "\n"
    return d.ctl("--json", "discover", *args, *extra, input=password)


def by_address(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {device["address"]: device for device in result["devices"]}


def assert_no_secret(net: CameraLan, d: Ucvd, *texts: str) -> None:
    secrets = [c.credentials.password for c in net.cameras.values() if c.credentials]
    for secret in secrets:
        for text in (*texts, d.log_text()):
            assert secret not in text


# --- the LAN itself ------------------------------------------------------------------------
def test_the_lan_is_closed(net: CameraLan) -> None:
    """No traffic can leave: every interface of the LAN is a veth whose peer is in the LAN,
    and no namespace has a route beyond its own /24 (plus multicast on that link)."""
    assert net.lan.peers_outside() == []
    for host in [net.gw, net.other, *(c.host for c in net.cameras.values())]:
        routes = subprocess.run(
            ["ip", "-n", host.netns, "-4", "route", "show"],
            capture_output=True, text=True, check=True,
        ).stdout.split("\n")  # fmt: skip
        destinations = sorted(line.split()[0] for line in routes if line.strip())
        assert destinations == ["192.0.2.0/24", "224.0.0.0/4"], (host.name, destinations)


def test_a_third_party_onvif_client_sees_the_simulators(net: CameraLan) -> None:
    """onvif-util (Debian's onvif-tools, libonvif) discovers the simulated cameras and gets
    the stream URI the simulator hands out; with a wrong password it gets none."""
    if shutil.which("onvif-util") is None:
        pytest.fail("onvif-util not found: `make deps` installs Debian's onvif-tools")
    found = subprocess.run(
        [*net.gw.exec_prefix(), "onvif-util", "-a"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert "Found 3 cameras" in found
    for name in ("cam1", "cam2", "cam3"):
        assert cam(net, name).address in found
    camera = cam(net, "cam1")
    assert camera.credentials is not None
    user = camera.credentials.user

    def session(password: str) -> str:
        return subprocess.run(
            [*net.gw.exec_prefix(), "onvif-util", "-u", user, "-p", password, camera.address],
            input="get rtsp\nquit\n", capture_output=True, text=True, timeout=30, check=False,
        ).stdout  # fmt: skip

    assert camera.stream_url(MAIN_PATH) in session(camera.credentials.password)
    assert camera.stream_url(MAIN_PATH) not in session("not-the-password")


# --- discovery -------------------------------------------------------------------------------
def test_discover_finds_exactly_the_cameras(net: CameraLan, gw_ucvd: Ucvd) -> None:
    cam1, cam2, cam3 = cam(net, "cam1"), cam(net, "cam2"), cam(net, "cam3")
    plain = cam(net, "plain")
    result = discover(gw_ucvd, "--subnet", "192.0.2.0/24", *ROOMY, camera=cam1)
    assert result.code == 0, result.stderr
    found = by_address(result.json())
    # The cameras, and nothing else: not the gateway, not the HTTP server on :8554.
    assert sorted(found) == [cam1.address, cam2.address, cam3.address, plain.address]
    assert result.json()["complete"] is True
    assert result.json()["probed"] == 254 * 2
    assert result.json()["timeout"] == 8

    one = found[cam1.address]
    assert one["onvif_status"] == "ok"
    assert (one["manufacturer"], one["model"], one["firmware"]) == (
        "Simulated Optics", "SO-100", "1.0.7",
    )  # fmt: skip
    streams = [(s["profile"], s["uri"], s["encoding"], s["width"], s["height"], s["rtsp_access"])
               for s in one["streams"]]  # fmt: skip
    assert streams == [
        ("main", cam1.stream_url(MAIN_PATH), "H264", 640, 360, "credentials_accepted"),
        (
            "sub",
            cam1.stream_url(SUB_PATH),
            "H264",
            SUB_CLIP.width,
            SUB_CLIP.height,
            "credentials_accepted",
        ),
    ]
    assert one["rtsp"] == [{"port": 554, "access": "needs_credentials", "server": "gortsplib"}]

    # cam2 has its own password: refused, and said so for that device alone.
    two = found[cam2.address]
    assert two["onvif"] is True
    assert two["onvif_status"] == "auth_failed"
    assert "refused the credentials" in two["onvif_error"]
    assert two["streams"] == []
    assert two["scope_name"] == "Sim2"  # what WS-Discovery said still shows

    # cam3 takes cam1's ONVIF login but wants another password for its streams.
    three = found[cam3.address]
    assert three["onvif_status"] == "ok"
    assert [s["rtsp_access"] for s in three["streams"]] == ["credentials_refused"] * 2
    assert three["rtsp"] == [{"port": 554, "access": "needs_credentials", "server": "gortsplib"}]

    bare = found[plain.address]
    assert bare["onvif"] is False
    assert bare["rtsp"] == [{"port": 8554, "access": "open", "server": "gortsplib"}]

    assert cam1.credentials is not None
    table = gw_ucvd.ctl("discover", "--subnet", "192.0.2.0/24", "--username",
                        cam1.credentials.user, "--password-stdin",
                        input=cam1.credentials.password + "\n")  # fmt: skip
    assert table.code == 0, table.stderr
    assert cam1.stream_url(MAIN_PATH) in table.stdout, table.stdout
    assert "auth_failed" in table.stdout, table.stdout
    assert "4 found (3 ONVIF)" in table.stdout, table.stdout
    assert_no_secret(net, gw_ucvd, result.stdout, result.stderr, table.stdout, table.stderr)


def test_discover_without_credentials_reports_what_the_cameras_say(
    net: CameraLan, gw_ucvd: Ucvd
) -> None:
    """No subnet: WS-Discovery only, and no sweep (said in a note); `--json` after the
    command works as before it."""
    result = gw_ucvd.ctl("discover", "--timeout", "2", "--json")
    assert result.code == 0, result.stderr
    body = result.json()
    found = by_address(body)
    assert sorted(found) == [cam(net, n).address for n in ("cam1", "cam2", "cam3")]
    assert {d["onvif_status"] for d in found.values()} == {"needs_credentials"}
    assert body["subnet"] is None
    assert body["probed"] == 0
    assert body["interface"] == "eth0"
    assert any("no RTSP sweep" in note for note in body["notes"])
    endpoints = {d["endpoint"] for d in found.values()}
    uuids = [(cam(net, n).onvif or {})["uuid"] for n in ("cam1", "cam2", "cam3")]
    assert endpoints == {f"urn:uuid:{u}" for u in uuids}


def test_the_sweep_stays_inside_the_named_subnet(net: CameraLan, gw_ucvd: Ucvd) -> None:
    """192.0.2.14/31 holds .14 (plain) and .15 (other): only those are swept. The ONVIF
    cameras still answer WS-Discovery on the link, but no RTSP port of theirs is probed."""
    assert (cam(net, "plain").address, net.other.address) == ("192.0.2.14", "192.0.2.15")
    result = discover(gw_ucvd, "--subnet", "192.0.2.14/31", "--port", "8554", "--port", "554")
    assert result.code == 0, result.stderr
    body = result.json()
    assert body["probed"] == 2 * 2
    assert body["ports"] == [8554, 554]
    swept = {d["address"] for d in body["devices"] if d["rtsp"]}
    assert swept == {cam(net, "plain").address}
    assert by_address(body)[cam(net, "cam1").address]["rtsp"] == []


def test_a_silent_subnet_finishes_within_the_timeout(net: CameraLan, gw_ucvd: Ucvd) -> None:
    """192.0.2.128/25 has no host at all: every connection waits for ARP in vain. With room
    to spare the sweep completes; squeezed (16 at a time would need ~16 s) the deadline cuts
    it and says so. Meanwhile the daemon answers other calls at once."""
    started = time.monotonic()
    result = discover(gw_ucvd, "--subnet", "192.0.2.128/25", "--timeout", "3")
    elapsed = time.monotonic() - started
    assert result.code == 0, result.stderr
    body = result.json()
    assert body["complete"] is True
    assert body["probed"] == 126 * 2
    assert not [d for d in body["devices"] if d["rtsp"]]
    assert body["seconds"] <= 3 + 0.25, body["seconds"]  # the daemon's own deadline
    assert elapsed < 3 + 5, elapsed  # ucvctl's start-up and exit, on a loaded machine

    scans_before = gw_ucvd.log_text().count('"discovery scan"')
    argv = [program("ucvctl"), "--socket", str(gw_ucvd.socket), "--json", "discover",
            "--subnet", "192.0.2.128/25", "--timeout", "2", "--concurrency", "16"]  # fmt: skip
    started = time.monotonic()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as scan:
        wait_until(lambda: gw_ucvd.log_text().count('"discovery scan"') > scans_before,
                   timeout=10, what="the scan to start")  # fmt: skip
        asked = time.monotonic()
        gw_ucvd.ctl("info").check()  # another call, while the scan runs
        answered = time.monotonic() - asked
        still_scanning = scan.poll() is None
        stdout, stderr = scan.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert scan.returncode == 0, stderr
    assert still_scanning, "the scan ended before `info` was answered: nothing was shown"
    assert answered < 1.5, answered
    body = json.loads(stdout)
    assert body["complete"] is False
    assert any("cut the scan short" in note for note in body["notes"])
    assert 0 < body["probed"] < 126 * 2
    assert body["seconds"] <= 2 + 0.25, body["seconds"]
    assert elapsed < 2 + 5, elapsed


def test_bad_input_is_refused_precisely(net: CameraLan, gw_ucvd: Ucvd) -> None:
    cases = [
        (["--subnet", "192.0.2.0/33"], "is not an IPv4 network in CIDR notation"),
        (["--subnet", "lan"], "is not an IPv4 network in CIDR notation"),
        (["--subnet", "192.0.2.7/24"], "has host bits set (did you mean 192.0.2.0/24?)"),
        (["--subnet", "10.0.0.0/21"], "more than a /22; name a smaller subnet or force"),
        (["--subnet", "10.0.0.0/8", "--force"], "larger than a /16"),
        (["--subnet", "2001:db8::/120"], "only IPv4 subnets"),
        (["--interface", "nope0"], "no network interface 'nope0' (interfaces: eth0)"),
        (["--interface", "lo"], "is the loopback"),
        (["--add", "Bad Prefix!"], "camera id prefix"),
    ]
    for args, words in cases:
        result = gw_ucvd.ctl("discover", "--timeout", "1", *args)
        assert result.code == 1, (args, result.stdout, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert "[invalid_argument]" in result.stderr
    for args, words in [
        (["--timeout", "0"], "--timeout must be between 0.5 and 120 seconds"),
        (["--timeout", "500"], "--timeout must be between 0.5 and 120 seconds"),
        (["--password-stdin"], "--password-stdin needs --username"),
        (["--concurrency", "0"], "--concurrency must be between 1 and 1024"),
    ]:
        result = gw_ucvd.ctl("discover", *args)
        assert result.code == 2, (args, result.stderr)
        assert words in result.stderr
    # The daemon's own boundary, without ucvctl's checks in front of it.
    with Client(str(gw_ucvd.socket)) as client:
        for params, words in [
            ({"timeout": 0}, "Expected `float` >= 0.5 - at `$.timeout`"),
            ({"ports": [70000]}, "Expected `int` <= 65535 - at `$.ports[0]`"),
            ({"timeout": "soon"}, "Expected `float`"),
            ({"subnet": "192.0.2.0/24", "typo": 1}, "unknown field `typo`"),
            ({"username": None, "password": "x"}, "a password without a username"),
        ]:
            with pytest.raises(RemoteError) as caught:
                client.call_unchecked("discovery.scan", params)
            assert words in caught.value.message, (params, caught.value.message)
    gw_ucvd.ctl("info").check()  # still alive


def test_discover_add_registers_and_publishes_end_to_end(
    net: CameraLan, gw_ucvd: Ucvd, tools: Tools
) -> None:
    """--add registers each new ONVIF camera whose credentials worked (cam1) as PREFIX-1,
    with the stream URI it handed out and the operator's password (never echoed), and its
    second profile as PREFIX-1-sub, linked to it; both publish to the central MediaMTX, each
    path with its own stream; a second scan shows them as registered and adds nothing
    twice."""
    cam1 = cam(net, "cam1")
    assert cam1.credentials is not None
    result = discover(gw_ucvd, "--subnet", "192.0.2.0/24", *ROOMY, "--add", "lan", camera=cam1)
    assert result.code == 0, result.stderr
    body = result.json()
    assert body["added"] == [
        {"id": "lan-1", "address": cam1.address, "url": cam1.stream_url(MAIN_PATH),
         "main_id": None},
        {"id": "lan-1-sub", "address": cam1.address, "url": cam1.stream_url(SUB_PATH),
         "main_id": "lan-1"},
    ]  # fmt: skip
    marked = by_address(body)[cam1.address]
    assert marked["registered"] == ["lan-1", "lan-1-sub"]
    assert [s["registered_as"] for s in marked["streams"]] == ["lan-1", "lan-1-sub"]
    notes = " ".join(body["notes"])
    assert f"{cam(net, 'cam2').address} not added (auth_failed)" in notes
    assert f"{cam(net, 'cam3').address} not added (its stream refused the credentials)" in notes
    assert f"{cam(net, 'plain').address} not added" in notes
    camera = gw_ucvd.ctl_json("camera", "show", "lan-1")
    assert camera["url"] == cam1.stream_url(MAIN_PATH)
    assert camera["username"] == cam1.credentials.user
    assert camera["has_password"] is True
    assert camera["name"] == "Simulated Optics SO-100"
    assert camera["sub_ids"] == ["lan-1-sub"]
    sub = gw_ucvd.ctl_json("camera", "show", "lan-1-sub")
    assert (sub["url"], sub["main_id"]) == (cam1.stream_url(SUB_PATH), "lan-1")
    assert (sub["username"], sub["has_password"]) == (cam1.credentials.user, True)

    central = net.central
    assert central is not None
    main_clip = ClipSpec()
    try:
        for camera_id in ("lan-1", "lan-1-sub"):
            gw_ucvd.ctl("publish", camera_id, "--wait", "--timeout", "30").check()
        sizes = {}
        for path in ("camera_lan-1", "camera_lan-1-sub"):

            def video(path: str = path) -> list[tuple[int | None, int | None]]:
                central.server.api.wait_path_ready(path, timeout=15)
                streams = probe_streams(tools, central.read_url(path))
                return [(s.width, s.height) for s in streams if s.codec_type == "video"]

            sizes[path] = net.gw.run(video)
        assert sizes == {
            "camera_lan-1": [(main_clip.width, main_clip.height)],
            "camera_lan-1-sub": [(SUB_CLIP.width, SUB_CLIP.height)],
        }
    finally:
        for camera_id in ("lan-1", "lan-1-sub"):
            gw_ucvd.ctl("stop", camera_id)

    again = discover(gw_ucvd, "--subnet", "192.0.2.0/24", *ROOMY, "--add", "lan", camera=cam1)
    assert again.code == 0, again.stderr
    body = again.json()
    assert body["added"] == []
    one = by_address(body)[cam1.address]
    assert one["registered"] == ["lan-1", "lan-1-sub"]
    assert [s["registered_as"] for s in one["streams"]] == ["lan-1", "lan-1-sub"]
    assert_no_secret(net, gw_ucvd, result.stdout, result.stderr, again.stdout)

    # The main stays while its sub is registered; the dashboard's test below adds cam1's
    # second stream itself, so the sub goes.
    refused = gw_ucvd.ctl("camera", "remove", "lan-1")
    assert refused.code == 1 and "sub stream 'lan-1-sub'" in refused.stderr, refused.stderr
    gw_ucvd.wait_status("lan-1-sub", "stopped")
    gw_ucvd.ctl("camera", "remove", "lan-1-sub").check()


# --- the dashboard's Discovery page ------------------------------------------------------------
def test_the_dashboard_discovers_adds_and_starts_a_camera(
    net: CameraLan, gw_ucvd: Ucvd, registry: ProcessRegistry
) -> None:
    """An operator in Chromium, on ucvd-web for the gateway's daemon: scans the LAN's subnet
    with cam1's credentials, sees the cameras with their streams (and each one's refusal),
    adds cam1's second stream through the page's Add form, finds it stopped in the cameras
    table, starts it there and sees it publishing to the central MediaMTX. No password in
    what the page was sent, nor in a log."""
    require_dashboard()
    cam1, cam2, cam3 = cam(net, "cam1"), cam(net, "cam2"), cam(net, "cam3")
    plain = cam(net, "plain")
    assert cam1.credentials is not None and cam1.onvif is not None
    web = start_web(registry, gw_ucvd.socket)
    token = gw_ucvd.ctl("token", "create", "lan-operator").check().stdout.strip()
    camera_id = "sim1-sub"  # what the page suggests: the device's scope name and the profile
    wait_ms = 45_000
    try:
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 1440, "height": 900},
                                          color_scheme="dark")  # fmt: skip
            page = context.new_page()
            log_in(page, web.url, token)
            page.get_by_test_id("user").wait_for(timeout=wait_ms)
            page.goto(f"{web.url}/#/discovery")
            page.get_by_test_id("scan-subnet").fill(camera_lan.SUBNET)
            page.get_by_test_id("scan-timeout").fill(ROOMY[1])
            page.get_by_test_id("scan-username").fill(cam1.credentials.user)
            page.get_by_test_id("scan-password").fill(cam1.credentials.password)
            with page.expect_response(lambda r: r.url.endswith("/api/discovery/scan"),
                                      timeout=60_000) as scan:  # fmt: skip
                page.get_by_test_id("scan-submit").click()
                assert "scanning" in page.get_by_test_id("scan-progress").inner_text()
            assert scan.value.status == 200, scan.value.text()

            # Exactly the cameras, each with what it said.
            rows = page.locator('[data-testid^="device-"]')
            rows.first.wait_for(timeout=wait_ms)
            shown = sorted(r.get_attribute("data-testid") for r in rows.all())
            expected = [f"device-{c.address}" for c in (cam1, cam2, cam3, plain)]
            assert shown == sorted(expected)
            one = page.get_by_test_id(f"device-{cam1.address}").inner_text()
            assert f"{cam1.onvif['manufacturer']} {cam1.onvif['model']}" in one
            for profile in cam1.onvif["profiles"]:
                assert profile["name"] in one
                assert profile["uri"] in one
                size = f"{profile['width']}\N{MULTIPLICATION SIGN}{profile['height']}"
                assert f"{size} {profile['encoding']}" in one
            assert one.count("credentials accepted") == 2
            assert "auth_failed" in page.get_by_test_id(f"device-{cam2.address}").inner_text()
            three = page.get_by_test_id(f"device-{cam3.address}").inner_text()
            assert three.count("credentials refused") == 2
            bare = page.get_by_test_id(f"device-{plain.address}").inner_text()
            assert f"rtsp port {plain.port}" in bare
            shot(page, "discovery")

            # cam1's second stream, as a camera; the form holds the scan's credentials.
            page.get_by_test_id(f"add-stream-{cam1.address}-sub").click()
            assert page.get_by_test_id("add-id").input_value() == camera_id
            with page.expect_response(lambda r: r.url.endswith("/api/cameras")
                                      and r.request.method == "POST") as added:  # fmt: skip
                page.get_by_test_id("add-submit").click()
            assert added.value.status == 200, added.value.text()
            registered = page.get_by_test_id(f"registered-stream-{cam1.address}-sub")
            registered.wait_for(timeout=wait_ms)
            assert camera_id in registered.inner_text()
            camera = gw_ucvd.ctl_json("camera", "show", camera_id)
            assert camera["url"] == cam1.stream_url(SUB_PATH)
            assert (camera["username"], camera["has_password"]) == (cam1.credentials.user, True)

            # In the cameras table, stopped; started from there, it publishes.
            page.goto(f"{web.url}/#/")
            row = f'[data-testid="camera-row-{camera_id}"]'
            page.wait_for_selector(f'{row}[data-status="stopped"]', timeout=wait_ms)
            page.get_by_test_id(f"start-{camera_id}").click()
            page.wait_for_selector(f'{row}[data-status="publishing"]', timeout=wait_ms)
            path = gw_ucvd.status(camera_id)["publish_path"]
            central = net.central_api()
            ready = net.gw.run(lambda: central.wait_path_ready(path, timeout=15))
            assert "H264" in " ".join(str(t) for t in ready.get("tracks", []))
            answers = [scan.value.text(), added.value.text()]
            context.close()
    finally:  # the module's other tests find the daemon as they expect it
        if gw_ucvd.ctl("camera", "show", camera_id).code == 0:
            gw_ucvd.ctl("stop", camera_id)  # refused if it never started: no matter
            gw_ucvd.wait_status(camera_id, "stopped")
            gw_ucvd.ctl("camera", "remove", camera_id).check()
    assert_no_secret(net, gw_ucvd, *answers, web.log_path.read_text(errors="replace"))
