"""`ucvctl status` must start fast: the client imports the wire contract, not the daemon,
and its status path loads only what that command uses (tests/bench/ctl_status.py measures
the time; this holds the import graph)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ucvctl import cli

# What of ucvd `ucvctl status` may load: the contract (api), the two domain modules the
# contract is written in, the version. Other commands load more, when they run.
ALLOWED = ("ucvd.api", "ucvd.domain.model", "ucvd.domain.audio", "ucvd.version")
PACKAGES = {"ucvd", "ucvd.domain"}  # their __init__ files are empty
# What `ucvctl status` once loaded and does not need: the site file commands (TOML, the
# site plan, validation, hashlib), tokens, getpass, the host exposure check, URL parsing,
# shutil (argparse's terminal width), typing_extensions (inspect, ast, dis, tokenize).
NOT_FOR_STATUS = (
    "ucvctl.sitecmd", "ucvctl.siteconfig", "ucvctl.tokencmd", "ucvd.domain.siteplan",
    "ucvd.domain.validation", "ucvd.domain.urls", "ucvd.host.exposure", "tomllib", "hashlib",
    "getpass", "pathlib", "shutil", "typing_extensions", "inspect", "urllib.parse",
)  # fmt: skip

# The status command, as far as it goes without a daemon: parse, decode an answer, render.
STATUS_PATH = (
    "import sys, ucvctl.cli as c, msgspec; "
    "c.build_parser().parse_args(['status']); "
    "c.render.status_table(msgspec.json.decode("
    'b\'{"total":0,"active":0,"items":[]}\', type=c.p.StatusList)); '
    "print(','.join(sorted(sys.modules)))"
)


def loaded(code: str = STATUS_PATH) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_ucvctl_imports_no_daemon_machinery() -> None:
    roots = {m.split(".")[0] for m in loaded()}
    assert roots & {"anyio", "sqlalchemy", "structlog", "httpx", "sdnotify"} == set()


def test_ucvctl_status_loads_only_the_contract_of_ucvd() -> None:
    ours = [m for m in loaded() if m.split(".")[0] == "ucvd"]
    assert "ucvd.api.protocol" in ours  # the check below looks at what really loaded
    beyond = [
        m
        for m in ours
        if m not in PACKAGES and not any(m == a or m.startswith(a + ".") for a in ALLOWED)
    ]
    assert beyond == []


def test_ucvctl_status_leaves_out_what_other_commands_need() -> None:
    modules = set(loaded())
    assert "ucvctl.render" in modules
    assert sorted(modules & set(NOT_FOR_STATUS)) == []


def test_typing_extensions_is_hidden_from_msgspec_only() -> None:
    """The client loads msgspec without it; anything after can still import it."""
    code = (
        "import sys, ucvctl; assert 'typing_extensions' not in sys.modules; "
        "import typing_extensions; print(typing_extensions.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "typing_extensions"


def test_help_lists_every_command_and_each_builds_its_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.build_parser().parse_args(["--help"])
    assert done.value.code == 0
    listing = capsys.readouterr().out
    for name, text, _build in cli.COMMANDS:
        assert f"    {name}" in listing and text.split("(")[0].strip() in listing
    for name, _text, _build in cli.COMMANDS:
        with pytest.raises(SystemExit) as done:
            cli.build_parser().parse_args([name, "--help"])
        assert done.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: ucvctl {name} ")


def test_a_command_gets_its_own_arguments_only() -> None:
    args = cli.build_parser().parse_args(["logs", "cam", "-n", "7"])
    assert (args.command, args.id, args.lines, args.follow) == ("logs", "cam", 7, False)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["status", "-n", "7"])  # logs' option, not status'


@pytest.fixture
def daemon_socket(tmp_path: Path) -> Iterator[Path]:
    """A stand-in daemon: answers one `publishing.status` with an empty site."""
    path = tmp_path / "ucvd.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            request = json.loads(conn.makefile("rb").readline())
            result = {"total": 0, "active": 0, "items": []}
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
            conn.sendall(json.dumps(reply).encode() + b"\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield path
    server.close()


def test_the_program_flushes_its_output_before_it_exits(daemon_socket: Path) -> None:
    """run() leaves without tearing the interpreter down: what it printed must be out."""
    code = "import sys, ucvctl.cli; sys.argv[1:] = ['--socket', sys.argv[1], 'status']; " + (
        "ucvctl.cli.run()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(daemon_socket)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": ""},  # stdout a pipe: block-buffered
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "no cameras (ucvctl camera add)\n",
        "",
    )


def test_the_program_exits_with_mains_code() -> None:
    code = "import sys, ucvctl.cli; sys.argv[1:] = ['--socket', '/nonexistent/s', 'status']; " + (
        "ucvctl.cli.run()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == cli.EXIT_UNREACHABLE
    assert "no socket at /nonexistent/s" in done.stderr
