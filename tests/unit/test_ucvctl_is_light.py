"""`ucvctl status` must start fast: the client imports the wire contract, not the daemon."""

from __future__ import annotations

import subprocess
import sys

# What of ucvd the client may load: the contract (api) and the vocabulary it is written in
# (domain), the exposure check it runs on the operator's side, and the version.
ALLOWED = ("ucvd.api", "ucvd.domain", "ucvd.host.exposure", "ucvd.version")
PACKAGES = {"ucvd", "ucvd.host"}  # their __init__ files are empty


def loaded(prefixes: tuple[str, ...]) -> list[str]:
    code = (
        "import sys, ucvctl.cli; "
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {prefixes!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_ucvctl_imports_no_daemon_machinery() -> None:
    assert loaded(("anyio", "sqlalchemy", "structlog", "httpx", "sdnotify")) == []


def test_ucvctl_loads_only_the_contract_of_ucvd() -> None:
    ours = loaded(("ucvd",))
    assert "ucvd.api.protocol" in ours  # the check below looks at what really loaded
    beyond = [
        m
        for m in ours
        if m not in PACKAGES and not any(m == a or m.startswith(a + ".") for a in ALLOWED)
    ]
    assert beyond == []
