"""Journald records and ucvctl's human output: pure functions, checked on real shapes."""

from __future__ import annotations

import struct

import msgspec
import pytest

from ucvctl import render
from ucvd.api import protocol as p
from ucvd.domain.model import InvalidName, slug
from ucvd.host.logs import journal_message


def parse_journal(data: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    while data:
        line, _sep, rest = data.partition(b"\n")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            data = rest
        else:
            (size,) = struct.unpack("<Q", rest[:8])
            fields[line.decode()] = rest[8 : 8 + size].decode()
            data = rest[8 + size + 1 :]
    return fields


def test_journal_record_fields_and_binary_safe_values() -> None:
    record = journal_message(
        {
            "event": "publication gave up",
            "level": "error",
            "camera_id": "cam-1",
            "error_kind": "auth_failed",
            "reason": "line one\nline two",
            "timestamp": "x",
        }
    )
    fields = parse_journal(record)
    assert fields["PRIORITY"] == "3" and fields["SYSLOG_IDENTIFIER"] == "ucvd"
    assert fields["CAMERA_ID"] == "cam-1" and fields["ERROR_KIND"] == "auth_failed"
    assert fields["EVENT"] == "publication gave up"
    assert fields["REASON"] == "line one\nline two"
    assert "TIMESTAMP" not in fields


def test_journal_field_names_follow_journald_rules_and_never_override() -> None:
    record = {"event": "e", "level": "info", "priority": "x", "2nd": 1, "_trusted": "t", "é": "u"}
    fields = parse_journal(journal_message(record))
    assert fields["PRIORITY"] == "6" and fields["UCVD_PRIORITY"] == "x"
    assert fields["F_2ND"] == "1" and fields["TRUSTED"] == "t" and fields["F_"] == "u"
    assert all(k[0].isalpha() and k.replace("_", "").isalnum() for k in fields)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0s"), (59.9, "59s"), (192, "3m12s"), (3600, "1h00m"), (90061, "1d01h")],
)
def test_durations(seconds: float | None, text: str) -> None:
    assert render.duration(seconds) == text


def test_tables_align_columns() -> None:
    out = render.table(["A", "LONGER"], [["xx", "1"], ["y", "22"]]).splitlines()
    assert out == ["A   LONGER", "xx  1", "y   22"]


@pytest.mark.parametrize("bad", ["", "-x", ".x", "a/b", "a..b", "x" * 64, "caf\u00e9", "a b"])
def test_slugs_refuse_unsafe_names(bad: str) -> None:
    with pytest.raises(InvalidName):
        slug(bad)


def test_slugs_fold_case() -> None:
    assert slug("Cam-01.Lobby_2") == "cam-01.lobby_2"


@pytest.mark.parametrize("method", sorted(p.PARAMS))
def test_every_method_refuses_unknown_fields(method: str) -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"zzz_typo": 1}', type=p.PARAMS[method])


def test_status_says_the_quality_and_why() -> None:
    flapping = p.PublicationStatus(
        camera_id="gate", status="publishing", desired="publishing", publish_path="camera_gate",
        target="central", uptime_seconds=12.0, error_count=4, restarts=4, last_error=None,
        metrics=None, pid=7, retry_in_seconds=None, quality="poor", reconnects_last_hour=4,
        stalls_last_hour=1,
    )  # fmt: skip
    table = render.status_table(p.StatusList(total=1, active=1, items=[flapping]))
    head, row = table.splitlines()[:2]
    assert row.split()[:3] == ["gate", "publishing", "poor"] and "QUALITY" in head
    assert "quality:  poor (4 reconnects, 1 stalls in the last hour)" in render.status_detail(
        flapping
    )


@pytest.mark.parametrize(
    ("status", "frames", "progress", "waiting"),
    [
        ("publishing", 0, 0.4, True),
        ("publishing", 1, 0.4, False),
        ("starting", 0, 0.4, False),
        ("publishing", 0, None, False),  # no progress block read yet: nothing is known
    ],
)
def test_status_says_when_the_central_has_no_picture_yet(
    status: str, frames: int, progress: float | None, waiting: bool
) -> None:
    metrics = p.Metrics(
        fps=None, frames=frames, speed=None, bitrate_kbps=None, bytes=0, tracks=["H264"],
        readers=0, since_progress_seconds=progress,
    )  # fmt: skip
    s = p.PublicationStatus(
        camera_id="gate", status=status, desired="publishing", publish_path="camera_gate",
        target="central", uptime_seconds=0.3, error_count=0, restarts=0, last_error=None,
        metrics=metrics, pid=7, retry_in_seconds=None, quality="good", reconnects_last_hour=0,
        stalls_last_hour=0,
    )  # fmt: skip
    found = [
        value.strip() for key, _, value in
        (ln.partition(":") for ln in render.status_detail(s).splitlines()) if key == "picture"
    ]  # fmt: skip
    assert found == (["none yet: waiting for the camera's first keyframe"] if waiting else [])


@pytest.mark.parametrize("late", [True, False])
def test_status_says_when_the_camera_is_probed_up_to_its_keyframe(late: bool) -> None:
    s = p.PublicationStatus(
        camera_id="gate", status="publishing", desired="publishing", publish_path="camera_gate",
        target="central", uptime_seconds=3.0, error_count=1, restarts=1, last_error=None,
        metrics=None, pid=7, retry_in_seconds=None, quality="fair", reconnects_last_hour=1,
        stalls_last_hour=0, probe_to_keyframe=late,
    )  # fmt: skip
    found = [
        value.strip() for key, _, value in
        (ln.partition(":") for ln in render.status_detail(s).splitlines()) if key == "probe"
    ]  # fmt: skip
    assert len(found) == (1 if late else 0)
    assert all(v.startswith("up to the keyframe (MediaMTX dropped an attempt") for v in found)


def central(player_url: str | None) -> p.TargetView:
    return p.TargetView(
        name="central", rtsp_url="rtsp://mtx:8554", api_url=None, api_enabled=False,
        username=None, has_password=False, api_username=None, has_api_password=False,
        max_reconnects=0, reconnect_delay=1.0, path_template="site1/{camera_id}", active=True,
        player_url=player_url,
    )  # fmt: skip


def test_target_detail_shows_the_player_url_and_a_camera_page() -> None:
    lines = render.target_detail(central("http://mtx:8889/")).splitlines()
    assert lines[-1].split(None, 2)[2] == (
        "http://mtx:8889/ (a camera's page: http://mtx:8889/site1/{camera_id}/)"
    )
    assert render.target_detail(central(None)).splitlines()[-1].split() == ["player", "url:", "-"]
