"""A site and its central server in network namespaces, joined by a link that can go dark.

    switch: bridge br0 ──veth p0── gw      192.0.2.10  ucvd, its FFmpegs, the cameras
                       ──veth p1── centre  192.0.2.20  the central MediaMTX (:8554, API :9997)

The cameras are one MediaMTX on the gateway's loopback serving `cam1`..`camN`, fed by one
looping `ffmpeg -c copy`: the site's LAN, which the outage does not touch.

`cut()` takes the centre's switch port down: a black hole, as a failed uplink is. Nothing
answers and nothing says no: both ends have a permanent neighbour entry for the other, so
no ARP query goes unanswered (the kernel would turn that into "no route to host"), and a
down port drops frames without a word. `restore()` brings the port back up. Addresses are
TEST-NET-1 and the namespaces have no way out (see netns).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.daemon import Ucvd
from tests.harness.media import Audio, ClipLibrary
from tests.harness.mediamtx import Central, MediaMTXApi, base_config, central
from tests.harness.netns import Host, Lan
from tests.harness.procs import ProcessRegistry
from tests.harness.tools import Tools
from tests.harness.waiting import wait_until

CAMERA_PORT = 8554
CENTRE_RTSP, CENTRE_API = 8554, 9997


@dataclass
class Wan:
    lan: Lan
    registry: ProcessRegistry
    gw: Host
    centre: Host
    central: Central
    camera_urls: list[str]

    def ucvd(self, workdir: Path, settings: dict[str, dict[str, Any]] | None = None) -> Ucvd:
        """A daemon on the gateway (not started)."""
        return Ucvd(self.registry, workdir, settings=settings, prefix=self.gw.exec_prefix())

    def cut(self) -> None:
        self.lan.set_link(self.centre.name, up=False)

    def restore(self) -> None:
        self.lan.set_link(self.centre.name, up=True)

    def at_centre(self, question: Any) -> Any:
        """Ask the central server's API from inside its namespace."""
        return self.centre.run(lambda: question(self.central.server.api))


def build(
    lan: Lan,
    registry: ProcessRegistry,
    tools: Tools,
    clips: ClipLibrary,
    workdir: Path,
    *,
    cameras: int,
    timeout: float = 20.0,
) -> Wan:
    gw = lan.add_host("gw", 10)
    centre = lan.add_host("centre", 20)
    lan.pin_neighbours(gw, centre)

    listen = {"rtspAddress": f":{CENTRE_RTSP}", "apiAddress": f":{CENTRE_API}"}
    made = central(registry, tools, workdir / "central", name="central", settings=listen)
    server = made.server
    server.rtsp_port, server.api_port, server.host = CENTRE_RTSP, CENTRE_API, centre.address
    server.prefix = centre.exec_prefix()
    server.launch()

    names = [f"cam{i + 1}" for i in range(cameras)]
    anyone = {"user": "any", "pass": "", "permissions": [{"action": a} for a in
              ("read", "publish", "api")]}  # fmt: skip
    config = base_config(rtsp_port=CAMERA_PORT, api_port=9997, log_level="warn", users=[anyone])
    config["paths"] = {name: {} for name in names}
    config_path = workdir / "mediamtx-cameras.yml"
    config_path.write_text(json.dumps(config, indent=2))
    registry.spawn("mediamtx-cameras", [*gw.exec_prefix(), tools.mediamtx, str(config_path)],
                   extra_env={"GOMAXPROCS": "1"})  # fmt: skip
    camera_api = MediaMTXApi("http://127.0.0.1:9997")
    gw.run(lambda: wait_until(camera_api.reachable, timeout=timeout, what="the cameras' server"))
    outputs: list[str] = []
    for name in names:
        outputs += ["-map", "0", "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp",
                    f"rtsp://127.0.0.1:{CAMERA_PORT}/{name}"]  # fmt: skip
    registry.spawn(
        "camera-feeder",
        [*gw.exec_prefix(), tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
         "-re", "-stream_loop", "-1", "-i", str(clips.path(Audio.AAC)), *outputs],
    )  # fmt: skip

    def served() -> bool:
        return all(camera_api.path_ready(name) for name in names)

    gw.run(lambda: wait_until(served, timeout=timeout, what="every camera path to be served"))
    centre.run(lambda: server.wait_ready(timeout))
    return Wan(
        lan=lan,
        registry=registry,
        gw=gw,
        centre=centre,
        central=made,
        camera_urls=[f"rtsp://127.0.0.1:{CAMERA_PORT}/{name}" for name in names],
    )
