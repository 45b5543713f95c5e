"""The boot test's own logic that runs without a VM: reading the package's Depends, the
stranger's scanner, and the verdict on what the guest reported."""

from __future__ import annotations

from pathlib import Path

from tests.vm.boot import Record
from tests.vm.guest_check import CHECKS, Needles, scan_file
from tests.vm.image import (
    BOOT_PACKAGES,
    depends_names,
    guest_plan,
    new_password,
    template_root_packages,
)
from tests.vm.run import evaluate


def test_depends_names_takes_the_first_alternative_without_versions() -> None:
    field = (
        "python3 (>= 3.11), python3 (<< 3.12), ffmpeg, util-linux, "
        "systemd | systemd-standalone-sysusers | systemd-sysusers, libc6:any (>= 2.36)"
    )
    assert depends_names(field) == ("python3", "ffmpeg", "util-linux", "systemd", "libc6")
    assert depends_names("") == ()


def test_passwords_are_fresh_and_carry_their_core() -> None:
    (first, core), (second, _) = new_password(), new_password()
    assert first != second
    assert core in first and len(core) == 24
    plan = guest_plan("bookworm", Path("ucvd_1_amd64.deb"), "1")
    cores = [s["core"] for s in plan["secrets"].values()]
    assert len(set(cores)) == 3


def test_scan_file_finds_a_core_across_a_chunk_boundary(tmp_path: Path) -> None:
    needles = Needles({"camera": "0123456789abcdef01234567"})
    crossing = tmp_path / "crossing"
    crossing.write_bytes(b"x" * ((1 << 20) - 10) + b"rtsp://admin:Vm%230123456789abcdef01234567")
    assert scan_file(crossing, needles) == ["camera"]
    clean = tmp_path / "clean"
    clean.write_bytes(b"rtsp://admin:***@camera/")
    assert scan_file(clean, needles) == []
    assert scan_file(tmp_path, needles) is None  # not a regular file


def test_a_check_never_reported_is_a_failure() -> None:
    first, *_rest = CHECKS
    records = [
        Record(1.0, {"type": "check", "name": first, "phase": 1, "ok": True,
                     "seconds": 0.5, "detail": "fine"}),
        Record(2.0, {"type": "check", "name": "surprise", "phase": 1, "ok": True,
                     "seconds": 0.1, "detail": ""}),
    ]  # fmt: skip
    rows = evaluate(records)
    by_name = {row["name"]: row for row in rows}
    assert by_name[first]["ok"] is True
    assert all(not by_name[name]["ok"] for name in CHECKS[1:])
    assert by_name[CHECKS[-1]]["detail"].startswith("missing")
    assert by_name["surprise"]["ok"] is False


def test_the_shared_root_is_the_one_a_built_package_asks_for() -> None:
    """FFmpeg 7.1's tests and the boot test share one bootstrapped trixie root only while
    the template's Depends give the same packages as a built package's."""
    built = "python3 (>= 3.13), python3 (<< 3.14), ffmpeg, util-linux, systemd | systemd-sysusers"
    assert template_root_packages() == tuple(sorted(set(depends_names(built)) | set(BOOT_PACKAGES)))
    assert "ffmpeg" in template_root_packages()
