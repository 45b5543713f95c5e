"""The Debian package as dpkg sees it, and its programs run from an unpacked copy with
Debian's own Python: what `make deb` ships, checked without installing it (installing it
is the boot test's job: tests/vm, `make vm-test`)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.harness.promtool import promtool
from tests.packaging.conftest import BUILD_DEB, ROOT
from ucvd.version import __version__

DEBIAN_PYTHON = Path("/usr/bin/python3")
LIB = Path("usr/lib/ucvd/python")


def dpkg_deb(*args: str | Path) -> str:
    return subprocess.run(
        ["dpkg-deb", *map(str, args)], capture_output=True, text=True, check=True
    ).stdout


def debian_python_is_311() -> bool:
    if not DEBIAN_PYTHON.exists():
        return False
    found = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() == "True"


needs_debian_python = pytest.mark.skipif(
    not debian_python_is_311(), reason="the launchers run /usr/bin/python3, 3.11 on bookworm"
)


@pytest.fixture(scope="module")
def contents(deb: Path) -> dict[str, tuple[str, str]]:
    """path (as ./usr/bin/ucvd) -> (mode string, owner/group), from the data archive."""
    listing: dict[str, tuple[str, str]] = {}
    for line in dpkg_deb("--contents", deb).splitlines():
        mode, owner, _size, _date, _time, path = line.split(maxsplit=5)
        listing[path.split(" -> ")[0]] = (mode, owner)
    return listing


@pytest.fixture(scope="module")
def unpacked(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unpacked")
    dpkg_deb("-x", deb, root)
    return root


def test_what_the_unit_and_the_operators_need_is_in_it(
    contents: dict[str, tuple[str, str]],
) -> None:
    """The unit's ExecStart= and ExecReload= name /usr/bin/ucvd and /usr/bin/ucvctl, and
    its User=/SupplementaryGroups= need the sysusers file: missing any, the service fails."""
    for path in (
        "./usr/lib/systemd/system/ucvd.service",
        "./usr/lib/systemd/system/ucvd.socket",
        "./usr/lib/systemd/system/ucvd-web.service",
        "./usr/lib/sysusers.d/ucvd.conf",
        "./etc/ucvd/ucvd.toml",
        "./usr/share/doc/ucvd/README.md",
        "./usr/share/doc/ucvd/copyright",
        "./usr/share/ucvd/prometheus/ucvd-alerts.yml",
        "./usr/share/ucvd/prometheus/prometheus.example.yml",
        f"./{LIB}/ucvd/cli.py",
        f"./{LIB}/ucvctl/cli.py",
        f"./{LIB}/ucvdweb/cli.py",
    ):
        assert contents.get(path, ("", ""))[0].startswith("-rw-r--r--"), path
    programs = {"./usr/bin/ucvd", "./usr/bin/ucvctl", "./usr/bin/ucvd-web"}
    for program in programs:
        assert contents.get(program, ("", ""))[0] == "-rwxr-xr-x", program
    executables = {p for p, (mode, _) in contents.items() if mode[0] == "-" and "x" in mode}
    assert executables == programs
    assert {owner for _mode, owner in contents.values()} == {"root/root"}


def test_nothing_of_the_build_machine_is_in_it(contents: dict[str, tuple[str, str]]) -> None:
    """Byte-code is compiled on the target (postinst); pip's console scripts and
    direct_url.json would name this machine's interpreter and build directory."""
    assert not [p for p in contents if "__pycache__" in p or p.endswith(".pyc")]
    assert not [p for p in contents if p.startswith(f"./{LIB}/bin/")]
    assert not [p for p in contents if p.endswith("direct_url.json")]


def test_control_fields(deb: Path) -> None:
    fields = dict(
        line.split(": ", 1)
        for line in dpkg_deb("--field", deb, "Package", "Version", "Architecture").splitlines()
    )
    assert fields["Package"] == "ucvd" and fields["Architecture"] == "amd64"
    release = re.match(r"\d+(\.\d+)*", __version__)
    assert release and re.split(r"[~+]", fields["Version"])[0] == release[0]
    assert deb.name == f"ucvd_{fields['Version']}_amd64.deb"
    depends = [d.strip() for d in dpkg_deb("--field", deb, "Depends").split(",")]
    for needed in ("ffmpeg", "util-linux", "python3 (>= 3.11)", "python3 (<< 3.12)"):
        assert needed in depends, depends
    assert any(d.startswith("systemd |") for d in depends), "systemd-sysusers runs in postinst"


def test_the_config_is_a_conffile(deb: Path) -> None:
    """dpkg keeps an operator's edits across upgrades only for conffiles."""
    assert dpkg_deb("--info", deb, "conffiles").split() == ["/etc/ucvd/ucvd.toml"]


