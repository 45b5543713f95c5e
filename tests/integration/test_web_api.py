"""ucvd-web's dashboard API end to end, at the HTTP level (no browser): a real ucvd relaying
two simulated cameras (one asks for a password) to a real central MediaMTX, a real ucvd-web
serving a stand-in dashboard, tokens made by the real `ucvctl token create`, and the live
feed read over a WebSocket (wsproto on a plain socket)."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

from tests.harness.cameras import Camera as SimCamera
from tests.harness.cameras import CameraFarm
from tests.harness.daemon import Ucvd, add_camera, add_target, program, secrets_of_lab
from tests.harness.errors import HarnessError
from tests.harness.mediamtx import Central, Credentials
from tests.harness.ports import LOOPBACK, free_port, port_open
from tests.harness.procs import Proc, ProcessRegistry
from tests.harness.waiting import WaitTimeout, wait_until
from ucvctl.client import Client, RemoteError
from ucvd.api import protocol as p
from ucvdweb.access import CACHE_S, COOKIE, Sessions, Verifier
from ucvdweb.api import Api
from ucvdweb.daemon import Daemon

INDEX = "<!doctype html><title>ucvd stand-in</title><script src=/assets/x.js></script>\n"
SCRIPT = "console.log('stand-in dashboard');\n"
EVIL = "http://evil.example"
UP = {"type": "daemon", "up": True}
DOWN = {"type": "daemon", "up": False}
# What ucvd-web promises (ucvdweb.access): a revoked token stops working within this long.
# Said here, not read from CACHE_S, so that a longer cache fails this test.
REVOKED_WITHIN_S = 5.0


# --- the browser's side ------------------------------------------------------------------
class Browser:
    """Requests as the dashboard's page makes them: same origin, the login cookie, and on
    every change the CSRF header plus the Origin a browser adds. Every body it is answered
    is kept, for the check that no secret ever comes back."""

    def __init__(self, url: str) -> None:
        self.origin = url
        self.client = httpx.Client(base_url=url, trust_env=False, timeout=60)
        self.cookie: str | None = None
        self.bodies: list[bytes] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        browser_headers: bool = True,
    ) -> httpx.Response:
        sent: dict[str, str] = {}
        if self.cookie is not None:
            sent["cookie"] = f"{COOKIE}={self.cookie}"
        if browser_headers and method != "GET":
            sent |= {
                "x-requested-with": "ucvd",
                "origin": self.origin,
                "sec-fetch-site": "same-origin",
            }
        sent |= headers or {}
        response = self.client.request(method, path, json=json_body, headers=sent)
        self.bodies.append(response.content)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def login(self, token: str) -> httpx.Response:
        response = self.post("/api/session", json_body={"token": token})
        assert response.status_code == 200, response.text
        cookie = response.cookies.get(COOKIE)
        # A session id, never the token: the browser sends a host's cookies to its every port.
        assert cookie is not None and len(cookie) >= 40
        assert token not in cookie and token not in response.headers["set-cookie"]
        self.cookie = cookie
        return response

    def camera_status(self, camera_id: str) -> dict[str, Any]:
        response = self.get("/api/status")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return next(item for item in items if item["camera_id"] == camera_id)

    def wait_camera(
        self,
        camera_id: str,
        status: str,
        also: Callable[[dict[str, Any]], bool] = lambda _: True,
        timeout: float = 45.0,
    ) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> dict[str, Any] | None:
            nonlocal seen
            seen = self.camera_status(camera_id)
            return seen if seen["status"] == status and also(seen) else None

        return wait_until(
            reached,
            timeout=timeout,
            interval=0.2,
            what=lambda: (
                f"{camera_id} {status} over /api/status (is {seen.get('status')}: "
                f"{seen.get('last_error')})"
            ),
        )

    def close(self) -> None:
        self.client.close()


def problem(response: httpx.Response, status: int, kind: str) -> str:
    """The error's message, once its status and kind are as expected."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["kind"] == kind, error
    message: str = error["message"]
    return message


