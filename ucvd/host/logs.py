"""Logging with structlog: console lines for people, JSON lines for machines, journald fields.

The original plan's levels: DEBUG for details, INFO for operations, WARNING for problems,
ERROR for failures. Messages are short and fixed (`publication gave up`); the variable part
goes in fields (`camera_id`, `error_kind`, `reason`), which journald indexes, so that
`journalctl -u ucvd CAMERA_ID=cam-001` finds one camera's story. Nothing logged here is a
secret: callers log URLs without credentials and fault messages already redacted.

The journal format speaks journald's native protocol (one datagram per record, fields as
`KEY=value`, binary-safe for values with newlines); if the journal socket is missing the
record goes to stderr instead of being lost.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from ucvd.domain.urls import redact

FORMATS = ("console", "json", "journal")
JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "ucvd"
_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2, "exception": 3}


def default_format(stream: TextIO = sys.stderr) -> str:
    """journal under systemd (JOURNAL_STREAM is set), console on a terminal, else JSON."""
    if os.environ.get("JOURNAL_STREAM"):
        return "journal"
    return "console" if stream.isatty() else "json"


def _field_name(key: str) -> str:
    """journald's rules: A-Z, 0-9 and `_`, not starting with `_` (trusted fields) or a
    digit, at most 64 characters."""
    name = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in key.upper())
    name = name.lstrip("_")
    if not name or name[0].isdigit():
        name = f"F_{name}"
    return name[:64]


def journal_message(event_dict: MutableMapping[str, Any]) -> bytes:
    """One record in journald's native protocol (pure; tests decode it)."""
    fields: dict[str, str] = {}
    level = str(event_dict.pop("level", "info"))
    event = str(event_dict.pop("event", ""))
    event_dict.pop("timestamp", None)
    extras = " ".join(f"{k}={v}" for k, v in event_dict.items() if k != "exception")
    fields["MESSAGE"] = f"{event} {extras}".strip()
    fields["PRIORITY"] = str(_PRIORITY.get(level, 6))
    fields["SYSLOG_IDENTIFIER"] = IDENTIFIER
    fields["EVENT"] = event
    for key, value in event_dict.items():
        name = _field_name(key)
        if name in fields:  # never overwrite MESSAGE, PRIORITY...: keep both
            name = f"UCVD_{name}"[:64]
        fields[name] = str(value)
    out = bytearray()
    for key, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalLogger:
    """A structlog logger that sends each rendered record as one datagram."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def msg(self, message: bytes) -> None:
        try:
            self._sock.sendto(message, self._path)
        except OSError:
            text = message.decode("utf-8", "replace").replace("\n", " ")
            print(f"ucvd (journal unavailable): {text}", file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _journal_renderer(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> bytes:
    return journal_message(event_dict)


def redact_secrets(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The last line of defence: every text value of a record (the rendered traceback
    included) loses `scheme://user:password@` and `?password=` values, whatever logged it.
    Callers already log URLs without credentials; this catches what nobody meant to log,
    such as an exception message that quotes a URL."""
    for key, value in event_dict.items():
        if isinstance(value, str) and ("@" in value or "=" in value):
            event_dict[key] = redact(value)
    return event_dict


def configure(fmt: str, level: int = logging.INFO, stream: TextIO = sys.stderr) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    if fmt == "journal":
        path = os.environ.get("UCVD_JOURNAL_SOCKET", JOURNAL_SOCKET)
        structlog.configure(
            processors=[*shared, _journal_renderer],
            wrapper_class=structlog.make_filtering_bound_logger(level),
            logger_factory=lambda *_a: JournalLogger(path),
            cache_logger_on_first_use=True,
        )
        return
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False, pad_event=28)
    structlog.configure(
        processors=[*shared, structlog.processors.TimeStamper(fmt="iso", utc=True), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
