"""The hint beside a camera's last error: one for every kind, naming only real commands."""

from __future__ import annotations

import contextlib
import io
import re
import shlex

import pytest

from ucvctl import render
from ucvctl.cli import build_parser
from ucvd.api import protocol as p
from ucvd.control.views import last_error
from ucvd.domain.errors import ErrorKind, Fault
from ucvd.domain.hints import hint

COMMAND = re.compile(r"`(ucvctl [^`]*)`")


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_kind_has_a_hint(kind: ErrorKind) -> None:
    text = hint(kind)
    assert text.strip() and text.endswith(".") and "\n" not in text
    assert hint(str(kind)) == text  # the wire carries the kind as a string


def test_the_hints_differ_and_an_unknown_kind_has_none() -> None:
    assert len({hint(k) for k in ErrorKind}) == len(ErrorKind)
    assert hint("no_such_kind") == "" and hint("") == ""


def commands() -> list[tuple[ErrorKind, str]]:
    return [(kind, m[1]) for kind in ErrorKind for m in COMMAND.finditer(hint(kind))]


def test_the_hints_name_commands() -> None:
    """Else the next test would check nothing."""
    named = commands()
    assert len(named) >= len(ErrorKind)
    assert {kind for kind, _ in named} == set(ErrorKind)


@pytest.mark.parametrize(("kind", "command"), commands())
def test_every_command_a_hint_names_parses(kind: ErrorKind, command: str) -> None:
    """Parsed by ucvctl's own argparse: a renamed command or flag fails here."""
    words = shlex.split(command)[1:]
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            build_parser().parse_args(words)
    except SystemExit:
        pytest.fail(f"{kind}: `{command}` does not parse: {errors.getvalue().strip()}")


def test_the_hint_travels_with_the_last_error() -> None:
    error = last_error(Fault(ErrorKind.AUTH_FAILED, "camera 10.0.0.5:554 refused (401)"), 0.0)
    assert error is not None and error.hint == hint(ErrorKind.AUTH_FAILED)
    assert last_error(None, None) is None


def status(error: p.LastError | None) -> p.PublicationStatus:
    return p.PublicationStatus(
        camera_id="gate", status="reconnecting", desired="publishing",
        publish_path="camera_gate", target="central", uptime_seconds=None, error_count=1,
        restarts=1, last_error=error, metrics=None, pid=None, retry_in_seconds=2.0,
    )  # fmt: skip


def test_status_detail_shows_the_hint_after_the_last_error() -> None:
    error = last_error(Fault(ErrorKind.AUTH_FAILED, "camera refused the password (401)"), 0.0)
    lines = render.status_detail(status(error)).splitlines()
    keys = [line.split(":", 1)[0] for line in lines]
    assert keys.index("hint") == keys.index("last error") + 1
    assert lines[keys.index("hint")].split(None, 1)[1] == hint(ErrorKind.AUTH_FAILED)


def test_no_hint_line_without_a_hint() -> None:
    old = p.LastError(kind="auth_failed", message="refused", at=None)  # an older daemon's
    assert "hint" not in [ln.split(":")[0] for ln in render.status_detail(status(old)).split("\n")]
    assert "hint" not in render.status_detail(status(None))
