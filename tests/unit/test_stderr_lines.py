"""FFmpeg's stderr into lines: CR and LF both end one, and an overlong line goes whole."""

from __future__ import annotations

from ucvd.relay.ffmpeg.lines import DROPPED, StderrLines


def fed(chunks: list[bytes], limit: int = 64) -> list[bytes]:
    lines = StderrLines(limit)
    out = [line for chunk in chunks for line in lines.feed(chunk)]
    return out + lines.close()


def test_cr_and_lf_end_lines_and_a_line_may_span_reads() -> None:
    chunks = [b"frame=  1\rframe=  2\r", b"[rtsp @ 0x1] Conn", b"ection refused\r\n", b"tail"]
    assert fed(chunks) == [b"frame=  1", b"frame=  2", b"[rtsp @ 0x1] Connection refused", b"tail"]


def test_an_overlong_line_is_dropped_whole_never_cut_inside_a_url() -> None:
    url = b"rtsp://admin:s3cret-pass@192.0.2.10:554/stream"
    line = b"x" * 40 + url + b": Connection refused"  # the limit (64) falls inside the URL
    chunks = [line[i : i + 10] for i in range(0, len(line), 10)] + [b"\nnext line\n"]
    out = fed(chunks)
    assert out == [DROPPED, b"next line"]
    assert not any(b"s3cret" in piece or b"pass@" in piece for piece in out)


def test_the_rest_of_an_overlong_line_goes_even_when_it_ends_in_a_later_read() -> None:
    out = fed([b"a" * 70, b"b" * 100, b"c" * 5 + b"\rafter\n"])
    assert out == [DROPPED, b"after"]


def test_an_unfinished_overlong_last_line_leaves_nothing_at_the_end() -> None:
    assert fed([b"ok\n", b"z" * 100]) == [b"ok", DROPPED]


def test_a_line_at_the_limit_is_kept() -> None:
    assert fed([b"y" * 64, b"\n"]) == [b"y" * 64]  # held whole between two reads
