"""FFmpeg's `-progress` output, parsed: bytes in, complete blocks out.

FFmpeg writes `key=value` lines and closes each block with `progress=continue` (or `end`),
once per `-stats_period`. Reads from a pipe cut lines anywhere, so the parser keeps the
unfinished tail for the next feed. A block only appears once the output's RECORD has
succeeded, which is what makes it a liveness signal.
"""

from __future__ import annotations

import msgspec

# A progress line is short; anything longer is not progress output and is dropped rather
# than buffered without bound.
MAX_LINE = 4096


class ProgressBlock(msgspec.Struct, frozen=True, kw_only=True):
    frame: int | None = None  # absent for audio-only output
    fps: float | None = None  # FFmpeg's average since start: not what operators want
    out_time_us: int | None = None
    speed: float | None = None  # "1.01x" -> 1.01
    dup_frames: int | None = None
    drop_frames: int | None = None
    ended: bool = False  # progress=end: FFmpeg is finishing

    def position(self) -> tuple[int | None, int | None]:
        """What must advance between blocks for the stream to count as moving."""
        return (self.frame, self.out_time_us)


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _float(value: str) -> float | None:
    try:
        return float(value.rstrip("x"))
    except ValueError:
        return None


def _block(fields: dict[str, str]) -> ProgressBlock:
    # out_time_ms holds microseconds too (a long-standing FFmpeg naming slip).
    out_time = fields.get("out_time_us") or fields.get("out_time_ms") or ""
    return ProgressBlock(
        frame=_int(fields.get("frame", "")),
        fps=_float(fields.get("fps", "")),
        out_time_us=_int(out_time),
        speed=_float(fields.get("speed", "")),
        dup_frames=_int(fields.get("dup_frames", "")),
        drop_frames=_int(fields.get("drop_frames", "")),
        ended=fields.get("progress") == "end",
    )


class ProgressParser:
    def __init__(self) -> None:
        self._pending = b""
        self._fields: dict[str, str] = {}

    def feed(self, data: bytes) -> list[ProgressBlock]:
        """Consume bytes; return every block they completed (often none, sometimes two)."""
        blocks: list[ProgressBlock] = []
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > MAX_LINE:
            self._pending = b""
        for raw in lines:
            line = raw.strip().decode("utf-8", "replace")
            key, sep, value = line.partition("=")
            if not sep:
                continue
            self._fields[key.strip()] = value.strip()
            if key.strip() == "progress":
                blocks.append(_block(self._fields))
                self._fields = {}
        return blocks
