"""Which of a scan's devices to register (`ucvctl discover --add PREFIX`). No I/O: the
scan's findings and the ids already taken in, the cameras to add and the notes out. (The
finding types it reads live beside the probes that make them, so importing it loads those.)

Each ONVIF camera found with no camera at its address yet is adopted: its first profile
(the main stream, by ONVIF convention), with the operator's credentials, as PREFIX-N, the
lowest N not taken. Not when that stream is on another host (FFmpeg would send the
credentials there: not a host that answered us), or refused the credentials when checked.
A device that showed some camera trait but cannot be adopted gets a note saying why.
When its second profile (the sub stream) passes the same checks, it is registered with
the main as PREFIX-N-sub, linked to it; when it does not, a note says why.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from ucvd.api import protocol as p
from ucvd.discovery.onvif_client import StreamProfile
from ucvd.discovery.rtsp_probe import StreamAccess
from ucvd.discovery.scan import Finding, host_of
from ucvd.domain.model import SUB_SUFFIX, InvalidName, slug
from ucvd.domain.urls import InvalidURL, split_credentials

MAX_NAME = 200
SUB_PROFILE = 1  # the sub stream's profile, by the same convention as the main's


@dataclass(frozen=True)
class Adopt:
    """Register `camera` (with its sub stream when `camera.sub_url` is set); on success,
    mark `device` and its streams (the first, and `sub_stream`) as them."""

    device: p.DiscoveredDevice
    camera: p.CameraAdd
    sub_stream: int | None = None  # index in device.streams of the sub stream, if added


@dataclass(frozen=True)
class Skip:
    address: str
    note: str


def not_added(address: str, why: str) -> str:
    """The note for a device that was not registered: the operator reads why."""
    return f"{address} not added: {why}"


def _refusal(address: str, profile: StreamProfile) -> str | None:
    """Why this profile's stream cannot be registered (in the words of a note's
    parentheses), or None when it can."""
    uri = profile.uri
    if uri is None:
        return "no stream URI"
    if host_of(uri) != address:
        return "its stream is on another host"
    if profile.access is StreamAccess.CREDENTIALS_REFUSED:
        return "its stream refused the credentials"
    return None


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
    Every Adopt has fresh ids, whether or not the ones before it are registered."""
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
        refused = _refusal(device.address, main)
        if refused is not None:
            steps.append(Skip(device.address, f"{device.address} not added ({refused})"))
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
        camera_id = f"{prefix}-{number}"
        name = " ".join(x for x in (device.manufacturer, device.model) if x)
        name = "".join(ch for ch in name if ch.isprintable())[:MAX_NAME]  # the device's words
        camera = p.CameraAdd(id=camera_id, url=url, username=user, password=secret, name=name)
        assert onvif is not None
        sub = _sub_stream(device.address, camera_id, onvif.profiles, taken, username)
        if isinstance(sub, str):
            steps.append(Skip(device.address, f"{device.address}: sub stream not added ({sub})"))
            steps.append(Adopt(device, camera))
        elif sub is None:
            steps.append(Adopt(device, camera))
        else:
            sub_id, sub_url = sub
            camera = p.CameraAdd(
                id=camera_id, url=url, username=user, password=secret, name=name,
                sub_url=sub_url, sub_id=sub_id,
            )  # fmt: skip
            steps.append(Adopt(device, camera, sub_stream=SUB_PROFILE))
    return steps


def _sub_stream(
    address: str,
    main_id: str,
    profiles: Sequence[StreamProfile],
    taken: Collection[str],
    username: str | None,
) -> tuple[str, str] | str | None:
    """The sub stream's id and URL; why not, when there is a sub stream that cannot be
    registered; None when the device has none (one profile, or two for the same stream).
    Its URL keeps the credentials the device put in it only when the operator gave none:
    then the camera takes those, as the main does."""
    if len(profiles) <= SUB_PROFILE:
        return None
    sub, main_uri = profiles[SUB_PROFILE], profiles[0].uri
    if sub.uri is not None and main_uri is not None and _same(sub.uri, main_uri):
        return None
    refused = _refusal(address, sub)
    if refused is not None:
        return refused
    assert sub.uri is not None
    try:
        clean, _, _ = split_credentials(sub.uri)
    except InvalidURL as exc:
        return str(exc)
    try:
        sub_id = slug(f"{main_id}{SUB_SUFFIX}")
    except InvalidName:
        return f"the id {main_id}{SUB_SUFFIX} would be longer than 63 characters"
    if sub_id in taken:
        return f"the id {sub_id} is taken"
    return sub_id, clean if username is not None else sub.uri


def _same(a: str, b: str) -> bool:
    try:
        return split_credentials(a)[0] == split_credentials(b)[0]
    except InvalidURL:
        return a == b
