"""ucvd-web end to end: a real Prometheus (Debian's package) scrapes a real ucvd-web, which
asks a real ucvd relaying simulated cameras to a real central MediaMTX; `promtool check
metrics` lints what it serves."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.cameras import CameraFarm
from tests.harness.daemon import Ucvd, add_camera, add_target, program, secrets_of_lab
from tests.harness.mediamtx import Central
from tests.harness.ports import free_port, port_open
from tests.harness.procs import ProcessRegistry
from tests.harness.waiting import wait_until
from ucvdweb.exposition import ERROR_KINDS

TOKEN = "test-token-0123456789abcdef"  # a scraper's token, not a camera's secret
CAMERAS = ("cam-1", "cam-2", "cam-3")


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: `make deps` installs Debian's prometheus package")
    return path


@dataclass
class Web:
    url: str
    token: str

    def get(self, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.get(f"{self.url}/metrics", headers=headers, timeout=15, trust_env=False)

    def metrics(self) -> str:
        response = self.get(self.token)
        response.raise_for_status()
        return response.text


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in an exposition, by name and a subset of its labels."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        have = dict(part.split("=", 1) for part in label_text.rstrip("}").split(",") if "=" in part)
        if all(have.get(k) == f'"{v}"' for k, v in labels.items()):
            return float(value)
    return None


@dataclass
class Prometheus:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.url}/api/v1/query", params={"query": expr}, timeout=10, trust_env=False
        )
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, expr: str, expected: float, timeout: float = 30.0) -> None:
        seen: list[float | None] = [None]

        def reached() -> bool:
            seen[0] = self.value(expr)
            return seen[0] == expected

        wait_until(
            reached,
            timeout=timeout,
            interval=0.5,
            what=lambda: f"{expr} == {expected} (is {seen[0]})",
        )


@pytest.fixture
def site(
    registry: ProcessRegistry, tmp_path: Path, mediamtx: Central, cameras: CameraFarm
) -> Iterator[tuple[Ucvd, Web, list[str]]]:
    d = Ucvd(registry, tmp_path / "ucvd").start()
    add_target(d, mediamtx).check()
    sims = [cameras.add(cid) for cid in CAMERAS]
    for sim, cid in zip(sims, CAMERAS, strict=True):
        add_camera(d, sim, cid).check()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    port = free_port()
    registry.spawn(
        "ucvd-web",
        [program("ucvd-web"), "--listen", f"127.0.0.1:{port}", "--socket", str(d.socket),
         "--token-file", str(token_file)],
    )  # fmt: skip
    wait_until(lambda: port_open(port), timeout=15, what="ucvd-web to listen")
    yield d, Web(f"http://127.0.0.1:{port}", TOKEN), secrets_of_lab(mediamtx, sims)


def start_prometheus(registry: ProcessRegistry, workdir: Path, web: Web) -> Prometheus:
    workdir.mkdir(parents=True)
    (workdir / "token").write_text(web.token)
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: ucvd\n"
        "    authorization:\n"
        f"      credentials_file: {workdir / 'token'}\n"
        "    static_configs:\n"
        f"      - targets: ['{web.url.removeprefix('http://')}']\n"
    )
    check = subprocess.run(
        [need("promtool"), "check", "config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    registry.spawn(
        "prometheus",
        [need("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
    )  # fmt: skip
    prom = Prometheus(f"http://127.0.0.1:{port}")
    wait_until(lambda: port_open(port), timeout=30, what="Prometheus to listen")
    prom.wait_value('up{job="ucvd"}', 1.0)
    return prom


def test_metrics_need_the_token_and_pass_promtool_and_carry_no_secret(
    site: tuple[Ucvd, Web, list[str]],
) -> None:
    d, web, secrets = site
    d.ctl("publish", "cam-1").check()
    d.wait_status("cam-1", "publishing")
    assert web.get().status_code == 401
    assert web.get("wrong-token-0123456789").status_code == 401
    assert web.get().headers["www-authenticate"].startswith("Bearer")

    # What is live settles a moment after `publishing`: the first API round trip, the
    # first frame rate and data rate. Wait for the scrape that shows it all, so that
    # promtool lints every series a live camera has.
    def settled() -> str | None:
        text = web.metrics()
        live = (
            sample(text, "ucvd_camera_up", camera="cam-1") == 1.0
            and sample(text, "ucvd_target_api_latency_seconds", target="central") is not None
            and (sample(text, "ucvd_camera_fps", camera="cam-1") or 0) > 0
            and (sample(text, "ucvd_camera_bytes_per_second", camera="cam-1") or 0) > 0
        )
        return text if live else None

    text = wait_until(settled, timeout=30, what="a scrape showing cam-1 live")
    lint = subprocess.run(
        [need("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert sample(text, "ucvd_up") == 1.0
    assert sample(text, "ucvd_camera_up", camera="cam-2") == 0.0
    assert sample(text, "ucvd_camera_status", camera="cam-1", status="publishing") == 1.0
    assert sample(text, "ucvd_camera_status", camera="cam-1", status="stopped") == 0.0
    # Publishing: rated good, or lower if this busy machine made it reconnect already.
    ratings = {
        q: sample(text, "ucvd_camera_quality", camera="cam-1", quality=q)
        for q in ("good", "fair", "poor", "down", "off")
    }
    values = [v for v in ratings.values() if v is not None]
    assert sorted(values) == [0.0, 0.0, 0.0, 0.0, 1.0], ratings  # one rating, all five said
    assert ratings["down"] == ratings["off"] == 0.0
    assert sample(text, "ucvd_camera_quality", camera="cam-2", quality="off") == 1.0
    assert sample(text, "ucvd_cameras", status="publishing") == 1.0
    assert sample(text, "ucvd_cameras", status="stopped") == 2.0
    assert sample(text, "ucvd_target_active", target="central") == 1.0
    assert sample(text, "ucvd_target_reachable", target="central") == 1.0
    latency = sample(text, "ucvd_target_api_latency_seconds", target="central")
    assert latency is not None and 0 < latency < 5
    assert 'path="camera_cam-1"' in text
    for secret in secrets:
        assert secret not in text


def test_prometheus_counts_the_cameras_up_as_they_stop_and_start_and_restarts_survive(
    site: tuple[Ucvd, Web, list[str]], registry: ProcessRegistry, tmp_path: Path
) -> None:
    d, web, _ = site
    prom = start_prometheus(registry, tmp_path / "prometheus", web)
    prom.wait_value("sum(ucvd_camera_up)", 0.0)
    for cid in CAMERAS:
        d.ctl("publish", cid).check()
    prom.wait_value("sum(ucvd_camera_up)", 3.0)
    d.ctl("stop", "cam-2").check()
    prom.wait_value("sum(ucvd_camera_up)", 2.0)
    prom.wait_value('ucvd_camera_quality{camera="cam-2",quality="off"}', 1.0)
    d.ctl("publish", "cam-2").check()
    prom.wait_value("sum(ucvd_camera_up)", 3.0)

    # An FFmpeg killed: counted as an error and a restart, and rated below good.
    pid = d.status("cam-3")["pid"]
    os.kill(pid, signal.SIGKILL)
    prom.wait_value('ucvd_camera_restarts_total{camera="cam-3"} >= bool 1', 1.0)
    prom.wait_value('sum(ucvd_camera_errors_total{camera="cam-3"}) >= bool 1', 1.0)
    prom.wait_value("sum(ucvd_camera_up)", 3.0)
    prom.wait_value('sum(ucvd_camera_quality{camera="cam-3",quality=~"fair|poor"})', 1.0)
    before = web.metrics()
    restarts = sample(before, "ucvd_camera_restarts_total", camera="cam-3")
    errors = sum(
        sample(before, "ucvd_camera_errors_total", camera="cam-3", kind=k) or 0 for k in ERROR_KINDS
    )

    # The daemon restarts: its lifetime counters do not (a scrape meanwhile says ucvd_up 0).
    code, _ = d.terminate()
    assert code == 0
    prom.wait_value("ucvd_up", 0.0)
    assert sample(web.metrics(), "ucvd_camera_up", camera="cam-3") is None  # nothing stale
    d.start()
    prom.wait_value("ucvd_up", 1.0)
    prom.wait_value("sum(ucvd_camera_up)", 3.0)
    text = web.metrics()
    # Counted before the restart, and not reset by it (a retry since may only add).
    assert restarts is not None and restarts >= 1
    after = sample(text, "ucvd_camera_restarts_total", camera="cam-3")
    assert after is not None and after >= restarts, text
    errors_after = sum(
        sample(text, "ucvd_camera_errors_total", camera="cam-3", kind=k) or 0 for k in ERROR_KINDS
    )
    assert errors >= 1 and errors_after >= errors, text
