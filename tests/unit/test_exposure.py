"""Is FFmpeg's command line (passwords in it) readable by other accounts? From mountinfo."""

from __future__ import annotations

from pathlib import Path

import pytest

from ucvd.host.exposure import WARNING, argv_exposed, proc_options, warnings

HOST_PLAIN = "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
HOST_HIDDEN = "22 27 0:21 / /proc rw,relatime - proc proc rw,hidepid=invisible\n"
# A hiding procfs mounted over a plain one: the plain one still shows every process.
STACKED_ON_PLAIN = (
    "300 290 0:21 / /proc rw,nosuid,nodev,noexec,relatime master:12 - proc proc rw\n"
    "310 300 0:50 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw,hidepid=invisible\n"
    "311 310 0:25 / /proc/sys ro,nosuid - proc proc rw\n"
)
STACKED_ON_HIDDEN = STACKED_ON_PLAIN.replace(
    "master:12 - proc proc rw\n", "master:12 - proc proc rw,hidepid=2\n"
)


@pytest.mark.parametrize(
    ("mountinfo", "exposed"),
    [
        (HOST_PLAIN, True),
        (HOST_HIDDEN, False),
        (HOST_PLAIN.replace("rw\n", "rw,hidepid=ptraceable\n"), False),
        (HOST_PLAIN.replace("rw\n", "rw,hidepid=noaccess\n"), False),
        (HOST_PLAIN.replace("rw\n", "rw,hidepid=1\n"), False),
        (HOST_PLAIN.replace("rw\n", "rw,hidepid=off\n"), True),
        (HOST_PLAIN.replace("rw\n", "rw,hidepid=0,subset=pid\n"), True),
        (STACKED_ON_PLAIN, True),
        (STACKED_ON_HIDDEN, False),
        ("", False),
    ],
)
def test_exposed_unless_every_proc_at_proc_hides_pids(mountinfo: str, exposed: bool) -> None:
    assert argv_exposed(mountinfo) is exposed


def test_only_procfs_mounted_at_proc_counts() -> None:
    text = (
        "40 27 0:21 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw\n"
        "41 27 0:33 / /srv/proc rw - proc proc rw\n"
        "42 27 0:34 / /proc rw - tmpfs tmpfs rw\n"
    )
    assert proc_options(text) == []


def test_warnings_read_the_file_and_name_the_fix(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(STACKED_ON_PLAIN)
    assert warnings(info) == [WARNING]
    assert "hidepid=invisible" in WARNING
    info.write_text(STACKED_ON_HIDDEN)
    assert warnings(info) == []
    assert warnings(tmp_path / "missing") == []
