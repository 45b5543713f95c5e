"""Which of a scan's devices to register (`ucvctl discover --add PREFIX`). No I/O: the
scan's findings and the ids already taken in, the cameras to add and the notes out. (The
finding types it reads live beside the probes that make them, so importing it loads those.)

Each ONVIF camera found with no camera at its address yet is adopted: its first profile
(the main stream, by ONVIF convention), with the operator's credentials, as PREFIX-N, the
lowest N not taken. Not when that stream is on another host (FFmpeg would send the
credentials there: not a host that answered us), or refused the credentials when checked.
A device that showed some camera trait but cannot be adopted gets a note saying why.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from ucvd.api import protocol as p
from ucvd.discovery.rtsp_probe import StreamAccess
from ucvd.discovery.scan import Finding, host_of
from ucvd.domain.urls import InvalidURL, split_credentials

MAX_NAME = 200


@dataclass(frozen=True)
class Adopt:
    """Register `camera`; on success, mark `device` (and its first stream) as it."""

    device: p.DiscoveredDevice
    camera: p.CameraAdd


@dataclass(frozen=True)
class Skip:
    address: str
    note: str


def not_added(address: str, why: str) -> str:
    """The note for a device that was not registered: the operator reads why."""
    return f"{address} not added: {why}"


def adoptions(
    prefix: str,
    devices: Sequence[p.DiscoveredDevice],
    findings: Mapping[str, Finding],
    taken: Collection[str],
    *,
    username: str | None,
    password: str | None,
) -> list[Adopt | Skip]:
    """In the devices' order, so that notes read in the order of the result's devices.
    Every Adopt has a fresh id, whether or not the ones before it are registered."""
    steps: list[Adopt | Skip] = []
    number = 0
    for device in devices:
        if device.registered or any(s.registered_as for s in device.streams):
            continue
        onvif = findings[device.address].onvif
        main = onvif.profiles[0] if onvif is not None and onvif.profiles else None
        uri = main.uri if main is not None else None
        if main is None or uri is None:
            if device.onvif or device.rtsp:
                why = device.onvif_status or "no ONVIF: its stream path is unknown"
                steps.append(Skip(device.address, f"{device.address} not added ({why})"))
            continue
        if host_of(uri) != device.address:
            steps.append(
                Skip(device.address, f"{device.address} not added (its stream is on another host)")
            )
            continue
        if main.access is StreamAccess.CREDENTIALS_REFUSED:
            steps.append(
                Skip(
                    device.address,
                    f"{device.address} not added (its stream refused the credentials)",
                )
            )
            continue
        try:
            url, url_user, url_password = split_credentials(uri)
        except InvalidURL as exc:
            steps.append(Skip(device.address, not_added(device.address, str(exc))))
            continue
        user, secret = username, password
        if user is None:
            user, secret = url_user, url_password
        number += 1
        while f"{prefix}-{number}" in taken:
            number += 1
        name = " ".join(x for x in (device.manufacturer, device.model) if x)
        name = "".join(ch for ch in name if ch.isprintable())[:MAX_NAME]  # the device's words
        camera = p.CameraAdd(
            id=f"{prefix}-{number}", url=url, username=user, password=secret, name=name
        )
        steps.append(Adopt(device, camera))
    return steps
