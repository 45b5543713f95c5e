"""`publishing.history` shows a running session's counters as they are now, not as the
last checkpoint (up to a minute old) saved them."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from ucvd.api import protocol as p
from ucvd.control.events import EventBus
from ucvd.control.server import Connection
from ucvd.domain.model import Camera
from ucvd.relay.registry import Publications
from ucvd.relay.status import SupervisorSettings
from ucvd.service import Service
from ucvd.state.history import SessionRecord
from ucvd.state.store import AsyncStore, Store

pytestmark = pytest.mark.anyio
NO_CONNECTION = cast(Connection, None)


def service(db: Store, live: dict[str, SessionRecord]) -> Service:
    pubs = Publications(settings=SupervisorSettings(), ffmpeg="ffmpeg", tag_prefix="test")
    return Service(store=AsyncStore(db), snapshot=db.snapshot(), publications=pubs,
                   bus=EventBus(), ffprobe="ffprobe", running_session=live.get)  # fmt: skip


async def test_the_running_session_shows_its_live_counters(tmp_path: Path) -> None:
    db = Store(tmp_path / "ucvd.db")
    db.add_camera(Camera(id="cam", url="rtsp://192.0.2.1/s"))
    old = SessionRecord(camera_id="cam", target="t", started_at=100.0)
    closed_id = db.open_session(old)
    db.close_session(
        closed_id, SessionRecord(camera_id="cam", target="t", started_at=100.0, ended_at=150.0,
                                 end_reason="stopped", frames=1250, bytes=9000)
    )  # fmt: skip
    db.open_session(SessionRecord(camera_id="cam", target="t", started_at=200.0))
    live = {"cam": SessionRecord(camera_id="cam", target="t", started_at=200.0, restarts=2,
                                 frames=5000, bytes=123_456)}  # fmt: skip
    answer = await service(db, live).publishing_history(
        p.HistoryQuery(camera_id="cam"), NO_CONNECTION
    )
    running, ended = answer.items
    assert (running.ended_at, running.restarts, running.frames, running.bytes) == (
        None, 2, 5000, 123_456,
    )  # fmt: skip
    assert (ended.frames, ended.bytes) == (1250, 9000)  # an ended session is as stored
    # With no live session (the daemon saw none), the stored counters stand.
    answer = await service(db, {}).publishing_history(
        p.HistoryQuery(camera_id="cam"), NO_CONNECTION
    )
    assert (answer.items[0].frames, answer.items[0].bytes) == (0, 0)
