"""Fixtures shared by the integration tests that start daemons of their own."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.daemon import Ucvd
from tests.harness.procs import ProcessRegistry


@pytest.fixture
def make_ucvd(registry: ProcessRegistry, tmp_path: Path) -> Callable[..., Ucvd]:
    """Daemons in their own work directories, not started (`.start()`)."""
    counter = 0

    def make(workdir: Path | None = None, **kwargs: Any) -> Ucvd:
        nonlocal counter
        counter += 1
        return Ucvd(registry, workdir or tmp_path / f"ucvd-{counter}", **kwargs)

    return make


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory other accounts can traverse (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="ucvd-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
