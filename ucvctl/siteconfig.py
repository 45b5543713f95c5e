"""Site files: a gateway's whole desired state in TOML, for `ucvctl apply`, `diff`, `export`.

Read here, on the operator's side: the file and the secrets it names are the operator's
(or the unit's that runs ucvctl), not the daemon's. Secrets never sit in the file: each
secret field exists only as a reference, `<field>_file` (a path; relative to the site
file's directory) or `<field>_credential` (a name in `$CREDENTIALS_DIRECTORY`, where
systemd puts a unit's `LoadCredential=`). A literal secret, a password inside a URL, or an
unknown key is refused by name. Every problem of the file is collected, then all are
reported at once, and nothing is sent. Items are checked with the daemon's own rules
(ucvd.domain.siteplan), which the daemon applies again against its live state.

`render()` writes the daemon's state back as a site file, each secret as a reference to
a file the operator fills in: export, write the secrets, apply, and nothing changes.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from ucvd.api import protocol as p
from ucvd.domain.model import CameraOptions, Target
from ucvd.domain.siteplan import SECRET_FIELDS, check_items
from ucvd.domain.urls import REDACTED, InvalidURL, split_credentials

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
DEFAULT_SECRETS_DIR = "/etc/ucvd/secrets"
MAX_SECRET = 256
REFS = ("_file", "_credential")
TOP_KEYS = ("active_target", "targets", "cameras")
OPTION_KEYS = tuple(CameraOptions.__struct_fields__)


class SiteFileError(Exception):
    """The file cannot be applied; the message lists every problem (never a secret)."""


def _keys(struct: type[msgspec.Struct], secrets: tuple[str, ...]) -> tuple[str, ...]:
    plain = tuple(f for f in struct.__struct_fields__ if f not in SECRET_FIELDS)
    return plain + tuple(s + ref for s in secrets for ref in REFS)


TARGET_SECRETS = ("password", "api_password", "srt_passphrase")
CAMERA_SECRETS = ("password",)
TARGET_KEYS = _keys(p.SiteTarget, TARGET_SECRETS)
CAMERA_KEYS = _keys(p.SiteCamera, CAMERA_SECRETS)


def load(path: Path, environ: Mapping[str, str]) -> p.SiteConfig:
    """The site file as the daemon takes it, secrets read; SiteFileError otherwise."""
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise SiteFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SiteFileError(f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SiteFileError(f"{path} is not valid TOML: {exc}") from None
    return _Reader(path, environ).site(data)


class _Reader:
    def __init__(self, path: Path, environ: Mapping[str, str]) -> None:
        self.path = path
        self.environ = environ
        self.problems: list[str] = []

    def site(self, data: dict[str, Any]) -> p.SiteConfig:
        self._unknown("the file", data, TOP_KEYS)
        active = data.get("active_target")
        if active is not None and not isinstance(active, str):
            self.problems.append("active_target must be a string (a target's name)")
            active = None
        targets = {
            name: t
            for name, table in self._tables(data, "targets").items()
            if (t := self._item(f"target {name!a}", table, TARGET_SECRETS, p.SiteTarget))
        }
        cameras = {
            name: c
            for name, table in self._tables(data, "cameras").items()
            if (c := self._item(f"camera {name!a}", table, CAMERA_SECRETS, p.SiteCamera))
        }
        for name, t in targets.items():
            self._no_password_in("target", name, t.rtsp_url, "rtsp_url")
        for name, c in cameras.items():
            self._no_password_in("camera", name, c.url, "url")
        _, _, invalid = check_items(
            {n: Target(name=n, **msgspec.structs.asdict(t)) for n, t in targets.items()},
            {i: c.camera(i) for i, c in cameras.items()},
        )
        self.problems += invalid
        if self.problems:
            listed = "\n".join(f"  {problem}" for problem in self.problems)
            raise SiteFileError(f"{self.path} was refused; nothing was sent:\n{listed}")
        return p.SiteConfig(active_target=active, targets=targets, cameras=cameras)

    def _unknown(self, where: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key in allowed:
                continue
            if key in SECRET_FIELDS:
                self.problems.append(
                    f"{where}: a literal {key!r} is refused (secrets stay out of site files): "
                    f"use {key}_file = PATH or {key}_credential = NAME"
                )
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.problems.append(f"{where}: unknown key {key!a}{hint}")

    def _tables(self, data: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
        value = data.get(section, {})
        if not isinstance(value, dict):
            self.problems.append(f"{section} must be a table ([{section}.NAME] sections)")
            return {}
        tables = {}
        for name, table in value.items():
            if isinstance(table, dict):
                tables[name] = table
            else:
                self.problems.append(f"{section}.{name} must be a table ([{section}.{name}])")
        return tables

    def _item(
        self, where: str, table: dict[str, Any], secrets: tuple[str, ...], struct: type[Any]
    ) -> Any:
        allowed = _keys(struct, secrets)
        self._unknown(where, table, allowed)
        refs_of_secrets = {secret + ref for secret in secrets for ref in REFS}
        # Only a secret's reference is read apart: `tls_ca_file` ends in `_file` too.
        fields = {k: v for k, v in table.items() if k in allowed and k not in refs_of_secrets}
        options = fields.get("options")
        if isinstance(options, dict):
            self._unknown(f"{where} options", options, OPTION_KEYS)
            fields["options"] = {k: v for k, v in options.items() if k in OPTION_KEYS}
        for secret in secrets:
            refs = [secret + ref for ref in REFS if secret + ref in table]
            if len(refs) > 1:
                self.problems.append(f"{where}: give one of {' and '.join(refs)}, not both")
            elif refs:
                value = self._secret(where, refs[0], table[refs[0]])
                if value is not None:
                    fields[secret] = value
        try:
            return msgspec.convert(fields, struct)
        except msgspec.ValidationError as exc:
            self.problems.append(f"{where}: {exc}")
            return None

    def _secret(self, where: str, key: str, ref: object) -> str | None:
        """A secret's value, read from where `ref` points; problems name the reference."""
        if not isinstance(ref, str) or not ref:
            self.problems.append(f"{where}: {key} must be a non-empty string")
            return None
        if key.endswith("_file"):
            source = Path(ref) if Path(ref).is_absolute() else self.path.parent / ref
        else:
            directory = self.environ.get(CREDENTIALS_ENV)
            if not directory:
                self.problems.append(
                    f"{where}: {key} {ref!a} needs ${CREDENTIALS_ENV}, which is not set "
                    "(systemd sets it for a unit with LoadCredential=)"
                )
                return None
            if "/" in ref or ref in (".", ".."):
                self.problems.append(f"{where}: {key} {ref!a} must be a credential's name")
                return None
            source = Path(directory) / ref
        try:
            text = source.read_bytes().decode("utf-8")
        except OSError as exc:
            self.problems.append(
                f"{where}: {key} {ref!a}: cannot read {source}: {exc.strerror or exc}"
            )
            return None
        except UnicodeDecodeError:
            self.problems.append(f"{where}: {key} {ref!a}: {source} is not UTF-8 text")
            return None
        value = text.rstrip("\r\n")
        if not value:
            self.problems.append(f"{where}: {key} {ref!a}: {source} is empty")
            return None
        if len(value) > MAX_SECRET:
            self.problems.append(
                f"{where}: {key} {ref!a}: {source} holds more than {MAX_SECRET} characters"
            )
            return None
        return value

    def _no_password_in(self, what: str, name: str, url: str, key: str) -> None:
        try:
            _, _, password = split_credentials(url, key)
        except InvalidURL:
            return  # check_items names it
        if password is not None:
            self.problems.append(
                f"{what} {name!a}: {key} carries a password; give username and "
                "password_file (or password_credential) instead"
            )


