"""Telling systemd what the daemon is doing: readiness, status, watchdog, reload, stopping.

`Type=notify` services report over the datagram socket named by `NOTIFY_SOCKET`; the
`sdnotify` package speaks it. Outside systemd (a terminal, the tests' own daemons) the
variable is unset and every call here does nothing, so the daemon never has to ask.

The watchdog is pinged by the daemon's event loop itself (`Daemon._heartbeat`), at half the
interval systemd asked for or every second, whichever is sooner (the same beat refreshes
the status line): if the loop is stuck, the pings stop and systemd restarts the
service. The interval is honoured only when `WATCHDOG_PID` is unset or names this process,
as sd_watchdog_enabled(3) prescribes.

The helpers below are pure (environment in, values out) so that the unit tests can cover
them without a socket.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import sdnotify

from ucvd.api import protocol as p


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between pings (half the watchdog timeout), or None if no watchdog is set."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and owner != str(pid):
        return None
    return int(usec) / 1e6 / 2


def status_line(counts: p.Counts, *, target: str | None) -> str:
    """What `systemctl status ucvd` shows under the unit's name, e.g. `12/12 cameras
    publishing`; the parts that need an operator's attention come first."""
    wanted = counts.desired_publishing
    line = f"{counts.publishing}/{wanted} cameras publishing"
    if wanted and target is None:
        return f"{line}; no active target"
    extras = []
    if counts.failed:
        extras.append(f"{counts.failed} failed")
    if counts.reconnecting:
        extras.append(f"{counts.reconnecting} reconnecting")
    if counts.starting:
        extras.append(f"{counts.starting} starting")
    return f"{line} ({', '.join(extras)})" if extras else line


class Notifier:
    """sd_notify for the daemon; silent when not run by systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.enabled = bool(env.get("NOTIFY_SOCKET"))
        self.watchdog_s = watchdog_interval(env, os.getpid()) if self.enabled else None
        self._notifier = sdnotify.SystemdNotifier() if self.enabled else None
        self._last_status: str | None = None

    def _send(self, *lines: str) -> None:
        if self._notifier is not None:
            self._notifier.notify("\n".join(lines))

    def status(self, text: str) -> None:
        """Send STATUS= only when it changed (it is called on every tick)."""
        if text != self._last_status:
            self._last_status = text
            self._send(f"STATUS={text}")

    def ready(self, status: str) -> None:
        self._last_status = status
        self._send("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        self._send("RELOADING=1", "STATUS=reloading the configuration")

    def stopping(self, status: str) -> None:
        self._last_status = status
        self._send("STOPPING=1", f"STATUS={status}")

    def watchdog(self) -> None:
        """Ping, if systemd asked this process for pings."""
        if self.watchdog_s is not None:
            self._send("WATCHDOG=1")
