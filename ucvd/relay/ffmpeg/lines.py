"""FFmpeg's stderr as lines, sans I/O: bytes in, complete lines out.

FFmpeg ends its status lines with CR and its messages with LF, so both end a line. A line
that grows past `MAX_LINE` before it ends is dropped whole, its beginning and the rest
that follows: cutting it would hand the redactor pieces of a URL it can no longer
recognise, credentials included. A marker line says that something was dropped.
"""

from __future__ import annotations

import re

MAX_LINE = 8192
DROPPED = b"[ucvd: overlong stderr line dropped]"
_BREAK = re.compile(rb"[\r\n]+")


class StderrLines:
    def __init__(self, limit: int = MAX_LINE) -> None:
        self._limit = limit
        self._partial = b""
        self._skipping = False  # inside an overlong line: the rest of it goes too

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._skipping:
            found = _BREAK.search(chunk)
            if found is None:
                return []
            chunk = chunk[found.end() :]
            self._skipping = False
        pieces = _BREAK.split(self._partial + chunk)
        self._partial = pieces.pop()
        lines = [p for p in pieces if p]
        if len(self._partial) > self._limit:
            lines.append(DROPPED)
            self._partial = b""
            self._skipping = True
        return lines

    def close(self) -> list[bytes]:
        """What is left when the stream ends: an unfinished last line."""
        rest, self._partial = self._partial, b""
        return [rest] if rest and not self._skipping else []
