"""Where the time to live goes: `ucvctl publish --wait`, phase by phase, with timestamps
from each part.

ucvd runs FFmpeg through a wrapper (bash) that stamps every line FFmpeg writes with the
wall clock and raises its log level to debug; the wrapper passes on to ucvd exactly the
lines ucvd would have seen at its own level, so ucvd behaves as without it. From the
stamped lines:

- rpc_handled: ucvd logged "publish requested" (the supervisor took the start);
- spawned: the wrapper started (ucvd forked FFmpeg);
- camera_sdp: FFmpeg got the camera's DESCRIBE answer (its first "SDP:" debug line);
- keyframe_sent: (in-band camera only) the first keyframe it sent after that DESCRIBE;
- input_probed: probing ended ("Input #0" printed after avformat_find_stream_info);
- output_sdp: the publish leg's SDP built, ANNOUNCE to MediaMTX about to go;
- header_written: "Stream mapping:" (5.1 prints it after the output header, i.e. RECORD);
- first_progress: the first `-progress` block on stdout;
- mediamtx_ready: MediaMTX's API says ready (polled every 10 ms by this script);
- first_picture: the relay's first video packet reached the central (a TCP tap in front of
  MediaMTX's RTSP port, tests/harness/rtsp_tap.py): when a viewer already waiting there
  could see a picture. With FFmpeg's own wait for a first decode timestamp
  (`--max-ts-probe 50`) it follows ready at once (the keyframe was buffered while
  probing); with ucvd's default a camera with SPS/PPS in its SDP is usually ready first
  and the picture comes with the camera's keyframe.
- ucvd_confirmed: ucvd logged its status change to publishing;
- ucvctl_returned: `ucvctl publish --wait` exited (ucvd confirmed).

Times are seconds after `ucvctl publish` was started. Two cameras: the harness's (MediaMTX,
SPS/PPS in the SDP, 1 s GOP) and the in-band one (tests/harness/inband_camera.py). Run:

    .venv/bin/python -m tests.bench.ttl_breakdown [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from tests.bench.fleet import PRODUCT_SUPERVISION, path_of
from tests.bench.procstat import machine
from tests.harness.daemon import Ucvd, add_camera, add_target, program, write_config
from tests.harness.inband_camera import InbandCamera
from tests.harness.lab import Lab, lab
from tests.harness.media import Audio, ClipLibrary
from tests.harness.mediamtx import Central
from tests.harness.rtsp_tap import PublishTap
from tests.harness.waiting import wait_until
from ucvd.config import RelaySection

RESULTS = Path(__file__).parent / "results"
PHASES = ("rpc_handled", "spawned", "camera_sdp", "keyframe_sent", "input_probed", "output_sdp",
          "header_written", "first_progress", "mediamtx_ready", "first_picture",
          "ucvd_confirmed", "ucvctl_returned")  # fmt: skip

_WRAPPER = r"""#!/bin/bash
log="{logdir}/ffmpeg-$$.log"
printf '%s spawned\n' "$EPOCHREALTIME" > "$log"
args=()
for a in "$@"; do [[ $a == level+info ]] && a=level+debug; args+=("$a"); done
{ffmpeg} "${{args[@]}}" \
  > >(while IFS= read -r l; do
        [[ $l == progress=* ]] && printf '%s progress\n' "$EPOCHREALTIME" >> "$log"
        printf '%s\n' "$l"; done) \
  2> >(while IFS= read -r l; do
        printf '%s %s\n' "$EPOCHREALTIME" "$l" >> "$log"
        case $l in *"[debug]"*|*"[verbose]"*|*"[trace]"*) ;; *) printf '%s\n' "$l" >&2;; esac
      done)
