"""The control socket systemd hands over (socket activation, sd_listen_fds(3)).

Under the package's units, `ucvd.socket` owns `/run/ucvd/ucvd.sock`: systemd creates it
with the operator group and mode the unit names, before the daemon starts, and keeps it
listening while the daemon restarts, so an `ucvctl` call made meanwhile waits in the
backlog instead of failing. The daemon receives it as file descriptor 3 with
`LISTEN_PID`/`LISTEN_FDS` set. Started any other way (by hand, by the tests) it finds no
such variables and binds the socket itself.

`listen_fds` is pure (environment in, descriptors out); `take_inherited` does the I/O.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, MutableMapping

SD_LISTEN_FDS_START = 3  # sd_listen_fds(3): passed descriptors start here
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


class ActivationError(RuntimeError):
    """systemd passed something the daemon cannot serve on."""


def listen_fds(environ: Mapping[str, str], pid: int) -> list[int]:
    """The descriptors passed to this very process; none if they were meant for another
    (a variable inherited from a parent that was itself activated)."""
    if environ.get("LISTEN_PID", "") != str(pid):
        return []
    count = environ.get("LISTEN_FDS", "")
    if not count.isdigit():
        return []
    return list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + int(count)))


def take_inherited(environ: MutableMapping[str, str] | None = None) -> socket.socket | None:
    """The listening Unix socket systemd passed, or None; the variables are removed either
    way, so that nothing the daemon starts believes it was activated too."""
    env = os.environ if environ is None else environ
    fds = listen_fds(env, os.getpid())
    for name in _VARIABLES:
        env.pop(name, None)
    if not fds:
        return None
    if len(fds) != 1:
        raise ActivationError(
            f"systemd passed {len(fds)} sockets; ucvd.socket must listen on exactly one"
        )
    try:
        sock = socket.socket(fileno=fds[0])
    except OSError as exc:
        raise ActivationError(f"descriptor {fds[0]} from systemd is not a socket: {exc}") from exc
    listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM or not listening:
        sock.detach()  # not ours to close
        raise ActivationError(
            "the socket systemd passed is not a listening Unix stream socket "
            "(ucvd.socket needs ListenStream=/path)"
        )
    sock.set_inheritable(False)  # FFmpeg children never hold the control socket
    sock.setblocking(False)
    return sock


def socket_path(sock: socket.socket) -> str:
    """The filesystem name of a Unix socket, for logs and `daemon.info`."""
    name = sock.getsockname()
    return name if isinstance(name, str) else repr(name)