# --- export -------------------------------------------------------------------------------
def _quote(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(name: str) -> str:
    bare = name.replace("-", "").replace("_", "")
    return name if bare.isascii() and bare.isalnum() else _quote(name)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return _quote(str(value))


def render(
    targets: p.TargetList, cameras: p.CameraList, secrets_dir: str = DEFAULT_SECRETS_DIR
) -> str:
    """The daemon's state as a site file; each secret as a `<field>_file` the operator
    must fill in before applying it (until then apply says which file is missing)."""
    lines = [
        "# ucvd site configuration, written by `ucvctl export`.",
        "# Secrets are not exported: each *_file line names the file to write the secret",
        "# to (one line), or replace it with <field>_credential = NAME. Until then, applying",
        "# this file is refused, naming the missing file.",
    ]
    active = next((t.name for t in targets.items if t.active), None)
    if active is not None:
        lines.append(f"active_target = {_quote(active)}")
    for t in targets.items:
        lines += ["", *_target_lines(t, secrets_dir)]
    for c in cameras.items:
        lines += ["", *_camera_lines(c, secrets_dir)]
    return "\n".join(lines) + "\n"


def _url_lines(key: str, url: str) -> list[str]:
    """A URL as exported; one whose query secret was redacted is left commented out, since
    applying `***` would replace the secret."""
    if REDACTED not in url:
        return [f"{key} = {_quote(url)}"]
    return [
        "# The URL carries a secret in its query string, which is not exported:",
        "# write the URL here with it (or move it to username/password_file).",
        f"# {key} = {_quote(url)}",
    ]


def _target_lines(t: p.TargetView, secrets_dir: str) -> list[str]:
    lines = [f"[targets.{_key(t.name)}]", *_url_lines("rtsp_url", t.rtsp_url)]
    if t.api_url is not None:
        lines.append(f"api_url = {_quote(t.api_url)}")
    lines.append(f"api_enabled = {_value(t.api_enabled)}")
    if t.username is not None:
        lines.append(f"username = {_quote(t.username)}")
    if t.has_password:
        lines.append(f"password_file = {_quote(f'{secrets_dir}/target-{t.name}.password')}")
    if t.api_username is not None:
        lines.append(f"api_username = {_quote(t.api_username)}")
    if t.has_api_password:
        path = f"{secrets_dir}/target-{t.name}.api_password"
        lines.append(f"api_password_file = {_quote(path)}")
    return [
        *lines,
        f"max_reconnects = {_value(t.max_reconnects)}",
        f"reconnect_delay = {_value(t.reconnect_delay)}",
        f"path_template = {_quote(t.path_template)}",
        *([f"player_url = {_quote(t.player_url)}"] if t.player_url is not None else []),
        *([f"tls_ca_file = {_quote(t.tls_ca_file)}"] if t.tls_ca_file is not None else []),
        *([f"tls_fingerprint = {_quote(t.tls_fingerprint)}"] if t.tls_fingerprint else []),
        *(
            [f"srt_passphrase_file = {_quote(f'{secrets_dir}/target-{t.name}.srt_passphrase')}"]
            if t.has_srt_passphrase
            else []
        ),
    ]


def _camera_lines(c: p.CameraView, secrets_dir: str) -> list[str]:
    lines = [f"[cameras.{_key(c.id)}]", *_url_lines("url", c.url)]
    if c.username is not None:
        lines.append(f"username = {_quote(c.username)}")
    if c.has_password:
        lines.append(f"password_file = {_quote(f'{secrets_dir}/camera-{c.id}.password')}")
    if c.name:
        lines.append(f"name = {_quote(c.name)}")
    if c.main_id is not None:
        lines.append(f"main_id = {_quote(c.main_id)}")
    lines.append(f"publish = {_value(c.desired == 'publishing')}")
    defaults = msgspec.structs.asdict(CameraOptions())
    options = {k: v for k, v in msgspec.structs.asdict(c.options).items() if v != defaults[k]}
    if options:
        inline = ", ".join(f"{k} = {_value(v)}" for k, v in options.items())
        lines.append(f"options = {{ {inline} }}")
    return lines