class LiveFeed:
    """A WebSocket client on a plain socket (wsproto), with a browser's handshake."""

    def __init__(self, port: int, *, origin: str | None, cookie: str | None) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=10)
        self.ws = WSConnection(ConnectionType.CLIENT)
        headers: list[tuple[bytes, bytes]] = []
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        if cookie is not None:
            headers.append((b"cookie", f"{COOKIE}={cookie}".encode()))
        request = Request(host=f"{LOOPBACK}:{port}", target="/api/events", extra_headers=headers)
        self.sock.sendall(self.ws.send(request))
        self._events: deque[Event] = deque()
        self._text: list[str] = []
        self.received: list[dict[str, Any]] = []

    def _next(self, deadline: float) -> Event:
        while not self._events:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"nothing more from the WebSocket; got {self.received}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.ws.receive_data(data or None)
            self._events.extend(self.ws.events())
            if not data and not self._events:
                raise HarnessError(f"the WebSocket's connection closed; got {self.received}")
        return self._events.popleft()

    def handshake(self, timeout: float = 15.0) -> AcceptConnection | RejectConnection:
        event = self._next(time.monotonic() + timeout)
        assert isinstance(event, AcceptConnection | RejectConnection), event
        return event

    def receive(self, timeout: float = 15.0) -> dict[str, Any] | CloseConnection:
        """The next message, or the server's close."""
        deadline = time.monotonic() + timeout
        while True:
            event = self._next(deadline)
            if isinstance(event, TextMessage):
                self._text.append(event.data)
                if event.message_finished:
                    message: dict[str, Any] = json.loads("".join(self._text))
                    self._text.clear()
                    self.received.append(message)
                    return message
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                with contextlib.suppress(OSError, LocalProtocolError):
                    self.sock.sendall(self.ws.send(event.response()))
                return event
            else:
                raise TypeError(f"unexpected WebSocket event {event!r}")

    def receive_until(
        self, wanted: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"no {what} over the WebSocket in {timeout:g}s: {self.received}")
            message = self.receive(left)
            assert not isinstance(message, CloseConnection), (message, self.received)
            if wanted(message):
                return message

    def close(self) -> None:
        with contextlib.suppress(OSError, LocalProtocolError):
            self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
        self.sock.close()


