"""Scenario 1, time to live: `ucvctl publish` -> the first picture at the central.

One camera (1 s GOP), one ucvd per probe setting, N repetitions each: a fresh `ucvctl
publish --wait` process is started, MediaMTX's API is polled every 10 ms until the path is
ready, ucvctl's own return is timed too (ucvd confirms through the same API), and a tap in
front of MediaMTX's RTSP port (tests/harness/rtsp_tap.py) dates the relay's first video
packet: the first picture a viewer waiting at the central could see. With a short analysis
time the path can be ready before that picture, so the picture is the figure that counts.
Then `ucvctl stop` and wait until MediaMTX has forgotten the path.

The probe settings compared are FFmpeg's own (analysis time 5 s, written out since TOML has
no null; 20 frames for the frame rate; 50 packets' wait for a first decode timestamp),
ucvd's previous default (`fpsprobesize = 0`: no frame-rate estimate) and its default now
(also `max_ts_probe = 1`: probing ends when the keyframe is decoded, not 7 pictures later).
`run_probe` (scenario `ttl_probe`) does the same with plain FFmpeg (no daemon), option set
by option set.
"""

from __future__ import annotations

import random
import subprocess
import time
from typing import Any

import msgspec

from tests.bench.fleet import bench_ucvd, path_of
from tests.bench.measure import environment, progress, summarize
from tests.harness.daemon import Ucvd, add_camera, program
from tests.harness.lab import Lab, lab
from tests.harness.mediamtx import Central
from tests.harness.rtsp_tap import PublishTap
from tests.harness.waiting import wait_until
from ucvd.config import RelaySection

GOP_S = 1.0  # the simulated cameras' keyframe interval
FFMPEG_DEFAULT_US = 5_000_000  # AVFormatContext.max_analyze_duration 0 means 5 s for RTSP
FFMPEGS_OWN: dict[str, Any] = {
    "analyzeduration_us": FFMPEG_DEFAULT_US,
    "fpsprobesize": -1,
    "max_ts_probe": 50,
}
PREVIOUS: dict[str, Any] = {"max_ts_probe": 50}  # ucvd's default until 2026-12-02
AFTER = "after: ucvd's default (fpsprobesize 0, max_ts_probe 1)"


def _wait_gone(central: Central, path: str) -> None:
    api = central.server.api
    wait_until(lambda: not api.path_ready(path), timeout=15, what=f"{path} to go away")


def time_publish(
    d: Ucvd, central: Central, camera_id: str, tap: PublishTap
) -> tuple[float, float, float] | str:
    """One repetition: (ready at MediaMTX, ucvctl returned, first picture at the central) in
    seconds, or why it failed."""
    path = path_of(camera_id)
    seen = len(tap.first_media)
    argv = [program("ucvctl"), "--socket", str(d.socket), "publish", camera_id, "--wait",
            "--timeout", "30"]  # fmt: skip
    wall0, t0 = time.time(), time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready_at: float | None = None
    picture_at: float | None = None
    try:
        while ready_at is None and time.monotonic() - t0 < 30:
            if central.server.api.path_ready(path):
                ready_at = time.monotonic() - t0
            elif proc.poll() is not None and proc.returncode != 0:
                break
            else:
                time.sleep(0.01)
        _out, err = proc.communicate(timeout=40)
        returned = time.monotonic() - t0
        if ready_at is not None:
            wait_until(lambda: any(tap.first_media[seen:]), timeout=10, what="first picture")
            picture_at = min(t for t in tap.first_media[seen:] if t is not None) - wall0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    d.ctl("stop", camera_id).check()
    _wait_gone(central, path)
    if proc.returncode != 0 or ready_at is None or picture_at is None:
        return f"exit {proc.returncode}: {err.strip()[-300:]}"
    return ready_at, returned, picture_at


