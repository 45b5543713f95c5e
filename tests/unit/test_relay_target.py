"""What the relay engine is handed of a target: never the settings it does not read, so that
a change of those (the player URL) replaces no supervisor and restarts no FFmpeg."""

from __future__ import annotations

import msgspec
import pytest

from ucvd.domain.model import Camera, Target
from ucvd.relay.registry import Publications, _Pub
from ucvd.relay.status import SupervisorSettings

pytestmark = pytest.mark.anyio

CAMERA = Camera(id="gate", url="rtsp://192.0.2.10/s")
SHOWN = Target(
    name="central", rtsp_url="rtsp://192.0.2.20:8554", player_url="http://192.0.2.20:8889/"
)


class FakeSupervisor:
    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.starts = 0

    async def start(self, *, force: bool = False) -> bool:
        self.starts += 1
        return True


async def test_a_supervisor_is_built_without_the_player_url_and_kept_when_it_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pubs = Publications(settings=SupervisorSettings(), ffmpeg="ffmpeg", tag_prefix="test:")
    built: list[Target] = []

    async def spawn(camera: Camera, target: Target) -> _Pub:
        built.append(target)
        pub = pubs._pubs[camera.id] = _Pub(sup=FakeSupervisor(camera), target=target)  # type: ignore[arg-type]
        return pub

    monkeypatch.setattr(pubs, "_spawn_supervisor", spawn)
    await pubs.start(CAMERA, SHOWN)
    moved = msgspec.structs.replace(SHOWN, player_url="https://192.0.2.20/mediamtx/")
    await pubs.start(CAMERA, moved)
    bare = msgspec.structs.replace(SHOWN, player_url=None)
    assert built == [bare]  # one supervisor, which never saw a player URL
    assert pubs.target_of("gate") == bare
    assert pubs.publishes_to("gate", moved) and pubs.publishes_to("gate", bare)
    assert not pubs.publishes_to(
        "gate", msgspec.structs.replace(SHOWN, path_template="x/{camera_id}")
    )
    assert not pubs.publishes_to("door", SHOWN)
