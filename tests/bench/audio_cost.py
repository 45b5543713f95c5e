"""CPU cost of the AAC audio transcode, per camera: one G.711 camera relayed by ucvd's own
FFmpeg command line with `copy` and with `aac`, over RTSP and over SRT, each for a window
of CPU time read from /proc (user + system) once the path is live.

    .venv/bin/python -m tests.bench.audio_cost [--seconds 30]

Writes tests/bench/results/audio_cost.json; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench.procstat import cpu_seconds, machine
from tests.harness.lab import lab
from tests.harness.media import Audio
from tests.harness.ports import LOOPBACK, free_port
from tests.harness.relayed import camera_for, target_for
from ucvd.domain.audio import AudioPolicy, plan_audio
from ucvd.relay.ffmpeg.argv import relay_argv

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--output", default="audio_cost.json")
    args = parser.parse_args(argv)
    figures: list[dict[str, Any]] = []
    with lab("ucvd-bench-audio-") as bench:
        srt_port = free_port()
        central = bench.central(settings={"srt": True, "srtAddress": f"{LOOPBACK}:{srt_port}"})
        sim = bench.cameras.add("g711", audio=Audio.PCMU)
        targets = {
            "rtsp": target_for(central),
            "srt": target_for(central, rtsp_url=f"srt://{LOOPBACK}:{srt_port}"),
        }
        for transport, target in targets.items():
            for mode in (AudioPolicy.COPY, AudioPolicy.AAC):
                camera = camera_for(sim, f"{transport}-{mode}", audio=mode)
                plan = plan_audio(mode, transport, None)
                proc = bench.registry.spawn(
                    f"relay-{transport}-{mode}",
                    relay_argv(bench.tools.ffmpeg, camera, target, audio=plan),
                )
                path = f"camera_{camera.id}"
                central.server.api.wait_path_ready(path, timeout=20)
                time.sleep(2.0)  # past probing and the encoder's start
                cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
                time.sleep(args.seconds)
                cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
                tracks = central.server.api.tracks(path)
                proc.stop()
                share = (cpu1 - cpu0) / (t1 - t0) * 100
                figures.append({
                    "transport": transport, "audio": str(mode), "tracks": tracks,
                    "cpu_seconds": round(cpu1 - cpu0, 3), "window_s": round(t1 - t0, 1),
                    "cpu_percent_of_one_core": round(share, 2),
                })  # fmt: skip
                print(f"{transport:5} {mode!s:5} {share:6.2f} % of a core  tracks {tracks}")
    load = Path("/proc/loadavg").read_text().split()[:3]
    out = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_before_after": load,
        "camera": "H.264 640x360 25 fps 500 kb/s + G.711 mu-law 8 kHz mono",
        "figures": figures,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
