"""The HTTP application: routes, the optional bearer token, and the one socket call per
scrape. The daemon is reached exactly as `ucvctl` reaches it (ucvctl.client), in a worker
thread so that a slow daemon never blocks other requests.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import msgspec
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from ucvctl.client import Client, RemoteError, Unreachable
from ucvd.api import protocol as p
from ucvdweb.access import Sessions, Verifier
from ucvdweb.api import Api, problem
from ucvdweb.daemon import Daemon
from ucvdweb.exposition import CONTENT_TYPE, render
from ucvdweb.live import Hub
from ucvdweb.static import SecurityHeaders

log = structlog.get_logger(__name__)

# Well under Prometheus' default scrape timeout (10 s): a daemon that accepts but does not
# answer must show as ucvd_up 0 (the daemon is stuck), not as a failed scrape (the gateway
# is down).
SOCKET_TIMEOUT_S = 5.0
_decode_snapshot = msgspec.json.Decoder(p.MetricsSnapshot).decode

Fetch = Callable[[], p.MetricsSnapshot]


def socket_fetch(socket_path: str) -> Fetch:
    def fetch() -> p.MetricsSnapshot:
        with Client(socket_path, timeout_s=SOCKET_TIMEOUT_S) as client:
            return _decode_snapshot(client.call_raw("daemon.metrics", p.NoParams()))

    return fetch


class SharedFetch:
    """Scrapes that arrive while one is asking the daemon wait for its answer instead of
    asking again: a flood of scrapes costs the daemon one connection, not one each."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._inflight: anyio.Event | None = None
        self._answer: tuple[p.MetricsSnapshot | None, float | None] = (None, None)

    async def __call__(self) -> tuple[p.MetricsSnapshot | None, float | None]:
        """The snapshot (None: the daemon did not answer) and the socket round trip."""
        if self._inflight is not None:
            await self._inflight.wait()
            return self._answer
        done = self._inflight = anyio.Event()
        try:
            self._answer = await self._ask()
            return self._answer
        finally:
            self._inflight = None
            done.set()

    async def _ask(self) -> tuple[p.MetricsSnapshot | None, float | None]:
        started = time.monotonic()
        try:
            # Cancellable: an abandoned scrape does not hold a thread past its socket timeout.
            snapshot = await anyio.to_thread.run_sync(self._fetch, abandon_on_cancel=True)
        except (Unreachable, RemoteError, msgspec.DecodeError) as exc:
            # Said as ucvd_up 0, and logged: the scrape itself succeeds, so that an alert
            # can tell "gateway up, daemon down" from "gateway unreachable".
            log.warning("the daemon did not answer a scrape", error=str(exc))
            return None, None
        return snapshot, time.monotonic() - started


def create_app(
    fetch: Fetch,
    *,
    token: str | None = None,
    socket_path: str | None = None,
    dashboard: Path | None = None,
) -> Starlette:
    """/metrics always; with `socket_path`, the dashboard's API and live feed too, and its
    page from `dashboard` (the built web/ files)."""
    expected = f"Bearer {token}".encode() if token else None
    shared = SharedFetch(fetch)

    def allowed(request: Request) -> bool:
        if expected is None:
            return True
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    async def metrics(request: Request) -> Response:
        if not allowed(request):
            return PlainTextResponse(
                "a bearer token is required (Authorization: Bearer ...)\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="ucvd"'},
            )
        snapshot, round_trip = await shared()
        body = render(snapshot, round_trip_s=round_trip)
        return Response(body, media_type=CONTENT_TYPE)

    async def index(_request: Request) -> Response:
        if socket_path is None:
            return PlainTextResponse("ucvd-web: metrics at /metrics\n")
        return PlainTextResponse(
            "ucvd-web: the dashboard is not built here (make deps builds it into web/dist; "
            "the package has it in /usr/share/ucvd/web); metrics at /metrics\n",
            status_code=404,
        )

    routes: list[BaseRoute] = [Route("/metrics", metrics)]
    hub: Hub | None = None
    if socket_path is not None:
        daemon = Daemon(socket_path)
        verifier = Verifier(daemon)
        sessions = Sessions()
        hub = Hub(daemon, verifier, sessions)
        routes += Api(daemon, verifier, sessions).routes()
        routes.append(WebSocketRoute("/api/events", hub.serve))
        routes.append(Route("/api/{rest:path}", _no_such_api))
    if dashboard is not None and socket_path is not None:
        routes.append(Mount("/", StaticFiles(directory=dashboard, html=True)))
    else:
        routes.append(Route("/", index))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            if hub is not None:
                await tg.start(hub.run)
            yield
            tg.cancel_scope.cancel()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: _http_error},
    )


async def _no_such_api(request: Request) -> Response:
    return problem(404, "not_found", f"no such API route: {request.url.path[:100]}")


_HTTP_KINDS = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (chiefly a method a route does not take): under /api/ in
    the API's error form, which the page reads for every failed call; elsewhere as
    Starlette says them."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/") and exc.status_code >= 400:
        kind = _HTTP_KINDS.get(exc.status_code, "error")
        message = f"{exc.detail}: {request.method} {request.url.path[:100]}"
        return problem(exc.status_code, kind, message, **(exc.headers or {}))
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