"""


def _stamps(log: Path) -> dict[str, float]:
    """The first wall-clock time of each FFmpeg phase in one wrapper log."""
    found: dict[str, float] = {}
    sdps = 0
    for line in log.read_text(errors="replace").splitlines():
        stamp, _, text = line.partition(" ")
        try:
            at = float(stamp)
        except ValueError:
            continue
        marks = []
        if text == "spawned":
            marks.append("spawned")
        if text == "progress":
            marks.append("first_progress")
        if "SDP:" in text:
            sdps += 1
            marks.append("camera_sdp" if sdps == 1 else "output_sdp")
        if text.startswith(("Input #0", "[info] Input #0")):
            marks.append("input_probed")
        if "Stream mapping:" in text:
            marks.append("header_written")
        for mark in marks:
            found.setdefault(mark, at)
    return found


def _ucvd_stamps(log: Path, since: float) -> dict[str, float]:
    """ucvd's own log (JSON lines, ISO timestamps): when it took the publish request and
    when it confirmed, for the first request after `since` (wall clock)."""
    found: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
            at = datetime.fromisoformat(event["timestamp"]).timestamp()
        except (ValueError, KeyError, TypeError):
            continue
        if at < since:
            continue
        if event.get("event") == "publish requested":
            found.setdefault("rpc_handled", at)
        if event.get("event") == "publication status changed" and (
            event.get("status") == "publishing"
        ):
            found.setdefault("ucvd_confirmed", at)
    return found


def _ucvd(  # noqa: PLR0917 - the bench's own knobs
    env: Lab,
    central: Central,
    name: str,
    wrapper: Path,
    relay_extra: dict[str, Any],
    tap: PublishTap,
) -> Ucvd:
    d = Ucvd(env.registry, env.workdir / name, name=name)
    relay = {k: v for k, v in msgspec.structs.asdict(RelaySection()).items() if v is not None}
    relay |= relay_extra
    write_config(d.config, {"daemon": {"ffmpeg": str(wrapper)}, "relay": relay,
                            "supervision": PRODUCT_SUPERVISION})  # fmt: skip
    d.start()
    add_target(d, central, url=f"rtsp://127.0.0.1:{tap.port}").check()
    return d


def one_publish(  # noqa: PLR0917 - the bench's own knobs
    d: Ucvd, central: Central, camera_id: str, logdir: Path, sim: Any, tap: PublishTap
) -> dict[str, float]:
    path = path_of(camera_id)
    seen = len(tap.first_media)
    for old in logdir.glob("ffmpeg-*.log"):
        old.unlink()
    argv = [program("ucvctl"), "--socket", str(d.socket), "publish", camera_id, "--wait",
            "--timeout", "30"]  # fmt: skip
    t0 = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    times: dict[str, float] = {}
    while "ucvctl_returned" not in times and time.time() - t0 < 30:
        now = time.time()
        if "mediamtx_ready" not in times and central.server.api.path_ready(path):
            times["mediamtx_ready"] = now - t0
        if proc.poll() is not None:
            times["ucvctl_returned"] = now - t0
        time.sleep(0.01)
    _out, err = proc.communicate(timeout=10)
    if proc.returncode != 0:
        raise RuntimeError(f"publish failed: {err.strip()[-300:]}")
    wait_until(lambda: any(tap.first_media[seen:]), timeout=10, what="first picture at the tap")
    times["first_picture"] = min(t for t in tap.first_media[seen:] if t is not None) - t0
    logs = sorted(logdir.glob("ffmpeg-*.log"))
    if logs:
        times.update({k: v - t0 for k, v in _stamps(logs[0]).items()})
    if isinstance(sim, InbandCamera) and "camera_sdp" in times:
        described = t0 + times["camera_sdp"]
        sent = [at for at in sim.keyframes_sent if at >= described]
        if sent:
            times["keyframe_sent"] = min(sent) - t0
    if d.proc is not None:
        times.update({k: v - t0 for k, v in _ucvd_stamps(d.proc.log_path, t0).items()})
    d.ctl("stop", camera_id).check()
    wait_until(lambda: not central.server.api.path_ready(path), timeout=15, what="path gone")
    return times


def measure(  # noqa: PLR0917 - the bench's own knobs
    env: Lab, central: Central, label: str, sim: Any, runs: int, relay: dict[str, Any]
) -> dict[str, Any]:
    logdir = env.workdir / f"wrap-{label}"
    logdir.mkdir()
    wrapper = logdir / "ffmpeg-wrapper"
    wrapper.write_text(_WRAPPER.format(logdir=logdir, ffmpeg=env.tools.ffmpeg))
    wrapper.chmod(0o755)
    with PublishTap(central.server.rtsp_port) as tap:
        d = _ucvd(env, central, f"ucvd-{label}", wrapper, relay, tap)
        add_camera(d, sim, "ttl").check()
        phase = random.Random(7)
        samples: list[dict[str, float]] = []
        for i in range(runs):
            time.sleep(phase.uniform(0, 1.0))  # a random point of the 1 s GOP
            samples.append(one_publish(d, central, "ttl", logdir, sim, tap))
            row = " ".join(f"{k}={samples[-1].get(k, float('nan')):.3f}" for k in PHASES)
            print(f"{label} run {i + 1}/{runs}: {row}", flush=True)
        d.terminate()
    medians = {
        k: round(statistics.median(vals), 3)
        for k in PHASES
        if (vals := [s[k] for s in samples if k in s])
    }
    return {"camera": label, "runs": runs, "median_s": medians,
            "step_median_s": step_medians(samples), "samples": samples}  # fmt: skip


STEPS = (
    ("ucvctl start -> ucvd took the request", None, "rpc_handled"),
    ("ucvd: request -> FFmpeg spawned", "rpc_handled", "spawned"),
    ("FFmpeg start, camera OPTIONS/DESCRIBE", "spawned", "camera_sdp"),
    ("camera SETUP/PLAY + probe (keyframe wait)", "camera_sdp", "input_probed"),
    ("  of which: DESCRIBE -> keyframe sent", "camera_sdp", "keyframe_sent"),
    ("  of which: keyframe sent -> probe end", "keyframe_sent", "input_probed"),
    ("probe end -> MediaMTX ready (ANNOUNCE..RECORD)", "input_probed", "mediamtx_ready"),
    ("MediaMTX ready -> ucvd confirmed", "mediamtx_ready", "ucvd_confirmed"),
    ("total: ucvctl publish -> first picture at the central", None, "first_picture"),
    ("ucvd confirmed -> ucvctl returned", "ucvd_confirmed", "ucvctl_returned"),
    ("total: ucvctl publish --wait", None, "ucvctl_returned"),
)


def step_medians(samples: list[dict[str, float]]) -> dict[str, float]:
    """Median duration of each step, over the runs that have both of its ends."""
    out = {}
    for label, start, end in STEPS:
        vals = [s[end] - (s[start] if start else 0.0) for s in samples
                if end in s and (start is None or start in s)]  # fmt: skip
        if vals:
            out[label] = round(statistics.median(vals), 3)
    return out


def ucvctl_startup(runs: int = 5) -> float:
    """`ucvctl --help`: the client's own start, no daemon involved (median, seconds)."""
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        subprocess.run([program("ucvctl"), "--help"], capture_output=True, check=True)
        times.append(time.monotonic() - t0)
    return round(statistics.median(times), 3)


