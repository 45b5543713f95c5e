"""The MediaMTX-driven prototype engine (tests/prototypes/mtxengine, docs/engines.md) against a
real central MediaMTX and simulated cameras: it publishes, names a dead camera's and a dead
centre's faults in ucvd's kinds, and comes back, through the same registry the daemon uses.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.to_thread
import msgspec
import pytest

from tests.harness.cameras import Camera as SimCamera
from tests.harness.cameras import CameraFarm
from tests.harness.mediamtx import Central, Credentials
from tests.harness.procs import pids_of, tagged
from tests.harness.relayed import camera_for, target_for
from tests.harness.tools import Tools
from tests.harness.waiting import wait_until, wait_until_async
from tests.prototypes.mtxengine.site import SiteMediaMTX
from tests.prototypes.mtxengine.supervisor import MtxEngine
from ucvd.domain.audio import AudioPolicy
from ucvd.domain.errors import ErrorKind
from ucvd.domain.model import Camera, CameraOptions
from ucvd.relay.ffmpeg.argv import RelaySettings
from ucvd.relay.publication import Status
from ucvd.relay.registry import Publications
from ucvd.relay.status import Notification, StatusChanged, SupervisorSettings

pytestmark = pytest.mark.anyio

FAST = SupervisorSettings(
    start_timeout_s=15,
    stall_timeout_s=5,
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

    def errors(self) -> list[ErrorKind]:
        return [c.error.kind for c in self.changes if c.error is not None]


@contextlib.asynccontextmanager
async def engine(
    tools: Tools, state_dir: Path, recorder: Recorder
) -> AsyncIterator[tuple[Publications, SiteMediaMTX]]:
    tag = f"ucvd:{state_dir}:"
    site = SiteMediaMTX(tools.mediamtx, state_dir, tag=f"{tag}site-mediamtx")
    pubs = Publications(
        settings=FAST,
        ffmpeg="ffmpeg",
        tag_prefix=tag,
        notify=recorder,
        engine=MtxEngine(site),
    )
    async with anyio.create_task_group() as tg:
        await tg.start(site.run)
        await tg.start(pubs.run)
        try:
            yield pubs, site
        finally:
            with anyio.CancelScope(shield=True):
                await pubs.shutdown()
            tg.cancel_scope.cancel()


async def wait_status(pubs: Publications, camera_id: str, status: Status, timeout: float) -> None:
    def there() -> bool | None:
        return pubs.status(camera_id) is status or None

    def now() -> str:
        state = pubs.state(camera_id)
        return f"{camera_id} to be {status.value} (now {state.status if state else None}, " + (
            f"last error {state.last_error})" if state else ")"
        )

    await wait_until_async(there, timeout=timeout, what=now)


def bytes_grow(central: Central, path: str) -> None:
    first = central.server.api.inbound_bytes(path)
    wait_until(
        lambda: central.server.api.inbound_bytes(path) > first,
        timeout=5,
        what=f"{path}'s inbound bytes to grow at the central MediaMTX",
    )


async def restart_camera(sim: SimCamera) -> None:
    sim.server.launch()  # spawn on the main thread; wait elsewhere
    await anyio.to_thread.run_sync(sim.server.wait_ready)
    await anyio.to_thread.run_sync(sim.wait_serving)


async def test_publishes_names_a_dead_camera_and_recovers(
    tools: Tools, cameras: CameraFarm, mediamtx: Central, tmp_path: Path
) -> None:
    sim = cameras.add(credentials=Credentials.generate("viewer"))
    camera, target = camera_for(sim, "mtx"), target_for(mediamtx)
    path = "camera_mtx"
    recorder = Recorder()
    async with engine(tools, tmp_path / "state", recorder) as (pubs, site):
        await pubs.start(camera, target)
        await wait_status(pubs, "mtx", Status.PUBLISHING, timeout=20)
        # Confirmed by the central server's word, not before it.
        assert mediamtx.server.api.path_ready(path)
        await anyio.to_thread.run_sync(bytes_grow, mediamtx, path)
        assert [c.new for c in recorder.changes] == [Status.STARTING, Status.PUBLISHING]
        # No FFmpeg relays it: the site MediaMTX does.
        ours = tagged(f"ucvd:{tmp_path / 'state'}:")
        assert set(ours) == {f"ucvd:{tmp_path / 'state'}:site-mediamtx"}, ours
        assert not pids_of("ffmpeg") & {pid for pids in ours.values() for pid in pids}
        state = pubs.state("mtx")
        assert state is not None and state.pid == site.pid

        mark = len(recorder.changes)
        await anyio.to_thread.run_sync(sim.stop)
        await wait_status(pubs, "mtx", Status.RECONNECTING, timeout=15)
        kinds = [c.error.kind for c in recorder.changes[mark:] if c.error is not None]
        assert kinds and kinds[0] is ErrorKind.CONNECTION_FAILED, kinds
        await restart_camera(sim)
        await wait_status(pubs, "mtx", Status.PUBLISHING, timeout=FAST.backoff_cap_s + 20)
        await anyio.to_thread.run_sync(bytes_grow, mediamtx, path)

        # A stop removes the path at the site: nothing pulls the camera any more.
        await pubs.stop("mtx")
        assert site.client is not None
        names = [str(p.get("name")) for p in await site.client._list("/v3/config/paths/list")]
        assert path not in names
        # No password in what operators read.
        text = "\n".join(line.text for line in pubs.lines("mtx"))
        assert text, "the site's lines about the camera are kept"
        for secret in (camera.password, target.password):
            assert secret and secret not in text


async def test_central_outage_waits_for_the_target_and_recovers(
    tools: Tools, cameras: CameraFarm, mediamtx: Central, tmp_path: Path
) -> None:
    sim = cameras.add()
    camera, target = camera_for(sim, "mtxc"), target_for(mediamtx)
    recorder = Recorder()
    async with engine(tools, tmp_path / "state", recorder) as (pubs, _site):
        await pubs.start(camera, target)
        await wait_status(pubs, "mtxc", Status.PUBLISHING, timeout=20)
        await anyio.to_thread.run_sync(mediamtx.server.stop)
        await wait_status(pubs, "mtxc", Status.RECONNECTING, timeout=15)
        state = pubs.state("mtxc")
        assert state is not None and state.waiting_for_target, state
        assert state.last_error is not None
        assert state.last_error.kind is ErrorKind.MEDIAMTX_UNREACHABLE
        mediamtx.server.launch()
        await anyio.to_thread.run_sync(mediamtx.server.wait_ready)
        await wait_status(pubs, "mtxc", Status.PUBLISHING, timeout=20)
        await anyio.to_thread.run_sync(bytes_grow, mediamtx, "camera_mtxc")


async def test_wrong_camera_password_is_auth_failed(
    tools: Tools, cameras: CameraFarm, mediamtx: Central, tmp_path: Path
) -> None:
    sim = cameras.add(credentials=Credentials.generate("viewer"))
    camera = msgspec.structs.replace(camera_for(sim, "mtxa"), password="wrong-password")
    recorder = Recorder()
    async with engine(tools, tmp_path / "state", recorder) as (pubs, _site):
        await pubs.start(camera, target_for(mediamtx))
        await wait_status(pubs, "mtxa", Status.RECONNECTING, timeout=15)
        assert recorder.errors()[0] is ErrorKind.AUTH_FAILED, recorder.errors()


async def test_refused_forward_is_mediamtx_rejected_and_never_publishing(
    tools: Tools, cameras: CameraFarm, mediamtx: Central, tmp_path: Path
) -> None:
    sim = cameras.add()
    target = target_for(mediamtx, password="not-the-publish-password")
    recorder = Recorder()
    async with engine(tools, tmp_path / "state", recorder) as (pubs, _site):
        await pubs.start(camera_for(sim, "mtxr"), target)
        await wait_status(pubs, "mtxr", Status.RECONNECTING, timeout=20)
        assert recorder.errors()[0] is ErrorKind.MEDIAMTX_REJECTED, recorder.errors()
        assert Status.PUBLISHING not in [c.new for c in recorder.changes]


async def test_frozen_camera_is_stalled_by_ucvd_then_back(
    tools: Tools, cameras: CameraFarm, mediamtx: Central, tmp_path: Path
) -> None:
    sim = cameras.add()
    recorder = Recorder()
    async with engine(tools, tmp_path / "state", recorder) as (pubs, _site):
        await pubs.start(camera_for(sim, "mtxf"), target_for(mediamtx))
        await wait_status(pubs, "mtxf", Status.PUBLISHING, timeout=20)
        sim.freeze()
        try:
            # ucvd's stall timeout (the target's byte counter still), well before the site
            # MediaMTX's own read timeout (10 s) would end the source.
            t0 = anyio.current_time()
            await wait_status(pubs, "mtxf", Status.RECONNECTING, timeout=15)
            took = anyio.current_time() - t0
        finally:
            sim.thaw()
        assert recorder.errors()[0] is ErrorKind.STREAM_STALLED, recorder.errors()
        assert took < FAST.stall_timeout_s + 3, took
        await wait_status(pubs, "mtxf", Status.PUBLISHING, timeout=FAST.backoff_cap_s + 20)


async def test_killed_site_mediamtx_is_every_cameras_crash_and_comes_back(
    tools: Tools, cameras: CameraFarm, mediamtx: Central, tmp_path: Path
) -> None:
    sims = [cameras.add(), cameras.add()]
    recorder = Recorder()
    async with engine(tools, tmp_path / "state", recorder) as (pubs, site):
        for i, sim in enumerate(sims):
            await pubs.start(camera_for(sim, f"mtxk{i}"), target_for(mediamtx))
        for i in range(2):
            await wait_status(pubs, f"mtxk{i}", Status.PUBLISHING, timeout=20)
        first = site.pid
        assert first is not None
        mark = len(recorder.changes)
        os.kill(first, signal.SIGKILL)  # one process: both cameras go with it
        await wait_until_async(
            lambda: {c.camera_id for c in recorder.changes[mark:]} == {"mtxk0", "mtxk1"} or None,
            timeout=10,
            what="both cameras to notice",
        )
        for i in range(2):
            await wait_status(pubs, f"mtxk{i}", Status.PUBLISHING, timeout=30)
        assert site.pid != first
        for i in range(2):
            kinds = [
                c.error.kind for c in recorder.changes if c.camera_id == f"mtxk{i}" and c.error
            ]
            assert kinds[:1] == [ErrorKind.PROCESS_CRASHED], kinds


async def test_what_it_cannot_do_is_a_config_error(
    tools: Tools, mediamtx: Central, tmp_path: Path
) -> None:
    # Never contacted: the refusal comes before anything is configured.
    drop = CameraOptions(audio=AudioPolicy.DROP)
    camera = Camera(id="nodrop", url="rtsp://127.0.0.1:9/x", options=drop)
    recorder = Recorder()
    async with engine(tools, tmp_path / "state", recorder) as (pubs, _site):
        await pubs.start(camera, target_for(mediamtx))
        await wait_status(pubs, "nodrop", Status.FAILED, timeout=10)
        assert recorder.errors() == [ErrorKind.CONFIG_ERROR]
