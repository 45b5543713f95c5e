"""ucvd-web's pure parts: the exposition of a snapshot, and its command line's checks."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest

from tests.harness.waiting import wait_until_async
from ucvd.api import protocol as p
from ucvdweb.app import SharedFetch
from ucvdweb.cli import UsageError, parse_listen, parser, read_token, token_from
from ucvdweb.exposition import render


def status(camera_id: str, state: str, **more: object) -> p.PublicationStatus:
    fields: dict[str, object] = {
        "camera_id": camera_id, "status": state, "desired": "publishing",
        "publish_path": f"camera_{camera_id}", "target": "central", "uptime_seconds": None,
        "error_count": 0, "restarts": 0, "last_error": None, "metrics": None, "pid": None,
        "retry_in_seconds": None,
    }  # fmt: skip
    return p.PublicationStatus(**(fields | more))  # type: ignore[arg-type]


def snapshot(*cameras: p.PublicationStatus, **counters: p.CameraCounters) -> p.MetricsSnapshot:
    return p.MetricsSnapshot(
        version="9.9", ffmpeg_version="5.1.6", started_at=1_800_000_000.0,
        counts=p.Counts(cameras=len(cameras), targets=1, publishing=0, starting=0,
                        reconnecting=0, failed=0, desired_publishing=len(cameras)),
        cameras=list(cameras), counters=counters,
        targets=[p.TargetHealth(name="central", active=True, reachable=False,
                                api_latency_seconds=None)],
    )  # fmt: skip


def lines(text: bytes) -> set[str]:
    return {line for line in text.decode().splitlines() if not line.startswith("#")}


def test_a_daemon_that_does_not_answer_is_said_alone_with_nothing_stale() -> None:
    assert lines(render(None, round_trip_s=None)) == {"ucvd_up 0.0"}


def test_a_waiting_camera_shows_its_retry_its_counters_and_the_dark_target() -> None:
    waiting = status(
        "gate", "reconnecting", retry_in_seconds=4.5, waiting_for_target=False, quality="down",
        reconnects_last_hour=2, stalls_last_hour=1,
    )  # fmt: skip
    counters = p.CameraCounters(restarts=7, errors={"stream_stalled": 3, "auth_failed": 1})
    out = lines(render(snapshot(waiting, gate=counters), round_trip_s=0.002))

    def cam(name: str, value: float, **extra: str) -> str:
        labels = {"camera": "gate", "path": "camera_gate", "target": "central"} | extra
        text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # as exposed: sorted
        return f"{name}{{{text}}} {value}"

    for expected in (
        "ucvd_up 1.0",
        "ucvd_socket_round_trip_seconds 0.002",
        'ucvd_build_info{ffmpeg_version="5.1.6",version="9.9"} 1.0',
        'ucvd_cameras{status="reconnecting"} 1.0',
        'ucvd_cameras{status="publishing"} 0.0',
        'ucvd_target_reachable{target="central"} 0.0',
        cam("ucvd_camera_up", 0.0),
        cam("ucvd_camera_retry_in_seconds", 4.5),
        cam("ucvd_camera_restarts_total", 7.0),
        cam("ucvd_camera_stalls_total", 3.0),
        cam("ucvd_camera_errors_total", 1.0, kind="auth_failed"),
        cam("ucvd_camera_errors_total", 0.0, kind="connection_failed"),
        cam("ucvd_camera_status", 1.0, status="reconnecting"),
        cam("ucvd_camera_status", 0.0, status="publishing"),
        cam("ucvd_camera_quality", 1.0, quality="down"),
        cam("ucvd_camera_reconnects_last_hour", 2.0),
    ):
        assert expected in out
    # Not running: no fps, bitrate or readers series rather than zeros that look measured.
    assert not any(line.startswith(("ucvd_camera_fps", "ucvd_camera_readers")) for line in out)
    assert not any(line.startswith("ucvd_target_api_latency_seconds") for line in out)


def test_a_running_camera_s_rates_are_in_base_units() -> None:
    metrics = p.Metrics(fps=25.0, frames=500, speed=1.0, bitrate_kbps=800.0, bytes=4096,
                        tracks=["H264"], readers=2, since_progress_seconds=0.5)  # fmt: skip
    out = render(snapshot(status("gate", "publishing", metrics=metrics)), round_trip_s=None)
    text = out.decode()
    labels = 'camera="gate",path="camera_gate",target="central"'
    assert f"ucvd_camera_bytes_per_second{{{labels}}} 100000.0" in text  # 800 kbit/s
    assert f"ucvd_camera_relayed_bytes_total{{{labels}}} 4096.0" in text
    assert f"ucvd_camera_readers{{{labels}}} 2.0" in text
    assert "bits" not in text  # promtool check metrics: base unit bytes
    assert f"ucvd_camera_probe_to_keyframe{{{labels}}} 0.0" in text


def test_a_camera_probed_up_to_its_keyframe_says_so() -> None:
    late = status("gate", "publishing", probe_to_keyframe=True)
    labels = 'camera="gate",path="camera_gate",target="central"'
    text = render(snapshot(late), round_trip_s=None).decode()
    assert f"ucvd_camera_probe_to_keyframe{{{labels}}} 1.0" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:9810", ("127.0.0.1", 9810)),
        ("[::1]:80", ("::1", 80)),
        ("192.0.2.7:1", ("192.0.2.7", 1)),
    ],
)
def test_listen_addresses(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["9810", "host:", ":9810", "h:0", "h:65536", "h:http"])
def test_bad_listen_addresses_are_refused(value: str) -> None:
    with pytest.raises(UsageError, match="expected HOST:PORT"):
        parse_listen(value)


def test_tokens_must_be_long_and_readable(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_text("0123456789abcdef0123\n")
    assert read_token(good) == "0123456789abcdef0123"
    short = tmp_path / "short"
    short.write_text("secret\n")
    with pytest.raises(UsageError, match="at least 16") as refused:
        read_token(short)
    assert "secret" not in str(refused.value)
    with pytest.raises(UsageError, match="cannot read the token file"):
        read_token(tmp_path / "missing")


def test_a_token_credential_under_another_name_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Serving without a token when the admin loaded one under a wrong name would open what
    they meant to close."""
    (tmp_path / "web.token").write_text("0123456789abcdef0123\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    with pytest.raises(UsageError, match="none named 'token'"):
        token_from(parser().parse_args([]))
    (tmp_path / "token").write_text("fedcba9876543210fedc\n")
    assert token_from(parser().parse_args([])) == "fedcba9876543210fedc"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    assert token_from(parser().parse_args([])) is None


@pytest.mark.anyio
async def test_scrapes_at_once_share_one_call_to_the_daemon() -> None:
    calls = 0
    release = threading.Event()

    def fetch() -> p.MetricsSnapshot:
        nonlocal calls
        calls += 1
        release.wait(5)
        return snapshot(status("gate", "publishing"))

    shared = SharedFetch(fetch)
    answers: list[object] = []

    async def scrape() -> None:
        answers.append((await shared())[0])

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(scrape)
        # All five were started before this wait yields, so all have run to their first
        # await by the time the one call is seen: the other four wait on it.
        await wait_until_async(lambda: calls == 1, timeout=5, what="the first call")
        release.set()
    assert calls == 1 and len(answers) == 5 and all(a is answers[0] for a in answers)
    await shared()
    assert calls == 2  # the next scrape, after the answer, asks again
