"""The watchdog's judgement of one attempt, sans I/O: facts in, a verdict out.

An attempt (one FFmpeg process) is *confirmed* once the stream demonstrably reached
MediaMTX: the Control API lists the path as online (a source really publishes there; not
merely *available*, which an `alwaysAvailable` path is with nobody publishing) with a
publisher that is not the one that was there before we spawned; or, with no API to ask
(off, or not answering), FFmpeg writes its first progress block, which it only does once
RECORD has succeeded. Until then the start timeout runs from the spawn; after it, the
stall timeout runs from the last progress block whose position (frame, out_time) moved.

A confirmed attempt may not have sent a picture yet: FFmpeg's probe ends before the
camera's first keyframe when the join falls more than the analysis time before it,
MediaMTX then has the path, and stream copy sends no video until the keyframe. While
FFmpeg keeps writing progress blocks (it does while it reads and drops the pictures
before the keyframe), such an attempt fails only once both the start timeout from its
spawn and the stall timeout from its confirmation have passed: a camera whose keyframes
are further apart than the stall timeout still starts, and one that never sends a
keyframe fails even while its output time moves (audio, FFmpeg 7.1). FFmpeg silent for
the stall timeout (a camera frozen before the first picture) is a stall as ever; FFmpeg
7.1 is never silent (it reports every period while its read blocks), so there such a
camera fails at the start timeout (architecture §3 item 6).

The supervisor gathers the facts (the clock, the API's last answer, FFmpeg's progress) and
acts on the verdict; the timing of the checks is its business too, apart from the period
a confirmed attempt is checked at (`check_every`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from ucvd.domain.errors import ErrorKind, Fault
from ucvd.relay.ffmpeg.progress import ProgressBlock
from ucvd.relay.status import SupervisorSettings

STALL_CHECK_S = 1.0  # a confirmed publication's stall check runs at most this often


class PathWord(Protocol):
    """What the watchdog reads of MediaMTX's view of a path (`mediamtx.PathInfo`)."""

    @property
    def online(self) -> bool: ...

    @property
    def source_id(self) -> str | None: ...


@dataclass(frozen=True)
class ApiWord:
    """MediaMTX's last answer on the path. Absent (None) when there is none to go by: the
    API is off for this target, or its last poll failed; the RTSP leg decides then."""

    path: PathWord | None  # None: nobody publishes or reads there
    foreign: str | None  # the publisher that was there before we spawned, if any


@dataclass(frozen=True)
class Look:
    """What the watchdog sees at one check."""

    now: float  # monotonic, like every time below
    spawned_at: float
    advanced_at: float  # the spawn, until progress moves; then the last move
    heard_at: float  # the spawn, until a progress block comes; then the last block
    progressed: bool  # FFmpeg has written at least one progress block
    confirmed_at: float | None
    api: ApiWord | None
    sent: bool  # a picture left (a frame counted; audio-only output: its output time moved)


@dataclass(frozen=True)
class Wait:
    """Nothing to do: still starting within the timeout, or confirmed and moving."""


@dataclass(frozen=True)
class Confirm:
    """The stream reached MediaMTX: the attempt is publishing from now on."""


@dataclass(frozen=True)
class Fail:
    """The attempt is stuck; the fault says how."""

    fault: Fault


Verdict = Wait | Confirm | Fail


def ready(look: Look) -> bool:
    """Has the stream reached MediaMTX? The API's word when there is one, else progress."""
    if look.api is not None:
        path = look.api.path
        return path is not None and path.online and path.source_id != look.api.foreign
    return look.progressed


