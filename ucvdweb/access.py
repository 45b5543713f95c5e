"""Who is asking: the dashboard's login cookie or a bearer token, checked with the daemon,
and the request-forgery guards.

The browser logs in once with an access token (`ucvctl token create`) and gets back a
session cookie the page's scripts cannot read (HttpOnly) and that no other site's page
makes the browser send (SameSite=Strict). The cookie holds a random session id, never the
token: browsers send a host's cookies to every port of that host (RFC 6265 §8.5), so any
other web server on 127.0.0.1 at the operator's desk (at the end of an SSH tunnel) would
receive it; a session id is worth nothing once its holder logs out or ucvd-web restarts,
and is no key to the daemon. Sessions live in ucvd-web's memory only.

On top of that, every request that changes something must carry a
header a cross-site form or `<img>` cannot set (`X-Requested-With: ucvd`; a cross-origin
script would need a CORS preflight, which is never granted) and, when the browser says
where it comes from (Origin, Sec-Fetch-Site), come from this very origin. WebSockets are
exempt from CORS, so their handshake must show this origin's Origin.

Tokens are checked by the daemon (`token.verify`), which keeps only their hashes; a verdict
is remembered for `CACHE_S`, so a revoked token stops working within that long (an open
WebSocket is checked again as often).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import msgspec

from ucvd.api import protocol as p
from ucvdweb.daemon import Daemon, Refusal

COOKIE = "ucvd_session"
COOKIE_MAX_AGE_S = 30 * 24 * 3600  # a wall display should not need a login every week
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "ucvd"
CACHE_S = 5.0
_MAX_CACHED = 1024


@dataclass(frozen=True)
class User:
    name: str
    kind: str  # operator | viewer
    token: str

    @property
    def may_act(self) -> bool:
        return self.kind == "operator"


class NotLoggedIn(Exception):
    pass


MAX_SESSIONS = 4096  # beyond, the least recently used is forgotten (its page logs in again)


class Sessions:
    """Session id -> access token, for the browsers logged in since ucvd-web started."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_id: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def open(self, token: str) -> str:
        session_id = secrets.token_urlsafe(32)
        self._by_id[session_id] = (token, self._clock())
        while len(self._by_id) > MAX_SESSIONS:
            self._by_id.popitem(last=False)
        return session_id

    def token(self, session_id: str | None) -> str | None:
        found = self._by_id.get(session_id or "")
        if found is None or self._clock() - found[1] > COOKIE_MAX_AGE_S:
            return None
        self._by_id[session_id or ""] = (found[0], self._clock())
        self._by_id.move_to_end(session_id or "")
        return found[0]

    def close(self, session_id: str | None) -> None:
        self._by_id.pop(session_id or "", None)


def presented_token(
    headers: Mapping[str, str], cookies: Mapping[str, str], sessions: Sessions
) -> str | None:
    """A bearer token (scripts), else the token of the cookie's session (browsers)."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return sessions.token(cookies.get(COOKIE))


def origin_ok(headers: Mapping[str, str], scheme: str) -> bool:
    """The request comes from this origin, or says nothing of where it comes from (a
    script such as curl: it cannot carry the victim's cookie)."""
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    return origin in (f"{scheme}://{host}", f"{_http(scheme)}://{host}")


def websocket_origin_ok(headers: Mapping[str, str], scheme: str) -> bool:
    """A browser always sends Origin on a WebSocket handshake: none, or another, is refused."""
    origin = headers.get("origin")
    if origin is None:
        return False
    host = headers.get("host", "")
    return origin == f"{_http(scheme)}://{host}"


def _http(scheme: str) -> str:
    return {"ws": "http", "wss": "https"}.get(scheme, scheme)


def forged(method: str, headers: Mapping[str, str], scheme: str) -> str | None:
    """Why a request looks forged (None: it does not)."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return None
    if headers.get(CSRF_HEADER, "").lower() != CSRF_VALUE:
        return f"a request that changes something must carry '{CSRF_HEADER}: {CSRF_VALUE}'"
    if not origin_ok(headers, scheme):
        return "cross-site request refused"
    return None


def session_cookie(session_id: str, *, secure: bool) -> str:
    flags = f"Max-Age={COOKIE_MAX_AGE_S}; Path=/; HttpOnly; SameSite=Strict"
    return f"{COOKIE}={session_id}; {flags}" + ("; Secure" if secure else "")


def cleared_cookie(*, secure: bool) -> str:
    return f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict" + (
        "; Secure" if secure else ""
    )


_holder = msgspec.json.Decoder(p.TokenHolder)


class Verifier:
    def __init__(self, daemon: Daemon, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.daemon = daemon
        self._clock = clock
        self._seen: dict[str, tuple[float, User | None]] = {}

    async def user(self, token: str | None) -> User:
        """The token's holder; raises NotLoggedIn (or DaemonDown)."""
        if not token:
            raise NotLoggedIn("log in with an access token (ucvctl token create NAME)")
        if len(token) > 128:
            raise NotLoggedIn("not an access token")
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        now = self._clock()
        seen = self._seen.get(key)
        if seen is None or now - seen[0] >= CACHE_S:
            seen = (now, await self._ask(token))
            if len(self._seen) >= _MAX_CACHED:
                self._seen.clear()  # many distinct tokens in 5 s: someone is guessing
            self._seen[key] = seen
        if seen[1] is None:
            raise NotLoggedIn("unknown or revoked access token")
        return seen[1]

    def forget(self, token: str) -> None:
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        self._seen.pop(key, None)

    async def _ask(self, token: str) -> User | None:
        try:
            raw = await self.daemon.call("token.verify", p.TokenVerify(token=token))
        except Refusal as exc:
            if exc.kind == "unauthorized" or exc.code == -32602:
                return None
            raise
        holder = _holder.decode(raw)
        return User(name=holder.name, kind=holder.kind, token=token)
