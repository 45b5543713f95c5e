"""The dashboard's built files (web/, built by Vite; /usr/share/ucvd/web in the package),
and the headers every response carries.

The page runs under a strict Content-Security-Policy: its own scripts and styles only, no
inline code, no connection anywhere but this origin. Nothing is fetched from elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

INSTALLED = Path("/usr/share/ucvd/web")
# A checkout: the Vite build next to this package (web/dist, made by `make deps`).
IN_TREE = Path(__file__).resolve().parent.parent / "web" / "dist"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def find_dashboard(given: str | None = None) -> Path | None:
    """Where the built dashboard is: --static-dir / $UCVD_WEB_STATIC, the package's, or the
    checkout's; None if there is none (then / says how to build it)."""
    chosen = given or os.environ.get("UCVD_WEB_STATIC")
    candidates = [Path(chosen)] if chosen else [INSTALLED, IN_TREE]
    for directory in candidates:
        if (directory / "index.html").is_file():
            return directory
    return None


IMMUTABLE = b"public, max-age=31536000, immutable"  # Vite names assets by their content hash


class SecurityHeaders:
    """Adds HEADERS to every HTTP response (not to WebSocket handshakes), and lets browsers
    keep the content-hashed assets for good while they check the page itself each time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Only a found asset is kept for good: a 404 cached for a year would leave a
                # browser that asked during an upgrade with a broken page.
                found = message.get("status") == 200
                cache = IMMUTABLE if found and path.startswith("/assets/") else b"no-cache"
                present = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in HEADERS if n not in present]
                if b"cache-control" not in present:
                    extra.append((b"cache-control", cache))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
