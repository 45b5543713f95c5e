"""The package installed as an operator installs it, into a throw-away Debian 12: apt
brings FFmpeg and the rest from Debian's mirror, the maintainer scripts run for real
(sysusers, byte-compiling, enabling the unit) in a chroot where systemd does not run,
and a reinstall, a remove and a purge each leave what they should.

Slow: the first run bootstraps Debian (debootstrap, ~1 min) and downloads FFmpeg's
dependencies; both are cached in ~/.cache/ucvd/debian/ for the next runs. The default run
deselects slow tests (pyproject's addopts); run it with `pytest -m slow tests/packaging`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.conftest import ROOT
from ucvd.version import __version__

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
CACHE = Path.home() / ".cache" / "ucvd" / "debian"
BOOTSTRAPPED = CACHE / f"{SUITE}-minbase.tar"  # the bootstrapped tree, to unpack per run
ARCHIVES = CACHE / f"{SUITE}-archives"  # apt's downloaded .debs, bind-mounted into each
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: debootstrap, chroot, mount"),
    pytest.mark.timeout(1800),
]


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below `root`, deepest first (mountinfo's 5th field, octal-escaped)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].encode().decode("unicode_escape"))
        if point == root or root in point.parents:
            points.append(point)
    return sorted(points, key=lambda p: len(p.parts), reverse=True)


def unmount_all(root: Path) -> None:
    for point in mounts_under(root):
        if subprocess.run(["umount", point], check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", point], check=False)
    left = mounts_under(root)
    assert not left, f"still mounted, not deleting {root}: {left}"


def remove_tree(root: Path) -> None:
    """Only once nothing is mounted below it: rmtree would descend into /proc or the cache."""
    unmount_all(root)
    shutil.rmtree(root, ignore_errors=True)


def debootstrap() -> str:
    found = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin")
    if found:
        return found
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "debootstrap"]):
        done = subprocess.run(
            argv, capture_output=True, text=True, check=False, env=os.environ | CHROOT_ENV
        )
        assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout[-2000:]}{done.stderr}"
    return "/usr/sbin/debootstrap"


def bootstrapped() -> Path:
    """A minimal Debian, bootstrapped once and kept as a tarball (unpacking it takes
    seconds); its downloaded .debs are dropped, apt lists are refreshed at each use."""
    if BOOTSTRAPPED.is_file():
        return BOOTSTRAPPED
    CACHE.mkdir(parents=True, exist_ok=True)
    tree = CACHE / f"{SUITE}-minbase.tmp"
    if tree.exists():
        remove_tree(tree)
    try:
        done = subprocess.run(
            [debootstrap(), "--variant=minbase", SUITE, tree, MIRROR],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        assert done.returncode == 0, f"debootstrap failed:\n{done.stdout[-3000:]}{done.stderr}"
        for leftover in (tree / "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        partial = BOOTSTRAPPED.with_suffix(".partial")
        subprocess.run(["tar", "-C", tree, "--numeric-owner", "-cf", partial, "."], check=True)
        partial.rename(BOOTSTRAPPED)
    finally:
        remove_tree(tree)
    return BOOTSTRAPPED


@pytest.fixture
def debian(tmp_path: Path) -> Iterator[Path]:
    """A fresh root from the cached tarball, with /proc and the cached archives mounted,
    unmounted and deleted afterwards whatever happened (it is some 600 MB by then)."""
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["tar", "-C", root, "--numeric-owner", "-xpf", bootstrapped()], check=True)
    # Nothing may start a service in here (maintainer scripts honour policy-rc.d).
    (root / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    (root / "usr/sbin/policy-rc.d").chmod(0o755)
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    ARCHIVES.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["mount", "-t", "proc", "proc", root / "proc"], check=True)
        subprocess.run(["mount", "--bind", ARCHIVES, root / "var/cache/apt/archives"], check=True)
        yield root
    finally:
        remove_tree(root)


def inside(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["chroot", str(root), *argv],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=CHROOT_ENV,
    )
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout[-3000:]}{result.stderr}"
    return result


def test_install_reinstall_remove_purge(deb: Path, debian: Path) -> None:
    root = debian
    shutil.copy(deb, root / "tmp" / deb.name)
    package = f"/tmp/{deb.name}"
    inside(root, "apt-get", "update", "-q")
    inside(root, "apt-get", "install", "-y", "-q", "--no-install-recommends", package)

    # The programs, on PATH, with the Python, FFmpeg and setpriv that apt brought.
    assert inside(root, "ucvd", "--version").stdout.strip() == f"ucvd {__version__}"
    assert inside(root, "ucvctl", "--help").stdout.startswith("usage: ucvctl")
    assert inside(root, "sh", "-c", "command -v ucvd; command -v ucvctl").stdout.split() == [
        "/usr/bin/ucvd",
        "/usr/bin/ucvctl",
    ]
    inside(root, "ffmpeg", "-hide_banner", "-version")
    inside(root, "setpriv", "--version")

    # The accounts, made by postinst's systemd-sysusers from the package's sysusers file.
    user = inside(root, "getent", "passwd", "ucvd").stdout.strip().split(":")
    assert user[5:] == ["/var/lib/ucvd", "/usr/sbin/nologin"]
    assert int(user[2]) < 1000  # a system user
    operators = inside(root, "getent", "group", "ucvd-operators").stdout.strip().split(":")
    assert "ucvd" in operators[3].split(",")

    # The conffile, and what the rest of postinst did without a running systemd.
    config = root / "etc/ucvd/ucvd.toml"
    assert config.read_bytes() == (ROOT / "packaging" / "ucvd.toml").read_bytes()
    conffiles = inside(root, "dpkg-query", "-W", "-f=${Conffiles}", "ucvd").stdout
    assert "/etc/ucvd/ucvd.toml" in conffiles
    assert (root / "etc/systemd/system/multi-user.target.wants/ucvd.service").is_symlink()
    lib = root / "usr/lib/ucvd/python"
    assert list((lib / "ucvd" / "__pycache__").glob("cli.cpython-311.pyc"))

    # An operator's edit survives a reinstall (dpkg runs prerm upgrade, postinst configure
    # with the old version: the restart path).
    config.write_text(config.read_text() + "\n# edited by the operator\n")
    inside(root, "dpkg", "-i", "--force-confold", package)
    assert config.read_text().endswith("# edited by the operator\n")
    assert inside(root, "ucvd", "--version").stdout.strip() == f"ucvd {__version__}"

    # Remove keeps the config and the state; prerm took the byte-code, so nothing is left
    # of the library.
    state = root / "var/lib/ucvd"
    state.mkdir(exist_ok=True)
    (state / "ucvd.db").write_text("the cameras")
    inside(root, "apt-get", "remove", "-y", "-q", "ucvd")
    assert not (root / "usr/lib/ucvd").exists() and not (root / "usr/bin/ucvd").exists()
    assert config.exists() and (state / "ucvd.db").exists()

    # Purge takes the config and the state; the accounts stay, as Debian's do.
    inside(root, "apt-get", "purge", "-y", "-q", "ucvd")
    assert not (root / "etc/ucvd").exists() and not state.exists()
    inside(root, "getent", "passwd", "ucvd")
