"""The site's uplink goes dark: the link is blamed, not the cameras, and they are back within
seconds of its return, however long it was out.

A real ucvd on a gateway namespace relays simulated cameras to a real central MediaMTX in
another namespace; the link between them is taken down as a black hole (see harness.wan).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.harness import netns, wan
from tests.harness.daemon import Ucvd, add_target
from tests.harness.media import ClipLibrary
from tests.harness.mediamtx import MediaMTXApi
from tests.harness.procs import ProcessRegistry, pids_of
from tests.harness.tools import Tools
from tests.harness.waiting import wait_until

_WHY = netns.unavailable()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=f"uplink outage: {_WHY}")

CAMERAS = 4
BACK_WITHIN_S = 5.0  # the goal: every camera publishing again this soon
WATCH_S = 5.0  # how long, at least, the test watches that nobody retries a dark target


@pytest.fixture
def site(tools: Tools, clips: ClipLibrary, tmp_path: Path) -> Iterator[wan.Wan]:
    with netns.Lan() as lan, ProcessRegistry(tmp_path / "logs") as registry:
        yield wan.build(lan, registry, tools, clips, tmp_path, cameras=CAMERAS)


def statuses(d: Ucvd) -> dict[str, dict[str, Any]]:
    return {s["camera_id"]: s for s in d.ctl_json("status")["items"]}


def ffmpegs_of(d: Ucvd) -> set[int]:
    found = set()
    for pid in pids_of("ffmpeg", becoming=True):  # one still in setpriv counts too
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue
        if ppid == d.pid:
            found.add(pid)
    return found


def outage(site: wan.Wan, d: Ucvd, cameras: list[str], dark_s: float) -> float:
    """Take the link down for at least `dark_s`, checking what ucvd says meanwhile; return
    how long after the link came back the last camera was publishing again."""
    cut_at = time.monotonic()
    site.cut()
    seen: dict[str, dict[str, Any]] = {}

    def all_waiting_for_the_link() -> bool:
        nonlocal seen
        seen = statuses(d)
        return all(seen[c]["status"] == "reconnecting" and seen[c]["waiting_for_target"]
                   for c in cameras)  # fmt: skip

    wait_until(all_waiting_for_the_link, timeout=30, interval=0.25,
               what=lambda: f"every camera to wait for the link (now {seen})")  # fmt: skip
    for camera in cameras:
        error = seen[camera]["last_error"]
        assert error["kind"] == "mediamtx_unreachable", error
        assert "does not answer" in error["message"] and "192.0.2.20:8554" in error["message"]
    health = d.ctl("health")
    assert health.code == 1
    assert "MediaMTX 192.0.2.20:8554 (target central) has not answered for" in health.stdout
    assert f"{len(cameras)} cameras wait for it" in health.stdout
    detail = d.ctl("status", cameras[0]).check().stdout
    assert "next retry: as soon as central answers again" in detail
    # While the target is dark nobody retries: once the stalled FFmpegs are stopped (the
    # stop ladder: `q`, SIGTERM, SIGKILL), none is spawned until it answers.
    wait_until(lambda: not ffmpegs_of(d), timeout=10, what="the stalled FFmpegs to be stopped")
    # The link stays dark for `dark_s`, and for WATCH_S at least once nothing runs: on a
    # loaded machine noticing the stall and stopping FFmpeg can take most of `dark_s`.
    dark_until = max(cut_at + dark_s, time.monotonic() + WATCH_S)
    while time.monotonic() < dark_until:
        assert ffmpegs_of(d) == set(), "an FFmpeg was started while the target was dark"
        assert all(s["status"] == "reconnecting" for s in statuses(d).values())
        time.sleep(0.5)
    back_wall = time.time()
    site.restore()

    def all_publishing() -> bool:
        nonlocal seen
        seen = statuses(d)
        return all(seen[c]["status"] == "publishing" for c in cameras)

    wait_until(all_publishing, timeout=30, interval=0.25,
               what=lambda: f"every camera to publish again (now {seen})")  # fmt: skip
    # When each one published again, by the daemon's own log of its status changes.
    back: dict[str, float] = {
        c["camera_id"]: c["at"] - back_wall
        for c in changes(d)
        if c["status"] == "publishing" and c["at"] > back_wall
    }
    assert sorted(back) == cameras, back
    return max(back.values())


def changes(d: Ucvd) -> list[dict[str, Any]]:
    """Every status change the daemon logged, in order, with its wall-clock time."""
    found = []
    for line in d.log_text().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if "old_status" in entry:  # "publication status changed", "... interrupted", "... gave up"
            stamp = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
            found.append(entry | {"at": stamp.timestamp()})
    return found


def test_a_dark_uplink_is_blamed_on_the_link_and_every_camera_is_back_within_seconds(
    site: wan.Wan, tmp_path: Path
) -> None:
    # The default backoff cap (60 s): what a long outage used to make cameras wait out.
    d = site.ucvd(tmp_path / "ucvd", settings={"supervision": {"backoff_cap_s": 60.0}}).start()
    add_target(d, site.central).check()
    cameras = [f"cam{i + 1}" for i in range(CAMERAS)]
    for camera, url in zip(cameras, site.camera_urls, strict=True):
        d.ctl("camera", "add", camera, "--url", url).check()
        d.ctl("publish", camera).check()
    for camera in cameras:
        d.wait_status(camera, "publishing")
    took = {}
    for dark_s in (45.0, 16.0):
        took[dark_s] = outage(site, d, cameras, dark_s)
    assert all(t <= BACK_WITHIN_S for t in took.values()), took
    # Never two publishers for one path at the centre, never two FFmpegs for one camera.
    sessions = site.at_centre(MediaMTXApi.rtsp_sessions)
    publishing = [s["path"] for s in sessions if s.get("state") == "publish"]
    assert sorted(publishing) == sorted(f"camera_{c}" for c in cameras), sessions
    assert len(ffmpegs_of(d)) == CAMERAS
    # Each outage cost each camera exactly one interruption, blamed on the link.
    for camera in cameras:
        errors = [c.get("error_kind") for c in changes(d)
                  if c["camera_id"] == camera and c["status"] == "reconnecting"]  # fmt: skip
        assert errors == ["mediamtx_unreachable"] * 2, errors
        status = d.status(camera)
        assert (status["restarts"], status["error_count"]) == (2, 2), status
