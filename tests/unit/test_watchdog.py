"""The watchdog's verdicts, branch by branch, without FFmpeg or MediaMTX."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ucvd.domain.errors import ErrorKind, Fault
from ucvd.relay.ffmpeg.progress import ProgressBlock
from ucvd.relay.status import SupervisorSettings
from ucvd.relay.watchdog import (
    ApiWord,
    Confirm,
    Fail,
    Look,
    ProgressWatch,
    Verdict,
    Wait,
    check_every,
    judge,
)

SETTINGS = SupervisorSettings(start_timeout_s=20.0, stall_timeout_s=10.0, poll_s=0.5)


@dataclass(frozen=True)
class Path:
    online: bool
    source_id: str | None = "ours"


def look(
    now: float,
    *,
    advanced_at: float = 0.0,
    heard_at: float | None = None,
    progressed: bool = False,
    confirmed_at: float | None = None,
    api: ApiWord | None = None,
    sent: bool = True,
) -> Look:
    return Look(
        now=now,
        spawned_at=0.0,
        advanced_at=advanced_at,
        heard_at=advanced_at if heard_at is None else heard_at,
        progressed=progressed,
        confirmed_at=confirmed_at,
        api=api,
        sent=sent,
    )


def word(path: Path | None, foreign: str | None = None) -> ApiWord:
    return ApiWord(path=path, foreign=foreign)


def stalled(message: str) -> Fail:
    return Fail(Fault(ErrorKind.STREAM_STALLED, message))


NOT_REACHED = stalled("no stream reached MediaMTX within 20 s")
NOT_REACHED_SENDING = stalled("no stream reached MediaMTX within 20 s (FFmpeg is sending)")
FROZEN = stalled("no new frames for 10 s")
NO_PICTURE = stalled("no picture within 20 s of starting: the camera sent no keyframe")

# (description, what the watchdog sees, its verdict)
TABLE: list[tuple[str, Look, Verdict]] = [
    # --- starting, MediaMTX's API answers: its word decides ------------------------------
    ("API: path online with our publisher", look(1, api=word(Path(True))), Confirm()),
    ("API: no such path yet", look(1, api=word(None)), Wait()),
    ("API: path there, not online", look(1, api=word(Path(False))), Wait()),
    ("API: online, but it is the publisher from before the spawn",
     look(1, api=word(Path(True, "old"), foreign="old")), Wait()),
    ("API: online with a new publisher, the old one gone",
     look(1, api=word(Path(True, "new"), foreign="old")), Confirm()),
    ("API: progress alone does not confirm when the API can say",
     look(1, progressed=True, api=word(None)), Wait()),
    # --- starting, no API to ask (off, or its last poll failed): progress decides --------
    ("no API: progress confirms", look(1, progressed=True), Confirm()),
    ("no API: no progress yet", look(1), Wait()),
    # --- the start timeout -----------------------------------------------------------------
    ("at the start timeout: still waiting", look(20), Wait()),
    ("past the start timeout, nothing sent", look(20.1), NOT_REACHED),
    ("past it, FFmpeg sending but the path not online",
     look(20.1, progressed=True, api=word(Path(False))), NOT_REACHED_SENDING),
    ("past it, FFmpeg sending but only the old publisher is online",
     look(20.1, progressed=True, api=word(Path(True, "old"), foreign="old")),
     NOT_REACHED_SENDING),
    ("online late still confirms", look(25, api=word(Path(True))), Confirm()),
    # --- confirmed: the stall timeout from the last move -----------------------------------
    ("confirmed and moving", look(30, advanced_at=25, progressed=True, confirmed_at=5), Wait()),
    ("confirmed, at the stall timeout",
     look(30, advanced_at=20, progressed=True, confirmed_at=5), Wait()),
    ("confirmed, past the stall timeout",
     look(30.1, advanced_at=20, progressed=True, confirmed_at=5), FROZEN),
    ("confirmed, no block ever (API confirmed it): the confirmation counts as a move",
     look(14, advanced_at=5, confirmed_at=5, api=word(Path(True))), Wait()),
    ("confirmed: the API's word no longer matters, only progress",
     look(16, advanced_at=5, confirmed_at=5, api=word(Path(True))), FROZEN),
    ("confirmed: the start timeout no longer applies",
     look(100, advanced_at=95, progressed=True, confirmed_at=5), Wait()),
    # --- confirmed before the first picture: the probe ended before the keyframe ---------
    ("confirmed, nothing sent yet, FFmpeg reporting, past the stall timeout: waits",
     look(15, advanced_at=1, heard_at=14.5, progressed=True, confirmed_at=1, sent=False),
     Wait()),
    ("confirmed, nothing sent yet, at the start timeout from the spawn",
     look(20, advanced_at=1, heard_at=19.5, progressed=True, confirmed_at=1, sent=False),
     Wait()),
    ("confirmed, nothing sent past the start timeout from the spawn",
     look(20.1, advanced_at=1, heard_at=19.5, progressed=True, confirmed_at=1, sent=False),
     NO_PICTURE),
    ("confirmed late, nothing sent: the stall timeout from the confirmation still holds",
     look(25, advanced_at=19, heard_at=24.5, progressed=True, confirmed_at=19, sent=False),
     Wait()),
    ("confirmed late, nothing sent past both timeouts",
     look(29.1, advanced_at=19, heard_at=28.5, progressed=True, confirmed_at=19, sent=False),
     NO_PICTURE),
    ("no picture while the output time moves (audio, FFmpeg 7.1): still no picture",
     look(30, advanced_at=29.5, heard_at=29.5, progressed=True, confirmed_at=1, sent=False),
     NO_PICTURE),
    ("nothing sent and FFmpeg silent for the stall timeout (frozen camera): a stall",
     look(11.1, advanced_at=1, heard_at=1, progressed=True, confirmed_at=1, sent=False),
     FROZEN),
    ("nothing sent, FFmpeg silent, at the stall timeout: waits",
     look(11, advanced_at=1, heard_at=1, progressed=True, confirmed_at=1, sent=False),
     Wait()),
    ("confirmed, the first picture sent: the stall timeout from the last move again",
     look(15, advanced_at=4, progressed=True, confirmed_at=1, sent=True), FROZEN),
]  # fmt: skip


@pytest.mark.parametrize(
    ("seen", "verdict"), [(t[1], t[2]) for t in TABLE], ids=[t[0] for t in TABLE]
)
def test_judge(seen: Look, verdict: Verdict) -> None:
    assert judge(seen, SETTINGS) == verdict


def test_timeouts_are_written_as_configured() -> None:
    settings = SupervisorSettings(start_timeout_s=2.5, stall_timeout_s=0.75)
    assert judge(look(3), settings) == stalled("no stream reached MediaMTX within 2.5 s")
    frozen = look(3, advanced_at=2, progressed=True, confirmed_at=1)
    assert judge(frozen, settings) == stalled("no new frames for 0.75 s")


@pytest.mark.parametrize(
    ("poll_s", "confirmed", "period"),
    [(0.5, False, 0.5), (0.5, True, 1.0), (2.0, True, 2.0), (2.0, False, 2.0)],
)
def test_check_every(poll_s: float, confirmed: bool, period: float) -> None:
    """Starting: every poll; confirmed: every poll, but never more than once a second."""
    settings = SupervisorSettings(poll_s=poll_s)
    assert check_every(settings, confirmed=confirmed) == period


def test_progress_advances_only_when_the_position_moves() -> None:
    watch = ProgressWatch(spawned_at=100.0)
    assert watch.look(100.5, confirmed_at=None, api=None) == Look(
        now=100.5, spawned_at=100.0, advanced_at=100.0, heard_at=100.0, progressed=False,
        confirmed_at=None, api=None, sent=False,
    )  # fmt: skip
    watch.progress(ProgressBlock(frame=10, out_time_us=400_000), now=101.0)
    assert (watch.advanced_at, watch.look(101, confirmed_at=None, api=None).progressed) == (
        101.0,
        True,
    )
    watch.progress(ProgressBlock(frame=10, out_time_us=400_000, speed=1.0), now=102.0)
    assert watch.advanced_at == 101.0  # the same position: a frozen stream repeats itself
    assert watch.heard_at == 102.0  # but FFmpeg was heard
    watch.progress(ProgressBlock(frame=None, out_time_us=500_000), now=103.0)
    assert watch.advanced_at == 103.0  # audio only: out_time moving is enough
    word_ = word(Path(True))
    assert watch.look(104.0, confirmed_at=101.5, api=word_) == Look(
        now=104.0, spawned_at=100.0, advanced_at=103.0, heard_at=103.0, progressed=True,
        confirmed_at=101.5, api=word_, sent=True,
    )  # fmt: skip


def test_sent_once_a_frame_is_counted_or_audio_only_output_moves() -> None:
    watch = ProgressWatch(spawned_at=0.0)
    assert not watch.look(0.5, confirmed_at=None, api=None).sent
    watch.progress(ProgressBlock(frame=0, out_time_us=None), now=1.0)  # RECORD, no packet
    assert not watch.look(1.5, confirmed_at=1.0, api=None).sent
    watch.progress(ProgressBlock(frame=0, out_time_us=0), now=2.0)
    assert not watch.look(2.5, confirmed_at=1.0, api=None).sent
    # Audio, or FFmpeg 7.1's demuxer timestamps, move the output time before the keyframe.
    watch.progress(ProgressBlock(frame=0, out_time_us=3_000_000), now=2.6)
    assert not watch.look(2.7, confirmed_at=1.0, api=None).sent
    watch.progress(ProgressBlock(frame=1, out_time_us=40_000), now=3.0)  # the keyframe
    assert watch.look(3.5, confirmed_at=1.0, api=None).sent
    watch.progress(ProgressBlock(frame=None, out_time_us=None), now=4.0)
    assert watch.look(4.5, confirmed_at=1.0, api=None).sent  # never taken back
    audio_only = ProgressWatch(spawned_at=0.0)
    audio_only.progress(ProgressBlock(frame=None, out_time_us=20_000), now=1.0)
    assert audio_only.look(1.5, confirmed_at=1.0, api=None).sent


def test_timeouts_of_the_first_picture_are_written_as_configured() -> None:
    settings = SupervisorSettings(start_timeout_s=2.5, stall_timeout_s=4)
    waiting = look(5.1, advanced_at=1, heard_at=5, progressed=True, confirmed_at=1, sent=False)
    assert judge(waiting, settings) == stalled(
        "no picture within 4 s of starting: the camera sent no keyframe"
    )


def test_first_block_is_a_move_whatever_it_holds() -> None:
    watch = ProgressWatch(spawned_at=0.0)
    watch.progress(ProgressBlock(), now=1.0)
    assert watch.advanced_at == 1.0


def test_fps_from_the_frame_counts_of_the_last_five_seconds() -> None:
    watch = ProgressWatch(spawned_at=0.0)
    assert watch.fps() is None
    watch.progress(ProgressBlock(frame=0), now=1.0)
    assert watch.fps() is None  # one sample is no rate
    watch.progress(ProgressBlock(frame=25), now=2.0)
    assert watch.fps() == 25.0
    watch.progress(ProgressBlock(frame=38), now=3.0)  # a late block: 13 in its second
    watch.progress(ProgressBlock(frame=75), now=4.0)  # and 37 in the next
    assert watch.fps() == 25.0  # the window smooths the block's reading time away
    for second in range(5, 10):
        watch.progress(ProgressBlock(frame=75 + 10 * (second - 4)), now=float(second))
    assert watch.fps() == 10.0  # counts older than 5 s are out of the window
    watch.progress(ProgressBlock(frame=175), now=19.0)  # blocks 10 s apart
    assert watch.fps() == 5.0  # from the block before the newest
    watch.progress(ProgressBlock(frame=5), now=21.0)
    assert watch.fps() is None  # a count going down is no rate (guard; not seen in one FFmpeg)
    watch.progress(ProgressBlock(frame=5), now=21.0)
    assert watch.fps() is None  # no time between them
    watch.progress(ProgressBlock(frame=30), now=22.0)
    assert watch.fps() == 25.0
    watch.progress(ProgressBlock(out_time_us=1), now=24.0)
    assert watch.fps() == 25.0  # a block without a frame count leaves the rate as it was
