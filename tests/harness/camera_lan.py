"""A site LAN in network namespaces: ONVIF cameras, a plain RTSP camera, a host that is not
a camera, and the gateway where ucvd and the central MediaMTX run.

    192.0.2.10 gw     ucvd (and its FFmpegs), central MediaMTX on the gw's loopback
    192.0.2.11 cam1   ONVIF camera: onvif_sim (WS-Discovery, device + media services on
    192.0.2.12 cam2     :80), MediaMTX on :554 serving the profiles' streams with credentials;
    192.0.2.13 cam3     cam2 has its own password, cam3 cam1's for ONVIF but another for RTSP
    192.0.2.14 plain  RTSP camera without ONVIF: MediaMTX on :8554, no credentials
    192.0.2.15 other  not a camera: an HTTP server on :8554 (speaks, but not RTSP)

Each camera's MediaMTX is fed by its own looping `ffmpeg -c copy` on that camera's
loopback; an ONVIF camera's sub stream is the smaller clip (media.SUB_CLIP), as a real
camera's second profile is. Everything runs through `ip netns exec`, as children of the
caller's registry.
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.cameras import DEFAULT_CAMERA_PATH, SUB_CAMERA_PATH
from tests.harness.daemon import Ucvd, add_target
from tests.harness.errors import HarnessError
from tests.harness.media import SUB_CLIP, Audio, ClipLibrary
from tests.harness.mediamtx import Central, Credentials, MediaMTXApi, base_config, central
from tests.harness.netns import SUBNET, Host, Lan
from tests.harness.procs import Proc, ProcessRegistry
from tests.harness.tools import Tools
from tests.harness.waiting import wait_until

__all__ = ["SUBNET", "CameraLan", "LanCamera", "build", "register_central"]

MAIN_PATH = DEFAULT_CAMERA_PATH  # Streaming/Channels/101
SUB_PATH = SUB_CAMERA_PATH  # Streaming/Channels/102
API = "127.0.0.1:9997"


@dataclass
class LanCamera:
    host: Host
    port: int
    credentials: Credentials | None
    onvif: dict[str, Any] | None = None  # the simulator's configuration
    procs: list[Proc] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.host.address

    @property
    def paths(self) -> list[str]:
        return [MAIN_PATH, SUB_PATH] if self.onvif is not None else [MAIN_PATH]

    def stream_url(self, path: str = MAIN_PATH) -> str:
        return f"rtsp://{self.address}:{self.port}/{path}"


@dataclass
class CameraLan:
    lan: Lan
    registry: ProcessRegistry
    gw: Host
    cameras: dict[str, LanCamera]
    other: Host
    central: Central | None = None

    def ucvd(self, workdir: Path) -> Ucvd:
        """A daemon on the gateway (not started)."""
        return Ucvd(self.registry, workdir, prefix=self.gw.exec_prefix())

    def central_api(self) -> MediaMTXApi:
        assert self.central is not None
        return self.central.server.api


def _camera_mediamtx(
    registry: ProcessRegistry, tools: Tools, workdir: Path, camera: LanCamera, paths: list[str]
) -> Proc:
    host, port, credentials = camera.host, camera.port, camera.credentials
    reader: dict[str, Any] = (
        {"user": credentials.user, "pass": credentials.password}
        if credentials
        else {"user": "any", "pass": ""}
    )
    local = {"user": "any", "pass": "", "ips": ["127.0.0.1/32"]}
    users = [
        {**reader, "permissions": [{"action": "read"}]},
        {**local, "permissions": [{"action": "publish"}, {"action": "api"}]},
    ]
    config = base_config(rtsp_port=port, api_port=9997, log_level="info", users=users)
    config["rtspAddress"] = f":{port}"
    config["apiAddress"] = API
    config["paths"] = {path: {} for path in paths}
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / f"mediamtx-{host.name}.yml"
    config_path.write_text(json.dumps(config, indent=2))
    return registry.spawn(
        f"mediamtx-{host.name}", [*host.exec_prefix(), tools.mediamtx, str(config_path)],
        extra_env={"GOMAXPROCS": "1"},
    )  # fmt: skip


def _feed(
    registry: ProcessRegistry, tools: Tools, clips: dict[str, Path], camera: LanCamera
) -> Proc:
    """One ffmpeg per camera: input N loops the clip of path N, output N serves it."""
    host, port = camera.host, camera.port
    inputs: list[str] = []
    outputs: list[str] = []
    for index, path in enumerate(camera.paths):
        inputs += ["-re", "-stream_loop", "-1", "-i", str(clips[path])]
        outputs += ["-map", str(index), "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp",
                    f"rtsp://127.0.0.1:{port}/{path}"]  # fmt: skip
    return registry.spawn(
        f"feeder-{host.name}",
        [*host.exec_prefix(), tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
         *inputs, *outputs],
    )  # fmt: skip


def _wait_log(proc: Proc, text: str, timeout: float) -> None:
    def said() -> bool:
        if not proc.alive():
            raise HarnessError(f"{proc.name} exited:\n{proc.log_tail()}")
        return text in proc.log_path.read_text(errors="replace")

    wait_until(said, timeout=timeout, what=f"{proc.name} to say {text!r}")


def _serving(host: Host, timeout: float) -> None:
    api = MediaMTXApi(f"http://{API}")

    def ready() -> None:
        wait_until(api.reachable, timeout=timeout, what=f"MediaMTX of {host.name} to answer")

    host.run(ready)


def _wait_paths(host: Host, paths: list[str], timeout: float) -> None:
    api = MediaMTXApi(f"http://{API}")

    def ready() -> None:
        for path in paths:
            api.wait_path_ready(path, timeout=timeout)

    host.run(ready)


def build(
    lan: Lan,
    registry: ProcessRegistry,
    tools: Tools,
    clips: ClipLibrary,
    workdir: Path,
    *,
    onvif_cameras: int = 3,
    with_central: bool = True,
    timeout: float = 20.0,
) -> CameraLan:
    """Create the hosts, start every server, and return when every stream is served."""
    small = ClipLibrary(clips.tools, SUB_CLIP)
    small.ensure()
    clip_of = {MAIN_PATH: clips.path(Audio.AAC), SUB_PATH: small.path(Audio.AAC)}
    gw = lan.add_host("gw", 10)
    cameras: dict[str, LanCamera] = {}
    for index in range(onvif_cameras):
        name = f"cam{index + 1}"
        host = lan.add_host(name, 11 + index)
        credentials = Credentials.generate(f"admin{index + 1}")  # RTSP (MediaMTX)
        onvif_login = credentials
        if index == 2:  # same ONVIF login as cam1, but its streams want another password
            onvif_login = next(iter(cameras.values())).credentials or credentials
        camera = LanCamera(host=host, port=554, credentials=credentials)
        camera.onvif = {
            "address": host.address,
            "http_port": 80,
            "uuid": str(uuid.uuid4()),
            "scope_name": f"Sim{index + 1}",
            "manufacturer": "Simulated Optics",
            "model": f"SO-{100 + index}",
            "firmware": f"1.{index}.7",
            "username": onvif_login.user,
            "password": onvif_login.password,
            "profiles": [
                {"token": "main", "name": "MainStream", "encoding": "H264", "width": 640,
                 "height": 360, "uri": camera.stream_url(MAIN_PATH)},
                {"token": "sub", "name": "SubStream", "encoding": "H264",
                 "width": SUB_CLIP.width, "height": SUB_CLIP.height,
                 "uri": camera.stream_url(SUB_PATH)},
            ],
        }  # fmt: skip
        cameras[name] = camera
    plain_host = lan.add_host("plain", 10 + onvif_cameras + 1)
    cameras["plain"] = LanCamera(host=plain_host, port=8554, credentials=None)
    other = lan.add_host("other", 10 + onvif_cameras + 2)

    for camera in cameras.values():
        camera.procs.append(_camera_mediamtx(registry, tools, workdir, camera, camera.paths))
        if camera.onvif is not None:
            config_path = workdir / f"onvif-{camera.host.name}.json"
            config_path.write_text(json.dumps(camera.onvif))
            argv = [sys.executable, "-m", "tests.harness.onvif_sim", str(config_path)]
            camera.procs.append(
                registry.spawn(f"onvif-{camera.host.name}", [*camera.host.exec_prefix(), *argv])
            )
    registry.spawn(
        "not-a-camera",
        [*other.exec_prefix(), sys.executable, "-m", "http.server", "8554",
         "--bind", other.address],
    )  # fmt: skip
    for camera in cameras.values():
        _serving(camera.host, timeout)
        camera.procs.append(_feed(registry, tools, clip_of, camera))
    for camera in cameras.values():
        _wait_paths(camera.host, camera.paths, timeout)
        if camera.onvif is not None:
            _wait_log(camera.procs[1], "ready:", timeout)
    result = CameraLan(lan=lan, registry=registry, gw=gw, cameras=cameras, other=other)
    if with_central:
        result.central = _central(registry, tools, workdir, gw)
    return result


def _central(registry: ProcessRegistry, tools: Tools, workdir: Path, gw: Host) -> Central:
    made = central(registry, tools, workdir / "central", name="central")
    server = made.server
    server.rtsp_port, server.api_port = 8554, 9997  # the gw's own loopback: nothing else there
    server.prefix = gw.exec_prefix()
    server.launch()
    gw.run(server.wait_ready)
    return made


def register_central(d: Ucvd, net: CameraLan) -> None:
    assert net.central is not None
    add_target(d, net.central).check()
