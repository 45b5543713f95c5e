"""The MediaMTX client against what each MediaMTX version answers.

Every file under tests/fixtures/mediamtx/<version>/ is one exchange (request, status, body),
recorded from a real server (`python -m tests.harness.mediamtx_record`) or written from
that version's source; each file's `origin` says which (tests/fixtures/mediamtx/README.md
lists them). A version's files are served to the real client through httpx's
MockTransport, and the tables below state what the client must make of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ucvd.relay.mediamtx import (
    EnsureResult,
    MediaMTXClient,
    MediaMTXError,
    PathInfo,
    ServerInfo,
    error_message,
)
from ucvd.relay.watchdog import ApiWord, Look, ready

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mediamtx"
RECORDED = "v1.20.1"  # the version `make deps` builds; its fixtures are recorded
# What gin (MediaMTX's HTTP router in every version) answers for a route it does not have.
NO_ROUTE: dict[str, Any] = {
    "status": 404,
    "content_type": "text/plain",
    "text": "404 page not found",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def exchanges(version: str) -> dict[str, dict[str, Any]]:
    """A version's fixtures by request (`GET /v3/info`); a `variant` (a later answer to the
    same request) only when asked for by name (see `server`)."""
    found: dict[str, dict[str, Any]] = {}
    for file in sorted((FIXTURES / version).glob("*.json")):
        record = json.loads(file.read_text())
        if "variant" in record:
            continue
        assert record["request"] not in found, f"{file}: a second answer needs a variant"
        found[record["request"]] = record
    assert found, f"no fixtures for {version}"
    return found


def server(version: str, **instead: str) -> httpx.MockTransport:
    """Answers each request with the fixture recorded (or written) for it, else gin's 404.
    `instead` swaps in another file of the version for a request (`{request: file stem}`)."""
    records = exchanges(version)
    for request, stem in instead.items():
        records[request] = json.loads((FIXTURES / version / f"{stem}.json").read_text())

    def answer(request: httpx.Request) -> httpx.Response:
        record = records.get(f"{request.method} {request.url.path}", NO_ROUTE)
        if "json" in record:
            content = json.dumps(record["json"]).encode()
        else:
            content = record["text"].encode()
        headers = {"content-type": record["content_type"]}
        return httpx.Response(record["status"], content=content, headers=headers)

    return httpx.MockTransport(answer)


def client(version: str, **instead: str) -> MediaMTXClient:
    transport = server(version, **instead)
    return MediaMTXClient("http://mediamtx.test:9997", transport=transport, retries=0)


def test_every_fixture_says_where_it_comes_from() -> None:
    for file in FIXTURES.glob("*/*.json"):
        origin = json.loads(file.read_text())["origin"]
        assert origin.startswith(("recorded from MediaMTX", "written from", "derived from")), file
        if file.parent.name == RECORDED:
            assert origin.startswith(f"recorded from MediaMTX {RECORDED}"), file


# (fixture version, the version the client must report; None: it cannot tell)
VERSIONS: list[tuple[str, str | None]] = [
    ("v1.15.1", None),  # before /v3/info (v1.15.2): the path list proves the API is there
    ("v1.15.6", "v1.15.6"),
    ("v1.16.3", "v1.16.3"),
    (RECORDED, RECORDED),
    ("next-without-deprecated", "v1.99.0"),
]


@pytest.mark.parametrize(("version", "expected"), VERSIONS)
async def test_server_version(version: str, expected: str | None) -> None:
    async with client(version) as c:
        assert await c.info() == ServerInfo(version=expected)


async def test_a_server_without_control_api_v3_is_named_as_such() -> None:
    async with client("v1.1.1") as c:  # /v2 only: /v3/info and /v3/paths/list both 404
        with pytest.raises(MediaMTXError, match="no Control API v3") as info:
            await c.info()
    assert info.value.status == 404 and not info.value.unreachable


LIVE_TRACKS = ("H264", "MPEG-4 Audio")


class Expect:
    """What the client must make of one path: the fields ucvd acts on."""

    def __init__(
        self,
        *,
        online: bool,
        available: bool,
        tracks: tuple[str, ...] = (),
        has_bytes: bool = False,
        readers: int = 0,
        source_type: str | None = None,
    ) -> None:
        self.online, self.available, self.tracks = online, available, tracks
        self.has_bytes, self.readers, self.source_type = has_bytes, readers, source_type

    def check(self, info: PathInfo) -> None:
        assert (info.online, info.available) == (self.online, self.available)
        assert info.tracks == self.tracks
        assert (info.inbound_bytes > 0) is self.has_bytes
        assert info.readers == self.readers
        assert info.source_type == self.source_type
        assert bool(info.source_id) is (self.source_type is not None)


LIVE = Expect(
    online=True,
    available=True,
    tracks=LIVE_TRACKS,
    has_bytes=True,
    readers=1,
    source_type="rtspSession",
)
IDLE = Expect(online=False, available=False)
# alwaysAvailable with nobody publishing: readable (the offline segment, whose bytes MediaMTX
# counts as inbound), yet no stream of ours is there.
ALWAYS_OFFLINE = Expect(online=False, available=True, tracks=("H264",), has_bytes=True)
ALWAYS_ONLINE = Expect(
    online=True, available=True, tracks=("H264",), has_bytes=True, source_type="rtspSession"
)

# (fixture version, path name, what the client must make of it)
PATHS: list[tuple[str, str, Expect]] = [
    # v1.15: `ready` and `bytesReceived` only; `ready` still meant a source is there.
    ("v1.15.1", "camera_live", LIVE),
    ("v1.15.1", "camera_idle", IDLE),
    ("v1.15.6", "camera_live", LIVE),
    ("v1.15.6", "camera_idle", IDLE),
    # v1.16: `available`/`online` appear, `ready` is `available`; still `bytesReceived`.
    ("v1.16.3", "camera_live", LIVE),
    ("v1.16.3", "camera_idle", IDLE),
    ("v1.16.3", "camera_always", ALWAYS_OFFLINE),
    # v1.17 on: `inboundBytes`, `tracks2`; the old names kept as deprecated aliases.
    (RECORDED, "camera_live", LIVE),
    (RECORDED, "camera_idle", IDLE),
    (RECORDED, "camera_always", ALWAYS_OFFLINE),
    # Without any deprecated field (no `ready`, `tracks`, `bytesReceived`).
    ("next-without-deprecated", "camera_live", LIVE),
    ("next-without-deprecated", "camera_idle", IDLE),
    ("next-without-deprecated", "camera_always", ALWAYS_OFFLINE),
]


@pytest.mark.parametrize(("version", "name", "expect"), PATHS)
async def test_path_from_get_and_from_list(version: str, name: str, expect: Expect) -> None:
    async with client(version) as c:
        got = await c.get_path(name)
        listed = {p.name: p for p in await c.list_paths()}
    assert got is not None and got.name == name
    expect.check(got)
    assert listed[name] == got  # the shared list and the single path read alike


@pytest.mark.parametrize("version", [RECORDED, "next-without-deprecated"])
async def test_always_available_path_with_a_publisher_is_online(version: str) -> None:
    online = {"GET /v3/paths/get/camera_always": "paths_get_always_online"}
    async with client(version, **online) as c:
        got = await c.get_path("camera_always")
    assert got is not None
    ALWAYS_ONLINE.check(got)


# (fixture version, path, publisher there before the spawn, must the watchdog confirm?)
CONFIRMS: list[tuple[str, str, str | None, bool]] = [
    ("v1.15.1", "camera_live", None, True),
    ("v1.15.1", "camera_idle", None, False),
    ("v1.16.3", "camera_live", None, True),
    (RECORDED, "camera_live", None, True),
    ("next-without-deprecated", "camera_live", None, True),
    # An alwaysAvailable path whose earlier publisher left: available, no source. Taken for
    # "ready" it would differ from the publisher before the spawn and confirm a stream that
    # never arrived.
    ("v1.16.3", "camera_always", "publisher-before-spawn", False),
    (RECORDED, "camera_always", "publisher-before-spawn", False),
    (RECORDED, "camera_always", None, False),
    ("next-without-deprecated", "camera_always", "publisher-before-spawn", False),
]


@pytest.mark.parametrize(("version", "name", "foreign", "confirms"), CONFIRMS)
async def test_the_watchdog_confirms_only_a_live_source(
    version: str, name: str, foreign: str | None, confirms: bool
) -> None:
    async with client(version) as c:
        path = await c.get_path(name)
    look = Look(
        now=1.0,
        spawned_at=0.0,
        advanced_at=0.0,
        heard_at=0.0,
        progressed=True,
        confirmed_at=None,
        api=ApiWord(path=path, foreign=foreign),
        sent=True,
    )
    assert ready(look) is confirms


@pytest.mark.parametrize("version", ["v1.15.1", "v1.15.6", "v1.16.3", RECORDED])
async def test_missing_path_and_refusal_in_each_error_format(version: str) -> None:
    async with client(version) as c:
        assert await c.get_path("nobody_here") is None  # 404 with an error body
    # A concurrent add won the race: the config list did not have the path yet, the add is
    # refused in this version's error format, and that refusal must read as "exists".
    refusal = exchanges(version)["POST /v3/config/paths/add/camera_idle"]
    assert refusal["status"] == 400
    assert error_message(httpx.Response(400, json=refusal["json"])) == "path already exists"

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"itemCount": 0, "pageCount": 1, "items": []})
        return httpx.Response(400, json=refusal["json"])

    transport = httpx.MockTransport(answer)
    async with MediaMTXClient("http://mediamtx.test:9997", transport=transport, retries=0) as c:
        assert await c.ensure_path("camera_idle") is EnsureResult.EXISTS


async def test_ensure_path_reads_the_recorded_config_list() -> None:
    async with client(RECORDED) as c:
        assert await c.ensure_path("camera_always") is EnsureResult.EXISTS
        assert await c.ensure_path("camera_other") is EnsureResult.COVERED  # all_others


def test_the_fakes_unknown_endpoint_answer_is_the_recorded_one() -> None:
    record = exchanges(RECORDED)["GET /v3/no/such/endpoint"]
    assert {k: record[k] for k in NO_ROUTE} == NO_ROUTE
