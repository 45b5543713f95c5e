"""Real MediaMTX servers on loopback, from generated configs, and a client for their API.

One class serves three roles: the central server ucvd publishes to, the feed server that
carries the looped clips, and each simulated camera. The configs are JSON (MediaMTX reads
YAML, of which JSON is a subset), so no YAML library is needed.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from tests.harness.errors import HarnessError
from tests.harness.ports import LOOPBACK, free_port, port_open
from tests.harness.procs import Proc, ProcessRegistry
from tests.harness.tools import Tools
from tests.harness.waiting import wait_until


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    @classmethod
    def generate(cls, user: str) -> Credentials:
        # Distinctive and URL-hostile on purpose (callers must percent-encode), within the
        # characters MediaMTX accepts in credentials (no ':', '/', '%').
        return cls(user, f"P@ss#{secrets.token_hex(6)}&!")

    def userinfo(self) -> str:
        """`user:password@` percent-encoded for a URL."""
        quote = urllib.parse.quote
        return f"{quote(self.user, safe='')}:{quote(self.password, safe='')}@"


def base_config(
    *, rtsp_port: int, api_port: int, log_level: str, users: list[dict[str, Any]]
) -> dict[str, Any]:
    """Settings every harness MediaMTX shares: loopback only, RTSP over TCP, API on.

    Every other server (RTMP, HLS, WebRTC, SRT, MoQ) is off so that a hundred instances bind
    two ports each and nothing else.
    """
    return {
        "logLevel": log_level,
        "logDestinations": ["stdout"],
        "api": True,
        "apiAddress": f"{LOOPBACK}:{api_port}",
        "rtsp": True,
        "rtspTransports": ["tcp"],
        "rtspAddress": f"{LOOPBACK}:{rtsp_port}",
        "rtmp": False,
        "hls": False,
        "webrtc": False,
        "srt": False,
        "moq": False,
        "playback": False,
        "metrics": False,
        "pprof": False,
        "authMethod": "internal",
        "authInternalUsers": users,
        "pathDefaults": {},
        "paths": {},
    }


class TlsFiles(Protocol):
    """A server's certificate and key (tests.harness.tls.CertPair)."""

    @property
    def cert(self) -> Path: ...

    @property
    def key(self) -> Path: ...


def _perm(*actions: str) -> list[dict[str, str]]:
    return [{"action": a} for a in actions]


