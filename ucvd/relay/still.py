"""One still frame of a camera, as a JPEG, taken by FFmpeg when asked (the dashboard's
picture of what a camera shows).

It is read from the central path while the camera is publishing there (what viewers really
get, and no extra session on the camera), else from the camera itself (a dark camera's
picture says whether it is the camera or the link). Asking costs an FFmpeg for a second
or two, so: a picture (or a failure) is kept for `cache_s` and handed to whoever asks
again; one camera never has two FFmpegs taking its picture; and at most `at_once` run
at all.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio

from ucvd.domain.model import Camera, Target
from ucvd.domain.urls import scheme_of, with_credentials
from ucvd.relay.ffmpeg.argv import publish_url
from ucvd.relay.ffmpeg.process import last_words, run_once
from ucvd.relay.tlslink import LinkRefused, needs_link, open_link

TIMEOUT_S = 10.0  # per attempt: connect, read up to a keyframe, encode one frame
CACHE_S = 5.0
# A central server that refused our reads (the target's credentials may publish, not read:
# a common and sound setup) is not asked again for this long; the camera is asked instead.
CENTRAL_REFUSED_S = 600.0
AT_ONCE = 2
# A dashboard picture, not a recording: larger frames are scaled down to fit this box
# (portrait streams too), which keeps a JPEG well under a megabyte.
MAX_WIDTH, MAX_HEIGHT = 1280, 1280
# Callers waiting for a picture (a slot, or another caller's picture of the same camera)
# beyond which a new one is refused at once: each waiting caller holds a connection slot
# of the socket, and those must stay free for operators.
MAX_WAITING = 8


class NoPicture(Exception):
    """No frame could be taken; the message is redacted and meant for people."""


class TooManyAsked(Exception):
    """More pictures are being waited for than MAX_WAITING."""


@dataclass(frozen=True)
class Picture:
    jpeg: bytes
    source: str  # central | camera
    at: float  # wall clock


def still_argv(ffmpeg: str, url: str, *, tcp: bool, timeout_s: float) -> list[str]:
    """FFmpeg reading `url` (credentials in it: never log this) up to its first decodable
    frame and writing it to stdout as one JPEG."""
    args = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"]
    if tcp:
        args += ["-rtsp_transport", "tcp"]
    args += [
        "-timeout", str(round(timeout_s * 1_000_000)),
        "-i", url,
        "-map", "0:v:0",
        "-frames:v", "1",
        "-vf", f"scale=w='min({MAX_WIDTH},iw)':h='min({MAX_HEIGHT},ih)'"
               ":force_original_aspect_ratio=decrease:force_divisible_by=2",
        # The MJPEG encoder wants full-range YUV; FFmpeg 5.1 refuses limited range for it.
        "-pix_fmt", "yuvj420p",
        "-c:v", "mjpeg", "-q:v", "5",
        "-f", "image2pipe", "pipe:1",
    ]  # fmt: skip
    return args


async def take_jpeg(argv: Sequence[str], secrets: Sequence[str], timeout_s: float) -> bytes:
    try:
        result = await run_once(argv, timeout_s + 2)
    except OSError as exc:
        raise NoPicture(f"FFmpeg could not be run: {exc.strerror or exc}") from None
    if result is None:
        raise NoPicture(f"no frame within {timeout_s + 2:g} s")
    if result.returncode != 0 or not result.stdout.startswith(b"\xff\xd8"):
        raise NoPicture(last_words(result, "FFmpeg", secrets))
    return bytes(result.stdout)


# argv, the secrets to redact from its errors, timeout -> the JPEG (tests give their own)
Taker = Callable[[Sequence[str], Sequence[str], float], Awaitable[bytes]]


class Stills:
    def __init__(
        self,
        ffmpeg: str,
        *,
        take: Taker | None = None,
        clock: Callable[[], float] = time.time,
        cache_s: float = CACHE_S,
        at_once: int = AT_ONCE,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.ffmpeg = ffmpeg
        self._take = take or take_jpeg
        self._clock = clock
        self.cache_s = cache_s
        self.timeout_s = timeout_s
        self._slots = anyio.Semaphore(at_once)
        self._kept: dict[str, tuple[float, Picture | NoPicture]] = {}
        self._refused_by: dict[str, float] = {}  # target name -> when it refused a read
        self._waiting = 0
        self._taking: dict[str, anyio.Event] = {}

    async def picture(self, camera: Camera, central: Target | None) -> Picture:
        """`central`: the active target while the camera publishes there, else None."""
        self._prune()
        if self._waiting >= MAX_WAITING:
            raise TooManyAsked(f"{self._waiting} pictures are already being taken or waited for")
        self._waiting += 1
        try:
            return await self._picture(camera, central)
        finally:
            self._waiting -= 1

    def _prune(self) -> None:
        """Forget what is past its time: a removed camera's picture must not stay for good."""
        now = self._clock()
        for camera_id in [c for c, (at, _) in self._kept.items() if now - at >= self.cache_s]:
            del self._kept[camera_id]

    async def _picture(self, camera: Camera, central: Target | None) -> Picture:
        while True:
            kept = self._kept.get(camera.id)
            if kept is not None and self._clock() - kept[0] < self.cache_s:
                return _outcome(kept[1])
            busy = self._taking.get(camera.id)
            if busy is None:
                break
            await busy.wait()  # another caller is taking it: theirs is ours
        done = self._taking[camera.id] = anyio.Event()
        try:
            outcome: Picture | NoPicture
            try:
                async with self._slots:
                    outcome = await self._attempt(camera, central)
            except NoPicture as exc:
                outcome = exc
            self._kept[camera.id] = (self._clock(), outcome)
            return _outcome(outcome)
        finally:
            del self._taking[camera.id]
            done.set()

    def forget(self, camera_id: str) -> None:
        self._kept.pop(camera_id, None)

    async def _attempt(self, camera: Camera, central: Target | None) -> Picture:
        secrets = [s for s in (camera.password,) if s]
        tcp = camera.options.transport.value == "tcp"
        problems = []
        refused_at = self._refused_by.get(central.name) if central is not None else None
        if refused_at is not None and self._clock() - refused_at < CENTRAL_REFUSED_S:
            central = None
        if central is not None and scheme_of(central.rtsp_url) == "srt":
            # An SRT target's RTSP side, if any, is not known: the camera is asked instead.
            central = None
        if central is not None:
            secrets += [s for s in (central.password,) if s]
            try:
                jpeg = await self._from_central(camera, central, secrets)
                return Picture(jpeg=jpeg, source="central", at=self._clock())
            except NoPicture as exc:
                problems.append(f"central path: {exc}")
                if _refused(str(exc)):
                    self._refused_by[central.name] = self._clock()
        url = with_credentials(camera.url, camera.username, camera.password)
        argv = still_argv(self.ffmpeg, url, tcp=tcp, timeout_s=self.timeout_s)
        try:
            jpeg = await self._call(argv, secrets)
        except NoPicture as exc:
            problems.append(f"camera: {exc}")
            raise NoPicture("; ".join(problems)) from None
        return Picture(jpeg=jpeg, source="camera", at=self._clock())

    async def _from_central(self, camera: Camera, central: Target, secrets: list[str]) -> bytes:
        """Read the central path; an rtsps:// target through a verified TLS link, as the
        relay publishes (FFmpeg's own RTSPS would send the password unverified)."""
        if not needs_link(central):
            url = publish_url(camera, central)
            return await self._call(
                still_argv(self.ffmpeg, url, tcp=True, timeout_s=self.timeout_s), secrets
            )
        outcome: bytes | NoPicture = NoPicture("the TLS link ended before a picture")
        try:
            async with open_link(central, self.timeout_s) as link, anyio.create_task_group() as tg:
                tg.start_soon(link.serve)
                url = publish_url(camera, central, link.port)
                argv = still_argv(self.ffmpeg, url, tcp=True, timeout_s=self.timeout_s)
                try:
                    outcome = await self._call(argv, secrets)
                except NoPicture as exc:  # kept out of the task group: it would wrap it
                    outcome = exc
                tg.cancel_scope.cancel()
        except LinkRefused as exc:
            raise NoPicture(exc.fault.message) from None
        if isinstance(outcome, NoPicture):
            raise outcome
        return outcome

    async def _call(self, argv: list[str], secrets: list[str]) -> bytes:
        return await self._take(argv, secrets, self.timeout_s)


# FFmpeg's words for an RTSP server refusing the credentials (or their lack): 5.1 says
# "method DESCRIBE failed: 401 Unauthorized", 7.1 "...failed: 401Unauthorized". Matched as
# a phrase: a URL or a camera id may hold "401" too.
_REFUSED = re.compile(r"failed: ?40[13] ?(Unauthorized|Forbidden)")


def _refused(message: str) -> bool:
    return _REFUSED.search(message) is not None


def _outcome(outcome: Picture | NoPicture) -> Picture:
    if isinstance(outcome, NoPicture):
        raise NoPicture(str(outcome))
    return outcome
