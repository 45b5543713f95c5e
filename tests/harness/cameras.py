"""Simulated IP cameras: real RTSP servers on loopback, cheap enough to run a hundred.

How a camera is made:

    clip.mkv --ffmpeg -re -stream_loop -1 -c copy--> feed MediaMTX (one path per audio kind)
                                                        |  pulled over RTSP/TCP
                                            camera MediaMTX (own port, own credentials)
                                                        |  DESCRIBE/SETUP/PLAY
                                                   ucvd's ffmpeg, ffprobe, ...

One feeder per audio kind serves every camera, so nothing is ever encoded per camera; each
camera is its own small MediaMTX process, so faults hit exactly one camera: stopping it
closes its port (connection refused), freezing it (SIGSTOP) keeps connections open but
silent, dropping its clients kicks the readers of that camera only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.errors import HarnessError
from tests.harness.media import SUB_CLIP, Audio, ClipLibrary
from tests.harness.mediamtx import Credentials, MediaMTXServer, base_config
from tests.harness.ports import LOOPBACK
from tests.harness.procs import Proc, ProcessRegistry
from tests.harness.tools import Tools

DEFAULT_CAMERA_PATH = "Streaming/Channels/101"  # as a common camera brand names its main stream
SUB_CAMERA_PATH = "Streaming/Channels/102"  # and its sub stream


class Feed:
    """The shared source of every camera: a MediaMTX fed by one looping ffmpeg per audio kind."""

    def __init__(
        self, registry: ProcessRegistry, tools: Tools, workdir: Path, clips: ClipLibrary
    ) -> None:
        self.registry = registry
        self.tools = tools
        self.clips = clips
        actions = [{"action": a} for a in ("publish", "read", "api")]
        users = [{"user": "any", "pass": "", "ips": [LOOPBACK], "permissions": actions}]

        def build(rtsp_port: int, api_port: int) -> dict[str, Any]:
            config = base_config(
                rtsp_port=rtsp_port, api_port=api_port, log_level="warn", users=users
            )
            config["paths"] = {"all_others": {}}
            return config

        self.server = MediaMTXServer(
            registry=registry, tools=tools, workdir=workdir, name="feed", build_config=build
        )
        self.feeders: dict[tuple[Audio, bool], Proc] = {}
        self.sub_clips: ClipLibrary | None = None  # made on first use of a sub stream

    def path(self, audio: Audio, sub: bool = False) -> str:
        return f"clip_{audio.value}" + ("_sub" if sub else "")

    def url(self, audio: Audio, sub: bool = False) -> str:
        """Where a camera pulls from; starts the server and that feeder on first use. `sub`:
        the smaller clip (SUB_CLIP) a camera's sub stream sends."""
        if not self.server.running():
            self.clips.ensure()
            self.server.start()
            self.feeders.clear()
        clips = self.clips
        if sub:
            if self.sub_clips is None:
                self.sub_clips = ClipLibrary(self.tools, SUB_CLIP)
                self.sub_clips.ensure()
            clips = self.sub_clips
        path = self.path(audio, sub)
        feeder = self.feeders.get((audio, sub))
        if feeder is None or not feeder.alive():
            self.feeders[(audio, sub)] = self.registry.spawn(
                f"feeder-{path}",
                [
                    self.tools.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
                    "-re", "-stream_loop", "-1", "-i", str(clips.path(audio)),
                    "-map", "0", "-c", "copy",
                    "-f", "rtsp", "-rtsp_transport", "tcp",
                    self.server.rtsp_url(path),
                ],
            )  # fmt: skip
            self.server.api.wait_path_ready(path, timeout=15)
        return self.server.rtsp_url(path)

    def stop(self) -> None:
        for feeder in self.feeders.values():
            feeder.stop()
        self.feeders.clear()
        self.server.stop()


