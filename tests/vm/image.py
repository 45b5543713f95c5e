"""The boot test's VM disk: a bootstrapped Debian with everything but ucvd installed, the
run's payload, and the test's own units, made into an ext4 image with `mkfs.ext4 -d`.

The root is Debian minbase plus what the package depends on (read from the .deb itself),
plus a kernel, an initramfs and systemd as PID 1; it is cached as a tarball by
tests/debroot.py, so only the first run of a distribution pays for debootstrap. Because
every dependency is already installed, `apt-get install ./ucvd_*.deb` inside the VM, which
has no network, only has to install ucvd itself.

Inside the guest:
    /opt/ucvd-vmtest/          the .deb, MediaMTX, the test clip, the shipped ucvd.toml
                               (world-readable: nothing secret)
    /usr/local/lib/ucvd-vmtest/guest_check.py
                               the checks; world-readable because the stranger runs its
                               scanner part
    /root/ucvd-vmtest/         the run's passwords and the MediaMTX configs holding them
                               (root only: the secrecy checks must find ucvd's leaks, not
                               the test's own)
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import debroot
from tests.harness import tls
from tests.harness.mediamtx import base_config

# Everything the root needs besides the package's own Depends: a kernel and an initramfs
# to boot from, systemd as PID 1, and `ps` for the stranger's view of the process table.
BOOT_PACKAGES = ("linux-image-amd64", "initramfs-tools", "systemd-sysv", "procps")

PAYLOAD = "/opt/ucvd-vmtest"
GUEST_LIB = "/usr/local/lib/ucvd-vmtest"
SECRETS = "/root/ucvd-vmtest"
GUEST_CONFIG = f"{SECRETS}/config.json"
# Fixed ports: the VM is ours alone, and ports away from MediaMTX's defaults show that the
# operator's URLs, not defaults, are what ucvd follows.
CENTRAL_RTSP_PORT = 18554
CENTRAL_API_PORT = 19997
CENTRAL_RTSPS_PORT = 18322  # the same server's RTSPS listener (rtspEncryption: optional)
CAMERA_RTSP_PORT = 28554
CAMERA_API_PORT = 29997
CAMERA_PATH = "cam"
LOOPBACK = "127.0.0.1"

GUEST_CHECK = Path(__file__).with_name("guest_check.py")


class ImageError(RuntimeError):
    pass


def package_depends(deb: Path) -> tuple[str, ...]:
    """The package names in the .deb's Depends: what debootstrap must install so that the
    package installs without a network."""
    field = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True, check=True
    ).stdout
    names = depends_names(field)
    if not names:
        raise ImageError(f"{deb.name} has no Depends")
    return names


def depends_names(field: str) -> tuple[str, ...]:
    """The first alternative of each clause of a Depends field, without versions or
    architecture qualifiers, each once."""
    names: list[str] = []
    for clause in field.split(","):
        first = clause.split("|")[0].strip()
        name = re.split(r"[\s(:]", first, maxsplit=1)[0]
        if name and name not in names:
            names.append(name)
    return tuple(names)


def root_packages(deb: Path) -> tuple[str, ...]:
    return tuple(sorted(set(package_depends(deb)) | set(BOOT_PACKAGES)))


CONTROL_TEMPLATE = Path(__file__).resolve().parents[2] / "packaging" / "debian" / "control.in"


def template_root_packages() -> tuple[str, ...]:
    """What `root_packages` gives for any package built from this tree, read from the
    control template: other tests that need a Debian root with FFmpeg ask for this one, so
    that one bootstrapped root per distribution serves them and the boot test alike."""
    for line in CONTROL_TEMPLATE.read_text().splitlines():
        if line.startswith("Depends:"):
            names = depends_names(line.partition(":")[2])
            return tuple(sorted(set(names) | set(BOOT_PACKAGES)))
    raise ImageError(f"{CONTROL_TEMPLATE} has no Depends")


def new_password() -> tuple[str, str]:
    """A password and its random core. The core is what the secrecy checks look for: it
    survives percent-encoding, JSON and shell quoting, so a leak in any of those forms is
    found. The rest makes the password URL-hostile, as real ones are."""
    core = secrets.token_hex(12)
    return f"Vm#{core}&!", core


def guest_plan(dist: str, deb: Path, version: str) -> dict[str, Any]:
    """What the guest needs to know: ports, accounts, passwords (fresh for each run)."""
    plan: dict[str, Any] = {
        "dist": dist,
        "version": version,
        "deb": f"{PAYLOAD}/{deb.name}",
        "shipped_config": f"{PAYLOAD}/ucvd.toml",
        "central": {
            "rtsp_port": CENTRAL_RTSP_PORT,
            "api_port": CENTRAL_API_PORT,
            "rtsps_port": CENTRAL_RTSPS_PORT,
        },
        "camera": {"rtsp_port": CAMERA_RTSP_PORT, "api_port": CAMERA_API_PORT, "path": CAMERA_PATH},
        "secrets": {},
    }
    for role, user in (("publish", "ucvd-publisher"), ("api", "ucvd-api"), ("camera", "admin")):
        password, core = new_password()
        plan["secrets"][role] = {"user": user, "password": password, "core": core}
    return plan


def mediamtx_configs(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The central server (publish user, API user; API on) and the camera (its viewer
    account; the feeder may publish from loopback without a password, so no unit file
    carries one)."""
    s = plan["secrets"]
    central = base_config(
        rtsp_port=CENTRAL_RTSP_PORT,
        api_port=CENTRAL_API_PORT,
        log_level="info",
        users=[
            {"user": s["publish"]["user"], "pass": s["publish"]["password"],
             "permissions": [{"action": "publish"}]},
            {"user": s["api"]["user"], "pass": s["api"]["password"],
             "permissions": [{"action": "api"}]},
        ],
    )  # fmt: skip
    central["paths"] = {"all_others": {}}
    central.update({
        "rtspEncryption": "optional",
        "rtspsAddress": f"{LOOPBACK}:{CENTRAL_RTSPS_PORT}",
        "rtspServerCert": f"{SECRETS}/central.crt",
        "rtspServerKey": f"{SECRETS}/central.key",
    })  # fmt: skip
    camera = base_config(
        rtsp_port=CAMERA_RTSP_PORT,
        api_port=CAMERA_API_PORT,
        log_level="info",
        users=[
            {"user": "any", "pass": "", "ips": [f"{LOOPBACK}/32"],
             "permissions": [{"action": "publish"}, {"action": "api"}]},
            {"user": s["camera"]["user"], "pass": s["camera"]["password"],
             "permissions": [{"action": "read"}]},
        ],
    )  # fmt: skip
    camera["paths"] = {CAMERA_PATH: {}}
    return {"central": central, "camera": camera}


