"""`ucvctl status` must start fast: the client imports the protocol, not the daemon."""

from __future__ import annotations

import subprocess
import sys


def test_ucvctl_imports_no_daemon_machinery() -> None:
    code = (
        "import sys, ucvctl.cli; "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('anyio', 'sqlalchemy', 'structlog', 'httpx', 'sdnotify') or m in "
        "('ucvd.relay.supervisor', 'ucvd.state.store', 'ucvd.daemon', 'ucvd.service'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
