"""Everything a benchmark or the demo needs at once, torn down as one.

Tests get the same parts from fixtures (tests/conftest.py); scripts get them here.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.cameras import CameraFarm, Feed
from tests.harness.media import ClipLibrary
from tests.harness.mediamtx import Central, central
from tests.harness.procs import ProcessRegistry
from tests.harness.tools import Tools, find_tools


@dataclass
class Lab:
    tools: Tools
    registry: ProcessRegistry
    workdir: Path
    feed: Feed
    cameras: CameraFarm

    def central(self, name: str = "central", **overrides: Any) -> Central:
        """A started central MediaMTX (see `tests.harness.mediamtx.central` for overrides)."""
        server = central(self.registry, self.tools, self.workdir / name, name=name, **overrides)
        server.server.start()
        return server


@contextlib.contextmanager
def lab(prefix: str = "ucvd-lab-", workdir: Path | None = None) -> Iterator[Lab]:
    """Tools found, clips cached, and a registry that stops every process on the way out.

    With `workdir` given, logs stay there afterwards (the demo keeps them on failure);
    otherwise a temporary directory is used and removed.
    """
    tools = find_tools()
    clips = ClipLibrary(tools)
    clips.ensure()
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        registry = stack.enter_context(ProcessRegistry(workdir / "logs"))
        feed = Feed(registry, tools, workdir / "feed", clips)
        farm = CameraFarm(registry, tools, workdir / "cameras", feed)
        stack.callback(feed.stop)
        stack.callback(farm.close)
        yield Lab(tools=tools, registry=registry, workdir=workdir, feed=feed, cameras=farm)