def _unit(description: str, service: str, unit_extra: str = "") -> str:
    return (
        f"[Unit]\nDescription={description}\n{unit_extra}\n"
        f"[Service]\n{service}\n\n[Install]\nWantedBy=multi-user.target\n"
    )


def guest_units() -> dict[str, str]:
    feed = (
        f"/usr/bin/ffmpeg -hide_banner -nostdin -loglevel warning -re -stream_loop -1 "
        f"-i {PAYLOAD}/clip.mkv -map 0 -c copy -f rtsp -rtsp_transport tcp "
        f"rtsp://{LOOPBACK}:{CAMERA_RTSP_PORT}/{CAMERA_PATH}"
    )
    return {
        "vmtest-central.service": _unit(
            "boot test: the central MediaMTX ucvd publishes to",
            f"ExecStart={PAYLOAD}/mediamtx {SECRETS}/central.yml\nRestart=always",
        ),
        "vmtest-camera.service": _unit(
            "boot test: a camera (MediaMTX with a viewer account)",
            f"ExecStart={PAYLOAD}/mediamtx {SECRETS}/camera.yml\nRestart=always",
        ),
        # Started alongside the camera, whose port may not listen yet: FFmpeg exits and is
        # started again until it does, for as long as it takes on a slow VM.
        "vmtest-feeder.service": _unit(
            "boot test: the camera's picture (the test clip, looped)",
            f"ExecStart={feed}\nRestart=always\nRestartSec=1",
            "Wants=vmtest-camera.service\nAfter=vmtest-camera.service\nStartLimitIntervalSec=0",
        ),
        # After multi-user.target: the checks see the machine as booted, ucvd included.
        "vmtest-check.service": _unit(
            "boot test: the checks (tests/vm/guest_check.py)",
            f"Type=exec\nExecStart=/usr/bin/python3 {GUEST_LIB}/guest_check.py run\n"
            "StandardOutput=journal+console\nStandardError=journal+console",
            "After=multi-user.target vmtest-central.service vmtest-feeder.service",
        ),
    }


@dataclass(frozen=True)
class Image:
    disk: Path
    kernel: Path
    initrd: Path
    root_tarball: Path
    root_seconds: float  # debootstrap, or finding the cached tarball
    image_seconds: float  # unpack, payload, mkfs.ext4


