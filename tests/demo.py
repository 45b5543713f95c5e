"""`make demo`: the product's main job, end to end, on this one machine.

A local MediaMTX plays the central server and three simulated cameras play the site LAN.
ucvd's relay engine (one supervised `ffmpeg -c copy` per camera, confirmed at MediaMTX)
publishes them; the demo shows their status, reads every published path back from the
central server, kills one FFmpeg to show it come back by itself, and shuts everything
down, checking that no process is left behind.

The daemon and `ucvctl` arrive with the control-plane issue; until then the supervisors
run inside this script, exactly as the daemon will run them.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import anyio
import anyio.to_thread

from tests.harness.cameras import CameraFarm
from tests.harness.errors import HarnessError
from tests.harness.lab import lab
from tests.harness.media import Audio, StreamInfo, probe_streams
from tests.harness.mediamtx import Central, Credentials
from tests.harness.procs import wait_gone
from tests.harness.relayed import camera_for, target_for
from tests.harness.tools import Tools
from ucvd.ffmpeg.version import detect
from ucvd.mediamtx import MediaMTXClient
from ucvd.publication import Status
from ucvd.runner import find_tagged
from ucvd.supervisor import Notification, StatusChanged, Supervisor
from ucvd.urls import with_credentials

_T0 = time.monotonic()
TAG = f"demo-{os.getpid()}"


def step(message: str) -> None:
    print(f"[{time.monotonic() - _T0:6.2f}s] {message}", flush=True)


def describe(streams: list[StreamInfo]) -> str:
    parts = []
    for s in streams:
        if s.codec_type == "video":
            parts.append(f"{s.codec_name} {s.width}x{s.height}")
        elif s.codec_type == "audio":
            parts.append(f"{s.codec_name} {s.sample_rate} Hz")
    return ", ".join(parts) or "no streams"


def show(note: Notification) -> None:
    if isinstance(note, StatusChanged):
        why = f" ({note.error.kind}: {note.error.message})" if note.error else ""
        step(f"  {note.camera_id}: {note.old.value} -> {note.new.value}{why}")


def status_table(supervisors: list[Supervisor]) -> None:
    print(f"    {'camera':<9} {'status':<11} {'path':<16} {'fps':>5} {'kbit/s':>7}  tracks")
    for sup in supervisors:
        st = sup.state()
        m = st.metrics
        fps = f"{m.fps:.1f}" if m.fps is not None else "-"
        kbps = f"{m.bitrate_kbps:.0f}" if m.bitrate_kbps is not None else "-"
        print(f"    {st.camera_id:<9} {st.status.value:<11} {st.path:<16} {fps:>5} {kbps:>7}"
              f"  {', '.join(m.tracks)}")  # fmt: skip


async def wait_all(supervisors: list[Supervisor], status: Status, timeout: float) -> None:
    with anyio.fail_after(timeout):
        while any(s.machine.status is not status for s in supervisors):
            await anyio.sleep(0.05)


async def relay(tools: Tools, server: Central, farm: CameraFarm) -> None:
    target = target_for(server)
    assert target.api_url is not None
    async with (
        MediaMTXClient(target.api_url, credentials=target.api_credentials()) as client,
        anyio.create_task_group() as tg,
    ):
        sups = []
        for sim in farm.cameras:
            sup = Supervisor(camera_for(sim), target, ffmpeg=tools.ffmpeg, mediamtx=client,
                             notify=show, tag=TAG)  # fmt: skip
            await tg.start(sup.run)
            sups.append(sup)
        step("publishing every camera through ucvd's relay engine")
        for sup in sups:
            await sup.start()
        await wait_all(sups, Status.PUBLISHING, 30)
        await anyio.sleep(2.5)  # let a couple of metric samples come in, for the table
        step("status:")
        status_table(sups)

        for sup in sups:
            url = server.read_url(sup.path)
            published = await anyio.to_thread.run_sync(probe_streams, tools, url)
            original = await anyio.to_thread.run_sync(probe_streams, tools, sup_source(sup))
            if describe(published) != describe(original):
                raise HarnessError(f"{sup.path} differs from its camera")
            step(f"read back {sup.path} from central: {describe(published)}")

        victim = sups[0]
        pid = victim.state().pid
        assert pid is not None
        step(f"killing {victim.camera.id}'s FFmpeg (pid {pid}) with SIGKILL")
        os.kill(pid, signal.SIGKILL)
        await wait_all([victim], Status.RECONNECTING, 10)
        await wait_all([victim], Status.PUBLISHING, 20)
        step(f"{victim.camera.id} is publishing again with FFmpeg pid {victim.state().pid}")

        step("stopping every publication")
        for sup in sups:
            await sup.stop()
        tg.cancel_scope.cancel()
    if find_tagged(TAG):
        raise HarnessError(f"FFmpeg processes left after stop: {find_tagged(TAG)}")


def sup_source(sup: Supervisor) -> str:
    return with_credentials(sup.camera.url, sup.camera.username, sup.camera.password)


def run(workdir: Path) -> None:
    with lab(workdir=workdir) as env:
        tools = env.tools
        info = detect(tools.ffmpeg)
        step(f"FFmpeg {info.version} at {info.path}; MediaMTX at {tools.mediamtx}")
        server = env.central(log_level="warn")
        step(
            f"central MediaMTX listening: RTSP {server.server.rtsp_url('')} "
            f"API {server.server.api_url} (internal auth, API on)"
        )
        farm = env.cameras
        farm.add("cam-001", audio=Audio.AAC, credentials=Credentials.generate("admin"))
        farm.add("cam-002", audio=Audio.PCMU)
        farm.add("cam-003", audio=Audio.NONE, credentials=Credentials.generate("viewer"))
        for cam in farm.cameras:
            auth = "with credentials" if cam.credentials else "open"
            streams = describe(probe_streams(tools, cam.full_url))
            step(f"camera {cam.name} at {cam.url} ({auth}): {streams}")

        anyio.run(relay, tools, server, farm)

        step("shutting down the cameras and MediaMTX")
        pids = {p.pid for p in env.registry.live()}
    wait_gone(pids, timeout=5)
    step(f"all {len(pids)} harness processes stopped; no FFmpeg of ucvd left; nothing behind")


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="ucvd-demo-"))
    try:
        run(workdir)
    except (HarnessError, AssertionError, TimeoutError) as exc:
        print(f"demo FAILED: {exc!r}\nlogs kept in {workdir / 'logs'}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    step("demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
