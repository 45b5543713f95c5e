"""Booting the VM: QEMU with TCG, no network device at all, serial ports to files.

ttyS0 is the console (kernel and systemd, the checks' own echo): console.log. ttyS1 carries
the checks' results, one JSON object per line: results.jsonl. QEMU opens both once, so a
guest reboot appends to the same files. The guest powers itself off at the end; a hard
deadline kills QEMU if it never does, and a reset loop (a guest that reboots more often
than the test asks) ends the run early.

TCG, not KVM: nested KVM hangs on the machines this runs on, and TCG boots a Debian kernel
in seconds (`thread=multi` gives each vCPU its own host thread).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.vm.image import Image

KERNEL_ARGS = (
    "root=/dev/vda rw console=ttyS0,115200 loglevel=4 "
    # A kernel panic reaches QEMU through pvpanic and ends the run at once.
    "panic=-1"
)


class BootError(RuntimeError):
    pass


@dataclass(frozen=True)
class Record:
    at: float  # seconds since QEMU started, when the host read the line
    data: dict[str, Any]


@dataclass
class Boot:
    records: list[Record] = field(default_factory=list)
    exit_code: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    console: Path = Path()
    noise: list[str] = field(default_factory=list)  # ttyS1 lines that were not JSON


def qemu_binary() -> str:
    found = shutil.which("qemu-system-x86_64")
    if found is None:
        raise BootError("qemu-system-x86_64 not found: apt-get install qemu-system-x86")
    return found


def qemu_argv(image: Image, console: Path, results: Path, memory_mib: int, cpus: int) -> list[str]:
    return [
        qemu_binary(),
        "-accel", "tcg,thread=multi", "-cpu", "max",
        "-smp", str(cpus), "-m", str(memory_mib),
        "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
        "-kernel", str(image.kernel), "-initrd", str(image.initrd), "-append", KERNEL_ARGS,
        # cache=unsafe: the image is thrown away after the run, and the guest's syncs
        # would otherwise cost seconds under TCG.
        "-drive", f"file={image.disk},format=raw,if=virtio,cache=unsafe",
        "-serial", f"file:{console}", "-serial", f"file:{results}",
        "-device", "virtio-rng-pci",
        "-device", "pvpanic", "-action", "panic=exit-failure",
        # -nodefaults leaves no network card: the guest has loopback only.
    ]  # fmt: skip


def boot(
    image: Image,
    workdir: Path,
    *,
    timeout: float,
    memory_mib: int = 2048,
    cpus: int = 2,
    max_boots: int = 2,
    on_record: Callable[[Record], None] = lambda _r: None,
) -> Boot:
    """Run the VM until it powers off (or the deadline), collecting the result lines."""
    console, results = workdir / "console.log", workdir / "results.jsonl"
    console.write_bytes(b"")
    results.write_bytes(b"")
    result = Boot(console=console)
    argv = qemu_argv(image, console, results, memory_mib, cpus)
    t0 = time.monotonic()
    qemu_log = (workdir / "qemu.log").open("wb")
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=qemu_log)
    buffer, read = b"", 0
    try:
        while True:
            exited = qemu.poll() is not None
            with results.open("rb") as handle:
                handle.seek(read)
                chunk = handle.read()
            read += len(chunk)
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                text = raw.decode(errors="replace").strip()
                if not text:
                    continue
                try:
                    record = Record(round(time.monotonic() - t0, 2), json.loads(text))
                except ValueError:
                    result.noise.append(text)
                    continue
                result.records.append(record)
                on_record(record)
            if exited:
                break
            boots = sum(1 for r in result.records if r.data.get("type") == "phase")
            if boots > max_boots:
                raise BootError(f"the guest booted {boots} times; at most {max_boots} expected")
            if time.monotonic() - t0 > timeout:
                result.timed_out = True
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                qemu.wait(timeout=0.5)
    finally:
        if qemu.poll() is None:
            qemu.kill()
        qemu.wait()
        qemu_log.close()
        result.seconds = round(time.monotonic() - t0, 2)
    result.exit_code = qemu.returncode
    message = (workdir / "qemu.log").read_text(errors="replace").strip()
    if message:
        result.noise.append(f"qemu: {message[-2000:]}")
    return result
