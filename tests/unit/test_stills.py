"""Camera pictures (`camera.still`): which URL is read, the cache, one FFmpeg per camera and
a bound on all of them, and that no password reaches the message of a failure. The taker is
a fake where the order of events matters (it waits on events the test sets); FFmpeg's own
failures go through the real `take_jpeg` with a small script standing in for FFmpeg."""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from ucvd.domain.model import Camera, CameraOptions, Target, Transport
from ucvd.relay.ffmpeg.argv import publish_url
from ucvd.relay.still import NoPicture, Picture, Stills, still_argv, take_jpeg

pytestmark = pytest.mark.anyio

JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


def distinctive(prefix: str) -> str:
    """URL-hostile (callers must percent-encode it) and easy to search for."""
    return f"{prefix}#{secrets.token_hex(6)}&!"


def camera(
    camera_id: str = "hall",
    *,
    username: str | None = None,
    password: str | None = None,
    options: CameraOptions | None = None,
) -> Camera:
    return Camera(id=camera_id, url=f"rtsp://192.0.2.10:554/{camera_id}", username=username,
                  password=password, options=options or CameraOptions())  # fmt: skip


CENTRAL = Target(name="central", rtsp_url="rtsp://198.51.100.1:8554", username="pub",
                 password=distinctive("tgt"))  # fmt: skip


