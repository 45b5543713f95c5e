"""The HTTP application: routes, the optional bearer token, and the one socket call per
scrape. The daemon is reached exactly as `ucvctl` reaches it (ucvctl.client), in a worker
thread so that a slow daemon never blocks other requests.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

import anyio
import msgspec
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ucvctl.client import Client, RemoteError, Unreachable
from ucvd.api import protocol as p
from ucvdweb.exposition import CONTENT_TYPE, render

log = structlog.get_logger(__name__)

SOCKET_TIMEOUT_S = 10.0  # under Prometheus' default scrape timeout (10 s) plus the render
_decode_snapshot = msgspec.json.Decoder(p.MetricsSnapshot).decode

Fetch = Callable[[], p.MetricsSnapshot]


def socket_fetch(socket_path: str) -> Fetch:
    def fetch() -> p.MetricsSnapshot:
        with Client(socket_path, timeout_s=SOCKET_TIMEOUT_S) as client:
            return _decode_snapshot(client.call_raw("daemon.metrics", p.NoParams()))

    return fetch


def create_app(fetch: Fetch, *, token: str | None = None) -> Starlette:
    expected = f"Bearer {token}".encode() if token else None

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
        started = time.monotonic()
        snapshot: p.MetricsSnapshot | None
        try:
            snapshot = await anyio.to_thread.run_sync(fetch)
        except (Unreachable, RemoteError, msgspec.DecodeError) as exc:
            # Said as ucvd_up 0, and logged: the scrape itself succeeds, so that an alert
            # can tell "gateway up, daemon down" from "gateway unreachable".
            log.warning("the daemon did not answer a scrape", error=str(exc))
            snapshot = None
        round_trip = time.monotonic() - started if snapshot is not None else None
        body = render(snapshot, round_trip_s=round_trip)
        return Response(body, media_type=CONTENT_TYPE)

    async def index(_request: Request) -> Response:
        return PlainTextResponse("ucvd-web: metrics at /metrics\n")

    return Starlette(routes=[Route("/metrics", metrics), Route("/", index)])
