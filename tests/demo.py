"""`make demo`: the product's main job, end to end, on this one machine.

A local MediaMTX plays the central server and three simulated cameras play the site LAN.
A real `ucvd` runs unprivileged in a temporary directory, and everything is done to it
with `ucvctl`, exactly as an operator would: add the target and the cameras (passwords on
stdin), publish, look at the status, read every published path back from the central
server, kill one FFmpeg and watch it come back, restart the daemon and see the cameras
resume by themselves, look at the history, then stop and check that nothing is left.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.daemon import Ucvd, add_camera, add_target
from tests.harness.errors import HarnessError
from tests.harness.lab import lab
from tests.harness.media import Audio, StreamInfo, probe_streams
from tests.harness.mediamtx import Credentials
from tests.harness.procs import pids_of, wait_gone
from tests.harness.waiting import wait_until
from ucvd.ffmpeg.version import detect

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
        time.sleep(2.5)  # let a couple of metric samples come in, for the table
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
        back = d.wait_status(victim, "publishing", timeout=30)
        wait_until(lambda: d.status(victim)["restarts"] >= 1, timeout=30, what="the restart")
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
        time.sleep(2.5)
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
    left = pids_of("ffmpeg")
    step(f"all {len(pids)} harness processes stopped; FFmpeg processes left: {len(left)}")
    if left:
        raise HarnessError(f"FFmpeg processes left: {sorted(left)}")


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
