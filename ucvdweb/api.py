"""The dashboard's JSON API (docs/dashboard.md has the routes): each route is one or two
daemon calls, whose raw JSON results are passed on as they are.

Reads are made with ucvd-web's own read-only account once the user's token checks out;
everything else (actions, and pictures of what a camera shows) goes through the daemon's
`token.act` with the user's token, so the daemon itself decides, and logs, who did what.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ucvd.api import protocol as p
from ucvdweb.access import (
    COOKIE,
    NotLoggedIn,
    Sessions,
    User,
    Verifier,
    cleared_cookie,
    forged,
    presented_token,
    session_cookie,
)
from ucvdweb.daemon import Daemon, DaemonDown, Refusal

log = structlog.get_logger(__name__)

MAX_BODY = 64 * 1024
STILL_TIMEOUT_S = 40.0  # the daemon's two attempts (central, then camera) and its queue
# Pictures asked of the daemon at once; beyond, a 503 at once: a picture can take its
# FFmpeg seconds, and a page (or a script with a viewer token) must not queue many.
MAX_STILLS = 4
ACTION_TIMEOUT_S = 30.0

# The daemon's refusal kinds as HTTP statuses; the rest of its kinds (relay faults such as
# connection_failed from a picture or a check) are the camera's or server's doing: 502.
_STATUS = {
    "unauthorized": 401,
    "permission_denied": 403,
    "not_found": 404,
    "invalid_argument": 400,
    "invalid_params": 400,
    "already_exists": 409,
    "already_publishing": 409,
    "not_publishing": 409,
    "in_use": 409,
    "state_changed": 409,
    "storage_error": 500,
    "config_error": 500,
}
_still = msgspec.json.Decoder(p.Still)


class Problem(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


def problem(status: int, kind: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"kind": kind, "message": message}}, status_code=status, headers=headers
    )


def _from_refusal(exc: Refusal) -> Problem:
    if exc.code == -32602:
        return Problem(400, "invalid_params", exc.message)
    kind = exc.kind or "error"
    if kind == "permission_denied":
        kind = "read_only"
    return Problem(_STATUS.get(exc.kind or "", 502), kind, exc.message)


def _raw(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


Handler = Callable[[Request, User], Awaitable[Response]]


class Api:
    def __init__(self, daemon: Daemon, verifier: Verifier, sessions: Sessions) -> None:
        self.daemon = daemon
        self.verifier = verifier
        self.sessions = sessions
        self._stills = 0

    # --- plumbing ---------------------------------------------------------------------------
    def _guarded(self, handler: Handler, *, act: bool = False) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            why = forged(request.method, request.headers, request.url.scheme)
            if why is not None:
                return problem(403, "csrf", why)
            token = presented_token(request.headers, request.cookies, self.sessions)
            try:
                user = await self.verifier.user(token)
                if act and not user.may_act:
                    return problem(403, "read_only", f"{user.name} has a read-only token")
                return await handler(request, user)
            except NotLoggedIn as exc:
                return problem(401, "unauthorized", str(exc))
            except Problem as exc:
                return problem(exc.status, exc.kind, exc.message)
            except Refusal as exc:
                refused = _from_refusal(exc)
                if refused.status == 401 and token:
                    self.verifier.forget(token)  # revoked meanwhile: do not wait for the cache
                return problem(refused.status, refused.kind, refused.message)
            except DaemonDown as exc:
                return problem(503, "daemon_unavailable", f"ucvd is not answering: {exc}")

        return endpoint

    async def _read(self, method: str, params: msgspec.Struct) -> bytes:
        try:
            return await self.daemon.call(method, params)
        except Refusal as exc:
            raise _from_refusal(exc) from None

    async def _act(
        self, user: User, method: str, params: msgspec.Struct, timeout_s: float = ACTION_TIMEOUT_S
    ) -> bytes:
        raw_params = msgspec.Raw(msgspec.json.encode(params))
        act = p.TokenAct(token=user.token, method=method, params=raw_params)
        return await self.daemon.call("token.act", act, timeout_s=timeout_s)

    @staticmethod
    async def _body(request: Request, kind: type[Any]) -> Any:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise Problem(413, "too_large", f"a request body is at most {MAX_BODY} bytes")
        try:
            return msgspec.json.decode(body or b"{}", type=kind)
        except msgspec.ValidationError as exc:
            raise Problem(400, "invalid_params", str(exc)) from None
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise Problem(400, "invalid_params", "the body is not valid JSON") from None

    # --- routes -----------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        g = self._guarded
        return [
            Route("/api/session", self.login, methods=["POST"]),
            Route("/api/session", self.logout, methods=["DELETE"]),
            Route("/api/me", g(self.me)),
            Route("/api/info", g(self.info)),
            Route("/api/status", g(self.status)),
            Route("/api/samples", g(self.samples)),
            Route("/api/cameras", g(self.cameras)),
            Route("/api/cameras", g(self.camera_add, act=True), methods=["POST"]),
            Route("/api/cameras/{id}", g(self.camera)),
            Route("/api/cameras/{id}/history", g(self.history)),
            Route("/api/cameras/{id}/logs", g(self.logs)),
            Route("/api/cameras/{id}/still.jpg", g(self.still)),
            Route("/api/cameras/{id}/{action:str}", g(self.publishing, act=True), methods=["POST"]),
            Route("/api/targets", g(self.targets)),
            Route("/api/targets/{name}/check", g(self.target_check, act=True), methods=["POST"]),
            Route(
                "/api/targets/{name}/activate", g(self.target_activate, act=True), methods=["POST"]
            ),
            Route("/api/discovery/scan", g(self.discovery_scan, act=True), methods=["POST"]),
        ]

    async def login(self, request: Request) -> Response:
        why = forged(request.method, request.headers, request.url.scheme)
        if why is not None:
            return problem(403, "csrf", why)
        try:
            given = await self._body(request, _Login)
            user = await self.verifier.user(given.token.strip())
        except Problem as exc:
            return problem(exc.status, exc.kind, exc.message)
        except NotLoggedIn:
            return problem(
                401, "unauthorized",
                "token refused: create one with `ucvctl token create NAME` on the gateway",
            )  # fmt: skip
        except Refusal as exc:  # not about the token: e.g. busy, while the daemon stops
            refused = _from_refusal(exc)
            return problem(refused.status, refused.kind, refused.message)
        except DaemonDown as exc:
            return problem(503, "daemon_unavailable", f"ucvd is not answering: {exc}")
        log.info("dashboard login", token_name=user.name, kind=user.kind)
        response = JSONResponse({"name": user.name, "kind": user.kind})
        secure = request.url.scheme == "https"
        session_id = self.sessions.open(user.token)
        response.headers["set-cookie"] = session_cookie(session_id, secure=secure)
        return response

    async def logout(self, request: Request) -> Response:
        why = forged(request.method, request.headers, request.url.scheme)
        if why is not None:
            return problem(403, "csrf", why)
        self.sessions.close(request.cookies.get(COOKIE))
        response = Response(status_code=204)
        response.headers["set-cookie"] = cleared_cookie(secure=request.url.scheme == "https")
        return response

    async def me(self, _request: Request, user: User) -> Response:
        return JSONResponse({"name": user.name, "kind": user.kind})

    async def info(self, _request: Request, _user: User) -> Response:
        return _raw(await self._read("daemon.info", p.NoParams()))

    async def status(self, _request: Request, _user: User) -> Response:
        return _raw(await self._read("publishing.status", p.StatusQuery()))

    async def samples(self, request: Request, _user: User) -> Response:
        seconds = _int_arg(request, "seconds", 600, 1, 3600)
        return _raw(await self._read("publishing.samples", p.SamplesQuery(seconds=seconds)))

    async def cameras(self, _request: Request, _user: User) -> Response:
        return _raw(await self._read("camera.list", p.NoParams()))

    async def camera(self, request: Request, _user: User) -> Response:
        camera_id = request.path_params["id"]
        camera = await self._read("camera.get", p.CameraRef(id=camera_id))
        status = await self._read("publishing.status", p.StatusQuery(camera_id=camera_id))
        return _raw(b'{"camera":%s,"status":%s}' % (camera, status))

    async def history(self, request: Request, _user: User) -> Response:
        limit = _int_arg(request, "limit", 20, 1, 1000)
        query = p.HistoryQuery(camera_id=request.path_params["id"], limit=limit)
        return _raw(await self._read("publishing.history", query))

    async def logs(self, request: Request, _user: User) -> Response:
        query = p.LogsQuery(
            camera_id=request.path_params["id"],
            lines=_int_arg(request, "lines", 200, 1, 10_000),
            after=_int_arg(request, "after", 0, 0, 2**62),
        )
        return _raw(await self._read("publishing.logs", query))

    async def still(self, request: Request, user: User) -> Response:
        query = p.StillQuery(camera_id=request.path_params["id"])
        if self._stills >= MAX_STILLS:
            raise Problem(503, "busy", f"{MAX_STILLS} pictures are being taken; try again shortly")
        self._stills += 1
        try:
            raw = await self._act(user, "camera.still", query, timeout_s=STILL_TIMEOUT_S)
        finally:
            self._stills -= 1
        picture = _still.decode(raw)
        return Response(
            picture.jpeg,
            media_type="image/jpeg",
            headers={
                "cache-control": "no-store",
                "x-still-source": picture.source,
                "x-still-at": picture.at,
            },
        )

    async def publishing(self, request: Request, user: User) -> Response:
        camera_id = request.path_params["id"]
        action = request.path_params["action"]
        params: msgspec.Struct
        if action == "start":
            method, params = "publishing.start", p.PublishStart(camera_id=camera_id)
        elif action in ("stop", "restart"):
            method, params = f"publishing.{action}", p.PublishRef(camera_id=camera_id)
        else:
            raise Problem(404, "not_found", f"no action {action[:40]!r}: start, stop or restart")
        return _raw(await self._act(user, method, params))

    async def camera_add(self, request: Request, user: User) -> Response:
        params = await self._body(request, p.CameraAdd)
        return _raw(await self._act(user, "camera.add", params))

    async def targets(self, _request: Request, _user: User) -> Response:
        return _raw(await self._read("target.list", p.NoParams()))

    async def target_check(self, request: Request, user: User) -> Response:
        ref = p.TargetRef(name=request.path_params["name"])
        return _raw(await self._act(user, "target.check", ref))

    async def target_activate(self, request: Request, user: User) -> Response:
        ref = p.TargetRef(name=request.path_params["name"])
        return _raw(await self._act(user, "target.activate", ref, timeout_s=120))

    async def discovery_scan(self, request: Request, user: User) -> Response:
        params = await self._body(request, p.DiscoveryScan)
        return _raw(await self._act(user, "discovery.scan", params, timeout_s=params.timeout + 30))


class _Login(msgspec.Struct, forbid_unknown_fields=True):
    token: p.TokenSecret


def _int_arg(request: Request, name: str, default: int, least: int, most: int) -> int:
    given = request.query_params.get(name)
    if given is None:
        return default
    if not given.isdigit() or not least <= int(given) <= most:
        raise Problem(400, "invalid_params", f"{name} must be a whole number {least}..{most}")
    return int(given)
