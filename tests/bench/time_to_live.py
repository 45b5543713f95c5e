"""Time from `start` to `publishing` for one camera, with ucvd's supervisor and real parts.

Each repetition starts the publication, waits until the supervisor reports `publishing`
(MediaMTX says the path is ready), records the time, and stops it. Run:

    .venv/bin/python -m tests.bench.time_to_live [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio

from tests.bench.procstat import machine
from tests.harness.lab import lab
from tests.harness.relayed import camera_for, target_for
from ucvd.relay.ffmpeg.argv import RelaySettings
from ucvd.relay.mediamtx import MediaMTXClient
from ucvd.relay.publication import Status
from ucvd.relay.status import SupervisorSettings
from ucvd.relay.supervisor import Supervisor

RESULTS = Path(__file__).parent / "results"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(sup: Supervisor, client: MediaMTXClient, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        started = time.monotonic()
        await sup.start()
        while sup.machine.status is not Status.PUBLISHING:
            if sup.machine.status is not Status.STARTING:
                raise RuntimeError(f"run {i}: {sup.machine.status} {sup.machine.last_error}")
            await anyio.sleep(0.01)
        times.append(time.monotonic() - started)
        print(f"run {i + 1:2d}: {times[-1]:.3f} s", flush=True)
        await sup.stop()
        with anyio.fail_after(15):  # the next run starts from a path MediaMTX has let go
            while (info := await client.get_path(sup.path)) is not None and info.online:
                await anyio.sleep(0.05)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--analyzeduration-us", type=int, default=None,
                        help="FFmpeg input probing limit (default: FFmpeg's own)")  # fmt: skip
    parser.add_argument("--output", default="time_to_live.json")
    args = parser.parse_args()
    with lab("ucvd-bench-") as env:
        server = env.central(log_level="warn")
        sim = env.cameras.add()
        target = target_for(server)
        ffmpeg = env.tools.ffmpeg

        async def run() -> list[float]:
            assert target.api_url is not None
            async with MediaMTXClient(target.api_url, credentials=target.api_credentials()) as c:
                relay = RelaySettings(analyzeduration_us=args.analyzeduration_us)
                settings = SupervisorSettings(poll_s=0.05, relay=relay)
                sup = Supervisor(camera_for(sim, "ttl"), target, ffmpeg=ffmpeg, mediamtx=c,
                                 settings=settings)  # fmt: skip
                async with anyio.create_task_group() as tg:
                    await tg.start(sup.run)
                    times = await measure(sup, c, args.runs)
                    tg.cancel_scope.cancel()
            return times

        times = anyio.run(run)
    result = {
        "benchmark": "time_to_live",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "gop_s": 1.0,
        "confirm_poll_s": 0.05,
        "analyzeduration_us": args.analyzeduration_us,
        "runs": len(times),
        "median_s": round(statistics.median(times), 3),
        "p95_s": round(percentile(times, 0.95), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / args.output
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"median {result['median_s']} s, p95 {result['p95_s']} s -> {out}")


if __name__ == "__main__":
    main()