@dataclass
class MediaMTXServer:
    """A MediaMTX process of the harness. Create with one of the `central`/`camera`/`feed`
    helpers below, then `start()`; `stop()`/`start()` again keeps the same ports, which is
    what a restart fault needs."""

    registry: ProcessRegistry
    tools: Tools
    workdir: Path
    name: str
    build_config: Callable[[int, int], dict[str, Any]]  # (rtsp_port, api_port) -> config
    api_credentials: Credentials | None = None
    env: Mapping[str, str] | None = None
    rtsp_port: int = 0
    api_port: int = 0
    host: str = LOOPBACK  # where clients reach it (another address inside a namespace)
    scheme: str = "rtsp"  # "rtsps" when its RTSP port is the RTSPS one (encryption: strict)
    prefix: Sequence[str] = ()  # runs it through a wrapper, e.g. `ip netns exec NS`
    proc: Proc | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.workdir / f"{self.name}.yml"

    def start(self, timeout: float = 15.0) -> MediaMTXServer:
        """Start and wait until both the API and the RTSP port answer.

        Ports are picked fresh the first time; a port stolen in the meantime by another
        program ("address already in use") is replaced and the start retried.
        """
        for _attempt in range(3):
            self.launch()
            try:
                self.wait_ready(timeout)
            except HarnessError as exc:
                if "address already in use" not in str(exc):
                    raise
                self.rtsp_port = self.api_port = 0  # pick new ports and try again
            else:
                return self
        raise HarnessError(f"MediaMTX {self.name}: could not find free ports in 3 attempts")

    def launch(self) -> None:
        """Spawn the process without waiting; `wait_ready` completes the start.

        Split so that many servers can boot side by side (a hundred cameras start in the
        time of a few).
        """
        if self.proc is not None and self.proc.alive():
            raise HarnessError(f"MediaMTX {self.name} is already running")
        if not self.rtsp_port:
            self.rtsp_port, self.api_port = free_port(), free_port()
        self.config = self.build_config(self.rtsp_port, self.api_port)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config, indent=2))
        self.proc = self.registry.spawn(
            f"mediamtx-{self.name}",
            [*self.prefix, self.tools.mediamtx, str(self.config_path)],
            env=self.env,
        )

    def wait_ready(self, timeout: float = 15.0) -> None:
        wait_until(self._ready, timeout=timeout, what=f"MediaMTX {self.name} to listen")

    def _ready(self) -> bool:
        assert self.proc is not None
        if not self.proc.alive():
            raise HarnessError(
                f"MediaMTX {self.name} exited with code {self.proc.returncode}:\n"
                f"{self.proc.log_tail()}"
            )
        if not port_open(self.rtsp_port):
            return False
        return self.api.reachable()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def restart(self, timeout: float = 15.0) -> None:
        self.stop()
        self.start(timeout=timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def rtsp_url(self, path: str, credentials: Credentials | None = None) -> str:
        userinfo = credentials.userinfo() if credentials else ""
        return f"{self.scheme}://{userinfo}{self.host}:{self.rtsp_port}/{path}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def api(self) -> MediaMTXApi:
        return MediaMTXApi(self.api_url, self.api_credentials)

    def log_tail(self, lines: int = 30) -> str:
        return self.proc.log_tail(lines) if self.proc else "(never started)"


@dataclass
class Central:
    """The central MediaMTX ucvd publishes to, with the accounts an operator would have."""

    server: MediaMTXServer
    publisher: Credentials
    api_user: Credentials
    reader: Credentials

    def publish_url(self, path: str) -> str:
        return self.server.rtsp_url(path, self.publisher)

    def read_url(self, path: str) -> str:
        return self.server.rtsp_url(path, self.reader)


def central(
    registry: ProcessRegistry,
    tools: Tools,
    workdir: Path,
    *,
    name: str = "central",
    settings: Mapping[str, Any] | None = None,
    path_defaults: Mapping[str, Any] | None = None,
    paths: Mapping[str, Any] | None = None,
    anonymous_read: bool = False,
    log_level: str = "info",
    tls: TlsFiles | None = None,
) -> Central:
    """A central server: internal auth with a publish user, an API user and a read user;
    every path allowed through `all_others` unless `paths` says otherwise.

    `settings` overrides top-level keys (e.g. `readTimeout`), `path_defaults` overrides
    `pathDefaults` keys (e.g. `overridePublisher`). With `tls`, RTSP is RTSPS only
    (`rtspEncryption: strict`) on the server's RTSP port, with that certificate.
    """
    publisher = Credentials.generate("ucvd-publisher")
    api_user = Credentials.generate("ucvd-api")
    reader = Credentials.generate("viewer")
    users: list[dict[str, Any]] = [
        {"user": publisher.user, "pass": publisher.password, "permissions": _perm("publish")},
        {"user": api_user.user, "pass": api_user.password, "permissions": _perm("api")},
        {"user": reader.user, "pass": reader.password, "permissions": _perm("read")},
    ]
    if anonymous_read:
        users.append({"user": "any", "pass": "", "permissions": _perm("read")})

    def build(rtsp_port: int, api_port: int) -> dict[str, Any]:
        config = base_config(
            rtsp_port=rtsp_port, api_port=api_port, log_level=log_level, users=users
        )
        if tls is not None:
            config.update({
                "rtspEncryption": "strict",
                "rtspsAddress": f"{LOOPBACK}:{rtsp_port}",
                "rtspAddress": f"{LOOPBACK}:{free_port()}",  # not opened under strict
                "rtspServerCert": str(tls.cert),
                "rtspServerKey": str(tls.key),
            })  # fmt: skip
        config.update(settings or {})
        config["pathDefaults"].update(path_defaults or {})
        config["paths"] = dict(paths) if paths is not None else {"all_others": {}}
        return config

    server = MediaMTXServer(
        registry=registry,
        tools=tools,
        workdir=workdir,
        name=name,
        build_config=build,
        api_credentials=api_user,
        scheme="rtsps" if tls is not None else "rtsp",
    )
    return Central(server=server, publisher=publisher, api_user=api_user, reader=reader)


def is_online(info: Mapping[str, Any] | None) -> bool:
    """A path's raw API answer: does a source publish there now, in any MediaMTX version?"""
    if not info:
        return False
    return bool(info["online"] if "online" in info else info.get("ready"))


class MediaMTXApiError(HarnessError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"MediaMTX API answered {status}: {message}")
        self.status = status
        self.message = message


@dataclass
class MediaMTXApi:
    """Synchronous client of MediaMTX's Control API v3, for tests and benchmarks.

    Timeouts sit above MediaMTX's deliberate delay on failed authentication (~4 s).
    """

    base_url: str
    credentials: Credentials | None = None
    timeout: float = 8.0

    def _client(self) -> httpx.Client:
        auth = (self.credentials.user, self.credentials.password) if self.credentials else None
        return httpx.Client(base_url=self.base_url, auth=auth, timeout=self.timeout)

    def _request(self, method: str, url: str, body: Any = None) -> Any:
        with self._client() as client:
            response = client.request(method, url, json=body)
        if response.status_code >= 400:
            try:
                message = str(response.json().get("error", response.text))
            except ValueError:
                message = response.text
            raise MediaMTXApiError(response.status_code, message)
        return response.json() if response.content else None

    @staticmethod
    def _quote(name: str) -> str:
        return urllib.parse.quote(name, safe="/")

    def reachable(self) -> bool:
        try:
            self._request("GET", "/v3/paths/list?itemsPerPage=1")
        except (httpx.TransportError, MediaMTXApiError):
            return False
        return True

    def _list(self, endpoint: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 0
        while True:
            data = self._request("GET", f"{endpoint}?itemsPerPage=100&page={page}")
            items.extend(data["items"])
            page += 1
            if page >= int(data["pageCount"]):
                return items

    def paths(self) -> list[dict[str, Any]]:
        return self._list("/v3/paths/list")

    def path(self, name: str) -> dict[str, Any] | None:
        """The runtime state of a path, or None when no such path is active."""
        try:
            result: dict[str, Any] = self._request("GET", f"/v3/paths/get/{self._quote(name)}")
        except MediaMTXApiError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def path_ready(self, name: str) -> bool:
        """Does a source publish on the path now? (`online`; `ready` before v1.16, which
        since means only *available*: an `alwaysAvailable` path is that with no source.)"""
        return is_online(self.path(name))

    def tracks(self, name: str) -> list[str]:
        info = self.path(name)
        return list(info.get("tracks", [])) if info else []

    def inbound_bytes(self, name: str) -> int:
        info = self.path(name) or {}
        # v1.17 renamed bytesReceived to inboundBytes; accept both.
        return int(info.get("inboundBytes", info.get("bytesReceived", 0)))

    def readers(self, name: str) -> list[dict[str, Any]]:
        info = self.path(name)
        return list(info.get("readers", [])) if info else []

    def rtsp_sessions(self) -> list[dict[str, Any]]:
        return self._list("/v3/rtspsessions/list")

    def kick_rtsp_session(self, session_id: str) -> None:
        self._request("POST", f"/v3/rtspsessions/kick/{self._quote(session_id)}")

    def publisher_session(self, name: str) -> str | None:
        """The id of the RTSP session publishing `name`, if one is."""
        info = self.path(name)
        source = (info or {}).get("source") or {}
        return str(source["id"]) if source.get("type") == "rtspSession" else None

    def kick_publisher(self, name: str) -> str:
        session = self.publisher_session(name)
        if session is None:
            raise HarnessError(f"path {name!r} has no RTSP publisher to kick")
        self.kick_rtsp_session(session)
        return session

    def kick_readers(self) -> int:
        """Kick every RTSP session that is reading (PLAY); returns how many were kicked."""
        kicked = 0
        for session in self.rtsp_sessions():
            if session.get("state") == "read":
                self.kick_rtsp_session(str(session["id"]))
                kicked += 1
        return kicked

    def wait_path_ready(self, name: str, timeout: float = 15.0) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            info = self.path(name)
            return info if is_online(info) else None

        info = wait_until(ready, timeout=timeout, what=f"path {name!r} to be ready")
        assert info is not None  # wait_until returns only truthy values
        return info
