"""A plain `ffmpeg -c copy` relay with no daemon around it.

The harness uses it to prove the path camera -> central works before ucvd is involved, and
benchmarks use it as the baseline ucvd's own cost is measured against.
"""

from __future__ import annotations

from tests.harness.procs import Proc, ProcessRegistry
from tests.harness.tools import Tools


def plain_relay_argv(tools: Tools, source_url: str, target_url: str) -> list[str]:
    return [
        tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
        "-rtsp_transport", "tcp", "-timeout", "5000000", "-i", source_url,
        "-map", "0:v:0", "-map", "0:a?", "-c", "copy",
        "-f", "rtsp", "-rtsp_transport", "tcp", target_url,
    ]  # fmt: skip


def start_plain_relay(
    registry: ProcessRegistry, tools: Tools, source_url: str, target_url: str, name: str = "relay"
) -> Proc:
    return registry.spawn(name, plain_relay_argv(tools, source_url, target_url))


def plain_reader_argv(tools: Tools, source_url: str) -> list[str]:
    """Read a stream and discard it: a client that costs a camera what ucvd's FFmpeg would."""
    return [
        tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-rtsp_transport", "tcp", "-i", source_url, "-map", "0", "-c", "copy", "-f", "null", "-",
    ]  # fmt: skip