def input_url(argv: Sequence[str]) -> str:
    return argv[list(argv).index("-i") + 1]


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Taker:
    """Stands in for FFmpeg: answers by the URL it is given (a JPEG, or a failure), counts
    how many run at once, and, while `hold` is set, waits for the test to let it finish."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []  # (URL read, secrets it was told)
        self.failing: set[str] = set()  # hosts that fail
        self.running = 0
        self.most_at_once = 0
        self.hold: anyio.Event | None = None

    async def __call__(self, argv: Sequence[str], secrets: Sequence[str], _t: float) -> bytes:
        url = input_url(argv)
        self.calls.append((url, list(secrets)))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.hold is not None:
                await self.hold.wait()
            host = urllib.parse.urlsplit(url).hostname or ""
            if host in self.failing:
                raise NoPicture(f"{host}: 503 Service Unavailable")
            return JPEG + url.encode()  # which picture it is, for the assertions
        finally:
            self.running -= 1

    def urls(self) -> list[str]:
        return [url for url, _ in self.calls]


def stills(
    taker: Taker, clock: Clock | None = None, *, cache_s: float = 5.0, at_once: int = 2
) -> Stills:
    return Stills("ffmpeg", take=taker, clock=clock or Clock(), cache_s=cache_s, at_once=at_once)


# --- which URL ----------------------------------------------------------------------------
async def test_a_publishing_camera_is_read_from_the_central_path_first() -> None:
    taker = Taker()
    picture = await stills(taker).picture(camera(), CENTRAL)
    assert picture.source == "central"
    assert taker.urls() == [publish_url(camera(), CENTRAL)]
    assert picture.jpeg == JPEG + publish_url(camera(), CENTRAL).encode()


async def test_when_the_central_path_fails_the_camera_is_read() -> None:
    taker = Taker()
    taker.failing.add("198.51.100.1")
    cam = camera(username="admin", password=distinctive("cam"))
    picture = await stills(taker).picture(cam, CENTRAL)
    assert picture.source == "camera"
    central_url, camera_url = taker.urls()
    assert central_url == publish_url(cam, CENTRAL)
    assert urllib.parse.urlsplit(camera_url).hostname == "192.0.2.10"
    assert urllib.parse.unquote(urllib.parse.urlsplit(camera_url).password or "") == cam.password


async def test_a_camera_publishing_over_srt_is_read_from_the_camera() -> None:
    """An SRT target's RTSP side is unknown: reading `srt://` as RTSP would be refused
    (no stream id) at every picture, after a wait when the port does not answer."""
    taker = Taker()
    srt = Target(name="srt", rtsp_url="srt://198.51.100.1:8890", srt_passphrase="x" * 10)
    picture = await stills(taker).picture(camera(), srt)
    assert picture.source == "camera"
    assert taker.urls() == ["rtsp://192.0.2.10:554/hall"]


async def test_a_camera_that_does_not_publish_is_read_directly() -> None:
    taker = Taker()
    picture = await stills(taker).picture(camera(), None)
    assert picture.source == "camera"
    assert taker.urls() == ["rtsp://192.0.2.10:554/hall"]


async def test_both_failing_is_one_refusal_naming_both_without_a_password() -> None:
    taker = Taker()
    taker.failing |= {"198.51.100.1", "192.0.2.10"}
    cam = camera(username="admin", password=distinctive("cam"))
    with pytest.raises(NoPicture) as failed:
        await stills(taker).picture(cam, CENTRAL)
    message = str(failed.value)
    assert "central path: 198.51.100.1: 503" in message
    assert "camera: 192.0.2.10: 503" in message
    # Every attempt is told every password in play, so that it can hide them (take_jpeg does).
    for _url, told in taker.calls:
        assert set(told) == {cam.password, CENTRAL.password}


# --- the cache ----------------------------------------------------------------------------
async def test_a_picture_is_kept_for_cache_s() -> None:
    taker, clock = Taker(), Clock()
    taking = stills(taker, clock, cache_s=5.0)
    first = await taking.picture(camera(), None)
    clock.now += 4.9
    assert await taking.picture(camera(), None) is first
    assert len(taker.calls) == 1
    clock.now += 0.2
    later = await taking.picture(camera(), None)
    assert later is not first and len(taker.calls) == 2
    other = await taking.picture(camera("door"), None)  # kept per camera
    assert other.jpeg.endswith(b"/door") and len(taker.calls) == 3


async def test_a_failure_is_kept_too() -> None:
    taker, clock = Taker(), Clock()
    taker.failing.add("192.0.2.10")
    taking = stills(taker, clock, cache_s=5.0)
    for _ in range(3):
        with pytest.raises(NoPicture, match="503"):
            await taking.picture(camera(), None)
    assert len(taker.calls) == 1
    taker.failing.clear()
    clock.now += 5.0
    assert (await taking.picture(camera(), None)).source == "camera"
    assert len(taker.calls) == 2


async def test_forget_drops_what_is_kept() -> None:
    taker = Taker()
    taking = stills(taker)
    await taking.picture(camera(), None)
    taking.forget("hall")
    await taking.picture(camera(), None)
    assert len(taker.calls) == 2


# --- how many at once ---------------------------------------------------------------------
async def test_callers_asking_for_one_camera_at_once_share_one_ffmpeg() -> None:
    taker = Taker()
    taker.hold = anyio.Event()
    taking = stills(taker)
    got: list[Picture] = []

    async def ask() -> None:
        got.append(await taking.picture(camera(), None))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(ask)
        await anyio.wait_all_tasks_blocked()  # one taking, two waiting for it
        assert len(taker.calls) == 1
        taker.hold.set()
    assert len(taker.calls) == 1
    assert len(got) == 3 and got[0] is got[1] is got[2]


async def test_a_shared_failure_reaches_every_caller() -> None:
    taker = Taker()
    taker.hold = anyio.Event()
    taker.failing.add("192.0.2.10")
    taking = stills(taker)
    failures: list[str] = []

    async def ask() -> None:
        try:
            await taking.picture(camera(), None)
        except NoPicture as exc:
            failures.append(str(exc))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask)
        tg.start_soon(ask)
        await anyio.wait_all_tasks_blocked()
        taker.hold.set()
    assert len(taker.calls) == 1 and len(failures) == 2 and failures[0] == failures[1]


@pytest.mark.parametrize("at_once", [1, 2])
async def test_at_most_at_once_ffmpegs_run(at_once: int) -> None:
    taker = Taker()
    taker.hold = anyio.Event()
    taking = stills(taker, at_once=at_once)
    ids = ["a", "b", "c"]
    async with anyio.create_task_group() as tg:
        for cid in ids:
            tg.start_soon(taking.picture, camera(cid), None)
        await anyio.wait_all_tasks_blocked()
        assert taker.running == at_once  # the others wait for a slot, not for a camera
        taker.hold.set()
    assert taker.most_at_once == at_once
    assert sorted(urllib.parse.urlsplit(u).path for u in taker.urls()) == ["/a", "/b", "/c"]


# --- FFmpeg's command line ----------------------------------------------------------------
def test_still_argv_reads_the_url_and_writes_one_jpeg_to_stdout() -> None:
    url = "rtsp://u:p%23w@192.0.2.10:554/s"
    argv = still_argv("/opt/ffmpeg", url, tcp=True, timeout_s=10.0)
    assert argv[0] == "/opt/ffmpeg"
    assert input_url(argv) == url and argv.count(url) == 1
    assert argv[argv.index("-frames:v") + 1] == "1"
    assert argv[-1] == "pipe:1" and argv[argv.index("-f") + 1] == "image2pipe"
    assert argv[argv.index("-c:v") + 1] == "mjpeg"
    assert argv[argv.index("-timeout") + 1] == "10000000"  # microseconds
    assert argv[argv.index("-rtsp_transport") + 1] == "tcp"
    assert argv.index("-rtsp_transport") < argv.index("-i")  # an input option
    assert "-rtsp_transport" not in still_argv("ffmpeg", url, tcp=False, timeout_s=10.0)


async def test_the_camera_leg_keeps_the_cameras_transport() -> None:
    taker = Taker()
    udp = camera(options=CameraOptions(transport=Transport.UDP))
    argvs: list[Sequence[str]] = []

    async def keep(argv: Sequence[str], told: Sequence[str], t: float) -> bytes:
        argvs.append(argv)
        return await taker(argv, told, t)

    taking = Stills("ffmpeg", take=keep, clock=Clock())
    taker.failing.add("198.51.100.1")
    await taking.picture(udp, CENTRAL)
    central_argv, camera_argv = argvs
    assert "-rtsp_transport" in central_argv  # MediaMTX is read over TCP
    assert "-rtsp_transport" not in camera_argv


# --- the real taker, with a script for FFmpeg ---------------------------------------------
def fake_ffmpeg(tmp_path: Path, body: str) -> str:
    """An executable that gets FFmpeg's argv; `$url` is what follows -i."""
    script = tmp_path / "ffmpeg"
    script.write_text(
        f'#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = "-i" ] && url=$2; shift; done\n{body}\n'
    )
    script.chmod(0o755)
    return str(script)


