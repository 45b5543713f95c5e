"""Make an FFmpeg fail in each way the classifier knows, and print what it said.

    python -m tests.harness.stderr_cases [FFMPEG] [CASE ...]

Each case runs ucvd's own relay argv against harness cameras and MediaMTX servers on
loopback, with the runner's environment (`LC_ALL=C`), and prints the stderr lines at error
level or above, the exit code, and how `classify` reads them. This is where the lines in
tests/unit/test_classify.py come from, for each FFmpeg release that is supported.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tests.harness.lab import Lab, lab
from tests.harness.media import Audio
from tests.harness.mediamtx import Central, Credentials
from tests.harness.relay import start_plain_relay
from tests.harness.relayed import camera_for, target_for
from ucvd.domain.model import Camera, Target
from ucvd.relay.ffmpeg.argv import RelaySettings, relay_argv
from ucvd.relay.ffmpeg.classify import Endpoint, classify
from ucvd.relay.ffmpeg.process import child_environment

# ucvd's defaults: with shorter socket timeouts MediaMTX's pause before it refuses a wrong
# password (against guessing) outlasts FFmpeg's wait, and the 401 is never read.
SETTINGS = RelaySettings()
_SPLIT = re.compile(r"[\r\n]+")
_SHOWN = re.compile(r"\[(?:error|fatal|panic)\]|^[^\[]")


@dataclass
class Run:
    lines: list[str]
    returncode: int


@dataclass
class Relay:
    """One FFmpeg relay, its stderr collected by a thread as the runner drains it."""

    popen: subprocess.Popen[bytes]
    chunks: list[bytes]
    reader: threading.Thread

    def finish(self, timeout: float = 30) -> Run:
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        self.reader.join(5)
        text = b"".join(self.chunks).decode("utf-8", "replace")
        return Run([ln for ln in _SPLIT.split(text) if ln.strip()], code)


def spawn(ffmpeg: str, camera: Camera, target: Target) -> Relay:
    argv = relay_argv(ffmpeg, camera, target, SETTINGS)
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=child_environment(None),
    )
    chunks: list[bytes] = []
    stream = popen.stderr
    assert stream is not None
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: stream.read(4096), b"")))
    reader.start()
    return Relay(popen, chunks, reader)


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.1)


@contextlib.contextmanager
def publishing(ffmpeg: str, camera: Camera, central: Central) -> Iterator[Relay]:
    relay = spawn(ffmpeg, camera, target_for(central))
    try:
        wait_for(lambda: central.server.api.path_ready(f"camera_{camera.id}"))
        yield relay
    finally:
        if relay.popen.poll() is None:
            relay.popen.kill()


Case = Callable[[Lab, str], tuple[Run, Camera, Target]]


def _once(ffmpeg: str, camera: Camera, target: Target) -> tuple[Run, Camera, Target]:
    return spawn(ffmpeg, camera, target).finish(), camera, target


def camera_wrong_password(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    sim = lab.cameras.add(credentials=Credentials.generate("admin"))
    camera = Camera(id="a", url=sim.url, username="admin", password="Cam#Secret1")
    return _once(ffmpeg, camera, target_for(lab.central()))


def camera_unknown_path(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    sim = lab.cameras.add()
    camera = Camera(id="a", url=sim.url.replace("Streaming/Channels/101", "nope"))
    return _once(ffmpeg, camera, target_for(lab.central()))


def camera_port_closed(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    sim = lab.cameras.add()
    sim.stop()
    return _once(ffmpeg, camera_for(sim, "a"), target_for(lab.central()))


def camera_frozen(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    sim, central = lab.cameras.add(), lab.central()
    camera = camera_for(sim, "a")
    with publishing(ffmpeg, camera, central) as relay:
        sim.freeze()
        try:
            return relay.finish(), camera, target_for(central)
        finally:
            sim.thaw()


def camera_drops_its_clients(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    sim, central = lab.cameras.add(), lab.central()
    camera = camera_for(sim, "a")
    with publishing(ffmpeg, camera, central) as relay:
        sim.drop_clients()
        return relay.finish(), camera, target_for(central)


def camera_has_no_video(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    feed = lab.feed.server
    lab.feed.url(Audio.AAC)  # starts the feed server
    tools = lab.tools
    source = str(lab.feed.clips.path(Audio.AAC))
    lab.registry.spawn(
        "audio-only",
        [tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
         "-stream_loop", "-1", "-i", source, "-map", "0:a", "-c", "copy",
         "-f", "rtsp", "-rtsp_transport", "tcp", feed.rtsp_url("audio_only")],
    )  # fmt: skip
    feed.api.wait_path_ready("audio_only", timeout=15)
    return _once(ffmpeg, Camera(id="a", url=feed.rtsp_url("audio_only")), target_for(lab.central()))


def mediamtx_down(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    sim, central = lab.cameras.add(), lab.central()
    central.server.stop()
    return _once(ffmpeg, camera_for(sim, "a"), target_for(central))


def mediamtx_wrong_credentials(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    sim, central = lab.cameras.add(), lab.central()
    return _once(ffmpeg, camera_for(sim, "a"), target_for(central, password="Pub#Secret2"))


def mediamtx_refuses_the_path(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    sim, central = lab.cameras.add(), lab.central("narrow", paths={"only_this": {}})
    return _once(ffmpeg, camera_for(sim, "a"), target_for(central))


def mediamtx_path_busy(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    central = lab.central("busy", path_defaults={"overridePublisher": False})
    sim = lab.cameras.add()
    start_plain_relay(lab.registry, lab.tools, sim.url, central.publish_url("camera_a"))
    central.server.api.wait_path_ready("camera_a", timeout=15)
    return _once(ffmpeg, camera_for(sim, "a"), target_for(central))


def mediamtx_kicks(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    sim, central = lab.cameras.add(), lab.central()
    camera = camera_for(sim, "a")
    with publishing(ffmpeg, camera, central) as relay:
        central.server.api.kick_publisher("camera_a")
        return relay.finish(), camera, target_for(central)


def mediamtx_stops(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    sim, central = lab.cameras.add(), lab.central()
    camera = camera_for(sim, "a")
    with publishing(ffmpeg, camera, central) as relay:
        central.server.stop()
        return relay.finish(), camera, target_for(central)


def unknown_option(lab: Lab, ffmpeg: str) -> tuple[Run, Camera, Target]:
    camera = Camera(id="a", url="rtsp://127.0.0.1:9/x")
    target = Target(name="t", rtsp_url="rtsp://127.0.0.1:9")
    argv = relay_argv(ffmpeg, camera, target, SETTINGS)
    argv[argv.index("-timeout")] = "-stimeout"  # the option FFmpeg 5.0 removed
    done = subprocess.run(argv, capture_output=True, env=child_environment(None), check=False)
    text = done.stderr.decode("utf-8", "replace")
    run = Run([ln for ln in _SPLIT.split(text) if ln.strip()], done.returncode)
    return run, camera, target


CASES: dict[str, Case] = {
    fn.__name__: fn
    for fn in (
        camera_wrong_password,
        camera_unknown_path,
        camera_port_closed,
        camera_frozen,
        camera_drops_its_clients,
        camera_has_no_video,
        mediamtx_down,
        mediamtx_wrong_credentials,
        mediamtx_refuses_the_path,
        mediamtx_path_busy,
        mediamtx_kicks,
        mediamtx_stops,
        unknown_option,
    )
}


def main(argv: list[str]) -> int:
    ffmpeg = argv[0] if argv else "ffmpeg"
    chosen = argv[1:] or list(CASES)
    for name in chosen:
        with lab(prefix="ucvd-stderr-") as the_lab:
            run, camera, target = CASES[name](the_lab, ffmpeg)
        fault = classify(
            run.lines,
            camera=Endpoint.of(camera.url),
            target=Endpoint.of(target.rtsp_url),
            returncode=run.returncode,
        )
        print(f"== {name}: exit {run.returncode} -> {fault.kind.value}: {fault.message}")
        for line in run.lines:
            if _SHOWN.search(line):
                print(f"   {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
