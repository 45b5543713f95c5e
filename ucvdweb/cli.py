"""`ucvd-web`: serve ucvd's web dashboard and its metrics over HTTP, as a client of the
daemon's socket.

The daemon, which holds the camera passwords, keeps no network listener; this program holds
no secret of the daemon's. Its account (the `ucvd-web` unit's) is in the operator group,
which lets it reach the socket, and among the daemon's `read_only_users`, which lets it
call only the methods that change nothing: a compromised web process can read statuses,
not redirect a camera, a target, or see what a camera shows. What a dashboard user does
beyond reading goes through the daemon's `token.act` with that user's own token.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

DEFAULT_LISTEN = "127.0.0.1:9810"
# Open dashboard WebSockets count too (ucvdweb.live caps them at 32 of these).
MAX_CONCURRENT_REQUESTS = 64
DEFAULT_SOCKET = "/run/ucvd/ucvd.sock"
# $CREDENTIALS_DIRECTORY/token, from the unit's LoadCredential=: a file name, not a secret.
TOKEN_CREDENTIAL = "token"  # noqa: S105


class UsageError(Exception):
    pass


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {value!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]"), int(port)  # [::1]:9810 -> ::1


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"cannot read the token file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"the token file {path} is not UTF-8 text") from None
    if len(token) < 16 or any(c.isspace() for c in token):
        raise UsageError(
            f"the token in {path} must be at least 16 characters with no spaces "
            "(e.g. openssl rand -hex 32)"
        )
    return token


def token_from(args: argparse.Namespace) -> str | None:
    if args.token_file:
        return read_token(Path(args.token_file))
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if not credentials:
        return None
    directory = Path(credentials)
    if (directory / TOKEN_CREDENTIAL).exists():
        return read_token(directory / TOKEN_CREDENTIAL)
    # Credentials were given but none is the token (a LoadCredential= under another name):
    # serving without one would open what the admin meant to close.
    given = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    if given:
        raise UsageError(
            f"credentials {', '.join(given)} given, none named {TOKEN_CREDENTIAL!r}: "
            f"load the token as LoadCredential={TOKEN_CREDENTIAL}:FILE"
        )
    return None


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="ucvd-web", description="Serve ucvd's web dashboard and its Prometheus metrics."
    )
    ap.add_argument(
        "--listen",
        default=os.environ.get("UCVD_WEB_LISTEN", DEFAULT_LISTEN),
        help=f"HOST:PORT to serve on (default {DEFAULT_LISTEN}, or $UCVD_WEB_LISTEN)",
    )
    ap.add_argument(
        "--socket",
        default=os.environ.get("UCVD_SOCKET", DEFAULT_SOCKET),
        help=f"the daemon's control socket (default {DEFAULT_SOCKET}, or $UCVD_SOCKET)",
    )
    ap.add_argument(
        "--token-file",
        help="require 'Authorization: Bearer <token>' with the token in this file "
        f"(default: $CREDENTIALS_DIRECTORY/{TOKEN_CREDENTIAL} if present, else no token)",
    )
    ap.add_argument(
        "--static-dir",
        help="the built dashboard (default $UCVD_WEB_STATIC, then /usr/share/ucvd/web, "
        "then a checkout's web/dist)",
    )
    ap.add_argument(
        "--no-dashboard",
        action="store_true",
        help="serve only /metrics: no dashboard, no /api",
    )
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        host, port = parse_listen(args.listen)
        token = token_from(args)
    except UsageError as exc:
        print(f"ucvd-web: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from ucvdweb.app import create_app, socket_fetch
    from ucvdweb.static import find_dashboard

    dashboard = None if args.no_dashboard else find_dashboard(args.static_dir)
    if args.static_dir and dashboard is None:
        print(f"ucvd-web: no index.html in --static-dir {args.static_dir}", file=sys.stderr)
        return 2
    app = create_app(
        socket_fetch(args.socket),
        token=token,
        socket_path=None if args.no_dashboard else args.socket,
        dashboard=dashboard,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=args.log_level,
        access_log=False,
        server_header=False,
        # Behind a TLS proxy on this machine (and only there: uvicorn trusts X-Forwarded-*
        # from 127.0.0.1 alone), the page is https: the login cookie gets `Secure` and the
        # Origin checks compare against https://.
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        lifespan="on",
        ws="wsproto",
        # Beyond this many requests at once, a 503 rather than a queue of worker threads.
        limit_concurrency=MAX_CONCURRENT_REQUESTS,
    )
    if token is None and not _loopback(host):
        print(
            f"ucvd-web: WARNING: serving {args.listen} beyond loopback with no token: anyone "
            "who reaches it reads the gateway's metrics (see README: a token credential)",
            file=sys.stderr,
        )
    where = (
        "no dashboard"
        if args.no_dashboard
        else (
            f"dashboard from {dashboard}" if dashboard else "API only: the dashboard is not built"
        )
    )
    print(
        f"ucvd-web: serving http://{args.listen}/ ({where}) and /metrics"
        f" ({'bearer token required' if token else 'no token'}) for {args.socket}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
