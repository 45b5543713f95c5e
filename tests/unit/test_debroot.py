"""The mirror is read from apt's own sources, in both formats apt accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.debroot import DebrootError, debian_mirror, mirror_candidates


def write(etc: Path, name: str, text: str) -> None:
    path = etc / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_deb822_security_and_disabled_sources_are_passed_over(tmp_path: Path) -> None:
    write(
        tmp_path,
        "sources.list.d/a.sources",
        "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nEnabled: no\nURIs: http://off.example/debian\nSuites: bookworm\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n",
    )
    write(
        tmp_path,
        "sources.list.d/debian.sources",
        "# comment\nTypes: deb\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n",
    )
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"


def test_one_line_format_with_options(tmp_path: Path) -> None:
    write(
        tmp_path,
        "sources.list",
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian trixie main\n",
    )
    assert mirror_candidates(tmp_path) == [("http://one.example/debian", ["trixie"])]
    assert debian_mirror(tmp_path) == "http://one.example/debian"


def test_no_mirror_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UCVD_DEBIAN_MIRROR", raising=False)
    with pytest.raises(DebrootError, match="UCVD_DEBIAN_MIRROR"):
        debian_mirror(tmp_path)
