"""ucvd's MediaMTX client against a real MediaMTX (internal auth, API on)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx
import msgspec
import pytest

from tests.harness.cameras import CameraFarm
from tests.harness.media import Audio
from tests.harness.mediamtx import Central
from tests.harness.mediamtx_record import ALWAYS_AVAILABLE, FIXTURES
from tests.harness.ports import free_port
from tests.harness.procs import ProcessRegistry
from tests.harness.relay import start_plain_relay
from tests.harness.tools import Tools
from ucvd.domain.urls import InvalidURL
from ucvd.relay.mediamtx import EnsureResult, MediaMTXClient, MediaMTXError, error_message
from ucvd.relay.pathwatch import PathWatch, Snapshot
from ucvd.relay.watchdog import ApiWord, Look, ready

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(central: Central, **kwargs: object) -> MediaMTXClient:
    creds = (central.api_user.user, central.api_user.password)
    return MediaMTXClient(central.server.api_url, credentials=creds, **kwargs)  # type: ignore[arg-type]


async def test_info_reports_the_version(mediamtx: Central) -> None:
    async with client_for(mediamtx) as client:
        info = await client.info()
    assert info.version == "v1.20.1"


async def test_wrong_credentials_are_a_refusal_not_an_outage(mediamtx: Central) -> None:
    async with MediaMTXClient(mediamtx.server.api_url, credentials=("ucvd-api", "nope")) as client:
        with pytest.raises(MediaMTXError) as info:
            await client.info()
    assert info.value.status == 401 and not info.value.unreachable
    assert "nope" not in str(info.value)


async def test_unreachable_after_retries() -> None:
    port = free_port()
    async with MediaMTXClient(f"http://127.0.0.1:{port}", retries=2, retry_delay_s=0.05) as client:
        started = time.monotonic()
        with pytest.raises(MediaMTXError) as info:
            await client.info()
    assert info.value.unreachable and info.value.status is None
    assert time.monotonic() - started >= 0.05 + 0.1  # two waits between three attempts


async def test_ensure_path_never_overwrites_operator_config(
    make_central: Callable[..., Central],
) -> None:
    central = make_central(paths={"cam_fixed": {"maxReaders": 7}, "~^regex_.*$": {}, "other": {}})
    async with client_for(central) as client:
        assert await client.ensure_path("cam_fixed") is EnsureResult.EXISTS
        assert await client.ensure_path("regex_cam") is EnsureResult.COVERED
        assert await client.ensure_path("camera_new") is EnsureResult.CREATED
        assert await client.ensure_path("camera_new") is EnsureResult.EXISTS
    conf = central.server.api._request("GET", "/v3/config/paths/get/cam_fixed")
    assert conf["maxReaders"] == 7


async def test_ensure_path_covered_by_all_others(mediamtx: Central) -> None:
    async with client_for(mediamtx) as client:
        assert await client.ensure_path("camera_x") is EnsureResult.COVERED


async def test_concurrent_ensure_is_idempotent(make_central: Callable[..., Central]) -> None:
    central = make_central(paths={"other": {}})
    results: list[EnsureResult] = []
    async with client_for(central) as client:

        async def ensure() -> None:
            results.append(await client.ensure_path("camera_race"))

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(ensure)
    # One creation: the others find it there, or lose the race to add it (MediaMTX refuses
    # a second add of one name) and say so as EXISTS rather than as CREATED.
    assert results.count(EnsureResult.CREATED) == 1, results
    assert results.count(EnsureResult.EXISTS) == 4, results
    configured = central.server.api._request("GET", "/v3/config/paths/list")["items"]
    assert [p["name"] for p in configured].count("camera_race") == 1


async def test_get_path_list_and_kick(
    cameras: CameraFarm, mediamtx: Central, registry: ProcessRegistry, tools: Tools
) -> None:
    sim = cameras.add()
    relays = [
        start_plain_relay(registry, tools, sim.url, mediamtx.publish_url(f"page_{i}"))
        for i in range(3)
    ]
    for i in range(3):
        await anyio.to_thread.run_sync(mediamtx.server.api.wait_path_ready, f"page_{i}")
    async with client_for(mediamtx) as client:
        assert await client.get_path("nobody_here") is None
        info = await client.get_path("page_0")
        assert info is not None and info.online and info.tracks[0] == "H264"
        assert info.inbound_bytes > 0 and info.source_type == "rtspSession" and info.source_id
        paged = await client.list_paths(page_size=2)  # 3 paths over 2 pages
        assert sorted(p.name for p in paged) == ["page_0", "page_1", "page_2"]
        await client.kick_session(info.source_id)
        with anyio.fail_after(10):
            while relays[0].alive():
                await anyio.sleep(0.05)
        assert relays[1].alive() and relays[2].alive()
        with pytest.raises(ValueError, match="UUID"):
            await client.kick_session("../config/paths/delete/x")


async def test_path_names_are_validated_before_any_request(mediamtx: Central) -> None:
    async with client_for(mediamtx) as client:
        for bad in ("../etc", "a b", "/lead", "x/../y"):
            with pytest.raises(InvalidURL):
                await client.get_path(bad)
            with pytest.raises(InvalidURL):
                await client.ensure_path(bad)


async def test_one_shared_list_answers_every_publication(
    cameras: CameraFarm, mediamtx: Central, registry: ProcessRegistry, tools: Tools
) -> None:
    sim = cameras.add()
    for i in range(2):
        start_plain_relay(registry, tools, sim.url, mediamtx.publish_url(f"shared_{i}"))
    for i in range(2):
        await anyio.to_thread.run_sync(mediamtx.server.api.wait_path_ready, f"shared_{i}")
    async with client_for(mediamtx) as client:
        watch = PathWatch(client)
        snaps: list[Snapshot] = []

        async def ask() -> None:
            snaps.append(await watch.snapshot(max_age=5))

        async with anyio.create_task_group() as tg:
            for _ in range(40):  # forty publications asking in the same instant
                tg.start_soon(ask)
        assert watch.fetches == 1 and len(snaps) == 40
        assert all(s is snaps[0] for s in snaps)
        snap = snaps[0]
        assert snap.ok
        for i in range(2):
            path = snap.path(f"shared_{i}")
            assert path is not None and path.online and path.tracks[0] == "H264"
        assert snap.path("nobody_here") is None
        assert await watch.snapshot(max_age=5) is snap and watch.fetches == 1  # still fresh
        newer = await watch.snapshot(max_age=0)  # too old for this caller: asks again
        assert watch.fetches == 2 and newer is not snap and newer.ok


async def test_a_cancelled_asker_does_not_strand_the_others() -> None:
    # An unreachable API with slow retries keeps the first fetch in flight for over a second.
    port = free_port()
    async with MediaMTXClient(f"http://127.0.0.1:{port}", retries=3, retry_delay_s=0.5) as client:
        watch = PathWatch(client)
        first_scope = anyio.CancelScope()
        waiting = anyio.Event()
        got: list[Snapshot] = []

        async def first() -> None:
            with first_scope:
                await watch.snapshot(max_age=1)

        async def second() -> None:
            waiting.set()  # from here to waiting on the fetch in flight there is no checkpoint
            got.append(await watch.snapshot(max_age=1))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                while watch.fetches == 0:
                    await anyio.sleep(0.01)
                tg.start_soon(second)
                await waiting.wait()
                await anyio.lowlevel.checkpoint()
                assert watch.fetches == 1 and not got  # second is parked on first's fetch
                first_scope.cancel()
    assert watch.fetches == 2 and len(got) == 1 and not got[0].ok  # second asked itself


async def test_an_unreachable_api_is_one_shared_failure() -> None:
    port = free_port()
    async with MediaMTXClient(f"http://127.0.0.1:{port}", retries=1, retry_delay_s=0.05) as client:
        watch = PathWatch(client)
        snaps: list[Snapshot] = []

        async def ask() -> None:
            snaps.append(await watch.snapshot(max_age=5))

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(ask)
    assert watch.fetches == 1 and len(snaps) == 20
    assert all(not s.ok and s.path("anything") is None for s in snaps)


def same_shape(recorded: Any, live: Any, where: str) -> None:
    """Every field of the recorded answer is in the live one, with a value of the same JSON
    type (null may stand for anything: a time that is not set yet)."""
    if recorded is None or live is None:
        return
    assert type(live) is type(recorded), f"{where}: {type(live).__name__} now"
    if isinstance(recorded, dict):
        missing = set(recorded) - set(live)
        assert not missing, f"{where}: no longer answers {sorted(missing)}"
        for key, value in recorded.items():
            same_shape(value, live[key], f"{where}.{key}")
    elif isinstance(recorded, list) and recorded and live:
        same_shape(recorded[0], live[0], f"{where}[0]")


def by_name(answer: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in answer["items"]}


async def test_live_answers_keep_the_recorded_shape(
    cameras: CameraFarm,
    make_central: Callable[..., Central],
    registry: ProcessRegistry,
    tools: Tools,
) -> None:
    """The real binary still answers as tests/fixtures/mediamtx/v1.20.1 says, and an
    alwaysAvailable path added through the config API is available but not online until a
    publisher arrives (the unit tables rely on both)."""
    central = make_central(paths={"camera_live": {}, "camera_idle": {}, "all_others": {}})
    api = central.server.api
    api._request("POST", "/v3/config/paths/add/camera_always", ALWAYS_AVAILABLE)
    sim = cameras.add()
    start_plain_relay(registry, tools, sim.url, central.publish_url("camera_live"))
    await anyio.to_thread.run_sync(api.wait_path_ready, "camera_live")

    recorded = [json.loads(f.read_text()) for f in sorted(Path(FIXTURES, "v1.20.1").iterdir())]
    auth = (central.api_user.user, central.api_user.password)
    async with httpx.AsyncClient(base_url=central.server.api_url, auth=auth) as http:
        for record in recorded:
            method, url = record["request"].split(" ", 1)
            if "variant" in record:
                continue  # the online alwaysAvailable path: checked below
            answer = await http.request(method, url, json={} if method == "POST" else None)
            assert answer.status_code == record["status"], url
            if answer.status_code >= 400:  # the client reads the error as it read the fixture
                body = json.dumps(record["json"]) if "json" in record else record["text"]
                recorded_answer = httpx.Response(record["status"], content=body.encode())
                assert error_message(answer) == error_message(recorded_answer), url
            if "text" in record:
                assert answer.text == record["text"], url
            elif url.endswith("/list"):  # items in any order, and more of them here
                live = by_name(answer.json())
                for name, item in by_name(record["json"]).items():
                    same_shape(item, live.get(name), f"{url} {name}")
            else:
                same_shape(record["json"], answer.json(), url)

    async with client_for(central) as client:
        assert await client.ensure_path("camera_always") is EnsureResult.EXISTS
        always = await client.get_path("camera_always")
        assert always is not None and always.available and not always.online
        assert always.source_id is None
        listed = {p.name: p for p in await client.list_paths()}
        # The offline segment counts as inbound bytes, so only the rest must agree.
        assert msgspec.structs.replace(listed["camera_always"], inbound_bytes=0) == (
            msgspec.structs.replace(always, inbound_bytes=0)
        )
        assert listed["camera_live"].online
        look = Look(
            now=1.0,
            spawned_at=0.0,
            advanced_at=0.0,
            heard_at=0.0,
            progressed=True,
            confirmed_at=None,
            api=ApiWord(path=always, foreign="a publisher that left"),
            sent=True,
        )
        assert not ready(look)  # available is not a stream of ours

        # Its offline tracks are H.264 alone, and a publisher must match them.
        silent = cameras.add(audio=Audio.NONE)
        start_plain_relay(registry, tools, silent.url, central.publish_url("camera_always"))
        with anyio.fail_after(15):
            while not (now := await client.get_path("camera_always")) or not now.online:
                await anyio.sleep(0.1)
        assert now.available and now.source_type == "rtspSession" and now.source_id
    conf = api._request("GET", "/v3/config/paths/get/camera_always")
    assert conf["alwaysAvailable"] is True  # ensure_path left the operator's setting alone
