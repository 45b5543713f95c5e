"""`ucvctl health` and `ucvctl info` warn while other accounts can read FFmpeg's command
line, and stop warning once /proc hides it: the real daemon reading its real mountinfo.

The hidden case runs the daemon in a mount namespace of its own whose /proc is a fresh
procfs mounted with hidepid=invisible, as the host hardening in README's Security section
makes it (and as the unit's ProtectProc= makes the daemon's own view: then ucvctl, in the
host's view, adds the warning itself); the stacked case mounts such a procfs over the
plain one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.harness.daemon import Ucvd
from tests.harness.procs import ProcessRegistry
from ucvd.host.exposure import WARNING, argv_exposed

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts /proc in a namespace")


def in_namespace(script: str) -> list[str]:
    return ["unshare", "--mount", "--propagation", "private", "bash", "-c",
            f'{script} && exec "$@"', "bash"]  # fmt: skip


HIDDEN = in_namespace("umount -l /proc && mount -t proc -o hidepid=invisible proc /proc")
STACKED = in_namespace("mount -t proc -o hidepid=invisible proc /proc")


def skip_unless_this_host_shows_argv() -> None:
    if not argv_exposed(Path("/proc/self/mountinfo").read_text()):
        pytest.skip("this host hides other users' processes already")


def test_this_host_shows_argv_so_health_and_info_warn(
    registry: ProcessRegistry, tmp_path: Path
) -> None:
    skip_unless_this_host_shows_argv()
    daemon = Ucvd(registry, tmp_path / "d").start()
    health = daemon.ctl("health")
    assert health.code == 0, health.stderr  # a warning is not a dark camera
    assert f"warning: {WARNING}" in health.stdout.splitlines()
    assert WARNING in daemon.ctl_json("info")["warnings"]
    info = daemon.ctl("info").stdout.splitlines()
    assert [line.split(None, 1) for line in info if line.startswith("warning")] == [
        ["warning:", WARNING]
    ]


@needs_root
@pytest.mark.parametrize(("prefix", "warned"), [(HIDDEN, False), (STACKED, True)])
def test_the_verdict_follows_the_proc_the_daemon_stands_on(
    registry: ProcessRegistry, tmp_path: Path, prefix: list[str], warned: bool
) -> None:
    daemon = Ucvd(registry, tmp_path / "d", prefix=prefix).start()
    # ucvctl from a hiding /proc of its own: what it prints is the daemon's verdict alone.
    health = daemon.ctl("--json", "health", prefix=HIDDEN).check().json()
    assert (WARNING in health["warnings"]) is warned
    assert (WARNING in daemon.ctl("health", prefix=HIDDEN).stdout) is warned


@needs_root
def test_ucvctl_adds_what_it_sees_when_the_daemon_cannot_see_the_host(
    registry: ProcessRegistry, tmp_path: Path
) -> None:
    """The unit's case: the daemon's /proc hides everything, the host's does not."""
    skip_unless_this_host_shows_argv()
    daemon = Ucvd(registry, tmp_path / "d", prefix=HIDDEN).start()
    health = daemon.ctl("health")
    assert health.code == 0 and f"warning: {WARNING}" in health.stdout.splitlines()
    assert daemon.ctl_json("health")["warnings"] == [WARNING]
    assert daemon.ctl_json("info")["warnings"] == [WARNING]
    # In ucvctl's own namespace with a hiding /proc, nobody warns.
    quiet = daemon.ctl("health", prefix=HIDDEN)
    assert quiet.code == 0 and "warning" not in quiet.stdout
