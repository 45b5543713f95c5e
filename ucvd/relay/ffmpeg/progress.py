"""FFmpeg's `-progress` output, parsed: bytes in, the newest complete block out.

FFmpeg writes `key=value` lines and closes each block with `progress=continue` (or `end`),
once per `-stats_period`. Reads from a pipe cut lines anywhere, so the parser keeps the
unfinished tail for the next feed. A block only appears once the output's RECORD has
succeeded, which is what makes it a liveness signal.
"""

from __future__ import annotations

import re

import msgspec

# A progress line is short; anything longer is not progress output and is dropped rather
# than buffered without bound.
MAX_LINE = 4096


class ProgressBlock(msgspec.Struct, frozen=True, kw_only=True):
    """What ucvd reads of a block. FFmpeg writes more (its average fps since the start,
    dup/drop counts, bitrate, sizes, a quality per stream): nobody reads those, so they are
    not parsed."""

    frame: int | None = None  # absent for audio-only output
    out_time_us: int | None = None
    speed: float | None = None  # "1.01x" -> 1.01
    ended: bool = False  # progress=end: FFmpeg is finishing

    def position(self) -> tuple[int | None, int | None]:
        """What must advance between blocks for the stream to count as moving."""
        return (self.frame, self.out_time_us)


def _int(value: bytes | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float(value: bytes | None) -> float | None:
    try:
        return float(value.rstrip(b"x")) if value is not None else None
    except ValueError:
        return None


# Only the keys a block is made of: the dozen others are not even split apart.
_FIELD = re.compile(rb"(?m)^(frame|out_time_us|out_time_ms|speed|progress)=[ \t]*([^\r\n]*)")
PROGRESS = b"progress="


def _block(text: bytes) -> ProgressBlock:
    fields = {key: value.rstrip() for key, value in _FIELD.findall(text)}
    # out_time_ms holds microseconds too (a long-standing FFmpeg naming slip).
    out_time = fields.get(b"out_time_us") or fields.get(b"out_time_ms")
    return ProgressBlock(
        frame=_int(fields.get(b"frame")),
        out_time_us=_int(out_time),
        speed=_float(fields.get(b"speed")),
        ended=fields.get(b"progress") == b"end",
    )


class ProgressParser:
    """Bytes in, the newest complete block out. Blocks come once a second and each says
    where the stream is now, so an older one finished in the same bytes is skipped
    unparsed: only the last is worth the work."""

    def __init__(self) -> None:
        self._pending = b""  # the unfinished block: its lines so far, maybe a partial one

    def feed(self, data: bytes) -> ProgressBlock | None:
        """Consume bytes; return the newest block they completed (None if none did)."""
        buf = self._pending + data
        # The last progress line that is complete ends the newest block; the one before
        # it (if any) ends the block before, which is skipped.
        last = buf.rfind(PROGRESS)
        while last != -1 and buf.find(b"\n", last) == -1:
            last = buf.rfind(PROGRESS, 0, last)
        if last == -1:
            self._pending = _bounded(buf)
            return None
        end = buf.index(b"\n", last) + 1
        previous = buf.rfind(PROGRESS, 0, last)
        start = buf.index(b"\n", previous) + 1 if previous != -1 else 0
        self._pending = _bounded(buf[end:])
        return _block(buf[start:end])


def _bounded(pending: bytes) -> bytes:
    """A block is a dozen short lines; an unfinished line longer than MAX_LINE is not
    progress output, and is dropped (with what came before it) rather than kept."""
    if len(pending) <= MAX_LINE:
        return pending
    line_start = pending.rfind(b"\n") + 1
    return b"" if len(pending) - line_start > MAX_LINE else pending[line_start:]
