"""Throw-away Debian roots for the tests that need another Debian than this machine's: the
package's install test, the boot test's VM images, FFmpeg of another release.

The mirror is this machine's own, read from apt's sources at run time (never written into
the repository): the Debian archive that apt already uses, asked for another suite.
Bootstrapped roots are cached as tarballs under ~/.cache/ucvd/debian/, keyed by suite and
package list, so that only the first run of a kind pays for debootstrap.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("UCVD_CACHE_DIR", Path.home() / ".cache" / "ucvd")) / "debian"
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}
APT_SOURCES = Path("/etc/apt")


class DebrootError(RuntimeError):
    pass


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
            continue
        if raw[0] in " \t" and key:
            current[key] += " " + raw.strip()
            continue
        name, _, value = raw.partition(":")
        key = name.strip().lower()
        current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def mirror_candidates(etc_apt: Path = APT_SOURCES) -> list[tuple[str, list[str]]]:
    """(URI, suites) of every `deb` source apt has, deb822 files first, in file order."""
    found: list[tuple[str, list[str]]] = []
    parts = etc_apt / "sources.list.d"
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        for stanza in _deb822_stanzas(path.read_text(errors="replace")):
            if stanza.get("enabled", "yes").lower() == "no":
                continue
            if "deb" not in stanza.get("types", "").split():
                continue
            for uri in stanza.get("uris", "").split():
                found.append((uri, stanza.get("suites", "").split()))
    lists = [etc_apt / "sources.list"]
    lists += sorted(parts.glob("*.list")) if parts.is_dir() else []
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            # Options like [arch=amd64 signed-by=...] may hold spaces: drop them first.
            words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                found.append((words[1], [words[2]]))
    return found


def debian_mirror(etc_apt: Path = APT_SOURCES) -> str:
    """The Debian archive this machine's apt uses: the first source carrying a plain release
    suite (not -security, -updates, -backports). UCVD_DEBIAN_MIRROR overrides it."""
    override = os.environ.get("UCVD_DEBIAN_MIRROR")
    if override:
        return override
    for uri, suites in mirror_candidates(etc_apt):
        if any("-" not in s and "/" not in s for s in suites) and "security" not in uri:
            return uri
    raise DebrootError(
        f"no Debian mirror found in {etc_apt}/sources.list(.d): set UCVD_DEBIAN_MIRROR"
    )


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
    if left:
        raise DebrootError(f"still mounted, not deleting {root}: {left}")


def remove_tree(root: Path) -> None:
    """Only once nothing is mounted below it: rmtree would descend into /proc or the cache."""
    if root.exists():
        unmount_all(root)
        shutil.rmtree(root, ignore_errors=True)


def debootstrap_command() -> str:
    found = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin")
    if found:
        return found
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "debootstrap"]):
        done = subprocess.run(
            argv, capture_output=True, text=True, check=False, env=os.environ | CHROOT_ENV
        )
        if done.returncode != 0:
            raise DebrootError(f"{' '.join(argv)}:\n{done.stdout[-2000:]}{done.stderr}")
    return "/usr/sbin/debootstrap"


def bootstrapped(suite: str, include: tuple[str, ...] = (), variant: str = "minbase") -> Path:
    """A Debian `suite` root with `include` installed, as a cached tarball (unpacking one
    takes seconds). Its downloaded .debs are dropped; apt lists stay as bootstrapped."""
    key = hashlib.sha256(f"{variant} {' '.join(sorted(include))}".encode()).hexdigest()[:12]
    tarball = CACHE / f"{suite}-{variant}-{key}.tar"
    if tarball.is_file():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    tree = CACHE / f"{suite}-{variant}-{key}.tmp"
    remove_tree(tree)
    argv = [debootstrap_command(), f"--variant={variant}"]
    if include:
        argv.append("--include=" + ",".join(include))
    argv += [suite, str(tree), debian_mirror()]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=1800, check=False, env=CHROOT_ENV
        )
        if done.returncode != 0:
            log = tree / "debootstrap" / "debootstrap.log"
            detail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
            raise DebrootError(
                f"debootstrap {suite} failed:\n{done.stdout[-3000:]}{done.stderr}\n{detail}"
            )
        for leftover in (tree / "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", tree, "--numeric-owner", "-cf", partial, "."], check=True)
        partial.rename(tarball)
    finally:
        remove_tree(tree)
    return tarball


def unpack(tarball: Path, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", root, "--numeric-owner", "-xpf", tarball], check=True)
    return root


def inside(
    root: Path, *argv: str, timeout: float = 900, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command chrooted into `root`; with check, a failure raises with its output."""
    result = subprocess.run(
        ["chroot", str(root), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=CHROOT_ENV,
    )
    if check and result.returncode != 0:
        raise DebrootError(f"{' '.join(argv)}:\n{result.stdout[-3000:]}{result.stderr}")
    return result
