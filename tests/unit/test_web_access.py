"""ucvd-web's access checks as pure functions (ucvdweb.access), the token verdict cache
against a fake daemon and a fake clock, and the live feed's event-to-browser message."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from typing import Any

import httpx
import msgspec
import pytest
from starlette.applications import Starlette

from ucvd.api import protocol as p
from ucvdweb import access
from ucvdweb.access import (
    CACHE_S,
    COOKIE,
    COOKIE_MAX_AGE_S,
    MAX_SESSIONS,
    NotLoggedIn,
    Sessions,
    Verifier,
    forged,
    origin_ok,
    presented_token,
    session_cookie,
    websocket_origin_ok,
)
from ucvdweb.api import Api
from ucvdweb.daemon import Daemon, DaemonDown, Refusal
from ucvdweb.live import browser_message

HOST = "127.0.0.1:9810"
SAME = f"http://{HOST}"
CSRF = {"x-requested-with": "ucvd"}


# --- who is asking -------------------------------------------------------------------------
def test_a_bearer_token_beats_the_cookie() -> None:
    sessions = Sessions()
    cookies = {COOKIE: sessions.open("ucvd_from-cookie")}
    assert presented_token({"authorization": "Bearer ucvd_from-header"}, cookies, sessions) == (
        "ucvd_from-header"
    )
    spaced = presented_token({"authorization": "bearer  ucvd_spaced "}, cookies, sessions)
    assert spaced == "ucvd_spaced"
    assert presented_token({}, cookies, sessions) == "ucvd_from-cookie"
    # Another scheme is not a bearer token: the cookie speaks.
    basic = presented_token({"authorization": "Basic dXNlcjpwYXNz"}, cookies, sessions)
    assert basic == "ucvd_from-cookie"
    assert presented_token({}, {}, sessions) is None
    assert presented_token({}, {COOKIE: ""}, sessions) is None
    assert presented_token({}, {"other": "ucvd_x"}, sessions) is None
    # The cookie is a session id, not the token: a token in the cookie is nothing.
    assert presented_token({}, {COOKIE: "ucvd_from-cookie"}, sessions) is None


def test_a_session_is_random_ends_at_logout_and_expires_when_idle() -> None:
    now = [1000.0]
    sessions = Sessions(clock=lambda: now[0])
    first, second = sessions.open("ucvd_a"), sessions.open("ucvd_a")
    assert first != second and len(first) >= 40 and "ucvd_a" not in first
    sessions.close(first)
    assert sessions.token(first) is None and sessions.token(second) == "ucvd_a"
    now[0] += COOKIE_MAX_AGE_S - 1
    assert sessions.token(second) == "ucvd_a"  # used: its idle time starts again
    now[0] += COOKIE_MAX_AGE_S + 1
    assert sessions.token(second) is None


def test_sessions_are_bounded_and_the_least_recently_used_goes() -> None:
    sessions = Sessions()
    oldest = sessions.open("ucvd_old")
    kept = sessions.open("ucvd_kept")
    for _ in range(MAX_SESSIONS - 2):
        sessions.open("ucvd_x")
    assert sessions.token(kept) == "ucvd_kept"  # used: now the most recent
    sessions.open("ucvd_new")
    assert sessions.token(oldest) is None and sessions.token(kept) == "ucvd_kept"


# --- forgery -------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_pass_whatever_their_headers(method: str) -> None:
    evil = {"origin": "http://evil.example", "sec-fetch-site": "cross-site", "host": HOST}
    assert forged(method, evil, "http") is None
    assert forged(method, {}, "http") is None


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "PATCH"])
def test_a_change_without_the_csrf_header_is_refused(method: str) -> None:
    same_origin = {"host": HOST, "origin": SAME, "sec-fetch-site": "same-origin"}
    why = forged(method, same_origin, "http")
    assert why is not None and "x-requested-with" in why
    assert forged(method, {**same_origin, "x-requested-with": "XMLHttpRequest"}, "http")
    assert forged(method, {**same_origin, **CSRF}, "http") is None
    assert forged(method, {**same_origin, "x-requested-with": "UCVD"}, "http") is None


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "http://127.0.0.1:9811"},  # another port is another origin
        {"origin": "https://127.0.0.1:9810"},  # and another scheme
        {"origin": "null"},  # a sandboxed frame, a file: page
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},  # a sibling host is not this origin
        {"origin": SAME, "sec-fetch-site": "cross-site"},
    ],
)
def test_a_change_from_another_site_is_refused_even_with_the_header(
    headers: dict[str, str],
) -> None:
    given = {"host": HOST, **CSRF, **headers}
    assert forged("POST", given, "http") == "cross-site request refused"
    assert not origin_ok(given, "http")


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": SAME},
        {"origin": SAME, "sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "none"},  # typed into the address bar
        {},  # curl: says nothing of where it comes from, and carries no victim's cookie
    ],
)
def test_a_change_from_this_origin_or_from_no_browser_passes(headers: dict[str, str]) -> None:
    given = {"host": HOST, **CSRF, **headers}
    assert origin_ok(given, "http")
    assert forged("POST", given, "http") is None


def test_origin_over_https() -> None:
    assert origin_ok({"host": HOST, "origin": f"https://{HOST}"}, "https")
    assert not origin_ok({"host": HOST, "origin": SAME}, "https")


def test_a_websocket_needs_this_origin_and_says_so_on_every_handshake() -> None:
    assert websocket_origin_ok({"host": HOST, "origin": SAME}, "ws")
    assert websocket_origin_ok({"host": HOST, "origin": f"https://{HOST}"}, "wss")
    # Unlike a POST, no Origin at all is refused: every browser sends one on a handshake.
    assert not websocket_origin_ok({"host": HOST}, "ws")
    assert not websocket_origin_ok({"host": HOST, "origin": "http://evil.example"}, "ws")
    # The scheme must match the connection's: ws is http's, wss is https's.
    assert not websocket_origin_ok({"host": HOST, "origin": SAME}, "wss")
    assert not websocket_origin_ok({"host": HOST, "origin": f"https://{HOST}"}, "ws")
    assert not websocket_origin_ok({"host": HOST, "origin": f"ws://{HOST}"}, "ws")
    assert not websocket_origin_ok({"host": HOST, "origin": "http://127.0.0.1:1"}, "ws")


# --- the cookie ----------------------------------------------------------------------------
def parsed(header: str) -> Any:
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    return jar[COOKIE]


def test_the_session_cookie_is_out_of_scripts_reach_and_stays_on_this_site() -> None:
    morsel = parsed(session_cookie("a-session-id", secure=False))
    assert morsel.value == "a-session-id"
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) == access.COOKIE_MAX_AGE_S
    assert not morsel["secure"]  # over plain http a Secure cookie would never come back
    assert parsed(session_cookie("a-session-id", secure=True))["secure"] is True


def test_logging_out_clears_the_same_cookie() -> None:
    morsel = parsed(access.cleared_cookie(secure=False))
    assert morsel.value == "" and morsel["max-age"] == "0" and morsel["path"] == "/"
    assert morsel["httponly"] is True and morsel["samesite"] == "Strict"


# --- the verdict cache -----------------------------------------------------------------------
class FakeDaemon(Daemon):
    """Answers token.verify from a table; counts the calls."""

    def __init__(self, holders: dict[str, p.TokenHolder]) -> None:
        super().__init__("/nonexistent")
        self.holders = holders
        self.calls: list[str] = []  # the tokens token.verify was asked about
        self.other: list[str] = []  # any other method called
        self.down = False
        self.refusal: Refusal | None = None  # token.verify refused with this (e.g. busy)

    async def call(self, method: str, params: Any, *, timeout_s: float = 10.0) -> bytes:
        if method != "token.verify":
            self.other.append(method)
            return b'{"ok":true}'
        self.calls.append(params.token)
        if self.down:
            raise DaemonDown("cannot reach ucvd")
        if self.refusal is not None:
            raise self.refusal
        holder = self.holders.get(params.token)
        if holder is None:
            raise Refusal(-32000, "unauthorized", "unknown or revoked access token")
        return msgspec.json.encode(holder)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


OPERATOR = "ucvd_operator-token"
VIEWER = "ucvd_viewer-token"


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon(
        {
            OPERATOR: p.TokenHolder(name="alice", kind="operator"),
            VIEWER: p.TokenHolder(name="lobby", kind="viewer"),
        }
    )


@pytest.mark.anyio
async def test_a_verdict_is_asked_once_per_cache_period(daemon: FakeDaemon) -> None:
    clock = Clock()
    verifier = Verifier(daemon, clock=clock)
    user = await verifier.user(OPERATOR)
    assert (user.name, user.kind, user.token, user.may_act) == ("alice", "operator", OPERATOR, True)
    clock.now += CACHE_S - 0.01
    assert await verifier.user(OPERATOR) == user
    assert daemon.calls == [OPERATOR]
    clock.now += 0.01  # CACHE_S since the daemon was asked: ask again
    assert await verifier.user(OPERATOR) == user
    assert daemon.calls == [OPERATOR, OPERATOR]
    viewer = await verifier.user(VIEWER)
    assert (viewer.name, viewer.kind, viewer.may_act) == ("lobby", "viewer", False)
    assert daemon.calls == [OPERATOR, OPERATOR, VIEWER]  # tokens are cached apart


@pytest.mark.anyio
async def test_a_revoked_token_stops_working_within_the_cache_period(daemon: FakeDaemon) -> None:
    clock = Clock()
    verifier = Verifier(daemon, clock=clock)
    await verifier.user(OPERATOR)
    del daemon.holders[OPERATOR]
    clock.now += CACHE_S / 2
    await verifier.user(OPERATOR)  # still the remembered verdict
    clock.now += CACHE_S / 2
    with pytest.raises(NotLoggedIn, match="revoked"):
        await verifier.user(OPERATOR)


@pytest.mark.anyio
async def test_an_unknown_token_is_remembered_as_refused(daemon: FakeDaemon) -> None:
    clock = Clock()
    verifier = Verifier(daemon, clock=clock)
    for _ in range(3):
        with pytest.raises(NotLoggedIn):
            await verifier.user("ucvd_guess")
    assert daemon.calls == ["ucvd_guess"]
    # Made meanwhile: accepted once the refusal is CACHE_S old, not before.
    daemon.holders["ucvd_guess"] = p.TokenHolder(name="late", kind="viewer")
    with pytest.raises(NotLoggedIn):
        await verifier.user("ucvd_guess")
    clock.now += CACHE_S
    assert (await verifier.user("ucvd_guess")).name == "late"


@pytest.mark.anyio
async def test_forget_drops_one_verdict(daemon: FakeDaemon) -> None:
    clock = Clock()
    verifier = Verifier(daemon, clock=clock)
    await verifier.user(OPERATOR)
    await verifier.user(VIEWER)
    del daemon.holders[OPERATOR]
    verifier.forget(OPERATOR)  # the daemon refused it for an action: believe that at once
    with pytest.raises(NotLoggedIn):
        await verifier.user(OPERATOR)
    await verifier.user(VIEWER)
    assert daemon.calls == [OPERATOR, VIEWER, OPERATOR]
    verifier.forget("ucvd_never-seen")  # nothing to forget: no error


@pytest.mark.anyio
async def test_no_daemon_call_for_a_missing_or_oversized_token(daemon: FakeDaemon) -> None:
    verifier = Verifier(daemon, clock=Clock())
    for token in (None, ""):
        with pytest.raises(NotLoggedIn, match="ucvctl token create"):
            await verifier.user(token)
    with pytest.raises(NotLoggedIn, match="not an access token"):
        await verifier.user("ucvd_" + "x" * 124)
    assert daemon.calls == []


@pytest.mark.anyio
async def test_a_daemon_that_is_down_is_not_taken_for_a_refusal(daemon: FakeDaemon) -> None:
    """Not cached either: the next request asks again, and a login works once it is back."""
    verifier = Verifier(daemon, clock=Clock())
    daemon.down = True
    with pytest.raises(DaemonDown):
        await verifier.user(OPERATOR)
    daemon.down = False
    assert (await verifier.user(OPERATOR)).name == "alice"
    assert daemon.calls == [OPERATOR, OPERATOR]


# --- the API's guard, in process --------------------------------------------------------
async def ask_api(
    daemon: FakeDaemon, method: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    app = Starlette(routes=Api(daemon, Verifier(daemon), Sessions()).routes())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{HOST}") as client:
        return await client.request(method, path, headers=headers)


@pytest.mark.anyio
async def test_a_viewers_action_never_reaches_the_daemon(daemon: FakeDaemon) -> None:
    """The daemon would refuse it too (token.act checks the kind); ucvd-web does not ask."""
    viewer = {"authorization": f"Bearer {VIEWER}", **CSRF}
    for path in ("/api/cameras/cam-1/start", "/api/cameras", "/api/targets/central/check"):
        response = await ask_api(daemon, "POST", path, viewer)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["kind"] == "read_only"
    assert daemon.other == []
    operator = {"authorization": f"Bearer {OPERATOR}", **CSRF}
    response = await ask_api(daemon, "POST", "/api/cameras/cam-1/stop", operator)
    assert response.status_code == 200 and daemon.other == ["token.act"]


@pytest.mark.anyio
async def test_a_forged_request_is_refused_before_its_token_is_looked_at(
    daemon: FakeDaemon,
) -> None:
    for headers in ({}, {**CSRF, "origin": "http://evil.example"}):
        response = await ask_api(
            daemon,
            "POST",
            "/api/cameras/cam-1/stop",
            {"authorization": f"Bearer {OPERATOR}", **headers},
        )
        assert response.status_code == 403 and response.json()["error"]["kind"] == "csrf"
    assert daemon.calls == [] and daemon.other == []


@pytest.mark.anyio
async def test_a_login_the_daemon_cannot_take_now_is_answered_in_the_api_form(
    daemon: FakeDaemon,
) -> None:
    """A stopping daemon answers `busy`: the login page must be able to say so."""
    daemon.refusal = Refusal(-32000, "busy", "the daemon is stopping")
    app = Starlette(routes=Api(daemon, Verifier(daemon), Sessions()).routes())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{HOST}") as client:
        response = await client.post("/api/session", json={"token": OPERATOR}, headers=CSRF)
        assert response.status_code == 502, response.text
        assert response.json()["error"] == {"kind": "busy", "message": "the daemon is stopping"}
        assert "set-cookie" not in response.headers
        daemon.refusal = None
        response = await client.post("/api/session", json={"token": OPERATOR}, headers=CSRF)
        assert response.status_code == 200 and "set-cookie" in response.headers


# --- the live feed's messages --------------------------------------------------------------
def test_a_status_event_becomes_a_typed_browser_message() -> None:
    event = p.StatusEvent(
        camera_id="gate",
        old="publishing",
        new="reconnecting",
        error=p.LastError(kind="connection_failed", message="refused", at="2030-01-01T00:00:00Z"),
        at="2030-01-01T00:00:01Z",
    )
    message = browser_message(p.STATUS_EVENT, msgspec.json.encode(event))
    assert message is not None
    expected = {"type": "status", **msgspec.to_builtins(event)}
    assert json.loads(message) == expected
    assert next(iter(json.loads(message))) == "type"


def test_a_metrics_event_becomes_a_typed_browser_message() -> None:
    event = p.MetricsEvent(
        camera_id="yard",
        metrics=p.Metrics(
            fps=25.0, frames=250, speed=1.0, bitrate_kbps=812.5, bytes=1_000_000,
            tracks=["video"], readers=1, since_progress_seconds=0.4,
        ),
        uptime_seconds=10.0,
        at="2030-01-01T00:00:02Z",
    )  # fmt: skip
    message = browser_message(p.METRICS_EVENT, msgspec.json.encode(event))
    assert message is not None
    assert json.loads(message) == {"type": "metrics", **msgspec.to_builtins(event)}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (b"{}", {"type": "status"}),
        (b'  { "camera_id" : "a" }\n', {"type": "status", "camera_id": "a"}),
        (b"{ }", {"type": "status"}),
    ],
)
def test_event_params_in_any_spacing_make_valid_json(params: bytes, expected: object) -> None:
    message = browser_message(p.STATUS_EVENT, params)
    assert message is not None and json.loads(message) == expected


def test_what_the_browser_has_no_use_for_is_dropped() -> None:
    assert browser_message("event.something_else", b'{"camera_id":"a"}') is None
    assert browser_message("events.subscribe", b"{}") is None
    assert browser_message(p.STATUS_EVENT, b"[1, 2]") is None
    assert browser_message(p.STATUS_EVENT, b"null") is None