def table(results: list[dict[str, Any]]) -> str:
    head = f"{'phase (s after ucvctl publish)':32}" + "".join(f"{r['camera']:>14}" for r in results)
    lines = [head]
    for k in PHASES:
        lines.append(f"{k:32}" + "".join(f"{r['median_s'].get(k, float('nan')):14.3f}"
                                         for r in results))  # fmt: skip
    lines += ["", f"{'step (median s)':48}" + "".join(f"{r['camera']:>10}" for r in results)]
    for label, _start, _end in STEPS:
        lines.append(f"{label:48}" + "".join(f"{r['step_median_s'].get(label, float('nan')):10.3f}"
                                             for r in results))  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--analyzeduration-us",
        type=int,
        default=None,
        help="a relay setting to try instead of ucvd's default (FFmpeg's)",
    )
    parser.add_argument(
        "--max-ts-probe",
        type=int,
        default=None,
        help="a relay setting to try instead of ucvd's default (1; FFmpeg's own is 50)",
    )
    args = parser.parse_args()
    relay: dict[str, Any] = {}
    if args.analyzeduration_us is not None:
        relay["analyzeduration_us"] = args.analyzeduration_us
    if args.max_ts_probe is not None:
        relay["max_ts_probe"] = args.max_ts_probe
    with lab("ucvd-bench-") as env:
        central = env.central(log_level="warn")
        sdp_camera = env.cameras.add(audio=Audio.NONE)
        with InbandCamera(env.tools, ClipLibrary(env.tools)) as inband:
            results = [
                measure(env, central, "sdp", sdp_camera, args.runs, relay),
                measure(env, central, "inband", inband, args.runs, relay),
            ]
    startup = ucvctl_startup()
    print(table(results))
    print(f"ucvctl --help alone (its own start, median of 5): {startup:.3f} s")
    suffix = "" if args.analyzeduration_us is None else f"-ad{args.analyzeduration_us}"
    suffix += "" if args.max_ts_probe is None else f"-ts{args.max_ts_probe}"
    out = RESULTS / f"ttl_breakdown{suffix}.json"
    out.write_text(json.dumps({
        "relay": relay,
        "benchmark": "ttl_breakdown", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(), "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "gop_s": 1.0, "phases": PHASES, "ucvctl_help_s": startup, "cameras": results,
    }, indent=2) + "\n")  # fmt: skip
    print(f"-> {out}")


if __name__ == "__main__":
    main()