def judge(look: Look, settings: SupervisorSettings) -> Verdict:
    if look.confirmed_at is None:
        if ready(look):
            return Confirm()
        if look.now - look.spawned_at > settings.start_timeout_s:
            sending = " (FFmpeg is sending)" if look.progressed else ""
            return Fail(
                Fault(
                    ErrorKind.STREAM_STALLED,
                    f"no stream reached MediaMTX within {settings.start_timeout_s:g} s" + sending,
                )
            )
        return Wait()
    if not look.sent:
        if look.now - look.heard_at > settings.stall_timeout_s:
            return _frozen(settings)
        # Not from the last progress: before the keyframe the output time can move
        # (audio, FFmpeg 7.1) with no picture sent, and a camera that never sends one
        # must still fail.
        if (
            look.now - look.spawned_at > settings.start_timeout_s
            and look.now - look.confirmed_at > settings.stall_timeout_s
        ):
            limit = max(settings.start_timeout_s, settings.stall_timeout_s)
            return Fail(
                Fault(
                    ErrorKind.STREAM_STALLED,
                    f"no picture within {limit:g} s of starting: the camera sent no keyframe",
                )
            )
        return Wait()
    if look.now - look.advanced_at > settings.stall_timeout_s:
        return _frozen(settings)
    return Wait()


def _frozen(settings: SupervisorSettings) -> Fail:
    return Fail(
        Fault(ErrorKind.STREAM_STALLED, f"no new frames for {settings.stall_timeout_s:g} s")
    )


def check_every(settings: SupervisorSettings, *, confirmed: bool) -> float:
    """How long the watchdog sleeps between checks. Once confirmed, a stall is measured in
    seconds (stall_timeout_s): checking twice a second per camera was a quarter of the
    daemon's wakeups at 100 cameras. Before, a fresh answer from the API may wake it
    earlier (the supervisor's business), so that readiness is acted on when it is seen."""
    return max(settings.poll_s, STALL_CHECK_S) if confirmed else settings.poll_s


# The frame rate is read over this many seconds of FFmpeg's progress blocks (one a second).
FPS_WINDOW_S = 5.0
FPS_SAMPLES = 16


class ProgressWatch:
    """Progress as it arrives: when the stream last moved, and the frame rate over the
    last few seconds."""

    def __init__(self, spawned_at: float) -> None:
        self.spawned_at = spawned_at
        self.advanced_at = spawned_at
        self.heard_at = spawned_at
        self.last_block: ProgressBlock | None = None
        self._sent = False  # sticky: once a picture left, the stall timeout applies
        self._frames: deque[tuple[float, int]] = deque(maxlen=FPS_SAMPLES)

    def progress(self, block: ProgressBlock, now: float) -> None:
        previous = self.last_block
        if previous is None or block.position() != previous.position():
            self.advanced_at = now
        self.heard_at = now
        self.last_block = block
        # The relay always maps a video track, so its frame count says whether a picture
        # left: the output time moves before the keyframe with audio, and in FFmpeg 7.1
        # with the demuxer's timestamps, while copy still drops the pictures before it.
        # Only output without a frame count (no video) goes by its output time.
        self._sent = self._sent or (
            bool(block.frame) if block.frame is not None else bool(block.out_time_us)
        )
        if block.frame is not None:
            if self._frames and block.frame < self._frames[-1][1]:
                self._frames.clear()  # a guard: each FFmpeg has its own watch, counting up
            self._frames.append((now, block.frame))

    @property
    def frames(self) -> int:
        """Pictures FFmpeg has reported sent (its last block's count)."""
        return (self.last_block.frame or 0) if self.last_block is not None else 0

    def fps(self) -> float | None:
        """Pictures per second from the oldest count of the last FPS_WINDOW_S (or the one
        before the newest, if blocks came further apart) to the newest. Over a single
        progress period (1 s) the figure swung to 13 at 25 fps on a loaded machine: a
        block is dated when ucvd reads it, not when FFmpeg wrote it."""
        if len(self._frames) < 2:
            return None
        t1, f1 = self._frames[-1]
        first = next(i for i, (t, _) in enumerate(self._frames) if t >= t1 - FPS_WINDOW_S)
        t0, f0 = self._frames[min(first, len(self._frames) - 2)]
        return (f1 - f0) / (t1 - t0) if t1 > t0 else None

    def look(self, now: float, *, confirmed_at: float | None, api: ApiWord | None) -> Look:
        return Look(
            now=now,
            spawned_at=self.spawned_at,
            advanced_at=self.advanced_at,
            heard_at=self.heard_at,
            progressed=self.last_block is not None,
            confirmed_at=confirmed_at,
            api=api,
            sent=self._sent,
        )