async def test_take_jpeg_returns_what_ffmpeg_wrote(tmp_path: Path) -> None:
    ffmpeg = fake_ffmpeg(tmp_path, r"printf '\377\330picture\377\331'")
    argv = still_argv(ffmpeg, "rtsp://192.0.2.10/s", tcp=True, timeout_s=5.0)
    assert await take_jpeg(argv, [], 5.0) == b"\xff\xd8picture\xff\xd9"


async def test_take_jpeg_refuses_output_that_is_not_a_jpeg(tmp_path: Path) -> None:
    ffmpeg = fake_ffmpeg(tmp_path, "echo 'not a picture'; echo 'Invalid data found' >&2")
    argv = still_argv(ffmpeg, "rtsp://192.0.2.10/s", tcp=True, timeout_s=5.0)
    with pytest.raises(NoPicture, match="Invalid data found"):
        await take_jpeg(argv, [], 5.0)


async def test_take_jpeg_hides_the_passwords_ffmpeg_prints(tmp_path: Path) -> None:
    password = distinctive("cam")
    # FFmpeg names the URL it could not open; here it also echoes the password bare.
    ffmpeg = fake_ffmpeg(
        tmp_path,
        'echo "[rtsp @ 0x1] early line" >&2\n'
        f"echo \"$url: 401 Unauthorized (tried '{password}')\" >&2\n"
        "exit 1",
    )
    url = f"rtsp://admin:{urllib.parse.quote(password, safe='')}@192.0.2.10:554/s"
    argv = still_argv(ffmpeg, url, tcp=True, timeout_s=5.0)
    with pytest.raises(NoPicture) as failed:
        await take_jpeg(argv, [password], 5.0)
    message = str(failed.value)
    assert "rtsp://admin:***@192.0.2.10:554/s: 401 Unauthorized" in message  # the last line
    assert_no_password(message, [password])


async def test_no_password_of_camera_or_target_in_a_failed_still(tmp_path: Path) -> None:
    """Stills with the real taker: both attempts fail and print their URLs."""
    ffmpeg = fake_ffmpeg(tmp_path, 'echo "$url: Connection refused" >&2; exit 1')
    cam = camera(username="admin", password=distinctive("cam"))
    with pytest.raises(NoPicture) as failed:
        await Stills(ffmpeg, clock=Clock()).picture(cam, CENTRAL)
    message = str(failed.value)
    assert "central path: rtsp://pub:***@198.51.100.1:8554/camera_hall: Connection refused" in (
        message
    )
    assert "camera: rtsp://admin:***@192.0.2.10:554/hall: Connection refused" in message
    assert cam.password is not None and CENTRAL.password is not None
    assert_no_password(message, [cam.password, CENTRAL.password])


def assert_no_password(text: str, passwords: list[str]) -> None:
    for password in passwords:
        for form in (password, urllib.parse.quote(password, safe=""), password[4:-2]):
            assert form not in text, (form, text)