def test_maintainer_scripts_are_valid_shell(deb: Path, tmp_path: Path) -> None:
    """They run under dpkg with `sh` (dash on Debian); a syntax error there leaves the
    package half-configured on the operator's machine."""
    dpkg_deb("--control", deb, tmp_path)
    for script in ("postinst", "prerm", "postrm"):
        path = tmp_path / script
        assert path.stat().st_mode & stat.S_IXUSR, script
        assert path.read_text().startswith("#!/bin/sh\n"), script
        subprocess.run(["sh", "-n", path], check=True)


def test_files_are_the_repository_s(unpacked: Path) -> None:
    for packaged, source in (
        ("usr/lib/systemd/system/ucvd.service", "systemd/ucvd.service"),
        ("usr/lib/systemd/system/ucvd.socket", "systemd/ucvd.socket"),
        ("usr/lib/systemd/system/ucvd-web.service", "systemd/ucvd-web.service"),
        ("usr/lib/sysusers.d/ucvd.conf", "systemd/ucvd.sysusers"),
        ("etc/ucvd/ucvd.toml", "packaging/ucvd.toml"),
        ("usr/share/doc/ucvd/README.md", "README.md"),
        ("usr/share/ucvd/prometheus/ucvd-alerts.yml", "packaging/prometheus/ucvd-alerts.yml"),
        (
            "usr/share/ucvd/prometheus/prometheus.example.yml",
            "packaging/prometheus/prometheus.example.yml",
        ),
    ):
        assert (unpacked / packaged).read_bytes() == (ROOT / source).read_bytes(), packaged


def test_the_dashboard_is_the_built_one_with_its_licenses(unpacked: Path) -> None:
    """/usr/share/ucvd/web is web/dist as built (what ucvd-web serves), and every JavaScript
    package bundled in it has its license in the package and a stanza in the copyright."""
    web = unpacked / "usr/share/ucvd/web"
    built = ROOT / "web" / "dist"
    shipped = sorted(p.relative_to(web) for p in web.rglob("*") if p.is_file())
    assert shipped == sorted(p.relative_to(built) for p in built.rglob("*") if p.is_file())
    for name in shipped:
        assert (web / name).read_bytes() == (built / name).read_bytes(), name
    assert b'id="root"' in (web / "index.html").read_bytes()
    copyright_text = (unpacked / "usr/share/doc/ucvd/copyright").read_text()
    for bundled in ("react", "react-dom", "scheduler"):
        assert f"Comment: {bundled} " in copyright_text, bundled
        licenses = list((unpacked / "usr/share/doc/ucvd/dashboard").glob(f"{bundled}-LICENSE*"))
        assert licenses and "MIT" in licenses[0].read_text(), bundled


def test_the_installed_example_prometheus_config_finds_the_rules(unpacked: Path) -> None:
    """Its rule_files entry is relative: installed, it must name the rules next to it."""
    output = promtool(
        "check", "config", unpacked / "usr/share/ucvd/prometheus/prometheus.example.yml"
    )
    assert "SUCCESS: 1 rule files found" in output, output


def test_the_unit_runs_programs_the_package_has(unpacked: Path) -> None:
    unit = (unpacked / "usr/lib/systemd/system/ucvd.service").read_text()
    commands = re.findall(r"^Exec(?:Start|Reload)=(\S+)", unit, flags=re.MULTILINE)
    assert commands == ["/usr/bin/ucvd", "/usr/bin/ucvctl"]
    web = (unpacked / "usr/lib/systemd/system/ucvd-web.service").read_text()
    web_commands = re.findall(r"^ExecStart=(\S+)", web, flags=re.MULTILINE)
    assert web_commands == ["/usr/bin/ucvd-web"]
    for command in commands + web_commands:
        assert os.access(unpacked / command.lstrip("/"), os.X_OK), command


def test_the_socket_unit_and_the_service_name_one_socket(unpacked: Path) -> None:
    """ExecStart's --socket (what the daemon reports) and ExecReload's (what ucvctl calls)
    are the socket unit's ListenStream=, and the socket is the operator group's."""
    units = unpacked / "usr/lib/systemd/system"
    socket_unit = (units / "ucvd.socket").read_text()
    service = (units / "ucvd.service").read_text()
    listen = re.findall(r"^ListenStream=(\S+)$", socket_unit, flags=re.MULTILINE)
    assert len(listen) == 1
    assert re.findall(r"--socket (\S+)", service) == [listen[0], listen[0]]
    web = (units / "ucvd-web.service").read_text()
    assert re.findall(r"--socket (\S+)", web) == [listen[0]]
    assert re.search(r"^SupplementaryGroups=ucvd-operators$", web, flags=re.MULTILINE)
    assert re.search(r"^SocketGroup=ucvd-operators$", socket_unit, flags=re.MULTILINE)
    assert re.search(r"^SocketMode=0660$", socket_unit, flags=re.MULTILINE)
    assert re.search(r"^Requires=ucvd.socket$", service, flags=re.MULTILINE)
    assert not re.search(r"^RuntimeDirectory=", service, flags=re.MULTILINE)