def _write(path: Path, text: str | bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)


def _install_payload(
    root: Path, plan: dict[str, Any], *, deb: Path, mediamtx: Path, clip: Path, shipped: Path
) -> None:
    payload = root / PAYLOAD.lstrip("/")
    payload.mkdir(parents=True)
    shutil.copyfile(deb, payload / deb.name)
    shutil.copyfile(mediamtx, payload / "mediamtx")
    (payload / "mediamtx").chmod(0o755)
    shutil.copyfile(clip, payload / "clip.mkv")
    shutil.copyfile(shipped, payload / "ucvd.toml")
    _write(root / GUEST_LIB.lstrip("/") / "guest_check.py", GUEST_CHECK.read_text(), 0o755)

    private = root / SECRETS.lstrip("/")
    private.mkdir(mode=0o700, parents=True)
    private.chmod(0o700)
    # The central's RTSPS certificate, self-signed, and its fingerprint for the checks to
    # pin (with another one's, which must be refused).
    pki = private / "pki"
    server, other = tls.self_signed(pki, "central"), tls.self_signed(pki, "other")
    shutil.move(server.cert, private / "central.crt")
    shutil.move(server.key, private / "central.key")
    plan["central"]["fingerprint"] = tls.CertPair(private / "central.crt", pki).fingerprint()
    plan["central"]["wrong_fingerprint"] = other.fingerprint()
    shutil.rmtree(pki)
    _write(private / "config.json", json.dumps(plan, indent=2), 0o600)
    for name, config in mediamtx_configs(plan).items():
        _write(private / f"{name}.yml", json.dumps(config, indent=2), 0o600)

    units = root / "etc/systemd/system"
    wants = units / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for name, text in guest_units().items():
        _write(units / name, text, 0o644)
        (wants / name).symlink_to(f"/etc/systemd/system/{name}")
    # apt's daily timers would take the dpkg lock in the middle of the install checks;
    # without a network they have nothing to do anyway.
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        (units / timer).unlink(missing_ok=True)
        (units / timer).symlink_to("/dev/null")

    _write(root / "etc/fstab", "/dev/vda / ext4 rw,errors=remount-ro 0 1\n", 0o644)
    _write(root / "etc/hostname", "ucvd-vm\n", 0o644)
    _write(root / "etc/hosts", "127.0.0.1 localhost\n127.0.1.1 ucvd-vm\n", 0o644)


def _kernel_and_initrd(root: Path, out: Path) -> tuple[Path, Path]:
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise ImageError(f"expected one kernel in the root's /boot, found {kernels}")
    release = kernels[0].name.removeprefix("vmlinuz-")
    initrd = root / "boot" / f"initrd.img-{release}"
    if not initrd.is_file():
        raise ImageError(f"no initramfs for {release} in the root's /boot")
    kernel_out, initrd_out = out / "vmlinuz", out / "initrd.img"
    shutil.copyfile(kernels[0], kernel_out)
    shutil.copyfile(initrd, initrd_out)
    return kernel_out, initrd_out


def _tree_bytes(root: Path) -> int:
    done = subprocess.run(
        ["du", "-sx", "--block-size=1", str(root)], capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[0])


def build(
    dist: str,
    plan: dict[str, Any],
    *,
    deb: Path,
    mediamtx: Path,
    clip: Path,
    shipped_config: Path,
    workdir: Path,
    headroom_bytes: int = 1536 << 20,
) -> Image:
    """The disk (raw ext4), kernel and initrd of one run, in `workdir`."""
    t0 = time.monotonic()
    tarball = debroot.bootstrapped(dist, include=root_packages(deb))
    t1 = time.monotonic()
    root = workdir / "root"
    try:
        debroot.unpack(tarball, root)
        kernel, initrd = _kernel_and_initrd(root, workdir)
        _install_payload(root, plan, deb=deb, mediamtx=mediamtx, clip=clip, shipped=shipped_config)
        # Room for ucvd's install (~100 MB), journals and the run's logs.
        size_mib = (_tree_bytes(root) + headroom_bytes) // (1 << 20)
        disk = workdir / "disk.img"
        done = subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-L", "ucvd-vm", "-d", str(root), str(disk), f"{size_mib}M"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ImageError(f"mkfs.ext4 -d failed:\n{done.stdout}{done.stderr}")
    finally:
        debroot.remove_tree(root)
    return Image(
        disk=disk,
        kernel=kernel,
        initrd=initrd,
        root_tarball=tarball,
        root_seconds=t1 - t0,
        image_seconds=time.monotonic() - t1,
    )
