"""Fixtures with real parts: MediaMTX servers, simulated cameras, FFmpeg.

Every process is owned by a `ProcessRegistry` that stops it at teardown, whatever the test
did; and every child carries a parent-death signal, so even a killed test runner leaves
nothing behind. When a test fails, the tail of every log of that test is attached to the
report.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.cameras import CameraFarm, Feed
from tests.harness.media import ClipLibrary
from tests.harness.mediamtx import Central, central
from tests.harness.procs import ProcessRegistry, ours_or_orphaned, pids_of
from tests.harness.tools import Tools, find_tools
from tests.harness.waiting import WaitTimeout, wait_until


@pytest.fixture(scope="session")
def tools() -> Tools:
    return find_tools()


@pytest.fixture(scope="session")
def clips(tools: Tools) -> ClipLibrary:
    library = ClipLibrary(tools)
    library.ensure()
    return library


@pytest.fixture(scope="session")
def session_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessRegistry]:
    with ProcessRegistry(tmp_path_factory.mktemp("session-logs")) as registry:
        yield registry


@pytest.fixture(scope="session")
def feed(
    session_registry: ProcessRegistry,
    tools: Tools,
    clips: ClipLibrary,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Feed]:
    feed = Feed(session_registry, tools, tmp_path_factory.mktemp("feed"), clips)
    yield feed
    feed.stop()


_WATCHED = ("ffmpeg", "ffprobe", "mediamtx", "ucvd")


@pytest.fixture(autouse=True)
def no_leaked_processes(session_registry: ProcessRegistry) -> Iterator[None]:
    """Fail a test that leaves an FFmpeg, MediaMTX or ucvd process behind.

    Looks at /proc, not at what the harness remembers, so it also catches children that
    something else (ucvd, a relay) started, orphans whose parent died, and a child still on
    its way through `setpriv` to one of those programs. Set up first, torn down last: it
    runs after every other fixture has cleaned up. Processes of session-wide fixtures, and
    other programs' processes, are exempt.
    """
    before = {name: pids_of(name, becoming=True) for name in _WATCHED}
    yield
    session = {p.pid for p in session_registry.live()}
    me = os.getpid()

    def leftovers() -> dict[str, set[int]]:
        found = {
            name: {
                pid
                for pid in pids_of(name, becoming=True) - before[name] - session
                if ours_or_orphaned(pid, me)
            }
            for name in _WATCHED
        }
        return {name: pids for name, pids in found.items() if pids}

    try:
        wait_until(lambda: not leftovers(), timeout=5, what="test processes to exit")
    except WaitTimeout:
        left = leftovers()
        for pids in left.values():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        pytest.fail(f"processes left behind by this test: {left}")


@pytest.fixture
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProcessRegistry]:
    with ProcessRegistry(tmp_path / "logs") as registry:
        request.node.ucvd_registry = registry
        yield registry


@pytest.fixture
def cameras(
    registry: ProcessRegistry, tools: Tools, feed: Feed, tmp_path: Path
) -> Iterator[CameraFarm]:
    farm = CameraFarm(registry, tools, tmp_path / "cameras", feed)
    yield farm
    farm.close()


@pytest.fixture
def make_central(registry: ProcessRegistry, tools: Tools, tmp_path: Path) -> Callable[..., Central]:
    """Start a central MediaMTX with overrides, e.g. `make_central(path_defaults={...})`."""
    counter = 0

    def make(**overrides: Any) -> Central:
        nonlocal counter
        counter += 1
        server = central(
            registry, tools, tmp_path / "central", name=f"central-{counter}", **overrides
        )
        server.server.start()
        return server

    return make


@pytest.fixture
def mediamtx(make_central: Callable[..., Central]) -> Central:
    """The central MediaMTX with default settings."""
    return make_central()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    registry: ProcessRegistry | None = getattr(item, "ucvd_registry", None)
    if report.failed and registry is not None:
        for log in sorted(registry.log_dir.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-25:]
            report.sections.append((f"log {log.name}", "\n".join(text)))
    return report
