"""Site files as ucvctl reads them: keys, secrets by reference, every problem at once; and
the export, which reads back as the state it came from."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from ucvctl import sitecmd
from ucvctl.siteconfig import SiteFileError, load, render
from ucvd.api import protocol as p
from ucvd.domain.model import CameraOptions, Transport

GOOD = """
active_target = "central"

[targets.central]
rtsp_url = "rtsp://mtx.example:8554"
api_url = "http://mtx.example:9997"
username = "publisher"
password_file = "secrets/central"
api_username = "api"
api_password_credential = "central-api"

[cameras.cam-001]
url = "rtsp://192.0.2.10:554/stream1"
username = "admin"
password_credential = "cam-001"
name = "Gate"
publish = true
options = { transport = "udp", audio = false }

[cameras."cam.2"]
url = "rtsp://192.0.2.11/s"
"""


@pytest.fixture
def creds(tmp_path: Path) -> dict[str, str]:
    directory = tmp_path / "creds"
    directory.mkdir()
    (directory / "central-api").write_text("api-SECRET\n")
    (directory / "cam-001").write_text("cam-SECRET\r\n")
    return {"CREDENTIALS_DIRECTORY": str(directory)}


PUBLISH_SECRET = "pub-SECRET\n"


def site_file(tmp_path: Path, text: str, secret: str | None = PUBLISH_SECRET) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text)
    if secret is not None:
        (tmp_path / "secrets").mkdir(exist_ok=True)
        (tmp_path / "secrets" / "central").write_text(secret)
    return path


def refused(path: Path, environ: dict[str, str]) -> str:
    with pytest.raises(SiteFileError) as error:
        load(path, environ)
    return str(error.value)


def test_a_good_file_with_secrets_by_file_and_by_credential(
    tmp_path: Path, creds: dict[str, str]
) -> None:
    site = load(site_file(tmp_path, GOOD), creds)
    t = site.targets["central"]
    assert site.active_target == "central"
    assert (t.username, t.password, t.api_username, t.api_password) == (
        "publisher", "pub-SECRET", "api", "api-SECRET",
    )  # fmt: skip
    c = site.cameras["cam-001"]
    assert (c.username, c.password, c.name, c.publish) == ("admin", "cam-SECRET", "Gate", True)
    assert c.options == CameraOptions(transport=Transport.UDP, audio=False)
    c2 = site.cameras["cam.2"]
    assert (c2.password, c2.publish, c2.options) == (None, False, CameraOptions())


def test_transport_settings_are_read_and_the_passphrase_from_its_file(
    tmp_path: Path, creds: dict[str, str]
) -> None:
    """`tls_ca_file` ends in `_file` like a secret's reference, yet is a setting of its own."""
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "central").write_text("pub-SECRET\n")
    (tmp_path / "secrets" / "srt").write_text("srt-passphrase-SECRET\n")
    pin = ":".join(["AB"] * 32)
    text = (
        GOOD
        + f"""
[targets.tls]
rtsp_url = "rtsps://mtx.example:8322"
tls_ca_file = "/etc/ucvd/central-ca.pem"

[targets.pinned]
rtsp_url = "rtsps://192.0.2.7:8322"
tls_fingerprint = "{pin}"

[targets.srt]
rtsp_url = "srt://mtx.example:8890"
srt_passphrase_file = "secrets/srt"
"""
    )
    path = tmp_path / "site.toml"
    path.write_text(text)
    site = load(path, creds)
    assert site.targets["tls"].tls_ca_file == "/etc/ucvd/central-ca.pem"
    assert site.targets["pinned"].tls_fingerprint == pin  # as written: the daemon folds it
    assert site.targets["srt"].srt_passphrase == "srt-passphrase-SECRET"


