"""What FFmpeg says of its input when it opens it: the camera's first audio codec.

FFmpeg describes every input stream at `info` level before it starts relaying
("Stream #0:1: Audio: pcm_mulaw, 8000 Hz, mono, s16, 64 kb/s"), then prints "Stream
mapping:". 5.1 and 7.1 write the same lines (7.1 may add a `[in#0/rtsp @ ..]` tag). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TAGS = r"^(?:\[[^\]]*\]\s*)*"
_INPUT = re.compile(_TAGS + r"Input #0,")
_OUTPUT = re.compile(_TAGS + r"(?:Output #\d+,|Stream mapping:)")
_AUDIO = re.compile(_TAGS + r"Stream #0:\d+\S*: Audio: (?P<codec>[A-Za-z0-9_]+)")


class NotYet:
    """The input is not fully described yet."""


NOT_YET = NotYet()


def input_audio(lines: Iterable[str]) -> str | NotYet | None:
    """The codec of input #0's first audio stream; None when it has no audio; NOT_YET
    until FFmpeg has described the whole input (it then prints its stream mapping)."""
    inside = False
    codec: str | None = None
    for line in lines:
        if _INPUT.search(line):
            inside, codec = True, None
        elif inside and _OUTPUT.search(line):
            return codec
        elif inside and codec is None and (match := _AUDIO.search(line)):
            codec = match["codec"]
    return NOT_YET