@dataclass
class Camera:
    """One simulated camera and its fault controls."""

    name: str
    audio: Audio
    path: str
    credentials: Credentials | None
    server: MediaMTXServer
    sub_path: str | None = None  # a second, smaller stream, as a camera's sub stream

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def port(self) -> int:
        return self.server.rtsp_port

    @property
    def url(self) -> str:
        """The stream URL without credentials, as an operator registers it."""
        return self.server.rtsp_url(self.path)

    @property
    def sub_url(self) -> str:
        """The sub stream's URL without credentials (the camera's own credentials apply)."""
        if self.sub_path is None:
            raise HarnessError(f"camera {self.name} has no sub stream")
        return self.server.rtsp_url(self.sub_path)

    def url_with(self, credentials: Credentials | None) -> str:
        return self.server.rtsp_url(self.path, credentials)

    @property
    def full_url(self) -> str:
        """The URL with this camera's own credentials merged in (if it has any)."""
        return self.url_with(self.credentials)

    # --- faults ---------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> Camera:
        """(Re)start the camera and wait until it serves its stream."""
        self.server.start(timeout=timeout)
        self.wait_serving(timeout)
        return self

    def wait_serving(self, timeout: float = 15.0) -> None:
        self.server.api.wait_path_ready(self.path, timeout=timeout)
        if self.sub_path is not None:
            self.server.api.wait_path_ready(self.sub_path, timeout=timeout)

    def stop(self) -> None:
        """Power the camera off: its port closes, clients see connection refused."""
        self.server.stop()

    def freeze(self) -> None:
        """Hang the camera: connections stay open, nothing more is sent or answered."""
        if not self.server.running() or self.server.proc is None:
            raise HarnessError(f"camera {self.name} is not running; cannot freeze it")
        self.server.proc.freeze()

    def thaw(self) -> None:
        if self.server.proc is not None:
            self.server.proc.thaw()

    def drop_clients(self) -> int:
        """Kick every client reading this camera now; returns how many were dropped."""
        return self.server.api.kick_readers()

    def running(self) -> bool:
        return self.server.running()


class CameraFarm:
    """Creates cameras on demand; `close()` stops them all (the feed belongs to the caller)."""

    def __init__(self, registry: ProcessRegistry, tools: Tools, workdir: Path, feed: Feed) -> None:
        self.registry = registry
        self.tools = tools
        self.workdir = workdir
        self.feed = feed
        self.cameras: list[Camera] = []

    def create(
        self,
        name: str | None = None,
        *,
        audio: Audio = Audio.AAC,
        credentials: Credentials | None = None,
        path: str = DEFAULT_CAMERA_PATH,
        sub_path: str | None = None,
    ) -> Camera:
        """A camera, not yet started. `credentials=None` means it accepts anyone. With
        `sub_path`, it also serves the smaller sub stream there (as SUB_CLIP)."""
        name = name or f"cam-{len(self.cameras) + 1:03d}"
        source = self.feed.url(audio)
        sub_source = self.feed.url(audio, sub=True) if sub_path is not None else None
        read_user: dict[str, Any] = (
            {"user": credentials.user, "pass": credentials.password}
            if credentials
            else {"user": "any", "pass": ""}
        )
        users = [
            {**read_user, "permissions": [{"action": "read"}]},
            # The harness (not the cameras' clients) controls the camera through its API.
            {"user": "any", "pass": "", "ips": [LOOPBACK], "permissions": [{"action": "api"}]},
        ]

        def build(rtsp_port: int, api_port: int) -> dict[str, Any]:
            config = base_config(
                rtsp_port=rtsp_port, api_port=api_port, log_level="warn", users=users
            )
            config["paths"] = {path: {"source": source, "rtspTransport": "tcp"}}
            if sub_path is not None:
                config["paths"][sub_path] = {"source": sub_source, "rtspTransport": "tcp"}
            # Any other path answers 404 "no stream", as a real camera does.
            config["paths"]["all_others"] = {}
            return config

        server = MediaMTXServer(
            registry=self.registry,
            tools=self.tools,
            workdir=self.workdir,
            name=name,
            build_config=build,
            # One OS thread is plenty for one stream and keeps a hundred cameras cheap.
            env={**os.environ, "GOMAXPROCS": "1"},
        )
        camera = Camera(name=name, audio=audio, path=path, credentials=credentials, server=server,
                        sub_path=sub_path)  # fmt: skip
        self.cameras.append(camera)
        return camera

    def add(self, name: str | None = None, **kwargs: Any) -> Camera:
        """Create a camera and start it: it serves its stream when this returns."""
        return self.create(name, **kwargs).start()

    def add_many(self, count: int, timeout: float = 60.0, **kwargs: Any) -> list[Camera]:
        """Start `count` cameras side by side and wait until every one serves its stream."""
        cameras = [self.create(**kwargs) for _ in range(count)]
        for camera in cameras:
            camera.server.launch()
        for camera in cameras:
            try:
                camera.server.wait_ready(timeout)
            except HarnessError as exc:
                if "address already in use" not in str(exc):
                    raise
                camera.server.rtsp_port = camera.server.api_port = 0
                camera.server.start(timeout)
        for camera in cameras:
            camera.wait_serving(timeout)
        return cameras

    def close(self) -> None:
        for camera in self.cameras:
            camera.stop()
        self.cameras.clear()