@pytest.mark.parametrize(
    ("change", "messages"),
    [
        (('password_file = "secrets/central"', 'password = "pub-SECRET"'),
         ["target 'central': a literal 'password' is refused", "use password_file"]),
        (('password_file = "secrets/central"',
          'password_file = "secrets/central"\nsrt_passphrase = "in-git-for-all"'),
         ["target 'central': a literal 'srt_passphrase' is refused",
          "use srt_passphrase_file"]),
        (('name = "Gate"', 'nmae = "Gate"'),
         ["camera 'cam-001': unknown key 'nmae' (did you mean 'name'?)"]),
        (("audio = false", "audoi = false"),
         ["camera 'cam-001' options: unknown key 'audoi' (did you mean 'audio'?)"]),
        (('active_target = "central"', 'active_target = "central"\nsite = 1'),
         ["the file: unknown key 'site'"]),
        (('password_file = "secrets/central"', 'password_file = "secrets/nope"'),
         ["target 'central': password_file 'secrets/nope': cannot read",
          "No such file or directory"]),
        (('password_credential = "cam-001"', 'password_credential = "../cam-001"'),
         ["password_credential '../cam-001' must be a credential's name"]),
        (('password_credential = "cam-001"',
          'password_credential = "cam-001"\npassword_file = "x"'),
         ["give one of password_file and password_credential"]),
        (('url = "rtsp://192.0.2.10:554/stream1"\nusername = "admin"',
          'url = "rtsp://admin:pub-SECRET@192.0.2.10:554/stream1"'),
         ["camera 'cam-001': url carries a password"]),
        (("publish = true", 'publish = "yes"'),
         ["camera 'cam-001': Expected `bool`, got `str` - at `$.publish`"]),
        # Several problems at once: each is named, the URL by the daemon's own rule.
        (('url = "rtsp://192.0.2.11/s"', 'url = "http://192.0.2.11/s"\nzoom = 2'),
         ["camera 'cam.2': unknown key 'zoom'",
          "camera 'cam.2': camera URL must start with rtsp:// or rtsps://"]),
    ],
)  # fmt: skip
def test_problems_are_named_and_no_secret_shows(
    tmp_path: Path, creds: dict[str, str], change: tuple[str, str], messages: list[str]
) -> None:
    old, new = change
    assert old in GOOD
    text = refused(site_file(tmp_path, GOOD.replace(old, new, 1)), creds)
    assert "was refused; nothing was sent" in text
    for message in messages:
        assert message in text
    assert "SECRET" not in text


def test_a_credential_needs_the_credentials_directory(tmp_path: Path) -> None:
    text = refused(site_file(tmp_path, GOOD), {})
    assert "api_password_credential 'central-api' needs $CREDENTIALS_DIRECTORY" in text
    assert "password_credential 'cam-001' needs $CREDENTIALS_DIRECTORY" in text


@pytest.mark.parametrize(("content", "message"), [("\n", "is empty"), ("x" * 257, "more than 256")])
def test_a_secret_file_must_hold_a_usable_secret(
    tmp_path: Path, creds: dict[str, str], content: str, message: str
) -> None:
    assert message in refused(site_file(tmp_path, GOOD, secret=content), creds)


def test_not_toml_and_no_file(tmp_path: Path) -> None:
    assert "is not valid TOML" in refused(site_file(tmp_path, "[cameras\n"), {})
    assert "cannot read" in refused(tmp_path / "absent.toml", {})


