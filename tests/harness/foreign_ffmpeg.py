"""FFmpeg of another Debian release, runnable on this machine: Debian 13's FFmpeg 7.1 on a
Debian 12 host, so that the relay's tests can run against the FFmpeg operators there have.

    python -m tests.harness.foreign_ffmpeg [SUITE]   # prints the directory of the wrappers

The FFmpeg is Debian's own build, in a root bootstrapped from the mirror apt already uses
(`tests.debroot`), unpacked once into the cache. Two wrapper scripts, `ffmpeg` and
`ffprobe`, run it chrooted into that root: ucvd finds `ffprobe` next to the `ffmpeg` it is
configured with, so pointing `daemon.ffmpeg` (or `UCVD_TEST_FFMPEG`) at the wrapper brings
both. The relay needs no file of the host: it reads `rtsp://` URLs and writes to pipes,
which pass through chroot unchanged, as do the process id (the wrappers `exec`), the
environment (the relay's tag) and the parent-death signal. chroot needs root, as the
tests run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.debroot import bootstrapped, remove_tree, unpack
from tests.harness.errors import HarnessError
from tests.harness.tools import cache_dir
from tests.vm.image import template_root_packages

DEFAULT_SUITE = "trixie"
PROGRAMS = ("ffmpeg", "ffprobe")
# Character devices a program may open: FFmpeg reads /dev/urandom for its random seeds
# (RTSP session ids, auth nonces) when getrandom() is not used.
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9)}
# Files that name resolution reads; copied from the host so that "localhost" resolves the
# same way inside as outside.
HOST_FILES = ("etc/hosts", "etc/nsswitch.conf")


def _chroot() -> str:
    found = shutil.which("chroot") or shutil.which("chroot", path="/usr/sbin:/sbin")
    if found is None:
        raise HarnessError("chroot (coreutils) not found")
    return found


def _make_devices(root: Path) -> None:
    dev = root / "dev"
    dev.mkdir(exist_ok=True)
    for name, (major, minor) in DEVICES.items():
        node = dev / name
        if node.is_char_device():
            continue
        node.unlink(missing_ok=True)
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        node.chmod(0o666)  # mknod applies the umask


def _wrapper(root: Path, program: str) -> str:
    return (
        "#!/bin/sh\n"
        f"# Debian's {program}, run inside its root (tests/harness/foreign_ffmpeg.py)\n"
        f'exec {_chroot()} {root} /usr/bin/{program} "$@"\n'
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def version_of(ffmpeg: Path | str) -> str:
    """The first line of `ffmpeg -version`, e.g. "ffmpeg version 7.1.5-0+deb13u1 ..."."""
    done = subprocess.run(
        [str(ffmpeg), "-hide_banner", "-version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.startswith("ffmpeg version"):
        raise HarnessError(f"{ffmpeg} does not run: {done.stderr.strip()[-500:]}")
    return done.stdout.splitlines()[0]


def wrapper_dir(suite: str = DEFAULT_SUITE) -> Path:
    """A directory holding `ffmpeg` and `ffprobe` that run `suite`'s FFmpeg. The first call
    bootstraps and unpacks the root (minutes); later ones check it and return (ms)."""
    # The boot test's root (FFmpeg among the package's dependencies): one bootstrap serves both.
    tarball = bootstrapped(suite, include=template_root_packages())
    base = cache_dir() / "ffmpeg" / tarball.stem
    bin_dir = base / "bin"
    with _locked(cache_dir() / "ffmpeg" / f"{tarball.stem}.lock"):
        done = base / "unpacked"
        if not done.is_file():
            remove_tree(base)
            unpack(tarball, base / "root")
            done.touch()
        root = base / "root"
        _make_devices(root)
        for name in HOST_FILES:
            source = Path("/") / name
            if source.is_file():
                shutil.copyfile(source, root / name)
        bin_dir.mkdir(exist_ok=True)
        for program in PROGRAMS:
            wrapper = bin_dir / program
            text = _wrapper(root, program)
            if not wrapper.is_file() or wrapper.read_text() != text:
                partial = wrapper.with_suffix(".partial")
                partial.write_text(text)
                partial.chmod(0o755)
                partial.rename(wrapper)
    return bin_dir


def main(argv: list[str]) -> int:
    suite = argv[0] if argv else DEFAULT_SUITE
    try:
        found = wrapper_dir(suite)
        version = version_of(found / "ffmpeg")
    except (HarnessError, OSError, subprocess.SubprocessError) as exc:
        print(f"foreign_ffmpeg: {exc}", file=sys.stderr)
        return 1
    print(f"{suite}: {version}", file=sys.stderr)
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
