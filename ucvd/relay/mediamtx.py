"""Async client of MediaMTX's Control API v3: provision paths and verify publications.

Facts it respects (docs/architecture.md §6, per MediaMTX version): both error-body formats
(`{"error": ...}` up to v1.15.4, `{"status": "error", "error": ...}` since); a path's
liveness is `online` where the server sends it (v1.16 on) and `ready` before, because
since v1.16 `ready` means *available*, which an `alwaysAvailable` path stays while its
source is offline; inbound bytes are `inboundBytes` (v1.17 on) or `bytesReceived`; the
version comes from `/v3/info` (v1.15.2 on); lists paginate; failed authentication answers
only after a deliberate delay of up to ~4 s, so the default timeout sits above it; only
transport errors are retried, because an HTTP answer, even an error, is MediaMTX's word.

Ensuring a path never overwrites the operator's own configuration: if a configured path
already covers the name (the exact name, a `~regex`, `all_others` or `all`), nothing is
changed; only an uncovered name is added, with an empty body (MediaMTX's defaults).
"""

from __future__ import annotations

import re
import time
import urllib.parse
from enum import StrEnum
from typing import Any

import anyio
import httpx
import msgspec

from ucvd.domain.urls import validate_path_name

DEFAULT_TIMEOUT_S = 8.0
_CATCH_ALL = ("all_others", "all")


class MediaMTXError(Exception):
    """A failure talking to MediaMTX; `unreachable` tells a down server from a refusal."""

    def __init__(self, message: str, *, status: int | None = None, unreachable: bool = False):
        super().__init__(message)
        self.status = status
        self.unreachable = unreachable


class PathInfo(msgspec.Struct, frozen=True, kw_only=True):
    """MediaMTX's runtime view of one path, in the same terms whatever its version."""

    name: str
    online: bool  # a source really publishes there now: the only proof of a live stream
    available: bool  # readers can read: also true for an `alwaysAvailable` path offline
    tracks: tuple[str, ...] = ()
    inbound_bytes: int = 0
    readers: int = 0
    source_type: str | None = None
    source_id: str | None = None


class ServerInfo(msgspec.Struct, frozen=True):
    version: str | None  # None when the server predates /v3/info


class EnsureResult(StrEnum):
    EXISTS = "exists"  # configured under this exact name
    COVERED = "covered"  # a regex or catch-all path serves it
    CREATED = "created"


def _path_info(item: dict[str, Any]) -> PathInfo:
    try:
        return _parse_path(item)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise MediaMTXError("MediaMTX API described a path in an unexpected shape") from exc


def _parse_path(item: dict[str, Any]) -> PathInfo:
    source = item.get("source") or {}
    # v1.16 split `ready` into `available` and `online` and kept `ready` as an alias of
    # `available`; before, `ready` meant both. Deprecated names are read only as fallbacks.
    available = bool(item.get("available", item.get("ready")))
    online = bool(item["online"]) if "online" in item else bool(item.get("ready"))
    if "tracks" in item:  # codec names; deprecated since v1.17 for `tracks2`
        tracks = tuple(str(t) for t in item.get("tracks") or ())
    else:
        tracks = tuple(str(t["codec"]) for t in item.get("tracks2") or ())
    return PathInfo(
        name=str(item.get("name", "")),
        online=online,
        available=available,
        tracks=tracks,
        # v1.17 renamed bytesReceived to inboundBytes.
        inbound_bytes=int(item.get("inboundBytes", item.get("bytesReceived", 0)) or 0),
        readers=len(item.get("readers") or ()),
        source_type=source.get("type"),
        source_id=source.get("id"),
    )


def covers(conf_name: str, path: str) -> bool:
    """Does the configured path `conf_name` serve requests for `path`?"""
    if conf_name in _CATCH_ALL:
        return True
    if conf_name.startswith("~"):
        try:
            # MediaMTX searches, it does not anchor: `~^camera_` covers `camera_x`.
            return re.search(conf_name[1:], path) is not None
        except re.error:
            return False  # a Go-only regex: we cannot tell, so treat it as not covering
    return conf_name == path