def run(argv: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """With none of this test run's environment: the launchers must not need .venv."""
    return subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )


@needs_debian_python
def test_the_programs_run_from_the_unpacked_tree(unpacked: Path, tmp_path: Path) -> None:
    """The launchers find their libraries next to themselves, so an unpacked copy runs as
    the installed one does; run directly, their #! line picks /usr/bin/python3."""
    version = run([DEBIAN_PYTHON, unpacked / "usr/bin/ucvd", "--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"ucvd {__version__}"
    web = run([unpacked / "usr/bin/ucvd-web", "--help"], tmp_path)
    assert web.returncode == 0 and web.stdout.startswith("usage: ucvd-web"), web.stderr
    usage = run([unpacked / "usr/bin/ucvctl", "--help"], tmp_path)
    assert usage.returncode == 0 and usage.stdout.startswith("usage: ucvctl"), usage.stderr
    # Past --help: msgspec's compiled core and the client, towards a socket nobody serves.
    unreachable = run(
        [unpacked / "usr/bin/ucvctl", "--socket", tmp_path / "none.sock", "info"], tmp_path
    )
    assert unreachable.returncode == 3, unreachable.stderr
    assert str(tmp_path / "none.sock") in unreachable.stderr
    # The daemon as far as its config check, which names the bad key and stops.
    bad = tmp_path / "bad.toml"
    bad.write_text("[supervision]\nstall_timout_s = 5\n")
    refused = run(
        [unpacked / "usr/bin/ucvd", "--config", bad, "--state-dir", tmp_path / "state"],
        tmp_path,
    )
    assert refused.returncode == 1, refused.stderr
    assert "not starting" in refused.stderr and "stall_timout_s" in refused.stderr


@needs_debian_python
def test_the_bundled_libraries_load_on_debian_python(unpacked: Path, tmp_path: Path) -> None:
    """The compiled wheels (msgspec, SQLAlchemy) were picked for cp311 and bookworm's glibc,
    not for the interpreter that built the package: Debian's python3 loads every module the
    daemon uses, from the package and nowhere else, and opens a state database with them."""
    script = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(unpacked / LIB)!r})
import anyio, httpx, msgspec, sdnotify, sqlalchemy, structlog
import ucvctl.cli, ucvd.daemon, ucvdweb.app, starlette, uvicorn, prometheus_client, wsproto
from ucvd.state.store import Store
for module in (anyio, httpx, msgspec, sdnotify, sqlalchemy, structlog, ucvctl, ucvd, ucvdweb,
               starlette, uvicorn, prometheus_client, wsproto):
    assert module.__file__.startswith(sys.path[0] + "/"), module.__file__
import importlib
compiled = sorted(Path(sys.path[0]).rglob("*.so"))
assert compiled
for path in compiled:
    name = str(path.relative_to(sys.path[0])).split(".")[0].replace("/", ".")
    importlib.import_module(name)
Store(Path({str(tmp_path / "state" / "ucvd.db")!r})).close()
print("ok")
"""
    result = run([DEBIAN_PYTHON, "-I", "-S", "-c", script], tmp_path)
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


def build_for(dist: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(BUILD_DEB), "--dist", dist, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_package_for_debian_13_bundles_libraries_for_its_python(tmp_path: Path) -> None:
    """`--dist trixie`: compiled modules for CPython 3.13, and python3 pinned to 3.13; the
    package itself is installed and run on a booted Debian 13 by `make vm-test`."""
    done = build_for("trixie", tmp_path)
    assert done.returncode == 0, done.stderr
    deb = Path(done.stdout.strip().splitlines()[-1])
    assert deb.name == f"ucvd_{__version__}+deb13_amd64.deb"
    depends = [d.strip() for d in dpkg_deb("--field", deb, "Depends").split(",")]
    assert "python3 (>= 3.13)" in depends and "python3 (<< 3.14)" in depends
    compiled = [p for p in dpkg_deb("--contents", deb).split() if p.endswith(".so")]
    assert compiled, "msgspec and SQLAlchemy ship compiled modules"
    assert all(".cpython-313-x86_64-linux-gnu.so" in p for p in compiled), compiled


def test_an_unknown_distribution_is_refused_by_name(tmp_path: Path) -> None:
    done = build_for("buster", tmp_path)
    assert done.returncode == 1
    assert "unknown distribution 'buster' (bookworm, trixie or noble)" in done.stderr
    assert not list(tmp_path.iterdir())
