"""The relay engine against real FFmpeg, a real central MediaMTX and simulated cameras.

Supervisors run in the test's event loop (the daemon around them comes with the control
plane issue); everything they drive is real. Blocking harness calls that wait run in a
worker thread so the supervisors keep running meanwhile; spawning stays on the main thread
(parent-death signal).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import anyio.to_thread
import msgspec
import pytest

from tests.harness.cameras import Camera as SimCamera
from tests.harness.cameras import CameraFarm
from tests.harness.media import Audio, packets_read, probe_streams
from tests.harness.mediamtx import Central, Credentials
from tests.harness.procs import ProcessRegistry, pids_of, tagged
from tests.harness.relay import start_plain_relay
from tests.harness.relayed import camera_for, target_for
from tests.harness.tools import Tools, ffmpeg_under_test
from tests.harness.waiting import wait_until, wait_until_async
from ucvd.domain.errors import ErrorKind
from ucvd.domain.model import Camera, Target
from ucvd.relay.ffmpeg.argv import RelaySettings
from ucvd.relay.ffmpeg.process import find_tagged
from ucvd.relay.mediamtx import MediaMTXClient
from ucvd.relay.publication import Status
from ucvd.relay.status import MetricsSampled, Notification, StatusChanged, SupervisorSettings
from ucvd.relay.supervisor import Supervisor, SupervisorClosed

pytestmark = pytest.mark.anyio

# FFmpeg's own input timeout is set well above the stall timeout, so that a frozen camera is
# always caught by ucvd's watchdog (stream_stalled) before FFmpeg gives up by itself.
FAST = SupervisorSettings(
    start_timeout_s=15,
    stall_timeout_s=3,
    poll_s=0.25,
    backoff_cap_s=4,
    relay=RelaySettings(input_timeout_s=10),
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    def __init__(self) -> None:
        self.changes: list[StatusChanged] = []

    def __call__(self, note: Notification) -> None:
        if isinstance(note, StatusChanged):
            self.changes.append(note)

    def errors(self, camera_id: str) -> list[ErrorKind]:
        return [c.error.kind for c in self.changes if c.camera_id == camera_id and c.error]


@contextlib.asynccontextmanager
async def supervised(
    *pairs: tuple[Camera, Target],
    settings: SupervisorSettings = FAST,
    recorder: Callable[[Notification], None] | None = None,
    ffmpeg: str | None = None,
) -> AsyncIterator[list[Supervisor]]:
    """Run one supervisor per (camera, target) until the block ends, with the FFmpeg under
    test unless `ffmpeg` is given. API clients close only after the supervisors are gone, so
    a failing test shows its own error."""
    tag = f"test-{uuid.uuid4().hex[:12]}"
    async with contextlib.AsyncExitStack() as stack:
        supervisors = []
        for camera, target in pairs:
            client = None
            if target.uses_api and target.api_url:
                client = MediaMTXClient(target.api_url, credentials=target.api_credentials())
                stack.push_async_callback(client.aclose)
            supervisors.append(
                Supervisor(
                    camera,
                    target,
                    ffmpeg=ffmpeg or ffmpeg_under_test(),
                    mediamtx=client,
                    tag=tag,
                    notify=recorder or Recorder(),
                    settings=settings,
                )
            )
        async with anyio.create_task_group() as tg:
            try:
                for sup in supervisors:
                    await tg.start(sup.run)
                yield supervisors
            finally:
                tg.cancel_scope.cancel()


async def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> float:
    """Poll until `predicate()` is truthy; returns the seconds it took."""
    start = time.monotonic()
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.05)
    return time.monotonic() - start


async def wait_status(sup: Supervisor, status: Status, timeout: float = 20) -> float:
    try:
        return await wait_for(lambda: sup.machine.status is status, timeout, status.value)
    except TimeoutError:
        state = sup.state()
        raise AssertionError(
            f"{sup.camera.id} never reached {status.value}: now {state.status.value}, "
            f"last error {state.last_error}, log tail {[ln.text for ln in sup.lines][-5:]}"
        ) from None


async def wait_change(
    recorder: Recorder, camera_id: str, new: Status, *, since: int, timeout: float
) -> StatusChanged:
    """The first recorded change of `camera_id` to `new` among the changes from index
    `since` on. A state as short as a 0.4 s backoff is caught by its record, where polling
    the current status can step over it."""

    def found() -> StatusChanged | None:
        return next(
            (c for c in recorder.changes[since:] if c.camera_id == camera_id and c.new is new),
            None,
        )

    return await wait_until_async(
        found,
        timeout=timeout,
        what=lambda: (
            f"{camera_id} to change to {new.value} "
            f"(changes: {[c.new.value for c in recorder.changes[since:]]})"
        ),
    )


def news(recorder: Recorder, since: int) -> list[Status]:
    return [c.new for c in recorder.changes[since:]]


def relays(sup: Supervisor) -> set[int]:
    """Live FFmpeg processes of this test's supervisors (found by their tag, as a restarted
    daemon would find them; the harness's own FFmpeg feeders carry no tag). One caught on
    its way, in setpriv or mid-exec, counts: checks that there is none or one must see it."""
    assert sup.tag is not None
    return set(tagged(sup.tag).get(sup.tag, [])) & pids_of("ffmpeg", becoming=True)


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return -1


async def restart_camera(cam: SimCamera) -> None:
    cam.server.launch()  # spawn on the main thread; wait elsewhere
    await anyio.to_thread.run_sync(cam.server.wait_ready)
    await anyio.to_thread.run_sync(cam.wait_serving)


# --- it relays, and what arrives is the camera's stream ------------------------------------


@pytest.mark.parametrize("audio", [Audio.AAC, Audio.PCMU, Audio.NONE])
async def test_relay_reads_back_the_same_stream(
    audio: Audio, cameras: CameraFarm, mediamtx: Central, tools: Tools
) -> None:
    sim = cameras.add(audio=audio, credentials=Credentials.generate("admin"))
    camera = camera_for(sim, "cam-001")
    async with supervised((camera, target_for(mediamtx))) as [sup]:
        assert await sup.start() is True
        took = await wait_status(sup, Status.PUBLISHING)
        assert relays(sup) == {sup.state().pid}
        source = await anyio.to_thread.run_sync(probe_streams, tools, sim.full_url)
        relayed = await anyio.to_thread.run_sync(
            probe_streams, tools, mediamtx.read_url("camera_cam-001")
        )
        assert [(s.codec_type, s.codec_name, s.width, s.height) for s in relayed] == [
            (s.codec_type, s.codec_name, s.width, s.height) for s in source
        ]
        assert any(s.codec_type == "audio" for s in relayed) is (audio is not Audio.NONE)
        # Every announced track carries packets (FFmpeg 7.1 copied no audio without -copyinkf).
        counts = await anyio.to_thread.run_sync(
            packets_read, tools, mediamtx.read_url("camera_cam-001")
        )
        assert len(counts) == len(source) and all(n > 0 for n in counts), counts
        await wait_for(lambda: sup.state().metrics.bitrate_kbps, 5, "a bitrate sample")
        metrics = sup.state().metrics
        assert metrics.tracks[0] == "H264"
        assert metrics.fps is not None and 15 < metrics.fps < 40
        assert metrics.frames > 0 and metrics.bytes_in > 0
        print(f"start -> publishing: {took:.2f}s ({audio.value})")
        assert await sup.stop() is True
        assert sup.machine.status is Status.STOPPED
        assert not relays(sup)


async def test_audio_off_publishes_video_only(cameras: CameraFarm, mediamtx: Central) -> None:
    sim = cameras.add(audio=Audio.AAC)
    async with supervised((camera_for(sim, "mute", audio=False), target_for(mediamtx))) as [sup]:
        await sup.start()
        await wait_status(sup, Status.PUBLISHING)
        assert mediamtx.server.api.tracks("camera_mute") == ["H264"]


async def test_api_off_confirms_from_ffmpeg_progress(
    cameras: CameraFarm, mediamtx: Central
) -> None:
    sim = cameras.add()
    target = target_for(mediamtx, api_enabled=False)
    async with supervised((camera_for(sim, "noapi"), target)) as [sup]:
        await sup.start()
        await wait_status(sup, Status.PUBLISHING)
        assert mediamtx.server.api.path_ready("camera_noapi")


# --- each failure has its kind and a message without secrets -------------------------------


async def _first_error(sup: Supervisor, recorder: Recorder) -> tuple[ErrorKind, str]:
    await sup.start()
    await wait_for(lambda: recorder.errors(sup.camera.id), 20, "an error")
    change = next(c for c in recorder.changes if c.error)
    assert change.error is not None
    return change.error.kind, change.error.message


@pytest.mark.parametrize(
    ("case", "kind", "fragment"),
    [
        ("camera wrong password", ErrorKind.AUTH_FAILED, "refused the username or password"),
        ("camera unknown path", ErrorKind.STREAM_UNAVAILABLE, "has no such stream"),
        ("camera port closed", ErrorKind.CONNECTION_FAILED, "Connection refused"),
        ("mediamtx down", ErrorKind.MEDIAMTX_UNREACHABLE, "cannot reach MediaMTX"),
        ("mediamtx api down", ErrorKind.MEDIAMTX_UNREACHABLE, "cannot prepare path"),
        ("wrong publish credentials", ErrorKind.MEDIAMTX_REJECTED, "publish credentials"),
    ],
)
async def test_failures_are_classified(
    case: str, kind: ErrorKind, fragment: str, cameras: CameraFarm, mediamtx: Central
) -> None:
    creds = Credentials.generate("admin")
    sim = cameras.add(credentials=creds)
    camera = camera_for(sim, "broken")
    target = target_for(mediamtx)
    secrets = {creds.password, mediamtx.publisher.password, "Wr0ng#Secret!"}
    if case == "camera wrong password":
        camera = Camera(id="broken", url=sim.url, username="admin", password="Wr0ng#Secret!")
    elif case == "camera unknown path":
        camera = Camera(id="broken", url=sim.url.replace("Streaming/Channels/101", "nope"),
                        username=creds.user, password=creds.password)  # fmt: skip
    elif case == "camera port closed":
        await anyio.to_thread.run_sync(sim.stop)
    elif case == "mediamtx down":  # FFmpeg itself finds the server gone (API off)
        await anyio.to_thread.run_sync(mediamtx.server.stop)
        target = target_for(mediamtx, api_enabled=False)
    elif case == "mediamtx api down":  # ucvd finds it gone before spawning
        await anyio.to_thread.run_sync(mediamtx.server.stop)
    elif case == "wrong publish credentials":
        target = target_for(mediamtx, password="Wr0ng#Secret!", api_enabled=False)
    recorder = Recorder()
    async with supervised((camera, target), recorder=recorder) as [sup]:
        got_kind, message = await _first_error(sup, recorder)
        assert got_kind is kind, message
        assert fragment in message
        for secret in secrets:
            assert secret not in message
        log = "\n".join(line.text for line in sup.lines)
        for secret in secrets:
            assert secret not in log
        assert sup.machine.status in (Status.RECONNECTING, Status.STARTING)


# --- it comes back by itself ---------------------------------------------------------------


async def test_killed_ffmpeg_comes_back(cameras: CameraFarm, mediamtx: Central) -> None:
    sim = cameras.add()
    recorder = Recorder()
    async with supervised((camera_for(sim, "k"), target_for(mediamtx)), recorder=recorder) as [sup]:
        await sup.start()
        await wait_status(sup, Status.PUBLISHING)
        pid = sup.state().pid
        assert pid is not None
        mark = len(recorder.changes)
        os.kill(pid, signal.SIGKILL)
        await wait_change(recorder, "k", Status.RECONNECTING, since=mark, timeout=5)
        await wait_status(sup, Status.PUBLISHING, timeout=15)
        assert news(recorder, mark) == [Status.RECONNECTING, Status.STARTING, Status.PUBLISHING]
        assert sup.state().pid != pid
        assert recorder.errors("k") == [ErrorKind.PROCESS_CRASHED]
        state = sup.state()
        assert state.last_error is not None and "SIGKILL" in state.last_error.message
        assert state.last_error_at is not None and abs(time.time() - state.last_error_at) < 30
        assert len(relays(sup)) == 1


async def test_kicked_session_comes_back(cameras: CameraFarm, mediamtx: Central) -> None:
    sim = cameras.add()
    recorder = Recorder()
    async with supervised((camera_for(sim, "kick"), target_for(mediamtx)),
                          recorder=recorder) as [sup]:  # fmt: skip
        await sup.start()
        await wait_status(sup, Status.PUBLISHING)
        mark = len(recorder.changes)
        await anyio.to_thread.run_sync(mediamtx.server.api.kick_publisher, "camera_kick")
        await wait_change(recorder, "kick", Status.RECONNECTING, since=mark, timeout=10)
        await wait_status(sup, Status.PUBLISHING, timeout=15)
        assert news(recorder, mark) == [Status.RECONNECTING, Status.STARTING, Status.PUBLISHING]
        assert recorder.errors("kick") == [ErrorKind.MEDIAMTX_CLOSED]


async def test_camera_outage_comes_back_after_backoff(
    cameras: CameraFarm, mediamtx: Central
) -> None:
    sim = cameras.add()
    recorder = Recorder()
    async with supervised((camera_for(sim, "out"), target_for(mediamtx)),
                          recorder=recorder) as [sup]:  # fmt: skip
        await sup.start()
        await wait_status(sup, Status.PUBLISHING)
        mark = len(recorder.changes)
        await anyio.to_thread.run_sync(sim.stop)
        await wait_change(recorder, "out", Status.RECONNECTING, since=mark, timeout=15)
        await wait_for(
            lambda: sup.machine.failures >= 2, 15, "a failed retry while the camera is off"
        )
        await restart_camera(sim)
        # The retry that finds the camera back comes at most one backoff delay later; then
        # FFmpeg needs its start (a few seconds) to reach publishing.
        bound = sup.machine.policy.delay_bound(sup.machine.failures)
        took = await wait_status(sup, Status.PUBLISHING, timeout=bound + 15)
        assert took <= bound + 10, f"back {took:.1f}s after the camera, backoff bound {bound}s"
        assert ErrorKind.CONNECTION_FAILED in recorder.errors("out")


async def test_frozen_camera_is_stalled_then_back(cameras: CameraFarm, mediamtx: Central) -> None:
    sim = cameras.add()
    recorder = Recorder()
    async with supervised((camera_for(sim, "ice"), target_for(mediamtx)),
                          recorder=recorder) as [sup]:  # fmt: skip
        await sup.start()
        await wait_status(sup, Status.PUBLISHING)
        # The path is usually ready before the camera's keyframe (-max_ts_probe 1): freeze
        # a camera whose pictures flow (test_first_picture.py: frozen before the first).
        await wait_for(lambda: sup.state().metrics.frames > 0, 5, "a picture relayed")
        mark = len(recorder.changes)
        frozen_at = time.time()  # wall clock, as the record's
        sim.freeze()
        change = await wait_change(
            recorder, "ice", Status.RECONNECTING, since=mark, timeout=FAST.stall_timeout_s + 3
        )
        detected = change.at - frozen_at
        assert change.error is not None and change.error.kind is ErrorKind.STREAM_STALLED
        assert detected <= FAST.stall_timeout_s + 2
        sim.thaw()
        await anyio.to_thread.run_sync(sim.wait_serving)
        await wait_status(sup, Status.PUBLISHING, timeout=25)
        assert len(relays(sup)) == 1


async def test_mediamtx_restart_comes_back(cameras: CameraFarm, mediamtx: Central) -> None:
    sim = cameras.add()
    recorder = Recorder()
    async with supervised((camera_for(sim, "mtx"), target_for(mediamtx)),
                          recorder=recorder) as [sup]:  # fmt: skip
        await sup.start()
        await wait_status(sup, Status.PUBLISHING)
        mark = len(recorder.changes)
        await anyio.to_thread.run_sync(mediamtx.server.stop)
        await wait_change(recorder, "mtx", Status.RECONNECTING, since=mark, timeout=15)
        mediamtx.server.launch()
        await anyio.to_thread.run_sync(mediamtx.server.wait_ready)
        await wait_status(sup, Status.PUBLISHING, timeout=20)
        assert ErrorKind.MEDIAMTX_UNREACHABLE in recorder.errors("mtx")


# --- commands: stop wins, one process per camera -------------------------------------------


async def test_stop_during_backoff_stays_stopped(cameras: CameraFarm, mediamtx: Central) -> None:
    sim = cameras.add()
    await anyio.to_thread.run_sync(sim.stop)
    target = target_for(mediamtx, reconnect_delay=2.0)
    async with supervised((camera_for(sim, "calm"), target)) as [sup]:
        await sup.start()
        await wait_status(sup, Status.RECONNECTING, timeout=10)
        assert await sup.stop() is True
        assert sup.machine.status is Status.STOPPED
        await restart_camera(sim)
        # Past the scheduled retry: nothing may have been spawned.
        await anyio.sleep(target.reconnect_delay + 1)
        assert sup.machine.status is Status.STOPPED
        assert not relays(sup)


async def test_concurrent_starts_spawn_one_ffmpeg(cameras: CameraFarm, mediamtx: Central) -> None:
    sim = cameras.add()
    async with supervised((camera_for(sim, "race"), target_for(mediamtx))) as [sup]:
        results: list[bool] = []

        async def start() -> None:
            results.append(await sup.start())

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(start)
        assert results.count(True) == 1
        await wait_status(sup, Status.PUBLISHING)
        assert len(relays(sup)) == 1


async def test_force_restart_replaces_the_process(cameras: CameraFarm, mediamtx: Central) -> None:
    sim = cameras.add()
    async with supervised((camera_for(sim, "again"), target_for(mediamtx))) as [sup]:
        await sup.start()
        await wait_status(sup, Status.PUBLISHING)
        old = sup.state().pid
        assert await sup.start() is False  # already publishing
        assert await sup.restart() is True
        await wait_status(sup, Status.PUBLISHING)
        assert sup.state().pid not in (None, old)
        assert len(relays(sup)) == 1


async def test_max_reconnects_gives_up(cameras: CameraFarm, mediamtx: Central) -> None:
    sim = cameras.add()
    await anyio.to_thread.run_sync(sim.stop)
    target = target_for(mediamtx, max_reconnects=2, reconnect_delay=0.2)
    async with supervised((camera_for(sim, "quit"), target)) as [sup]:
        await sup.start()
        await wait_status(sup, Status.FAILED, timeout=15)
        assert sup.machine.restarts == 2
        assert sup.state().last_error is not None


async def test_missing_ffmpeg_fails_at_once(cameras: CameraFarm, mediamtx: Central) -> None:
    sim = cameras.add()
    recorder = Recorder()
    async with supervised((camera_for(sim, "nobin"), target_for(mediamtx)), recorder=recorder,
                          ffmpeg="/nonexistent/ffmpeg") as [sup]:  # fmt: skip
        await sup.start()
        await wait_status(sup, Status.FAILED, timeout=10)
        assert recorder.errors("nobin") == [ErrorKind.CONFIG_ERROR]
        assert sup.machine.restarts == 0


async def test_twenty_cameras_publish_together(cameras: CameraFarm, mediamtx: Central) -> None:
    sims = cameras.add_many(20)  # no supervisor runs yet: blocking here stalls nothing
    target = target_for(mediamtx)
    pairs = [(camera_for(sim, f"many-{i:02d}"), target) for i, sim in enumerate(sims)]
    async with supervised(*pairs) as sups:
        async with anyio.create_task_group() as tg:
            for sup in sups:
                tg.start_soon(sup.start)
        for sup in sups:
            await wait_status(sup, Status.PUBLISHING, timeout=30)
        ready = {p["name"] for p in mediamtx.server.api.paths() if p["ready"]}
        assert ready == {f"camera_many-{i:02d}" for i in range(20)}
        assert len(relays(sups[0])) == 20


# --- someone else's stream is never taken for ours ----------------------------------------


async def test_foreign_publisher_does_not_confirm_ours(
    cameras: CameraFarm,
    make_central: Callable[..., Central],
    registry: ProcessRegistry,
    tools: Tools,
) -> None:
    central = make_central(path_defaults={"overridePublisher": False})
    sim = cameras.add()
    squatter = start_plain_relay(registry, tools, sim.url, central.publish_url("camera_taken"))
    await anyio.to_thread.run_sync(central.server.api.wait_path_ready, "camera_taken")
    recorder = Recorder()
    async with supervised((camera_for(sim, "taken"), target_for(central)),
                          recorder=recorder) as [sup]:  # fmt: skip
        await sup.start()
        await wait_for(lambda: recorder.errors("taken"), 20, "our publication to be refused")
        first = next(c.error for c in recorder.changes if c.error)
        assert first.kind is ErrorKind.MEDIAMTX_REJECTED
        assert "busy with another publisher" in first.message
        assert not any(c.new is Status.PUBLISHING for c in recorder.changes)
        assert squatter.alive()


async def test_with_override_we_take_the_path_over(
    cameras: CameraFarm, mediamtx: Central, registry: ProcessRegistry, tools: Tools
) -> None:
    sim = cameras.add()
    squatter = start_plain_relay(registry, tools, sim.url, mediamtx.publish_url("camera_ours"))
    api = mediamtx.server.api
    await anyio.to_thread.run_sync(api.wait_path_ready, "camera_ours")
    theirs = api.publisher_session("camera_ours")
    async with supervised((camera_for(sim, "ours"), target_for(mediamtx))) as [sup]:
        await sup.start()
        await wait_status(sup, Status.PUBLISHING)
        assert api.publisher_session("camera_ours") not in (None, theirs)
        await wait_for(lambda: not squatter.alive(), 10, "the kicked squatter to exit")


# --- a broken subscriber or a dead loop never hangs anyone -----------------------------------


async def test_failing_notification_callback_does_not_stop_the_publication(
    cameras: CameraFarm, mediamtx: Central
) -> None:
    failed: list[Notification] = []

    def explode(note: Notification) -> None:
        failed.append(note)
        raise RuntimeError("subscriber bug")

    sim = cameras.add()
    async with supervised((camera_for(sim, "noisy"), target_for(mediamtx)),
                          recorder=explode) as [sup]:  # fmt: skip
        await sup.start()
        await wait_status(sup, Status.PUBLISHING)
        await wait_for(  # metrics notifications fail too, again and again
            lambda: sum(isinstance(n, MetricsSampled) for n in failed) >= 2,
            FAST.metrics_every_s * 2 + 10,
            "two metrics notifications to fail",
        )
        assert sup.machine.status is Status.PUBLISHING


async def test_commands_to_a_stopped_supervisor_fail_fast(
    cameras: CameraFarm, mediamtx: Central
) -> None:
    sim = cameras.add()
    async with supervised((camera_for(sim, "gone"), target_for(mediamtx))) as [sup]:
        await sup.start()
        await wait_status(sup, Status.PUBLISHING)
        tag = sup.tag
    with anyio.fail_after(2), pytest.raises(SupervisorClosed):
        await sup.start()
    assert tag is not None and not find_tagged(tag)


# --- a killed host takes its FFmpeg children along -----------------------------------------


def test_killed_host_takes_its_ffmpeg_along(
    cameras: CameraFarm, mediamtx: Central, registry: ProcessRegistry, tmp_path: Path
) -> None:
    sim = cameras.add()
    spec = tmp_path / "host.json"
    spec.write_bytes(host_spec(camera_for(sim, "host"), target_for(mediamtx)))
    argv = [sys.executable, "-m", "tests.harness.supervisor_host", str(spec)]
    host = registry.spawn("supervisor-host", argv, cwd=Path(__file__).parents[2])

    def ffmpeg_of_host() -> set[int]:
        return {pid for pid in pids_of("ffmpeg") if _ppid(pid) == host.pid}

    wait_until(lambda: "publishing" in host.log_tail(), timeout=20, what="the host to publish")
    children = ffmpeg_of_host()
    assert len(children) == 1
    os.kill(host.pid, signal.SIGKILL)
    wait_until(lambda: not any(pid in pids_of("ffmpeg") for pid in children), timeout=5,
               what="the orphaned FFmpeg to die")  # fmt: skip


def host_spec(camera: Camera, target: Target) -> bytes:
    return msgspec.json.encode({"camera": camera, "target": target})
