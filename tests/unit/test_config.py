"""The config file: typed, strict, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ucvd.config import Config, ConfigError, load, parse


def test_empty_file_is_all_defaults() -> None:
    assert parse("") == Config()


def test_values_reach_the_engine_settings() -> None:
    config = parse(
        """
        [daemon]
        socket = "/tmp/u.sock"
        operator_group = "video"
        [relay]
        input_timeout_s = 3
        analyzeduration_us = 500000
        max_ts_probe = 50
        [supervision]
        stall_timeout_s = 7.5
        """
    )
    assert config.daemon.socket == "/tmp/u.sock" and config.daemon.operator_group == "video"
    settings = config.supervisor_settings()
    assert settings.stall_timeout_s == 7.5
    assert settings.relay.input_timeout_s == 3 and settings.relay.analyzeduration_us == 500000
    assert settings.relay.max_ts_probe == 50
    assert settings.start_timeout_s == 20.0  # untouched defaults stay
    assert settings.relay.fpsprobesize == 0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[daemon]\nsokcet = 'x'", "unknown field `sokcet` - at `$.daemon`"),
        ("[relay]\ninput_timeout_s = 0", "Expected `float` > 0.0 - at `$.relay.input_timeout_s`"),
        ("[supervision]\nstall_timeout_s = 'ten'", "at `$.supervision.stall_timeout_s`"),
        ("[daemon]\nmax_connections = 0", "at `$.daemon.max_connections`"),
        # 0 let probing end before any audio packet: AAC timestamps broken for the whole relay.
        ("[relay]\nmax_ts_probe = 0", "Expected `int` >= 1 - at `$.relay.max_ts_probe`"),
        ("[nonsense]\na = 1", "unknown field `nonsense`"),
        ("[daemon\nsocket = 1", "not valid TOML"),
    ],
)
def test_errors_name_the_key(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text, "/etc/ucvd/ucvd.toml")
    assert str(info.value).startswith("/etc/ucvd/ucvd.toml: ")
    assert fragment in str(info.value)


def test_files(tmp_path: Path) -> None:
    good = tmp_path / "ucvd.toml"
    good.write_text("[supervision]\npoll_s = 0.25\n")
    assert load(good).supervision.poll_s == 0.25
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="cannot be read"):
        load(binary)


def test_missing_file_at_the_default_path_means_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ucvd.config.DEFAULT_CONFIG", tmp_path / "absent.toml")
    assert load(None) == Config()
