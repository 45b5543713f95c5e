from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from ucvd.relay.ffmpeg.progress import MAX_LINE, ProgressBlock, ProgressParser

# Two blocks exactly as FFmpeg 5.1 writes them for an RTSP copy relay.
SAMPLE = (
    b"frame=25\nfps=0.00\nstream_0_0_q=-1.0\nbitrate=N/A\ntotal_size=N/A\n"
    b"out_time_us=1000000\nout_time_ms=1000000\nout_time=00:00:01.000000\n"
    b"dup_frames=0\ndrop_frames=0\nspeed=1.98x\nprogress=continue\n"
    b"frame=50\nfps=25.00\nstream_0_0_q=-1.0\nbitrate=N/A\ntotal_size=N/A\n"
    b"out_time_us=N/A\nout_time_ms=2000000\nout_time=00:00:02.000000\n"
    b"dup_frames=0\ndrop_frames=1\nspeed=N/A\nprogress=end\n"
)
EXPECTED = [
    ProgressBlock(frame=25, out_time_us=1000000, speed=1.98, ended=False),
    ProgressBlock(frame=50, out_time_us=None, speed=None, ended=True),
]  # fmt: skip


def test_whole_feed_gives_the_newest_block() -> None:
    assert ProgressParser().feed(SAMPLE) == EXPECTED[-1]


def test_blocks_fed_one_by_one_each_come_out() -> None:
    parser = ProgressParser()
    first, second = SAMPLE.split(b"progress=continue\n")
    assert parser.feed(first + b"progress=continue\n") == EXPECTED[0]
    assert parser.feed(second) == EXPECTED[1]


def test_out_time_ms_is_microseconds_when_out_time_us_is_missing() -> None:
    block = ProgressParser().feed(b"out_time_ms=3000000\nprogress=continue\n")
    assert block is not None and block.out_time_us == 3000000


@given(st.lists(st.integers(min_value=0, max_value=len(SAMPLE)), max_size=30))
def test_any_split_gives_each_block_its_pieces_complete(cuts: list[int]) -> None:
    """However the pipe cuts it, a piece that completes a block gives that block whole
    (the newest, when it completes both); the last one always comes out."""
    parser = ProgressParser()
    blocks: list[ProgressBlock] = []
    edges = [0, *sorted(cuts), len(SAMPLE)]
    first_end = SAMPLE.index(b"progress=continue\n") + len(b"progress=continue\n")
    for start, end in itertools.pairwise(edges):
        block = parser.feed(SAMPLE[start:end])
        if block is not None:
            blocks.append(block)
    # The first block is complete once first_end is read: by the last piece, or before it.
    last_start = max(start for start, end in itertools.pairwise(edges) if end > start)
    both_in_one_piece = last_start < first_end
    assert blocks == (EXPECTED[1:] if both_in_one_piece else EXPECTED)


def test_crlf_and_garbage_lines() -> None:
    data = b"frame=7\r\nnot a key value line\r\n\r\nspeed=1x\r\nprogress=continue\r\n"
    assert ProgressParser().feed(data) == ProgressBlock(frame=7, speed=1.0)


def test_audio_only_block_has_no_frame() -> None:
    block = ProgressParser().feed(b"out_time_us=500\nprogress=continue\n")
    assert block is not None and block.frame is None and block.position() == (None, 500)


def test_overlong_partial_line_is_dropped_not_buffered() -> None:
    parser = ProgressParser()
    assert parser.feed(b"x" * (MAX_LINE + 10)) is None
    assert parser._pending == b""  # not kept
    assert parser.feed(b"\nframe=1\nprogress=continue\n") == ProgressBlock(frame=1)


def test_partial_block_waits_for_progress_line() -> None:
    parser = ProgressParser()
    assert parser.feed(b"frame=1\nfps=2\n") is None
    assert parser.feed(b"progr") is None
    assert parser.feed(b"ess=continue\n") == ProgressBlock(frame=1)


def test_ffmpeg_7_1_block() -> None:
    """A block as Debian 13's FFmpeg 7.1 wrote it for the same relay: the same keys."""
    data = (
        b"frame=35\nfps=35.00\nstream_0_0_q=-1.0\nbitrate=N/A\ntotal_size=N/A\n"
        b"out_time_us=2159978\nout_time_ms=2159978\nout_time=00:00:02.159978\n"
        b"dup_frames=0\ndrop_frames=0\nspeed=2.16x\nprogress=continue\n"
    )
    assert ProgressParser().feed(data) == ProgressBlock(
        frame=35, out_time_us=2159978, speed=2.16, ended=False
    )