def test_the_export_reads_back_as_the_state_it_came_from(tmp_path: Path) -> None:
    targets = p.TargetList(total=2, items=[
        p.TargetView(name="central", rtsp_url="rtsp://mtx:8554", api_url="http://mtx:9997",
                     api_enabled=True, username="pub", has_password=True, api_username="api",
                     has_api_password=True, max_reconnects=3, reconnect_delay=0.5,
                     path_template="site1/{camera_id}", active=True,
                     player_url="https://mtx:8889/"),
        p.TargetView(name="backup", rtsp_url="rtsp://b:8554", api_url=None, api_enabled=False,
                     username=None, has_password=False, api_username=None,
                     has_api_password=False, max_reconnects=0, reconnect_delay=1.0,
                     path_template="camera_{camera_id}", active=False),
    ])  # fmt: skip
    cameras = p.CameraList(total=3, items=[
        p.CameraView(id="cam.1", url="rtsp://192.0.2.10/s", username="admin", has_password=True,
                     name='Gate "north"\\', options=CameraOptions(genpts=True, max_reconnects=4),
                     desired="publishing", sub_ids=["cam.1-sub"]),
        p.CameraView(id="cam.1-sub", url="rtsp://192.0.2.10/sub", username=None,
                     has_password=False, name="", options=CameraOptions(), desired="stopped",
                     main_id="cam.1"),
        p.CameraView(id="door", url="rtsp://192.0.2.11/s", username=None, has_password=False,
                     name="", options=CameraOptions(), desired="stopped"),
    ])  # fmt: skip
    secrets = tmp_path / "secrets"
    text = render(targets, cameras, str(secrets))
    assert "password_file" in text and "SECRET" not in text
    with pytest.raises(SiteFileError) as missing:  # until the operator writes the secrets
        load(site_file(tmp_path, text, secret=None), {})
    assert f"cannot read {secrets}/camera-cam.1.password" in str(missing.value)
    secrets.mkdir()
    for name in ("camera-cam.1.password", "target-central.password",
                 "target-central.api_password"):  # fmt: skip
        (secrets / name).write_text(f"{name}-SECRET\n")
    site = load(site_file(tmp_path, text, secret=None), {})
    assert site.active_target == "central"
    assert site.targets["central"] == p.SiteTarget(
        rtsp_url="rtsp://mtx:8554", api_url="http://mtx:9997", username="pub",
        password="target-central.password-SECRET", api_username="api",
        api_password="target-central.api_password-SECRET", max_reconnects=3,
        reconnect_delay=0.5, path_template="site1/{camera_id}", player_url="https://mtx:8889/",
    )  # fmt: skip
    assert site.targets["backup"] == p.SiteTarget(rtsp_url="rtsp://b:8554", api_enabled=False)
    assert site.cameras["cam.1"] == p.SiteCamera(
        url="rtsp://192.0.2.10/s", username="admin", password="camera-cam.1.password-SECRET",
        name='Gate "north"\\', options=CameraOptions(genpts=True, max_reconnects=4),
        publish=True,
    )  # fmt: skip
    assert site.cameras["door"] == p.SiteCamera(url="rtsp://192.0.2.11/s")
    assert site.cameras["cam.1-sub"] == p.SiteCamera(url="rtsp://192.0.2.10/sub",
                                                     main_id="cam.1")  # fmt: skip


def test_a_url_with_a_query_secret_is_not_exported() -> None:
    cameras = p.CameraList(total=1, items=[
        p.CameraView(id="q", url="rtsp://192.0.2.1/s?password=***", username=None,
                     has_password=False, name="", options=CameraOptions(), desired="stopped"),
    ])  # fmt: skip
    targets = p.TargetList(total=1, items=[
        p.TargetView(name="t", rtsp_url="rtsp://192.0.2.2:8554?token=***", api_url=None,
                     api_enabled=False, username=None, has_password=False, api_username=None,
                     has_api_password=False, max_reconnects=0, reconnect_delay=1.0,
                     path_template="camera_{camera_id}", active=True),
    ])  # fmt: skip
    text = render(targets, cameras)
    parsed = tomllib.loads(text)
    assert "url" not in parsed["cameras"]["q"]  # applying it is refused until it is written
    assert "rtsp_url" not in parsed["targets"]["t"]


def test_the_plan_as_the_operator_reads_it() -> None:
    plan = p.Plan(
        changes=[
            p.PlanChange(kind="add", what="camera", name="cam-4", fields=[]),
            p.PlanChange(kind="update", what="camera", name="cam-2", fields=["url", "password"]),
        ],
        fingerprint="f",
        applied=False,
        restarted=[],
    )
    assert sitecmd.plan_text(plan) == (
        "  add      camera cam-4\n  update   camera cam-2  (url, password)\n2 changes"
    )
    empty = msgspec.structs.replace(plan, changes=[])
    assert sitecmd.plan_text(empty) == "no changes"


def test_the_example_site_file_reads(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "packaging" / "site.example.toml"
    text = example.read_text().replace("/etc/ucvd/secrets", str(tmp_path / "secrets"))
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "central").write_text("pw\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    for name in ("cam-001", "cam-002"):
        (creds / name).write_text("pw\n")
    path = tmp_path / "site.toml"
    path.write_text(text)
    site = load(path, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert sorted(site.cameras) == ["cam-001", "cam-002", "cam-003"]
    assert site.cameras["cam-002"].options.transport is Transport.UDP
