"""The Debian package, built once per test session by the same script as `make deb`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_DEB = ROOT / "packaging" / "build-deb.sh"


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built into a temporary directory, not dist/, so that a test run never replaces a
    package someone built to ship; once per session, as every check reads the same file."""
    out = tmp_path_factory.mktemp("deb")
    result = subprocess.run(
        ["bash", str(BUILD_DEB), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"build-deb.sh failed:\n{result.stderr}"
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.parent == out and path.is_file(), result.stdout
    return path
