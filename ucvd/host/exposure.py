"""Whether this machine shows FFmpeg's command line, passwords included, to other accounts.

FFmpeg takes the camera URL and the publish URL on its command line, credentials in them
(FFmpeg 5.1 and 7.1 offer RTSP no other way to receive them), and /proc/<pid>/cmdline is
readable by every local account unless /proc is mounted with `hidepid=` (proc(5)). The
unit's ProtectProc= does not help: it gives the service a /proc of its own and leaves the
host's as it is.

Who can tell: a process that sees the host's /proc. Under the unit, systemd replaces
/proc in the service's mount namespace with one of its own (hidepid=invisible), so the
daemon cannot see how the host mounts it (shown by the boot test); `ucvctl`, which runs in
the host's view, makes the same check itself and adds what it finds to the daemon's
warnings. Run by hand, the daemon stands on the host's /proc and warns on its own.
Every procfs mounted at /proc counts, stacked ones included. Pure: mountinfo text in,
verdict out; `warnings` does the reading.
"""

from __future__ import annotations

from pathlib import Path

# hidepid values that keep other users out of /proc/<pid>/cmdline: 1/noaccess,
# 2/invisible, 4/ptraceable (a ptrace check other accounts fail).
_HIDING = frozenset({"1", "2", "4", "noaccess", "invisible", "ptraceable"})
MOUNTINFO = Path("/proc/self/mountinfo")

WARNING = (
    "camera and publish passwords are readable by every local account: FFmpeg's command "
    "line carries them and /proc is mounted without hidepid= (mount /proc with "
    "hidepid=invisible; see README, Security)"
)


def proc_options(mountinfo: str) -> list[frozenset[str]]:
    """The super-block options of every procfs mounted at /proc (mountinfo, proc(5))."""
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if len(fields) < 5 or fields[4] != "/proc" or len(fields) < sep + 4:
            continue
        if fields[sep + 1] != "proc":
            continue
        found.append(frozenset(fields[sep + 3].split(",")))
    return found


def argv_exposed(mountinfo: str) -> bool:
    """True if some /proc here lets any account read any process's command line."""
    mounts = proc_options(mountinfo)
    if not mounts:
        return False  # no /proc at all: nothing to read through it
    for options in mounts:
        values = {o.split("=", 1)[1] for o in options if o.startswith("hidepid=")}
        if not values & _HIDING:
            return True
    return False


def warnings(mountinfo_path: Path = MOUNTINFO) -> list[str]:
    """What `daemon.health` and `daemon.info` warn about this machine (I/O at the edge)."""
    try:
        text = mountinfo_path.read_text()
    except OSError:
        return []
    return [WARNING] if argv_exposed(text) else []
