"""Entry point of the `ucvd` daemon: runs in the foreground; systemd does the daemonizing.

Paths come, in order of precedence, from the command line, from `UCVD_SOCKET` (the socket
only, shared with `ucvctl`), from the config file, and from the built-in defaults that
suit a system install. Anything that prevents a correct start (a bad config file, another
daemon on the same state directory, an unusable database, a socket another daemon serves)
is one clear line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ucvd.version import __version__

SOCKET_ENV = "UCVD_SOCKET"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ucvd",
        description="Universal Camera Viewer gateway daemon: relays IP cameras to MediaMTX.",
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE",
        help="TOML settings (default /etc/ucvd/ucvd.toml; missing there means defaults)",
    )  # fmt: skip
    parser.add_argument(
        "--socket", type=Path, metavar="PATH",
        help=f"control socket (default ${SOCKET_ENV}, then the config file, then "
        "/run/ucvd/ucvd.sock)",
    )  # fmt: skip
    parser.add_argument(
        "--state-dir", type=Path, metavar="DIR",
        help="where the state database lives (default from the config file, /var/lib/ucvd)",
    )  # fmt: skip
    parser.add_argument(
        "--log-format", choices=("console", "json", "journal"),
        help="default: journal under systemd, console on a terminal, JSON otherwise",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"ucvd {__version__}")
    return parser


def _fail(message: str) -> int:
    """Why the daemon will not start: one plain line on stderr (the journal keeps it)."""
    print(f"ucvd: not starting: {message}", file=sys.stderr, flush=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Imported here so that `--version` and `--help` stay instant.
    import anyio

    from ucvd.config import ConfigError, load
    from ucvd.daemon import Daemon, Paths
    from ucvd.host import logs
    from ucvd.host.activation import ActivationError, socket_path, take_inherited
    from ucvd.host.statelock import StateLock, StateLocked
    from ucvd.state.store import Store, StoreError

    logs.configure(args.log_format or logs.default_format())
    try:
        # First, so that the LISTEN_* variables are gone before anything could pass them on.
        inherited = take_inherited()
    except ActivationError as exc:
        return _fail(str(exc))
    try:
        config = load(args.config)
    except ConfigError as exc:
        return _fail(f"{exc}")
    env_socket = os.environ.get(SOCKET_ENV)
    socket = args.socket or (Path(env_socket) if env_socket else Path(config.daemon.socket))
    paths = Paths(
        config=args.config,
        # The unit's ListenStream= is the truth when systemd made the socket.
        socket=Path(socket_path(inherited)) if inherited else socket,
        state_dir=args.state_dir or Path(config.daemon.state_dir),
    )
    try:
        # Before the database is opened and before any FFmpeg is looked for: a second daemon
        # on the same state must leave the first one's processes and sessions alone.
        lock = StateLock.acquire(paths.state_dir)
    except StateLocked as exc:
        return _fail(str(exc))
    try:
        store = Store(paths.database)
    except StoreError as exc:
        lock.release()
        return _fail(str(exc))
    daemon = Daemon(config, paths, store, inherited=inherited)
    try:
        return anyio.run(daemon.run)
    except KeyboardInterrupt:
        return 0
    except (OSError, BaseExceptionGroup) as exc:
        error = _os_error(exc)
        if error is None:
            raise
        store.close()
        return _fail(f"cannot serve {paths.socket}: {error}")


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError at the bottom of (possibly nested) exception groups, if any."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _os_error(inner)
            if found is not None:
                return found
    return None


if __name__ == "__main__":
    sys.exit(main())
