"""promtool, Prometheus's checker, from Debian's `prometheus` package (`make deps`): it
checks and unit-tests the alert rules the package ships (packaging/prometheus/)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def promtool(*args: str | Path) -> str:
    """Run promtool; its output, or the test fails with it. Missing, the test fails too
    (not skips): CI must not pass without having checked the rules."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: run `make deps` (it installs Debian's prometheus package)")
    done = subprocess.run(
        [found, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"promtool {' '.join(map(str, args))} failed:\n{output}"
    return output
