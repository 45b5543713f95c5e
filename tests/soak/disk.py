"""The state directory on a small disk of the soak's own: a loop-mounted ext4 image.

ext4 and not tmpfs because of the read-only fault: SQLite keeps its files open, a mount
cannot be made read-only under open writers (EBUSY), and only ext4 refuses writes through
an already-open descriptor once the file is immutable (`chattr +i`). The same disk fills up
for the disk-full fault.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SIZE_MIB = 64
_FILLER = "soak-filler"


class StateDisk:
    def __init__(self, image: Path, mountpoint: Path) -> None:
        self.image = image
        self.mountpoint = mountpoint
        self.mounted = False

    @staticmethod
    def unavailable() -> str | None:
        """Why this machine cannot give the soak a disk of its own, or None if it can."""
        if os.getuid() != 0:
            return "needs root (mount, chattr)"
        for tool in ("mkfs.ext4", "mount", "chattr"):
            if shutil.which(tool) is None:
                return f"{tool} is not installed"
        return None

    def mount(self) -> None:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with self.image.open("wb") as f:
            f.truncate(SIZE_MIB << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(self.image)], check=True,
                       capture_output=True, timeout=60)  # fmt: skip
        subprocess.run(["mount", "-o", "loop", str(self.image), str(self.mountpoint)],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
        self.mounted = True

    def unmount(self) -> None:
        if self.mounted:
            self.protect(False)
            subprocess.run(["umount", "--lazy", str(self.mountpoint)], check=False, timeout=60)
            self.mounted = False
        self.image.unlink(missing_ok=True)

    def fill(self) -> None:
        """Fill the disk to its last block."""
        fd = os.open(self.mountpoint / _FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        block = b"\0" * (1 << 20)
        try:
            while True:
                try:
                    os.write(fd, block)
                except OSError:
                    if len(block) == 4096:
                        break  # ENOSPC even for one block: full
                    block = block[:4096]
        finally:
            os.close(fd)

    def free(self) -> None:
        (self.mountpoint / _FILLER).unlink(missing_ok=True)

    def protect(self, on: bool, directory: Path | None = None) -> None:
        """The database and its WAL immutable (`chattr +i`), or writable again."""
        where = directory or self.mountpoint
        files = [p for p in where.rglob("ucvd.db*") if p.is_file() and not p.name.endswith("-shm")]
        if files:
            subprocess.run(["chattr", "+i" if on else "-i", *map(str, files)], check=True,
                           capture_output=True, timeout=30)  # fmt: skip
