"""The example /etc/ucvd/ucvd.toml that the package installs: it must parse as shipped,
change nothing until edited, and keep up with the settings the daemon knows."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from ucvd.config import Config, parse

EXAMPLE = Path(__file__).resolve().parents[2] / "packaging" / "ucvd.toml"
# `# key = value`: a key at its default, ready to uncomment. `# e.g. key = value`: a key
# whose default is "unset", which TOML cannot spell, shown with a sample value instead.
DEFAULT_LINE = re.compile(r"^# ([a-z_]+) = (.+)$")
EXAMPLE_LINE = re.compile(r"^# e\.g\. ([a-z_]+) = (.+)$")
SECTION_LINE = re.compile(r"^\[([a-z_]+)\]$")


def uncommented(pattern: re.Pattern[str]) -> str:
    return "\n".join(
        f"{m[1]} = {m[2]}" if (m := pattern.match(line)) else line
        for line in EXAMPLE.read_text().splitlines()
    )


def keys_by_section(pattern: re.Pattern[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    section = ""
    for line in EXAMPLE.read_text().splitlines():
        if m := SECTION_LINE.match(line):
            section = m[1]
            found.setdefault(section, set())
        elif m := pattern.match(line):
            found[section].add(m[1])
    return found


def settings(with_default: bool) -> dict[str, set[str]]:
    """Config's sections and their keys: those with a real default, or those without."""
    return {
        section.name: {
            f.name
            for f in msgspec.structs.fields(section.type)
            if (f.default is not None) == with_default
        }
        for section in msgspec.structs.fields(Config)
    }


def test_as_shipped_it_is_all_defaults() -> None:
    """A fresh install runs on the built-in defaults; the file only documents them."""
    assert parse(EXAMPLE.read_text(), str(EXAMPLE)) == Config()


def test_each_commented_value_is_the_default() -> None:
    """An operator uncommenting a line to edit it starts from the value in force, so the
    commented values must be the defaults, and valid TOML for their keys."""
    text = uncommented(DEFAULT_LINE)
    assert text != EXAMPLE.read_text()
    assert parse(text, "uncommented defaults") == Config()


def test_the_samples_for_unset_keys_are_valid() -> None:
    text = uncommented(EXAMPLE_LINE)
    assert parse(text, "uncommented samples") != Config()


def test_every_setting_is_documented() -> None:
    """A key added to ucvd/config.py without a line here fails this test: the example is
    where operators learn what they can set."""
    assert keys_by_section(DEFAULT_LINE) == settings(with_default=True)
    assert keys_by_section(EXAMPLE_LINE) == settings(with_default=False)


def test_every_key_has_its_explanation_above_it() -> None:
    lines = EXAMPLE.read_text().splitlines()
    for number, line in enumerate(lines):
        if DEFAULT_LINE.match(line) or EXAMPLE_LINE.match(line):
            above = lines[number - 1]
            assert above.startswith("# ") and not DEFAULT_LINE.match(above), (number + 1, line)
            assert not EXAMPLE_LINE.match(above), (number + 1, line)