def error_message(response: httpx.Response) -> str:
    """The error text in either of MediaMTX's formats, else the raw body (shortened)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    text = response.text.strip()
    return text[:200] if text else response.reason_phrase


class MediaMTXClient:
    def __init__(
        self,
        base_url: str,
        *,
        credentials: tuple[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = 2,
        retry_delay_s: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.latency_s: float | None = None  # the last answered request's round trip
        self._retries = retries
        self._retry_delay_s = retry_delay_s
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            auth=credentials,
            timeout=timeout_s,
            transport=transport,
            trust_env=False,  # never route the LAN's MediaMTX through a proxy from the env
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> MediaMTXClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(self, method: str, url: str, body: Any = None) -> Any:
        delay = self._retry_delay_s
        for attempt in range(self._retries + 1):
            try:
                asked = time.monotonic()
                response = await self._client.request(method, url, json=body)
                self.latency_s = time.monotonic() - asked
                break
            except httpx.TransportError as exc:
                self.latency_s = None  # no answer: an old round trip would look healthy
                if attempt == self._retries:
                    raise MediaMTXError(
                        f"MediaMTX API at {self.base_url} unreachable: {type(exc).__name__}",
                        unreachable=True,
                    ) from exc
                await anyio.sleep(delay)
                delay *= 2
            except httpx.HTTPError as exc:  # redirects, decoding: an answer, but not one we use
                raise MediaMTXError(
                    f"MediaMTX API at {self.base_url} answered unusably: {type(exc).__name__}"
                ) from exc
        if response.status_code >= 400:
            raise MediaMTXError(
                f"MediaMTX API answered {response.status_code}: {error_message(response)}",
                status=response.status_code,
            )
        if not response.content:
            return None
        try:
            # msgspec, not response.json(): the shared paths list is the daemon's largest
            # recurring parse (every path on the server, every second).
            data = msgspec.json.decode(response.content)
        except msgspec.DecodeError as exc:
            raise MediaMTXError("MediaMTX API answered with something that is not JSON") from exc
        if not isinstance(data, dict):
            raise MediaMTXError("MediaMTX API answered with JSON of an unexpected shape")
        return data

    @staticmethod
    def _quoted(path: str) -> str:
        return urllib.parse.quote(validate_path_name(path), safe="/")

    async def _list(self, endpoint: str, page_size: int = 100) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 0
        while True:
            data = await self._request("GET", f"{endpoint}?itemsPerPage={page_size}&page={page}")
            page_items = (data or {}).get("items") or []
            if not isinstance(page_items, list) or not all(isinstance(i, dict) for i in page_items):
                raise MediaMTXError(f"MediaMTX API {endpoint} answered an unexpected list")
            items.extend(page_items)
            page += 1
            if page >= int((data or {}).get("pageCount") or 0):
                return items

    async def info(self) -> ServerInfo:
        """Reachability, authentication and version in one call: /v3/info (v1.15.2 on),
        else a one-item path list (v1.2.0 on, where Control API v3 begins)."""
        try:
            data = await self._request("GET", "/v3/info")
        except MediaMTXError as exc:
            if exc.status != 404:
                raise
            try:
                await self._request("GET", "/v3/paths/list?itemsPerPage=1")
            except MediaMTXError as older:
                if older.status != 404:
                    raise
                raise MediaMTXError(
                    f"MediaMTX API at {self.base_url} has no Control API v3 (/v3/paths/list "
                    "answered 404): MediaMTX before v1.2.0 speaks /v2 or /v1, which ucvd "
                    "does not; or the URL is not MediaMTX's API",
                    status=404,
                ) from older
            return ServerInfo(version=None)
        version = (data or {}).get("version")
        return ServerInfo(version=version if isinstance(version, str) else None)

    async def get_path(self, name: str) -> PathInfo | None:
        """Runtime state of a path; None when MediaMTX has no such path now (not configured
        by name, and nobody publishes or reads it)."""
        try:
            data = await self._request("GET", f"/v3/paths/get/{self._quoted(name)}")
        except MediaMTXError as exc:
            if exc.status == 404:
                return None
            raise
        if data is None:
            raise MediaMTXError("MediaMTX API answered an empty body for a path")
        return _path_info(data)

    async def list_paths(self, page_size: int = 100) -> list[PathInfo]:
        return [_path_info(item) for item in await self._list("/v3/paths/list", page_size)]

    async def ensure_path(self, name: str) -> EnsureResult:
        """Make sure MediaMTX accepts a publisher on `name`, without touching its config
        when it already does. Idempotent; safe against a concurrent add."""
        self._quoted(name)  # validate first
        configured = [str(item.get("name")) for item in await self._list("/v3/config/paths/list")]
        if name in configured:
            return EnsureResult.EXISTS
        if any(covers(conf, name) for conf in configured):
            return EnsureResult.COVERED
        try:
            await self._request("POST", f"/v3/config/paths/add/{self._quoted(name)}", {})
        except MediaMTXError as exc:
            if exc.status == 400 and "already exists" in str(exc):
                return EnsureResult.EXISTS
            raise
        return EnsureResult.CREATED

    async def kick_session(self, session_id: str) -> None:
        if not re.fullmatch(r"[0-9a-fA-F-]{1,64}", session_id):
            raise ValueError("session id must be a UUID")
        await self._request("POST", f"/v3/rtspsessions/kick/{session_id}")
