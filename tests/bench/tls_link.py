"""What ucvd's own TLS link costs: the same cameras relayed by the real ucvd to one
MediaMTX, first over plain RTSP, then over RTSPS through the link (relay/tlslink.py: ucvd
forwards every byte between FFmpeg and the server), ucvd's CPU (user + system, from /proc)
measured over a window in each case once every path is live.

    .venv/bin/python -m tests.bench.tls_link [--cameras 8] [--seconds 30]

Writes tests/bench/results/tls_link.json; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench.procstat import cpu_seconds, machine, pss_kib
from tests.harness import tls
from tests.harness.daemon import Ucvd, add_camera, add_target
from tests.harness.lab import lab
from tests.harness.mediamtx import Central
from tests.harness.ports import LOOPBACK, free_port
from tests.harness.waiting import wait_until

RESULTS = Path(__file__).parent / "results"


def publishers(central: Central, sessions: str) -> int:
    items = central.server.api._list(f"/v3/{sessions}/list")
    return sum(1 for i in items if i.get("state") == "publish")


def inbound_bytes(central: Central, paths: list[str]) -> int:
    return sum(central.server.api.inbound_bytes(p) for p in paths)


def window(d: Ucvd, central: Central, paths: list[str], seconds: float) -> dict[str, Any]:
    pid = d.pid
    cpu0, b0, t0 = cpu_seconds(pid), inbound_bytes(central, paths), time.monotonic()
    time.sleep(seconds)
    cpu1, b1, t1 = cpu_seconds(pid), inbound_bytes(central, paths), time.monotonic()
    return {
        "window_s": round(t1 - t0, 1),
        "ucvd_cpu_percent_of_one_core": round((cpu1 - cpu0) / (t1 - t0) * 100, 2),
        "ucvd_pss_mib": round(pss_kib(pid) / 1024, 1),
        "arrived_mbit_s": round((b1 - b0) * 8 / (t1 - t0) / 1e6, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--output", default="tls_link.json")
    args = parser.parse_args(argv)
    with lab("ucvd-bench-tls-") as bench:
        cert = tls.self_signed(bench.workdir / "pki", "central")
        rtsps_port = free_port()
        central = bench.central(settings={
            "rtspEncryption": "optional",
            "rtspsAddress": f"{LOOPBACK}:{rtsps_port}",
            "rtspServerCert": str(cert.cert),
            "rtspServerKey": str(cert.key),
        })  # fmt: skip
        d = Ucvd(bench.registry, bench.workdir / "ucvd").start()
        add_target(d, central, "plain").check()
        passwords = f"{central.publisher.password}\n{central.api_user.password}\n"
        d.ctl("target", "add", "tls", "--url", f"rtsps://{LOOPBACK}:{rtsps_port}",
              "--fingerprint", cert.fingerprint(), "--api-url", central.server.api_url,
              "--username", central.publisher.user, "--password-stdin",
              "--api-username", central.api_user.user, "--api-password-stdin",
              input=passwords).check()  # fmt: skip
        ids = [f"cam{i}" for i in range(args.cameras)]
        for camera_id in ids:
            add_camera(d, bench.cameras.add(camera_id), camera_id).check()
        for camera_id in ids:
            d.ctl("publish", camera_id, "--wait").check()
        paths = [f"camera_{c}" for c in ids]
        wait_until(lambda: publishers(central, "rtspsessions") == len(ids), timeout=60,
                   what="every camera on plain RTSP")  # fmt: skip
        time.sleep(3.0)  # past the start-up work, into the steady state being measured
        plain = window(d, central, paths, args.seconds)
        print(f"plain RTSP: {plain}")
        d.ctl("target", "activate", "tls").check()
        wait_until(lambda: publishers(central, "rtspssessions") == len(ids), timeout=90,
                   what="every camera on RTSPS through the link")  # fmt: skip
        time.sleep(3.0)
        linked = window(d, central, paths, args.seconds)
        print(f"RTSPS via ucvd's link: {linked}")
        d.terminate()
    extra = linked["ucvd_cpu_percent_of_one_core"] - plain["ucvd_cpu_percent_of_one_core"]
    per_camera = extra / args.cameras
    mbit = linked["arrived_mbit_s"] or 1.0
    print(f"the link costs ucvd {extra:.2f} % of a core for {args.cameras} cameras: "
          f"{per_camera:.3f} % per camera, {extra / mbit:.3f} % per Mbit/s")  # fmt: skip
    out = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_after": Path("/proc/loadavg").read_text().split()[:3],
        "cameras": args.cameras,
        "camera": "H.264 640x360 25 fps ~500 kb/s + AAC (the harness's default clip)",
        "plain_rtsp": plain,
        "rtsps_via_link": linked,
        "link_cpu_percent_per_camera": round(per_camera, 3),
        "link_cpu_percent_per_mbit_s": round(extra / mbit, 3),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
