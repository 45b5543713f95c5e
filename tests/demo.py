"""`make demo`: the product's main job, end to end, on this one machine.

A local MediaMTX plays the central server and three simulated cameras play the site LAN.
The ucvd daemon and its `ucvctl` client are not built yet (they arrive with the relay and
control-plane issues), so for now the demo proves the ground they will stand on: each
camera is read back with ffprobe, relayed by a plain `ffmpeg -c copy` (the exact job ucvd
will supervise), found ready at the central server, and read back from there. Then
everything is shut down and the demo checks that no process is left behind.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.cameras import CameraFarm, Feed
from tests.harness.errors import HarnessError
from tests.harness.media import Audio, ClipLibrary, StreamInfo, probe_streams
from tests.harness.mediamtx import Credentials, central
from tests.harness.procs import ProcessRegistry, wait_gone
from tests.harness.relay import start_plain_relay
from tests.harness.tools import find_tools

_T0 = time.monotonic()


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


def run(workdir: Path) -> None:
    tools = find_tools()
    step(f"tools: {tools.ffmpeg}, {tools.ffprobe}, {tools.mediamtx}")
    clips = ClipLibrary(tools)
    clips.ensure()
    step(f"test clips ready in {clips.dir}")

    with ProcessRegistry(workdir / "logs") as registry:
        server = central(registry, tools, workdir / "central", name="central")
        server.server.start()
        step(
            f"central MediaMTX listening: RTSP {server.server.rtsp_url('')} "
            f"API {server.server.api_url} (internal auth, API on)"
        )
        feed = Feed(registry, tools, workdir / "feed", clips)
        farm = CameraFarm(registry, tools, workdir / "cameras", feed)
        cams = [
            farm.add("cam-001", audio=Audio.AAC, credentials=Credentials.generate("admin")),
            farm.add("cam-002", audio=Audio.PCMU),
            farm.add("cam-003", audio=Audio.NONE, credentials=Credentials.generate("viewer")),
        ]
        for cam in cams:
            auth = "with credentials" if cam.credentials else "open"
            streams = describe(probe_streams(tools, cam.full_url))
            step(f"camera {cam.name} at {cam.url} ({auth}): {streams}")

        step("ucvd is not built yet: relaying each camera with plain `ffmpeg -c copy`")
        relays = {
            cam.name: start_plain_relay(
                registry, tools, cam.full_url, server.publish_url(f"camera_{cam.name}"),
                name=f"relay-{cam.name}",
            )
            for cam in cams
        }  # fmt: skip
        api = server.server.api
        for cam in cams:
            api.wait_path_ready(f"camera_{cam.name}", timeout=20)
        step("all paths ready at the central MediaMTX:")
        print(f"    {'path':<18} {'ready':<6} {'tracks':<28} {'bytes in':>9}")
        for path in sorted(api.paths(), key=lambda p: p["name"]):
            print(
                f"    {path['name']:<18} {path['ready']!s:<6} "
                f"{', '.join(path['tracks']):<28} {path.get('inboundBytes', 0):>9}"
            )
        for cam in cams:
            published = probe_streams(tools, server.read_url(f"camera_{cam.name}"))
            step(f"read back camera_{cam.name} from central: {describe(published)}")
            if describe(published) != describe(probe_streams(tools, cam.full_url)):
                raise HarnessError(f"camera_{cam.name} differs from its camera")

        step("shutting down")
        pids = {p.pid for p in registry.live()}
        for relay in relays.values():
            relay.stop()
        farm.close()
        feed.stop()
        server.server.stop()
    wait_gone(pids, timeout=5)
    step(f"all {len(pids)} processes stopped; nothing left behind")


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="ucvd-demo-"))
    try:
        run(workdir)
    except (HarnessError, AssertionError) as exc:
        print(f"demo FAILED: {exc}\nlogs kept in {workdir / 'logs'}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    step("demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
