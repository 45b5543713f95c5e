"""`make demo`: the product's main job, end to end, on this one machine.

A local MediaMTX plays the central server and three simulated cameras play the site LAN.
A real `ucvd` runs unprivileged in a temporary directory, and everything is done to it
with `ucvctl`, exactly as an operator would: add the target and the cameras (passwords on
stdin), publish, look at the status, read every published path back from the central
server, kill one FFmpeg and watch it come back, restart the daemon and see the cameras
resume by themselves, look at the history, then stop and check that nothing is left.

Then discovery: a second site LAN made of network namespaces (three ONVIF cameras, a plain
RTSP camera, a host that is not a camera, and a gateway running another ucvd with its own
central MediaMTX); `ucvctl discover` finds the cameras, `--add` registers the one whose
credentials work, and it is published end to end. Without root (no namespaces) this step
says why and is skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.harness import camera_lan, netns
from tests.harness.daemon import Ucvd, add_camera, add_target
from tests.harness.errors import HarnessError
from tests.harness.lab import lab
from tests.harness.media import Audio, ClipLibrary, StreamInfo, probe_streams
from tests.harness.mediamtx import Credentials
from tests.harness.procs import ProcessRegistry, ours_or_orphaned, pids_of, wait_gone
from tests.harness.tools import find_tools
from tests.harness.waiting import wait_until
from ucvd.relay.ffmpeg.version import detect

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


def operator(d: Ucvd, *args: str, input: str | None = None) -> str:
    """Run one `ucvctl` command, show it and its output like a terminal would."""
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    step(f"$ ucvctl {shown}")
    result = d.ctl(*args, input=input).check()
    for line in result.stdout.rstrip().splitlines():
        print(f"    {line}", flush=True)
    return result.stdout


def wait_metrics(d: Ucvd, cameras: list[str]) -> None:
    """Until every camera has a bitrate sample, so that the status table shows figures."""
    wait_until(
        lambda: all(d.status(c)["metrics"]["bitrate_kbps"] for c in cameras),
        timeout=30,
        what="a bitrate sample of every camera",
    )


def _republished(d: Ucvd, camera: str, old_pid: int) -> dict[str, Any] | None:
    status = d.status(camera)
    fresh = status["status"] == "publishing" and status["pid"] not in (None, old_pid)
    return status if fresh and status["restarts"] >= 1 else None


def our_ffmpegs(before: set[int]) -> list[int]:
    """FFmpeg processes this demo started (or orphaned): other programs on a shared machine
    (another engineer's benchmark) are not the demo's leftovers."""
    me = os.getpid()
    return sorted(
        pid for pid in pids_of("ffmpeg", becoming=True) - before if ours_or_orphaned(pid, me)
    )


def run(workdir: Path) -> None:
    before = pids_of("ffmpeg", becoming=True)
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
        sims = [
            farm.add("cam-001", audio=Audio.AAC, credentials=Credentials.generate("admin")),
            farm.add("cam-002", audio=Audio.PCMU),
            farm.add("cam-003", audio=Audio.NONE, credentials=Credentials.generate("viewer")),
        ]
        for cam in sims:
            auth = "with credentials" if cam.credentials else "open"
            streams = describe(probe_streams(tools, cam.full_url))
            step(f"camera {cam.name} at {cam.url} ({auth}): {streams}")

        d = Ucvd(env.registry, workdir / "ucvd").start()
        step(f"ucvd running (pid {d.pid}), socket {d.socket}")
        step("$ ucvctl target add central --url ... --password-stdin (passwords on stdin)")
        add_target(d, server).check()
        for cam in sims:
            creds = (
                f" --username {cam.credentials.user} --password-stdin" if cam.credentials else ""
            )
            step(f"$ ucvctl camera add {cam.name} --url {cam.url}{creds}")
            add_camera(d, cam, cam.name).check()
        for cam in sims:
            operator(d, "publish", cam.name, "--wait")
        wait_metrics(d, [cam.name for cam in sims])
        operator(d, "status")

        for cam in sims:
            path = d.status(cam.name)["publish_path"]
            published = probe_streams(tools, server.read_url(path))
            original = probe_streams(tools, cam.full_url)
            if describe(published) != describe(original):
                raise HarnessError(f"{path} differs from its camera")
            step(f"read back {path} from central: {describe(published)}")

        victim = sims[0].name
        pid = d.status(victim)["pid"]
        step(f"killing {victim}'s FFmpeg (pid {pid}) with SIGKILL")
        os.kill(pid, signal.SIGKILL)
        # Publishing again, with another FFmpeg: right after the kill, the status may still
        # be the old one's.
        back = wait_until(lambda: _republished(d, victim, pid), timeout=30, what="the restart")
        step(f"{victim} is publishing again with FFmpeg pid {back['pid']}")
        operator(d, "status", victim)

        step("restarting ucvd (SIGTERM, then start): saved publications come back by themselves")
        relays = {d.status(cam.name)["pid"] for cam in sims}
        code, took = d.terminate()
        wait_gone(relays, timeout=1)
        step(f"ucvd exited {code} in {took:.2f}s; its {len(relays)} FFmpeg processes are gone")
        d.start()
        for cam in sims:
            d.wait_status(cam.name, "publishing", timeout=40)
        wait_metrics(d, [cam.name for cam in sims])
        operator(d, "status")
        operator(d, "history", victim)
        operator(d, "logs", victim, "-n", "5")

        for cam in sims:
            operator(d, "stop", cam.name)
        operator(d, "info")
        code, took = d.terminate()
        step(f"ucvd exited {code} in {took:.2f}s")
        if code != 0:
            raise HarnessError(f"ucvd exited {code}")
        step("shutting down the cameras and MediaMTX")
        pids = {p.pid for p in env.registry.live()}
    wait_gone(pids, timeout=5)
    left = our_ffmpegs(before)
    step(f"all {len(pids)} harness processes stopped; FFmpeg processes left: {len(left)}")
    if left:
        raise HarnessError(f"FFmpeg processes left: {left}")


def run_discovery(workdir: Path) -> None:
    why = netns.unavailable()
    if why is not None:
        step(f"discovery step skipped: {why}")
        return
    tools = find_tools()
    before = pids_of("ffmpeg", becoming=True)
    with netns.Lan() as lan, ProcessRegistry(workdir / "discovery-logs") as registry:
        net = camera_lan.build(lan, registry, tools, ClipLibrary(tools), workdir / "discovery")
        onvif = [c for c in net.cameras.values() if c.onvif is not None]
        step(
            f"site LAN in network namespaces ({camera_lan.SUBNET}): gateway {net.gw.address}, "
            f"ONVIF cameras {', '.join(c.address for c in onvif)}, plain RTSP camera "
            f"{net.cameras['plain'].address}, not a camera {net.other.address}"
        )
        d = net.ucvd(workdir / "discovery" / "ucvd").start()
        camera_lan.register_central(d, net)
        step(f"ucvd running on the gateway (pid {d.pid}); central MediaMTX on its loopback")
        first = onvif[0].credentials
        assert first is not None
        started = time.monotonic()
        operator(d, "discover", "--subnet", camera_lan.SUBNET, "--username", first.user,
                 "--password-stdin", "--add", "site", input=first.password + "\n")  # fmt: skip
        step(f"scan of a /24 with the defaults took {time.monotonic() - started:.2f}s (ucvctl)")
        operator(d, "camera", "list")
        operator(d, "publish", "site-1", "--wait")
        central = net.central_api()
        ready = net.gw.run(lambda: central.wait_path_ready("camera_site-1", timeout=15))
        codecs = ", ".join(str(t) for t in ready.get("tracks", []))
        step(f"central MediaMTX on the gateway has camera_site-1 ready: {codecs}")
        operator(d, "stop", "site-1")
        code, took = d.terminate()
        step(f"gateway ucvd exited {code} in {took:.2f}s")
        if code != 0:
            raise HarnessError(f"ucvd exited {code}")
        names = list(lan.namespaces)
    left = netns.exists(names)
    strays = our_ffmpegs(before)
    step(f"discovery LAN torn down; namespaces left: {len(left)}, FFmpeg left: {len(strays)}")
    if left or strays:
        raise HarnessError(f"left behind: namespaces {left}, FFmpeg {strays}")


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="ucvd-demo-"))
    try:
        run(workdir)
        run_discovery(workdir)
    except (HarnessError, AssertionError, TimeoutError) as exc:
        print(f"demo FAILED: {exc!r}\nlogs kept in {workdir / 'logs'}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    step("demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