def measure_setting(
    env: Lab, central: Central, *, index: int, label: str, relay: dict[str, Any], reps: int
) -> dict[str, Any]:
    sim = env.cameras.cameras[0]
    ready, returned, pictures, failures = [], [], [], []
    with PublishTap(central.server.rtsp_port) as tap:
        d = bench_ucvd(env, central, f"ucvd-ttl-{index}", relay=relay,
                       target_url=f"rtsp://127.0.0.1:{tap.port}")  # fmt: skip
        add_camera(d, sim, "ttl").check()
        phase = random.Random(7)
        for i in range(reps):
            # A random phase against the camera's 1 s GOP: back-to-back repetitions would
            # lock onto one phase of it and report one point of the distribution, not its
            # median.
            time.sleep(phase.uniform(0, GOP_S))
            result = time_publish(d, central, "ttl", tap)
            if isinstance(result, str):
                failures.append(result)
                progress(f"ttl {label}: run {i + 1}/{reps} FAILED {result[:120]}")
                continue
            ready.append(result[0])
            returned.append(result[1])
            pictures.append(result[2])
            progress(f"ttl {label}: run {i + 1}/{reps} ready {result[0]:.3f} s, ucvctl "
                     f"returned {result[1]:.3f} s, first picture {result[2]:.3f} s")  # fmt: skip
        d.terminate()
    return {
        "label": label,
        "relay": relay,
        "first_picture_at_central": summarize(pictures),
        "ready_at_mediamtx": summarize(ready),
        "ucvctl_publish_wait_returned": summarize(returned),
        "failures": len(failures),
        "failure_examples": failures[:3],
        "runs": reps,
    }


PLAIN_OPTIONS: list[tuple[str, list[str]]] = [
    ("default", []),
    ("analyzeduration 0.3 s", ["-analyzeduration", "300000"]),
    ("analyzeduration 0.5 s", ["-analyzeduration", "500000"]),
    ("analyzeduration 1 s", ["-analyzeduration", "1000000"]),
    ("fpsprobesize 0", ["-fpsprobesize", "0"]),
    ("fpsprobesize 0, analyzeduration 0.5 s", ["-fpsprobesize", "0", "-analyzeduration", "500000"]),
    ("fpsprobesize 0, max_ts_probe 1", ["-fpsprobesize", "0", "-max_ts_probe", "1"]),
]


def plain_sweep(env: Lab, central: Central, reps: int) -> list[dict[str, Any]]:
    """FFmpeg alone (ucvd's argv minus -progress): spawn -> path ready, per option set."""
    sim = env.cameras.cameras[0]
    api = central.server.api
    out: list[dict[str, Any]] = []
    phase = random.Random(7)
    for label, options in PLAIN_OPTIONS:
        times, failures = [], 0
        for i in range(reps):
            time.sleep(phase.uniform(0, GOP_S))  # a random phase against the GOP, as above
            path = f"plain_{i}"
            argv = [
                env.tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning", *options,
                "-rtsp_transport", "tcp", "-timeout", "5000000", "-i", sim.url,
                "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
                "-f", "rtsp", "-rtsp_transport", "tcp", "-muxdelay", "0.1",
                central.publish_url(path),
            ]  # fmt: skip
            t0 = time.monotonic()
            proc = env.registry.spawn(f"probe-{i}", argv)
            ready = None
            while proc.alive() and time.monotonic() - t0 < 15:
                if api.path_ready(path):
                    ready = time.monotonic() - t0
                    break
                time.sleep(0.01)
            proc.stop()
            _wait_gone(central, path)
            if ready is None:
                failures += 1
            else:
                times.append(ready)
        out.append({"options": label, "argv": options, "ready_at_mediamtx": summarize(times),
                    "failures": failures, "runs": reps})  # fmt: skip
        progress(f"ttl plain ffmpeg {label}: median {out[-1]['ready_at_mediamtx'].get('median')} s,"
                 f" {failures} failed")  # fmt: skip
    return out


def run(quick: bool) -> dict[str, Any]:
    """FFmpeg's probing, ucvd's previous default and its default now: 10 or 30 repetitions
    each."""
    reps = 10 if quick else 30
    settings: list[tuple[str, dict[str, Any], int]] = [
        ("before: FFmpeg's own probing", FFMPEGS_OWN, reps),
        ("before: ucvd's previous default (fpsprobesize 0)", PREVIOUS, reps),
        (AFTER, {}, reps),
    ]
    result: dict[str, Any] = {"environment": environment(), "gop_s": GOP_S, "fps": 25}
    with lab("ucvd-bench-") as env:
        central = env.central(log_level="warn")
        env.cameras.add()
        result["settings"] = [
            measure_setting(env, central, index=i, label=label, relay=relay, reps=n)
            for i, (label, relay, n) in enumerate(settings)
        ]
    result["ucvd_defaults"] = msgspec.structs.asdict(RelaySection())
    return result


def run_probe(quick: bool) -> dict[str, Any]:
    """FFmpeg alone, by input options: what probing costs, without the daemon around it."""
    result: dict[str, Any] = {"environment": environment(), "gop_s": GOP_S, "fps": 25}
    with lab("ucvd-bench-") as env:
        central = env.central(log_level="warn")
        env.cameras.add()
        result["options"] = plain_sweep(env, central, 8 if quick else 20)
    return result