# --- the site ----------------------------------------------------------------------------
@dataclass
class Site:
    d: Ucvd
    url: str
    port: int
    web: Proc
    sims: dict[str, SimCamera]
    secrets: list[str]
    browsers: list[Browser] = field(default_factory=list)

    def browser(self) -> Browser:
        b = Browser(self.url)
        self.browsers.append(b)
        return b

    def token(self, name: str, *, read_only: bool = False) -> str:
        """Made as an operator makes one: `ucvctl token create NAME [--read-only]`."""
        args = ["token", "create", name] + (["--read-only"] if read_only else [])
        made = self.d.ctl(*args).check()
        token = made.stdout.strip()
        assert token.startswith("ucvd_") and name in made.stderr
        return token

    def daemon_log(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.d.log_text().splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines

    def audit(self, token_name: str, method: str) -> list[dict[str, Any]]:
        return [
            line
            for line in self.daemon_log()
            if line.get("event") == "acting for an access token"
            and line.get("token_name") == token_name
            and line.get("method") == method
        ]


@pytest.fixture
def site(
    registry: ProcessRegistry, tmp_path: Path, mediamtx: Central, cameras: CameraFarm
) -> Iterator[Site]:
    d = Ucvd(registry, tmp_path / "ucvd").start()
    add_target(d, mediamtx).check()
    sims = {
        "cam-1": cameras.add("cam-1"),
        "cam-2": cameras.add("cam-2", credentials=Credentials.generate("admin")),
    }
    for camera_id, sim in sims.items():
        add_camera(d, sim, camera_id).check()
    dashboard = tmp_path / "dashboard"
    (dashboard / "assets").mkdir(parents=True)
    (dashboard / "index.html").write_text(INDEX)
    (dashboard / "assets" / "x.js").write_text(SCRIPT)
    port = free_port()
    web = registry.spawn(
        "ucvd-web",
        [program("ucvd-web"), "--listen", f"{LOOPBACK}:{port}", "--socket", str(d.socket),
         "--static-dir", str(dashboard)],
    )  # fmt: skip
    wait_until(lambda: port_open(port), timeout=20, what="ucvd-web to listen")
    site = Site(
        d, f"http://{LOOPBACK}:{port}", port, web, sims, secrets_of_lab(mediamtx, [*sims.values()])
    )
    yield site
    for b in site.browsers:
        b.close()


def secrets_of_credentials(credentials: Credentials) -> list[str]:
    raw = credentials.password
    return [raw, urllib.parse.quote(raw, safe="")]


def api_routes() -> list[tuple[str, str]]:
    """(method, path) of every API route a token guards, as ucvd-web itself lists them: a
    route added later is covered here without anyone remembering to."""
    daemon = Daemon("/nonexistent")
    found = []
    for route in Api(daemon, Verifier(daemon), Sessions()).routes():
        path = getattr(route, "path_format", "")
        if path == "/api/session":
            continue  # logging in and out are for those without a cookie
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                found.append((method, path.format(id="cam-1", action="start", name="central")))
    return found


# --- tests -------------------------------------------------------------------------------
def test_the_page_is_served_under_a_strict_policy(site: Site) -> None:
    b = site.browser()
    page = b.get("/")
    assert page.status_code == 200 and page.text == INDEX
    csp = {
        part.split()[0]: part.split()[1:]
        for part in page.headers["content-security-policy"].split(";")
        if part.strip()
    }
    assert csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["default-src"] == ["'none'"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert "'unsafe-eval'" not in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"  # a new build shows at the next load
    script = b.get("/assets/x.js")
    assert script.status_code == 200 and script.text == SCRIPT
    assert "immutable" in script.headers["cache-control"]
    assert script.headers["x-content-type-options"] == "nosniff"
    # The API's answers carry the same headers, errors included.
    refused = b.get("/api/status")
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in refused.headers["content-security-policy"]


def test_every_api_route_wants_a_token_and_a_login_sets_a_strict_cookie(site: Site) -> None:
    b = site.browser()
    routes = api_routes()
    assert ("POST", "/api/cameras/cam-1/start") in routes and ("GET", "/api/status") in routes
    assert len(routes) >= 15
    for method, path in routes:
        for headers in ({}, {"authorization": "Bearer ucvd_not-a-real-token"},
                        {"cookie": f"{COOKIE}=ucvd_not-a-real-token"}):  # fmt: skip
            message = problem(b.request(method, path, headers=headers), 401, "unauthorized")
            assert message, (method, path)

    # A login without the CSRF header is refused before the token is looked at.
    token = site.token("alice")
    bare = b.post("/api/session", json_body={"token": token}, browser_headers=False)
    problem(bare, 403, "csrf")
    assert "set-cookie" not in bare.headers
    wrong = b.post("/api/session", json_body={"token": "ucvd_" + "x" * 43})
    assert "ucvctl token create" in problem(wrong, 401, "unauthorized")
    assert "set-cookie" not in wrong.headers

    login = b.login(token)
    assert login.json() == {"name": "alice", "kind": "operator"}
    flags = [f.strip().lower() for f in login.headers["set-cookie"].split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back

    assert b.get("/api/me").json() == {"name": "alice", "kind": "operator"}
    status = b.get("/api/status").json()
    assert {i["camera_id"]: i["status"] for i in status["items"]} == {
        "cam-1": "stopped",
        "cam-2": "stopped",
    }
    one = b.get("/api/cameras/cam-2").json()
    assert one["camera"]["id"] == "cam-2" and one["camera"]["has_password"] is True
    assert one["status"]["camera_id"] == "cam-2"
    assert [c["id"] for c in b.get("/api/cameras").json()["items"]] == ["cam-1", "cam-2"]
    assert b.get("/api/targets").json()["items"][0]["name"] == "central"
    assert b.get("/api/info").json()["counts"]["cameras"] == 2
    assert b.get("/api/cameras/cam-1/history").json()["camera_id"] == "cam-1"
    assert b.get("/api/cameras/cam-1/logs?lines=10").json()["camera_id"] == "cam-1"
    assert "cameras" in b.get("/api/samples?seconds=60").json()
    problem(b.get("/api/samples?seconds=0"), 400, "invalid_params")
    problem(b.get("/api/no-such-thing"), 404, "not_found")
    # A method no route takes: in the same error form, which the page reads for every call.
    for method, path in (("POST", "/api/no-such-thing"), ("PUT", "/api/status"),
                         ("DELETE", "/api/cameras")):  # fmt: skip
        refused = b.request(method, path)
        assert "GET" in refused.headers["allow"]
        assert method in problem(refused, 405, "method_not_allowed")
    assert b.get("/no-such-file").status_code == 404  # the page's files: as they were

    # The same token as a bearer, for scripts.
    scripted = httpx.get(
        f"{site.url}/api/me", headers={"authorization": f"Bearer {token}"}, trust_env=False
    )
    assert scripted.json() == {"name": "alice", "kind": "operator"}

    session = b.cookie
    out = b.request("DELETE", "/api/session")
    assert out.status_code == 204
    cleared = out.headers["set-cookie"]
    assert cleared.startswith(f"{COOKIE}=;") and "Max-Age=0" in cleared
    # Logging out ends the session itself, not only the browser's copy of the cookie.
    replayed = httpx.get(
        f"{site.url}/api/me", headers={"cookie": f"{COOKIE}={session}"}, trust_env=False
    )
    assert replayed.status_code == 401


def test_a_viewer_sees_everything_and_a_picture_but_changes_nothing(site: Site) -> None:
    b = site.browser()
    viewer = site.token("lobby-wall", read_only=True)
    assert b.login(viewer).json() == {
        "name": "lobby-wall",
        "kind": "viewer",
    }
    for path in ("/api/status", "/api/cameras", "/api/cameras/cam-1", "/api/targets",
                 "/api/info", "/api/cameras/cam-1/history", "/api/cameras/cam-1/logs",
                 "/api/samples"):  # fmt: skip
        assert b.get(path).status_code == 200, path
    for action in ("start", "stop", "restart"):
        problem(b.post(f"/api/cameras/cam-1/{action}"), 403, "read_only")
    problem(b.post("/api/cameras", json_body={"id": "cam-9", "url": "rtsp://x/"}), 403, "read_only")
    problem(b.post("/api/targets/central/check"), 403, "read_only")
    assert b.camera_status("cam-1")["desired"] == "stopped"
    # ucvd-web refuses before asking; the daemon refuses as well, to a ucvd-web that would
    # ask anyway (a compromised one).
    act = p.TokenAct(token=viewer, method="publishing.start",
                     params=msgspec.Raw(b'{"camera_id": "cam-1"}'))  # fmt: skip
    with Client(str(site.d.socket), timeout_s=10) as client, pytest.raises(RemoteError) as refused:
        client.call_raw("token.act", act)
    assert refused.value.kind == "permission_denied", refused.value
    assert site.d.status("cam-1")["desired"] == "stopped"
    assert [c["id"] for c in b.get("/api/cameras").json()["items"]] == ["cam-1", "cam-2"]

    # A picture is the video, not a status: the daemon gives it for a user's token (of
    # either kind). The camera is stopped, so it comes from the camera itself.
    still = b.get("/api/cameras/cam-1/still.jpg")
    assert still.status_code == 200, still.text
    assert still.headers["content-type"] == "image/jpeg"
    assert still.headers["x-still-source"] == "camera"
    assert still.headers["x-still-at"].startswith("20")
    assert still.headers["cache-control"] == "no-store"
    assert still.content[:2] == b"\xff\xd8" and still.content[-2:] == b"\xff\xd9"
    assert len(still.content) > 1000
    assert not site.audit("lobby-wall", "publishing.start")


def test_an_operator_starts_stops_and_restarts_and_the_daemon_says_who(site: Site) -> None:
    b = site.browser()
    b.login(site.token("alice"))
    started = b.post("/api/cameras/cam-1/start")
    assert started.status_code == 200, started.text
    assert started.json()["camera_id"] == "cam-1" and started.json()["desired"] == "publishing"
    first = b.wait_camera("cam-1", "publishing", lambda s: s["pid"] is not None)

    problem(b.post("/api/cameras/cam-1/start"), 409, "already_publishing")
    restarted = b.post("/api/cameras/cam-1/restart")
    assert restarted.status_code == 200, restarted.text
    b.wait_camera("cam-1", "publishing", lambda s: s["pid"] not in (None, first["pid"]))

    stopped = b.post("/api/cameras/cam-1/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["desired"] == "stopped"
    b.wait_camera("cam-1", "stopped")
    assert site.d.status("cam-1")["status"] == "stopped"  # ucvctl agrees

    assert "start, stop or restart" in problem(b.post("/api/cameras/cam-1/explode"), 404,
                                                "not_found")  # fmt: skip
    problem(b.post("/api/cameras/nope/start"), 404, "not_found")
    problem(b.get("/api/cameras/nope"), 404, "not_found")
    problem(b.get("/api/cameras/nope/still.jpg"), 404, "not_found")

    # The daemon's own audit line names the token's holder for each action it was asked
    # for, refused ones included (the second start, the unknown camera).
    asked = {
        method: [line["params"] for line in site.audit("alice", method)]
        for method in ("publishing.start", "publishing.restart", "publishing.stop")
    }
    cam_1, nope = {"camera_id": "cam-1"}, {"camera_id": "nope"}
    assert asked == {
        "publishing.start": [cam_1, cam_1, nope],
        "publishing.restart": [cam_1],
        "publishing.stop": [cam_1],
    }


def test_a_camera_added_with_a_password_works_and_the_password_never_shows(site: Site) -> None:
    sim = site.sims["cam-2"]
    assert sim.credentials is not None
    password = sim.credentials.password
    b = site.browser()
    b.login(site.token("alice"))
    added = b.post(
        "/api/cameras",
        json_body={"id": "cam-3", "url": sim.url, "username": sim.credentials.user,
                   "password": password, "name": "Gate (by API)"},
    )  # fmt: skip
    assert added.status_code == 200, added.text
    view = added.json()
    assert (view["id"], view["has_password"], view["desired"]) == ("cam-3", True, "stopped")
    assert view["username"] == sim.credentials.user and view["name"] == "Gate (by API)"
    # Credentials in the URL itself are taken out and kept apart as well; these are wrong.
    wrong = Credentials.generate(sim.credentials.user)
    in_url = b.post("/api/cameras", json_body={"id": "cam-4", "url": sim.url_with(wrong)})
    assert in_url.status_code == 200, in_url.text
    assert in_url.json()["has_password"] is True
    assert wrong.password not in in_url.text
    problem(b.post("/api/cameras", json_body={"id": "cam-3", "url": sim.url}), 409,
            "already_exists")  # fmt: skip
    problem(b.post("/api/cameras", json_body={"id": "cam-5", "url": sim.url, "pasword": "x"}),
            400, "invalid_params")  # fmt: skip

    # The password was kept and is used: the camera that asks for it publishes.
    assert b.post("/api/cameras/cam-3/start").status_code == 200
    b.wait_camera("cam-3", "publishing")
    for path in ("/api/cameras", "/api/cameras/cam-3", "/api/cameras/cam-4", "/api/status",
                 "/api/cameras/cam-3/logs?lines=500", "/api/cameras/cam-3/history",
                 "/api/info"):  # fmt: skip
        assert b.get(path).status_code == 200, path
    assert b.post("/api/cameras/cam-3/stop").status_code == 200
    b.wait_camera("cam-3", "stopped")
    # The camera refuses the wrong password: the failed picture says so, and nothing more.
    failed = problem(b.get("/api/cameras/cam-4/still.jpg"), 502, "stream_unavailable")
    assert "cam-4" in failed and "401" in failed
    assert [line["params"] for line in site.audit("alice", "camera.add")] == [
        {"id": "cam-3", "name": "Gate (by API)"},
        {"id": "cam-4", "name": ""},
        {"id": "cam-3", "name": ""},  # refused (already_exists), asked for all the same
    ]  # the invalid one (a misspelt field) never reached the daemon

    assert password in site.secrets
    logs = {"ucvd": site.d.log_text(), "ucvd-web": site.web.log_path.read_text()}
    for secret in [*site.secrets, *secrets_of_credentials(wrong)]:
        for i, body in enumerate(b.bodies):
            assert secret.encode() not in body, (secret, i)
        for name, text in logs.items():
            assert secret not in text, (secret, name)


def test_a_cross_site_request_with_a_valid_cookie_changes_nothing(site: Site) -> None:
    b = site.browser()
    b.login(site.token("alice"))
    forgeries = [
        {"origin": EVIL},
        {"origin": EVIL, "sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "cross-site", "origin": ""},
        {"sec-fetch-site": "same-site"},
    ]
    for headers in forgeries:
        for path in ("/api/cameras/cam-1/start", "/api/cameras/cam-2/start"):
            message = problem(b.post(path, headers=headers), 403, "csrf")
            assert "cross-site" in message
    # An HTML form posts without the header and cannot add it.
    form = b.post("/api/cameras/cam-1/start", browser_headers=False, headers={"origin": EVIL})
    assert "x-requested-with" in problem(form, 403, "csrf")
    added = b.post("/api/cameras", headers={"origin": EVIL},
                   json_body={"id": "cam-9", "url": "rtsp://127.0.0.1:1/x"})  # fmt: skip
    problem(added, 403, "csrf")
    problem(b.request("DELETE", "/api/session", headers={"origin": EVIL}), 403, "csrf")

    # Nothing changed: each refused start would have set its camera's desired state before
    # its answer, and been logged.
    for camera_id in ("cam-1", "cam-2"):
        assert b.camera_status(camera_id)["desired"] == "stopped"
        assert site.d.status(camera_id)["status"] == "stopped"
    assert [c["id"] for c in b.get("/api/cameras").json()["items"]] == ["cam-1", "cam-2"]
    assert not site.audit("alice", "publishing.start")
    assert not site.audit("alice", "camera.add")
    assert b.get("/api/me").status_code == 200  # still logged in: the logout was refused


def test_a_revoked_token_is_refused_within_the_cache_period(site: Site) -> None:
    b = site.browser()
    b.login(site.token("alice"))
    assert b.get("/api/status").status_code == 200  # a verdict ucvd-web now remembers
    site.d.ctl("token", "revoke", "alice").check()
    revoked = time.monotonic()
    margin = 3.0  # a request, and this loaded machine
    wait_until(
        lambda: b.get("/api/status").status_code == 401,
        timeout=REVOKED_WITHIN_S + margin,
        interval=0.2,
        what="the revoked token's cookie to be refused",
    )
    assert time.monotonic() - revoked < REVOKED_WITHIN_S + margin
    problem(b.get("/api/me"), 401, "unauthorized")
    problem(b.post("/api/cameras/cam-1/start"), 401, "unauthorized")

    # An action checks the token at the daemon itself, remembered verdict or not; and its
    # refusal makes ucvd-web forget that verdict at once.
    bob = site.browser()
    bob.login(site.token("bob"))
    warmed = time.monotonic()
    assert bob.get("/api/me").status_code == 200
    with Client(str(site.d.socket), timeout_s=10) as client:
        client.call_raw("token.revoke", p.TokenRef(name="bob"))
    problem(bob.post("/api/cameras/cam-1/start"), 401, "unauthorized")
    problem(bob.get("/api/me"), 401, "unauthorized")
    elapsed = time.monotonic() - warmed
    assert elapsed < CACHE_S, f"too slow to tell forget() from the cache's expiry: {elapsed}"
    assert site.d.status("cam-1")["status"] == "stopped"
    assert site.d.ctl_json("token", "list")["items"] == []


def test_the_live_feed_relays_events_and_says_when_the_daemon_comes_and_goes(
    site: Site,
) -> None:
    b = site.browser()
    b.login(site.token("alice"))
    assert b.post("/api/cameras/cam-1/start").status_code == 200
    b.wait_camera("cam-1", "publishing")

    feed = LiveFeed(site.port, origin=site.url, cookie=b.cookie)
    try:
        assert isinstance(feed.handshake(), AcceptConnection)
        assert feed.receive() == UP
        assert b.post("/api/cameras/cam-1/stop").status_code == 200
        stopped = feed.receive_until(
            lambda m: m["type"] == "status" and m["camera_id"] == "cam-1" and m["new"] == "stopped",
            timeout=30,
            what="cam-1's stopped event",
        )
        assert set(stopped) == {"type", "camera_id", "old", "new", "error", "at", "status"}
        # The whole status after the change rides along: the page needs no second call.
        assert stopped["status"]["camera_id"] == "cam-1"
        assert stopped["status"]["status"] == "stopped"
        assert stopped["status"]["desired"] == "stopped"

        # Another site's page may not open the feed, whatever cookie its browser holds.
        for origin in (EVIL, None):
            forged = LiveFeed(site.port, origin=origin, cookie=b.cookie)
            try:
                refused = forged.handshake()
                assert isinstance(refused, RejectConnection), (origin, refused)
                assert refused.status_code == 403
            finally:
                forged.close()
        # Without a (valid) cookie: accepted, then closed as unauthorized.
        for cookie in (None, "ucvd_not-a-real-token"):
            anonymous = LiveFeed(site.port, origin=site.url, cookie=cookie)
            try:
                assert isinstance(anonymous.handshake(), AcceptConnection)
                closed = anonymous.receive()
                assert isinstance(closed, CloseConnection) and closed.code == 4401, closed
            finally:
                anonymous.close()

        code, _ = site.d.terminate()
        assert code == 0
        feed.receive_until(lambda m: m == DOWN, timeout=30, what="the daemon's going")
        assert "ucvd is not answering" in problem(b.get("/api/status"), 503,
                                                   "daemon_unavailable")  # fmt: skip
        assert b.get("/").text == INDEX  # the page still loads, and can say so

        site.d.start()
        feed.receive_until(lambda m: m == UP, timeout=30, what="the daemon's return")
        assert b.camera_status("cam-1")["status"] == "stopped"
    finally:
        feed.close()
